package plugin

import (
	"crypto/ed25519"
	"errors"
	"slices"
)

// Sign returns module signed by key with manifest m:
//
//  1. it removes any existing lockstep.manifest section, and any section
//     that looks like a damaged one (see [Verify]), so signing is
//     repeatable: re-signing replaces the old manifest;
//  2. it sets m.ModuleDigest to the SHA-256 of the module without that
//     section, m.KeyID to key's ID, and sorts m.Capabilities without
//     duplicates;
//  3. it signs the signing context, the stripped module's length, the
//     stripped module and the encoded manifest with ed25519;
//  4. it appends a custom section named [SectionName] holding the encoded
//     manifest and the signature.
//
// The result is still a valid WebAssembly module: runtimes skip unknown
// custom sections. m must have a valid Name, a semantic Version, a non-zero
// ABIVersion and known Capabilities; Sign does not check that they cover
// the module's imports: [CheckImports] does, as [Verify] will. Errors
// match ErrMalformed. module is not modified.
func Sign(module []byte, m Manifest, key *PrivateKey) ([]byte, error) {
	if key == nil || len(key.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("plugin: sign: no ed25519 private key given (read one with ParsePrivateKey)")
	}
	p, err := parseModule(module)
	if err != nil {
		return nil, malformed("sign: %v", err)
	}
	if p.embedded {
		return nil, malformed("sign: %s; the module was damaged after it was built: sign the module as built", p.damaged)
	}
	mm := m.clone()
	mm.Capabilities = normalizeCapabilities(mm.Capabilities)
	if err := mm.check(); err != nil {
		return nil, malformed("sign: manifest: %v", err)
	}
	mm.ModuleDigest = digest(p.stripped)
	mm.KeyID = key.Public().ID
	mb, err := mm.marshal()
	if err != nil {
		return nil, malformed("sign: encoding the manifest: %v", err)
	}
	sig := ed25519.Sign(key.Key, signedMessage(p.stripped, mb))
	payload, err := marshalSection(mb, sig)
	if err != nil {
		return nil, malformed("sign: encoding the section: %v", err)
	}
	out := make([]byte, 0, len(p.stripped)+len(payload)+len(SectionName)+12)
	out = append(out, p.stripped...)
	return slices.Clip(appendCustomSection(out, SectionName, payload)), nil
}
