package plugin

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

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
		return nil, fmt.Errorf("the manifest does not decode (%v)", err)
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
	// stripped is the module without manifest sections.
	stripped []byte
	// payload is the manifest section's payload; nil when there is none.
	payload []byte
	// last reports that the manifest section is the module's last section.
	last bool
}

// parseModule splits a module. More than one manifest section, or more than
// one import section, is an error.
func parseModule(wasm []byte) (*parsedModule, error) {
	secs, err := parseSections(wasm)
	if err != nil {
		return nil, err
	}
	p := &parsedModule{}
	var manifests []section
	haveImports := false
	for i, s := range secs {
		switch {
		case s.id == secCustom && s.name == SectionName:
			manifests = append(manifests, s)
			p.payload = wasm[s.payload:s.end:s.end]
			p.last = i == len(secs)-1
		case s.id == secImport:
			if haveImports {
				return nil, fmt.Errorf("two import sections (at bytes %d and before); the module is corrupt", s.start)
			}
			haveImports = true
			if p.imports, err = readImports(wasm, s); err != nil {
				return nil, err
			}
		}
	}
	switch {
	case len(manifests) > 1:
		return nil, fmt.Errorf("%d %s sections; a module holds at most one (re-sign it: signing replaces them)", len(manifests), SectionName)
	case len(manifests) == 0:
		p.stripped = wasm
	case p.last:
		p.stripped = wasm[:manifests[0].start:manifests[0].start]
	default:
		s := manifests[0]
		p.stripped = slices.Concat(wasm[:s.start], wasm[s.end:])
	}
	return p, nil
}

// digest is the module digest of a stripped module.
func digest(stripped []byte) []byte {
	sum := sha256.Sum256(stripped)
	return sum[:]
}

// validSignatureShape reports whether sig has an ed25519 signature's size.
func validSignatureShape(sig []byte) bool { return len(sig) == ed25519.SignatureSize }
