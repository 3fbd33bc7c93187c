package plugin

import (
	"slices"
)

// Info is what [Inspect] reads from a module, without verifying anything.
type Info struct {
	// Manifest is the module's manifest, decoded but NOT verified; nil when
	// the module is unsigned.
	Manifest *Manifest
	// Signed reports that the manifest section carries a signature of the
	// right size. Only [Verify] says whether it is valid.
	Signed bool
	// Unsigned reports that the module has no manifest section.
	Unsigned bool
	// Imports lists the module's imports as "module.name", sorted, without
	// duplicates.
	Imports []string
	// NeededCapabilities are the capabilities the imports need, sorted:
	// what the manifest must declare at least.
	NeededCapabilities []string
	// UnknownImports are the imports no capability covers (an unknown
	// module, or a function the lockstep module of ABI v1 lacks). Verify
	// rejects such a module.
	UnknownImports []string
}

// Inspect reads a module's manifest (if any) and imports. Errors match
// [ErrMalformed]: the module does not parse, or it carries a manifest (see
// [Verify]) that is damaged, repeated or does not decode.
func Inspect(module []byte) (*Info, error) {
	p, err := parseModule(module)
	switch {
	case err != nil && p != nil:
		return nil, invalidManifest(p.salvaged(), ErrMalformed, "the module does not parse (%v), so it was damaged after signing; re-sign the module as built", err)
	case err != nil:
		return nil, reject(nil, ErrMalformed, "%v", err)
	case p.damaged != "":
		return nil, invalidManifest(p.salvaged(), ErrMalformed, "%s; re-sign the module as built", p.damaged)
	case p.manifests > 1:
		return nil, invalidManifest(p.salvaged(), ErrMalformed, "%d %s sections; a module holds at most one (re-sign it: signing replaces them)", p.manifests, SectionName)
	}
	info := &Info{Unsigned: p.payload == nil}
	info.Imports, info.NeededCapabilities, info.UnknownImports = importNeeds(p.imports)
	if p.payload != nil {
		mb, sig, err := unmarshalSection(p.payload)
		if err != nil {
			return nil, invalidManifest(p.salvaged(), ErrMalformed, "%v; re-sign the module as built", err)
		}
		m, err := unmarshalManifest(mb)
		if err != nil {
			return nil, invalidManifest(p.salvaged(), ErrMalformed, "%v", err)
		}
		info.Manifest, info.Signed = m, validSignatureShape(sig)
	}
	return info, nil
}

// importNeeds lists imports, the capabilities they need and the ones none
// covers, each sorted without duplicates.
func importNeeds(imps []wasmImport) (imports, needs, unknown []string) {
	for _, imp := range imps {
		full := imp.module + "." + imp.name
		imports = append(imports, full)
		c, ok := ImportCapability(imp.module, imp.name)
		switch {
		case !ok:
			unknown = append(unknown, full)
		case c != "":
			needs = append(needs, c)
		}
	}
	for _, s := range []*[]string{&imports, &needs, &unknown} {
		slices.Sort(*s)
		*s = slices.Compact(*s)
	}
	return imports, needs, unknown
}
