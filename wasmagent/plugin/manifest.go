package plugin

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin/internal/manifestpb"
)

// SectionName is the name of the custom section that holds a module's
// manifest and signature.
const SectionName = "lockstep.manifest"

// signingContext starts every signed message, so that a Lockstep plugin
// signature can never be mistaken for a signature of anything else made
// with the same key.
const signingContext = "lockstep.plugin.v1 signature\x00"

// Manifest is what a module's author declares about it. Its protobuf form
// is lockstep.plugin.v1.Manifest (internal/manifestpb/manifest.proto).
type Manifest struct {
	// Name names the agent module: 1-128 bytes of letters, digits and
	// ._-/: (e.g. "counter" or "acme/counter").
	Name string
	// Version is the module's semantic version, e.g. "1.2.0".
	Version string
	// ABIVersion is the agent ABI the module is built for (sdk/ABI.md).
	ABIVersion uint32
	// Capabilities are the declared capabilities (see [Capabilities]).
	// Sign sorts them and drops duplicates.
	Capabilities []string
	// ModuleDigest is the SHA-256 of the module without its manifest
	// section. Sign sets it.
	ModuleDigest []byte
	// KeyID names the signing key ([PublicKey.ID]). Sign sets it. Verify
	// returns a manifest with KeyID "" only for an unsigned module accepted
	// under [Policy.AllowUnsigned].
	KeyID string
}

// clone returns a deep copy.
func (m *Manifest) clone() *Manifest {
	c := *m
	c.Capabilities = slices.Clone(m.Capabilities)
	c.ModuleDigest = slices.Clone(m.ModuleDigest)
	return &c
}

// check validates the author's fields: name, version, ABI version and
// capabilities. It does not look at the digest or the key ID.
func (m *Manifest) check() error {
	if !validName(m.Name) {
		return fmt.Errorf("name %q: use 1-%d bytes of letters, digits and ._-/:", truncate(m.Name, 40), maxNameLen)
	}
	if _, err := parseVersion(m.Version); err != nil {
		return fmt.Errorf("%v: give the module a semantic version such as 1.0.0", err)
	}
	if m.ABIVersion == 0 {
		return fmt.Errorf("ABI version 0: set it to the ABI the module is built for (1, see sdk/ABI.md)")
	}
	for i, c := range m.Capabilities {
		if err := CheckCapability(c); err != nil {
			return err
		}
		if slices.Contains(m.Capabilities[:i], c) {
			return fmt.Errorf("capability %q is declared twice", c)
		}
	}
	return nil
}

// marshal encodes the manifest deterministically.
func (m *Manifest) marshal() ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(&manifestpb.Manifest{
		Name:         m.Name,
		Version:      m.Version,
		AbiVersion:   m.ABIVersion,
		Capabilities: m.Capabilities,
		ModuleDigest: m.ModuleDigest,
		KeyId:        m.KeyID,
	})
}

// unmarshalManifest decodes manifest bytes. Fields this version does not
// know are an error: a manifest written for a newer host may carry
// conditions this host cannot honour, so it is refused, not half-read.
func unmarshalManifest(b []byte) (*Manifest, error) {
	var pb manifestpb.Manifest
	if err := proto.Unmarshal(b, &pb); err != nil {
		return nil, fmt.Errorf("the manifest does not decode (%v); re-sign the module as built", err)
	}
	if len(pb.ProtoReflect().GetUnknown()) > 0 {
		return nil, fmt.Errorf("the manifest has fields this host does not know: it was signed by a newer Lockstep; upgrade the host")
	}
	return &Manifest{
		Name:         pb.GetName(),
		Version:      pb.GetVersion(),
		ABIVersion:   pb.GetAbiVersion(),
		Capabilities: pb.GetCapabilities(),
		ModuleDigest: pb.GetModuleDigest(),
		KeyID:        pb.GetKeyId(),
	}, nil
}

// marshalSection encodes the manifest section's payload.
func marshalSection(manifest, sig []byte) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(&manifestpb.Section{Manifest: manifest, Signature: sig})
}

// unmarshalSection decodes the manifest section's payload and checks it is
// canonical: re-encoding gives the same bytes. Any other encoding of the
// same fields (reordered, duplicated, padded, with unknown fields) would be
// a second module that verifies, so it is refused.
func unmarshalSection(b []byte) (manifest, sig []byte, err error) {
	var pb manifestpb.Section
	if err := proto.Unmarshal(b, &pb); err != nil {
		return nil, nil, fmt.Errorf("the %s section does not decode (%v)", SectionName, err)
	}
	if len(pb.ProtoReflect().GetUnknown()) > 0 {
		return nil, nil, fmt.Errorf("the %s section has fields this host does not know", SectionName)
	}
	again, err := marshalSection(pb.GetManifest(), pb.GetSignature())
	if err != nil || !bytes.Equal(again, b) {
		return nil, nil, fmt.Errorf("the %s section is not canonically encoded", SectionName)
	}
	return pb.GetManifest(), pb.GetSignature(), nil
}

// signedMessage is what the signature covers: the signing context, the
// length of the stripped module as 8 bytes big-endian, the stripped module
// and the manifest bytes. The length fixes where the module ends and the
// manifest begins.
func signedMessage(stripped, manifest []byte) []byte {
	msg := make([]byte, 0, len(signingContext)+8+len(stripped)+len(manifest))
	msg = append(msg, signingContext...)
	msg = binary.BigEndian.AppendUint64(msg, uint64(len(stripped)))
	msg = append(msg, stripped...)
	return append(msg, manifest...)
}

// parsedModule is a module split around its manifest section.
type parsedModule struct {
	imports []wasmImport
	// stripped is the module without its manifest sections, damaged ones
	// included.
	stripped []byte
	// manifests counts the sections named [SectionName]; payload is the
	// payload of the last one (nil when there is none), and last reports
	// that it is the module's last section.
	manifests int
	payload   []byte
	last      bool
	// damaged, when not "", says how a manifest section was damaged: a
	// section that is not a well-formed manifest section still carries one
	// (see carriesManifest).
	damaged string
	// embedded reports that the damaged manifest section lies inside
	// another custom section, which Sign cannot strip.
	embedded bool
	// salvage is where a damaged manifest's name may be read from: what
	// follows the section's name.
	salvage []byte
}

// carriesManifest reports whether the module carries a manifest: a section
// named [SectionName], or what one looks like after damage. Such a module
// is signed or refused, never run as unsigned.
func (p *parsedModule) carriesManifest() bool { return p.manifests > 0 || p.damaged != "" }

// parseModule splits a module and finds its manifest sections, damaged
// ones included. A module that does not parse is an error; if it carries a
// manifest, the error comes with a parsedModule that says so.
func parseModule(wasm []byte) (*parsedModule, error) {
	secs, err := parseSections(wasm)
	p := &parsedModule{}
	var drop []section // the manifest sections, damaged ones included
	for _, s := range secs {
		switch kind, after := classify(wasm, s); kind {
		case manifestSection:
			drop = append(drop, s)
			p.manifests++
			p.payload = wasm[s.payload:s.end:s.end]
			p.last = s.end == len(wasm)
			p.salvage = p.payload
		case damagedSection:
			drop = append(drop, s)
			p.noteDamage(wasm[after:s.end], damageReason(s))
		case embeddingSection:
			p.noteDamage(wasm[after:s.end], fmt.Sprintf("the custom section %q at byte %d holds a %s section inside its contents (its size was damaged)", truncate(s.name, 40), s.start, SectionName))
			p.embedded = true
		}
	}
	if err != nil {
		// The section that failed starts where the parsed ones end.
		off := len(wasmHeader)
		if len(secs) > 0 {
			off = secs[len(secs)-1].end
		}
		if off < len(wasm) {
			if at, ok := findManifestName(wasm[off+1:], true); ok {
				p.noteDamage(wasm[min(off+1+at, len(wasm)):], fmt.Sprintf("the %s section at byte %d does not parse", SectionName, off))
			}
		}
		return p.orNil(), err
	}
	haveImports := false
	for _, s := range secs {
		if s.id != secImport || slices.ContainsFunc(drop, func(d section) bool { return d.start == s.start }) {
			continue
		}
		if haveImports {
			return p.orNil(), fmt.Errorf("two import sections (the second at byte %d); the module is corrupt", s.start)
		}
		haveImports = true
		if p.imports, err = readImports(wasm, s); err != nil {
			return p.orNil(), err
		}
	}
	switch {
	case len(drop) == 0:
		p.stripped = wasm
	case len(drop) == 1 && drop[0].end == len(wasm):
		p.stripped = wasm[:drop[0].start:drop[0].start]
	default:
		off := 0
		for _, d := range drop {
			p.stripped = append(p.stripped, wasm[off:d.start]...)
			off = d.end
		}
		p.stripped = append(p.stripped, wasm[off:]...)
	}
	return p, nil
}

// noteDamage records the first damaged manifest section found.
func (p *parsedModule) noteDamage(salvage []byte, reason string) {
	if p.damaged == "" {
		p.damaged, p.salvage = reason, salvage
	}
}

// orNil returns p if the module carries a manifest, else nil: what
// parseModule returns with an error.
func (p *parsedModule) orNil() *parsedModule {
	if p.carriesManifest() {
		return p
	}
	return nil
}

// Kinds of section, as far as manifests go.
const (
	otherSection     = iota
	manifestSection  // a custom section named SectionName
	damagedSection   // a manifest section whose id or name was damaged
	embeddingSection // a custom section that holds a manifest section
)

// maxNameShift is how far into a section's contents findManifestName looks
// for the manifest's name: Sign writes it after one byte (its length), and
// a damaged section size or name length moves it by a byte or two.
const maxNameShift = 5

// maxNameDamage is how many bytes of a custom section's name may be
// changed, dropped or inserted (its edit distance from SectionName) for the
// section to count as a damaged manifest section. Custom section names
// this close to lockstep.manifest are Lockstep's.
const maxNameDamage = 2

// embeddedMarker is how a manifest section as Sign writes it looks inside
// other bytes: its name's length, its name, and the tag of the payload's
// first field (Section.manifest).
var embeddedMarker = slices.Concat([]byte{byte(len(SectionName))}, []byte(SectionName), []byte{0x0a})

// classify says whether section s carries a manifest, and where what
// follows the manifest's name starts:
//
//   - a custom section named SectionName is a manifest section;
//   - a custom section whose name is at most maxNameDamage edits from it
//     (a damaged name or name length), or a section of any id whose
//     contents hold SectionName within their first maxNameShift bytes (a
//     damaged id, size or name length), is a damaged manifest section. No
//     valid section of a known id holds it there: its contents start with
//     a count or an index. So custom section names that start with
//     lockstep.manifest are Lockstep's too;
//   - a custom section that holds a manifest section as Sign writes it
//     (embeddedMarker) embeds one: a damaged size made it swallow the
//     manifest section after it.
func classify(wasm []byte, s section) (kind, after int) {
	if s.id == secCustom && s.name == SectionName {
		return manifestSection, s.payload
	}
	if n, ok := findManifestName(wasm[s.body:s.end], false); ok {
		return damagedSection, s.body + n
	}
	if s.id == secCustom && nameClose(s.name) {
		return damagedSection, s.payload
	}
	if s.id == secCustom {
		if i := bytes.Index(wasm[s.payload:s.end], embeddedMarker); i >= 0 {
			return embeddingSection, s.payload + i + len(embeddedMarker) - 1
		}
	}
	return otherSection, 0
}

// nameClose reports whether name is at most maxNameDamage edits from
// SectionName.
func nameClose(name string) bool {
	if len(name) < len(SectionName)-maxNameDamage || len(name) > len(SectionName)+maxNameDamage {
		return false
	}
	return editDistances([]byte(name))[len(name)] <= maxNameDamage
}

// findManifestName looks for SectionName at the first maxNameShift offsets
// of b, a section's contents, and returns the offset after it. With loose
// (b is the rest of a module that does not parse, so only an error message
// depends on it), a name at most maxNameDamage edits from SectionName
// counts too, and so does b ending inside the name after at least 8 of its
// bytes, all intact.
func findManifestName(b []byte, loose bool) (int, bool) {
	for off := 0; off < maxNameShift && off < len(b); off++ {
		w := b[off:]
		switch {
		case bytes.HasPrefix(w, []byte(SectionName)):
			return off + len(SectionName), true
		case !loose:
			continue
		case len(w) >= 8 && len(w) < len(SectionName) && string(w) == SectionName[:len(w)]:
			return off + len(w), true
		}
		w = w[:min(len(w), len(SectionName)+maxNameDamage)]
		d := editDistances(w)
		n, best := 0, maxNameDamage+1
		for j := max(0, len(SectionName)-maxNameDamage); j < len(d); j++ {
			// Of the prefixes closest to the name, the one closest in length.
			if d[j] < best || d[j] == best && abs(j-len(SectionName)) < abs(n-len(SectionName)) {
				n, best = j, d[j]
			}
		}
		if best <= maxNameDamage {
			return off + n, true
		}
	}
	return 0, false
}

// editDistances returns, for every j, the edit distance (Levenshtein)
// between SectionName and w[:j]. w is at most len(SectionName) +
// maxNameDamage bytes.
func editDistances(w []byte) []int {
	const name = SectionName
	var rowBuf, prevBuf [len(name) + maxNameDamage + 1]int
	row, prev := rowBuf[:len(w)+1], prevBuf[:len(w)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(name); i++ {
		row[0] = i
		for j := 1; j <= len(w); j++ {
			sub := prev[j-1]
			if name[i-1] != w[j-1] {
				sub++
			}
			row[j] = min(sub, prev[j]+1, row[j-1]+1)
		}
		row, prev = prev, row
	}
	return prev
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// damageReason says how section s, which holds a manifest section's name
// near its start, differs from a manifest section.
func damageReason(s section) string {
	if s.id != secCustom {
		return fmt.Sprintf("the section at byte %d holds a %s section's name but has id %d, not 0 (its id byte was damaged)", s.start, SectionName, s.id)
	}
	return fmt.Sprintf("the custom section at byte %d is named %q, not %q (its name or size was damaged)", s.start, truncate(s.name, 40), SectionName)
}

// salvageManifest reads what it can of a damaged manifest section's
// payload: the manifest's name and version, for error messages. It returns
// nil if no valid name is found. Nothing it returns is verified.
func salvageManifest(payload []byte) *Manifest {
	num, typ, n := protowire.ConsumeTag(payload)
	if n < 0 || num != 1 || typ != protowire.BytesType {
		return nil
	}
	size, k := protowire.ConsumeVarint(payload[n:])
	if k < 0 {
		return nil
	}
	b := payload[n+k:]
	if uint64(len(b)) > size {
		b = b[:size]
	}
	m := &Manifest{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				break
			}
			b = b[n:]
			if num == 1 && validName(string(v)) {
				m.Name = string(v)
			} else if _, err := parseVersion(string(v)); num == 2 && err == nil {
				m.Version = string(v)
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			break
		}
		b = b[n:]
	}
	if m.Name == "" {
		return nil
	}
	return m
}

// digest is the module digest of a stripped module.
func digest(stripped []byte) []byte {
	sum := sha256.Sum256(stripped)
	return sum[:]
}

// validSignatureShape reports whether sig has an ed25519 signature's size.
func validSignatureShape(sig []byte) bool { return len(sig) == ed25519.SignatureSize }
