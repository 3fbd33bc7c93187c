package plugin

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
)

// DefaultABIVersion is the agent ABI a zero [Policy.ABIVersion] stands for.
const DefaultABIVersion = 1

// Policy is what a host accepts for one agent. The zero Policy trusts no
// key, refuses unsigned modules, grants nothing, accepts any version and
// speaks ABI 1.
type Policy struct {
	// Trust holds the trusted public keys; nil trusts none.
	Trust *TrustStore
	// AllowUnsigned admits modules without a manifest section: a developer
	// flag, which the caller must record (the replay log has a field for
	// it). It does not admit a module whose manifest section is present but
	// fails a check: a bad signature is never waved through.
	AllowUnsigned bool
	// Grants are the capabilities the host grants this agent. "inference"
	// grants every model; "inference:MODEL" one.
	Grants []string
	// Version, if set, is a requirement the manifest's version must meet:
	// a pin ("1.2.0") or a range ("^1.2", "~1.2.3", ">=1.0.0 <2.0.0",
	// alternatives joined by "||"); see [MatchVersion].
	Version string
	// ABIVersion is the host's agent ABI; 0 means [DefaultABIVersion].
	ABIVersion uint32
}

// Validate checks the policy itself: every grant is a capability and the
// version requirement parses. Hosts call it when they read their
// configuration, before loading modules; Verify calls it too.
func (p Policy) Validate() error {
	for _, g := range p.Grants {
		if err := CheckCapability(g); err != nil {
			return fmt.Errorf("plugin: policy: grant %v", err)
		}
	}
	if p.Version != "" {
		if _, err := parseRequirement(p.Version); err != nil {
			return fmt.Errorf("plugin: policy: %v (write a pin like 1.2.0 or a range like ^1.2 or >=1.0.0 <2.0.0)", err)
		}
	}
	return nil
}

func (p Policy) abi() uint32 {
	if p.ABIVersion == 0 {
		return DefaultABIVersion
	}
	return p.ABIVersion
}

// Verify decides whether a host may run module under policy p, and returns
// its manifest. The checks, in order (the first failure is returned, an
// [*Error] matching one sentinel):
//
//  1. the module parses and holds at most one manifest section, and no
//     damaged one (ErrMalformed); without any it is unsigned (ErrUnsigned,
//     or see below);
//  2. the manifest section is the module's last section, canonically
//     encoded, and its manifest decodes (ErrMalformed);
//  3. the module without the section has the manifest's digest
//     (ErrDigestMismatch);
//  4. the manifest's key is trusted (ErrUntrustedKey);
//  5. the signature verifies under that key (ErrBadSignature);
//  6. the manifest is well formed (ErrMalformed);
//  7. its ABI version is the host's (ErrABIMismatch);
//  8. its version meets p.Version (ErrVersion);
//  9. every import is covered by a declared capability
//     (ErrUndeclaredImport);
//  10. every declared capability is granted (ErrNotGranted).
//
// Together 1-5 mean that Verify accepts only a module a trusted key signed,
// byte for byte as Sign wrote it: changing any byte of it fails.
//
// A module carries a manifest if it has a section named [SectionName], or
// what such a section looks like after damage: a custom section named up
// to two edits from that name, or whose name starts with it (a damaged
// name or name length); a section of any id whose contents start with the
// name (a damaged id or size); a custom section that holds a whole
// manifest section (a damaged size before it); or a module that does not
// parse, with a manifest section in it or where it fails. Such a module
// is verified by steps 1-10 or refused, whatever p.AllowUnsigned says: the
// refusal says that its manifest is present but invalid, why, and to
// re-sign it, and names the module when a name can be read from the
// damaged manifest.
//
// A module that carries no manifest is unsigned. It is accepted only with
// p.AllowUnsigned, and then only
// if every import needs a granted capability (ErrUndeclaredImport,
// ErrNotGranted). Its returned manifest has only ABIVersion (the host's)
// and Capabilities (the granted capabilities its imports need; for
// lockstep.infer, every granted inference capability) set; KeyID "" marks
// it unsigned.
//
// A policy that does not validate is returned as a plain error.
func Verify(module []byte, p Policy) (*Manifest, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	pm, err := parseModule(module)
	switch {
	case err != nil && pm != nil:
		return nil, invalidManifest(pm.salvaged(), ErrMalformed, "the module does not parse (%v), so it was damaged after signing; re-sign the module as built", err)
	case err != nil:
		return nil, reject(nil, ErrMalformed, "%v", err)
	case pm.damaged != "":
		return nil, invalidManifest(pm.salvaged(), ErrMalformed, "%s; re-sign the module as built", pm.damaged)
	case pm.manifests > 1:
		return nil, invalidManifest(pm.salvaged(), ErrMalformed, "%d %s sections; a module holds at most one (re-sign it: signing replaces them)", pm.manifests, SectionName)
	case pm.manifests == 0:
		return verifyUnsigned(pm, p)
	}
	mb, sig, err := unmarshalSection(pm.payload)
	if err != nil {
		return nil, invalidManifest(pm.salvaged(), ErrMalformed, "%v; re-sign the module as built", err)
	}
	m, err := unmarshalManifest(mb)
	if err != nil {
		return nil, invalidManifest(pm.salvaged(), ErrMalformed, "%v", err)
	}
	if !pm.last {
		return nil, invalidManifest(m, ErrMalformed, "the %s section is not the module's last section: sections were added after signing (by a tool such as wasm-opt or wasm-strip?); re-sign the final module", SectionName)
	}
	hdr := appendCustomHeader(nil, SectionName, len(pm.payload))
	if !bytes.Equal(module[len(pm.stripped):len(module)-len(pm.payload)], hdr) {
		return nil, invalidManifest(m, ErrMalformed, "the %s section's header is not canonically encoded; re-sign the module", SectionName)
	}
	if !validSignatureShape(sig) {
		return nil, invalidManifest(m, ErrMalformed, "the signature is %d bytes, an ed25519 signature is %d; re-sign the module", len(sig), ed25519.SignatureSize)
	}
	if got := digest(pm.stripped); !bytes.Equal(got, m.ModuleDigest) {
		return nil, invalidManifest(m, ErrDigestMismatch, "the module's SHA-256 is %x but its manifest was signed for %x: the code changed after signing; re-sign the module as built", got, m.ModuleDigest)
	}
	keys := p.Trust.Lookup(m.KeyID)
	if len(keys) == 0 {
		e := reject(m, ErrUntrustedKey, "its %s section is present and signed with key %q, which this host does not trust (%s); add the author's public key file to the trusted keys if you trust them, or re-sign the module if its manifest was damaged", SectionName, truncate(m.KeyID, 40), p.Trust.ids())
		if p.AllowUnsigned {
			e.Reason += " (" + allowUnsignedNote + ")"
		}
		return nil, e
	}
	msg := signedMessage(pm.stripped, mb)
	if !slices.ContainsFunc(keys, func(k PublicKey) bool { return ed25519.Verify(k.Key, msg, sig) }) {
		return nil, invalidManifest(m, ErrBadSignature, "the signature does not verify under key %s: the manifest or the module was modified after signing, or another key signed it; re-sign it with the key the manifest names", m.KeyID)
	}
	if err := m.check(); err != nil {
		return nil, reject(m, ErrMalformed, "the signed manifest is invalid: %v; fix it and re-sign", err)
	}
	if m.ABIVersion != p.abi() {
		return nil, reject(m, ErrABIMismatch, "built for agent ABI %d, this host speaks ABI %d; rebuild it with the SDK of this Lockstep version and re-sign it", m.ABIVersion, p.abi())
	}
	if p.Version != "" {
		if ok, _ := MatchVersion(p.Version, m.Version); !ok {
			return nil, reject(m, ErrVersion, "version %s does not meet the requirement %q; deploy a version that does, or change the requirement", m.Version, p.Version)
		}
	}
	if e := checkImports(m, pm.imports); e != nil {
		return nil, e
	}
	for _, c := range m.Capabilities {
		if !Allows(p.Grants, c) {
			e := reject(m, ErrNotGranted, "declares capability %s, which the host does not grant this agent (granted: %s); grant it in the agent's configuration, or drop it from the manifest and re-sign", c, listOrNone(p.Grants))
			e.Capability = c
			return nil, e
		}
	}
	return m.clone(), nil
}

// CheckImports returns nil if the capabilities caps cover every import of
// module: the check [Verify] applies to a signed module's manifest (step
// 9), for a signer to run before [Sign]. Its errors are [*Error]s matching
// [ErrUndeclaredImport] (with Import and Capability set: the first import,
// by module and name, that caps do not cover, or one no capability covers)
// or [ErrMalformed] (the module does not parse). m names the module in
// errors; its Capabilities are what is checked.
func CheckImports(module []byte, m Manifest) error {
	pm, err := parseModule(module)
	if err != nil {
		return reject(nil, ErrMalformed, "%v", err)
	}
	if e := checkImports(&m, pm.imports); e != nil {
		return e
	}
	return nil
}

// checkImports returns the refusal of the first import (in sortedImports
// order) that m's capabilities do not cover, or nil.
func checkImports(m *Manifest, imports []wasmImport) *Error {
	for _, imp := range sortedImports(imports) {
		need, ok := ImportCapability(imp.module, imp.name)
		if !ok {
			return unknownImport(m, imp)
		}
		if need != "" && !covers(m.Capabilities, need) {
			e := reject(m, ErrUndeclaredImport, "imports %s.%s, which needs capability %s, but the manifest declares %s; add %s to the manifest's capabilities and re-sign it", imp.module, imp.name, need, listOrNone(m.Capabilities), need)
			e.Import, e.Capability = imp.module+"."+imp.name, need
			return e
		}
	}
	return nil
}

// allowUnsignedNote ends the refusal of a module that carries a manifest.
// See RATIONALE.md: "Why may unsigned modules run at all?"
const allowUnsignedNote = "allow_unsigned does not apply to a module that carries a manifest"

// invalidManifest refuses a module whose manifest section is present but
// fails a check: it says so, why and (in format) the fix, and that
// allow_unsigned does not apply.
func invalidManifest(m *Manifest, sentinel error, format string, args ...any) *Error {
	return reject(m, sentinel, "its %s section is present but invalid: %s (%s)", SectionName, fmt.Sprintf(format, args...), allowUnsignedNote)
}

// salvaged returns what can be read of the module's manifest without
// verifying anything (nil if nothing), to name the module in an error.
func (p *parsedModule) salvaged() *Manifest {
	if p.payload != nil && p.damaged == "" {
		if mb, _, err := unmarshalSection(p.payload); err == nil {
			if m, err := unmarshalManifest(mb); err == nil && validName(m.Name) {
				return m
			}
		}
	}
	return salvageManifest(p.salvage)
}

// verifyUnsigned admits an unsigned module under AllowUnsigned if its
// imports need only granted capabilities.
func verifyUnsigned(pm *parsedModule, p Policy) (*Manifest, error) {
	if !p.AllowUnsigned {
		return nil, reject(nil, ErrUnsigned, "it has no %s section; sign it with its author's key (agenthost sign --key KEY --name NAME --version V --cap auto MODULE.wasm; from Go, plugin.Sign), or allow unsigned modules (a developer flag, never for production)", SectionName)
	}
	var caps []string
	for _, imp := range sortedImports(pm.imports) {
		need, ok := ImportCapability(imp.module, imp.name)
		if !ok {
			return nil, unknownImport(nil, imp)
		}
		switch {
		case need == "":
		case !covers(p.Grants, need):
			e := reject(nil, ErrNotGranted, "unsigned; it imports %s.%s, which needs capability %s, which the host does not grant this agent (granted: %s); grant it, or remove the import", imp.module, imp.name, need, listOrNone(p.Grants))
			e.Import, e.Capability = imp.module+"."+imp.name, need
			return nil, e
		case need == CapInference:
			for _, g := range p.Grants {
				if isInference(g) {
					caps = append(caps, g)
				}
			}
		default:
			caps = append(caps, need)
		}
	}
	return &Manifest{ABIVersion: p.abi(), Capabilities: normalizeCapabilities(caps)}, nil
}

func unknownImport(m *Manifest, imp wasmImport) *Error {
	full := imp.module + "." + imp.name
	var e *Error
	if imp.module == HostModule {
		names := make([]string, 0, len(hostImports))
		for n := range hostImports {
			names = append(names, n)
		}
		slices.Sort(names)
		e = reject(m, ErrUndeclaredImport, "imports %s, which ABI v1's %s module does not have (it has: %s); rebuild it with this Lockstep's SDK", full, HostModule, strings.Join(names, ", "))
	} else {
		e = reject(m, ErrUndeclaredImport, "imports %s from module %q, which no capability covers (only %q and %q exist; with clang, link with -nostdlib or wasi-libc)", full, imp.module, HostModule, WASIModule)
	}
	e.Import = full
	return e
}

// sortedImports orders imports by module and name, so that errors name the
// same import every time.
func sortedImports(imps []wasmImport) []wasmImport {
	out := slices.Clone(imps)
	slices.SortStableFunc(out, func(a, b wasmImport) int {
		if c := strings.Compare(a.module, b.module); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

func listOrNone(caps []string) string {
	if len(caps) == 0 {
		return "none"
	}
	return strings.Join(caps, ", ")
}
