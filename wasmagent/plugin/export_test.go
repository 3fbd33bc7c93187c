package plugin

// Hooks for the external tests: they build modules Sign refuses to make,
// the way an attacker or a buggy signer would.

// MarshalManifest encodes m as Sign would, without checking or filling it.
func MarshalManifest(m Manifest) []byte {
	b, err := m.marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// Assemble builds a signed module from its parts: the module without a
// manifest section, the manifest bytes and the signature.
func Assemble(stripped, manifest, sig []byte) []byte {
	payload, err := marshalSection(manifest, sig)
	if err != nil {
		panic(err)
	}
	out := append([]byte(nil), stripped...)
	return appendCustomSection(out, SectionName, payload)
}

// Split returns the parts Assemble joins; ok is false without a manifest
// section.
func Split(module []byte) (stripped, manifest, sig []byte, ok bool) {
	p, err := parseModule(module)
	if err != nil || p.payload == nil {
		return nil, nil, nil, false
	}
	manifest, sig, err = unmarshalSection(p.payload)
	if err != nil {
		return nil, nil, nil, false
	}
	return p.stripped, manifest, sig, true
}

// SignedMessage is what the signature covers.
var SignedMessage = signedMessage

// AppendCustomSection appends a custom section.
var AppendCustomSection = appendCustomSection
