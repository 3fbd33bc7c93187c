package plugin_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// testKey returns a deterministic key made from one seed byte.
func testKey(t testing.TB, seed byte) *plugin.PrivateKey {
	t.Helper()
	return seedKey(seed)
}

// seedKey is testKey for package-level fixtures.
func seedKey(seed byte) *plugin.PrivateKey {
	k, err := plugin.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		panic(err)
	}
	return k
}

// signOrPanic is Sign for package-level fixtures.
func signOrPanic(module []byte, m plugin.Manifest, key *plugin.PrivateKey) []byte {
	s, err := plugin.Sign(module, m, key)
	if err != nil {
		panic(err)
	}
	return s
}

// funcType is a WebAssembly function type: params, results (value type
// bytes: 0x7f i32, 0x7e i64).
type funcType struct{ params, results []byte }

func i32s(n int) []byte { return bytes.Repeat([]byte{0x7f}, n) }

// importTypes are ABI v1's host function types; other imports get () -> ().
var importTypes = map[string]funcType{
	"lockstep.send":        {i32s(4), i32s(1)},
	"lockstep.publish":     {i32s(4), i32s(1)},
	"lockstep.state_write": {i32s(4), i32s(1)},
	"lockstep.join":        {i32s(2), i32s(1)},
	"lockstep.leave":       {i32s(2), i32s(1)},
	"lockstep.log":         {i32s(3), nil},
	"lockstep.tick":        {nil, []byte{0x7e}},
	"lockstep.random":      {nil, []byte{0x7e}},
	"lockstep.state_read":  {i32s(6), i32s(1)},
	"lockstep.infer":       {i32s(6), i32s(1)},
	"lockstep.config":      {i32s(2), i32s(1)},
}

func uleb(v int) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func name(s string) []byte { return append(uleb(len(s)), s...) }

func vec(items ...[]byte) []byte {
	b := uleb(len(items))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func sec(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(len(body))...), body...)
}

// buildModule hand-assembles a small valid module that imports the given
// "module.name" functions, defines a memory and one function, and exports
// both. Its custom "name"-like section "producers" is there so that other
// custom sections are covered by the signature too.
func buildModule(imports ...string) []byte {
	types := [][]byte{{0x60, 0x00, 0x01, 0x7f}} // type 0: () -> i32, the defined function
	var imps [][]byte
	for _, full := range imports {
		mod, fn, _ := bytes.Cut([]byte(full), []byte("."))
		ft := importTypes[full]
		ty := append([]byte{0x60}, uleb(len(ft.params))...)
		ty = append(ty, ft.params...)
		ty = append(ty, uleb(len(ft.results))...)
		ty = append(ty, ft.results...)
		types = append(types, ty)
		imp := append(name(string(mod)), name(string(fn))...)
		imp = append(imp, 0x00)
		imp = append(imp, uleb(len(types)-1)...)
		imps = append(imps, imp)
	}
	m := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	m = append(m, sec(1, vec(types...))...)
	if len(imps) > 0 {
		m = append(m, sec(2, vec(imps...))...)
	}
	m = append(m, sec(3, vec([]byte{0x00}))...)
	m = append(m, sec(5, vec([]byte{0x00, 0x01}))...)
	m = append(m, sec(7, vec(
		append(name("memory"), 0x02, 0x00),
		append(append(name("f"), 0x00), uleb(len(imports))...),
	))...)
	m = append(m, sec(10, vec(append(uleb(4), 0x00, 0x41, 0x07, 0x0b)))...) // no locals; i32.const 7; end
	m = append(m, sec(0, append(name("producers"), "hand-assembled"...))...)
	return m
}

// sendLog is the module of the property test: it imports lockstep.send
// and lockstep.log.
func sendLog() []byte { return buildModule("lockstep.send", "lockstep.log") }

// manifest returns a valid manifest with the given capabilities.
func manifest(caps ...string) plugin.Manifest {
	return plugin.Manifest{Name: "pinger", Version: "1.2.3", ABIVersion: 1, Capabilities: caps}
}

func mustSign(t testing.TB, module []byte, m plugin.Manifest, key *plugin.PrivateKey) []byte {
	t.Helper()
	signed, err := plugin.Sign(module, m, key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// policy trusts keys and grants caps.
func policy(caps []string, keys ...*plugin.PrivateKey) plugin.Policy {
	var pubs []plugin.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Public())
	}
	return plugin.Policy{Trust: plugin.NewTrust(pubs...), Grants: caps, ABIVersion: 1}
}
