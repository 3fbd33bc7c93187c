package plugin_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

var allCaps = plugin.Capabilities()

func TestVerifyAccepts(t *testing.T) {
	key := testKey(t, 1)
	mod := sendLog()
	signed := mustSign(t, mod, manifest("messaging.send", "log"), key)
	m, err := plugin.Verify(signed, policy([]string{"log", "messaging.send"}, key))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "pinger" || m.Version != "1.2.3" || m.ABIVersion != 1 || m.KeyID != key.ID ||
		!slices.Equal(m.Capabilities, []string{"log", "messaging.send"}) {
		t.Fatalf("manifest %+v", m)
	}
	if !bytes.Equal(signed[:len(mod)], mod) {
		t.Fatal("Sign changed the module's bytes instead of appending a section")
	}
	info, err := plugin.Inspect(signed)
	if err != nil {
		t.Fatal(err)
	}
	if info.Unsigned || !info.Signed || info.Manifest == nil || info.Manifest.Name != "pinger" ||
		!slices.Equal(info.Imports, []string{"lockstep.log", "lockstep.send"}) ||
		!slices.Equal(info.NeededCapabilities, []string{"log", "messaging.send"}) || info.UnknownImports != nil {
		t.Fatalf("Inspect: %+v", info)
	}
}

func TestSignIsRepeatable(t *testing.T) {
	key, other := testKey(t, 1), testKey(t, 2)
	mod := sendLog()
	orig := bytes.Clone(mod)
	first := mustSign(t, mod, manifest("log", "messaging.send", "log"), key)
	if !bytes.Equal(mod, orig) {
		t.Fatal("Sign modified its input")
	}
	// Re-signing replaces the section: the same key gives the same bytes,
	// another key a module only it verifies.
	if again := mustSign(t, first, manifest("messaging.send", "log"), key); !bytes.Equal(again, first) {
		t.Fatal("re-signing a signed module with the same manifest and key changed it")
	}
	resigned := mustSign(t, first, manifest("messaging.send", "log"), other)
	if _, err := plugin.Verify(resigned, policy(allCaps, other)); err != nil {
		t.Fatal(err)
	}
	if _, err := plugin.Verify(resigned, policy(allCaps, key)); !errors.Is(err, plugin.ErrUntrustedKey) {
		t.Fatalf("re-signed module under the old key: %v", err)
	}
	// A manifest section in the middle is replaced too.
	mid := slices.Concat(mod[:8], first[len(mod):], mod[8:])
	if got := mustSign(t, mid, manifest("messaging.send", "log"), key); !bytes.Equal(got, first) {
		t.Fatal("signing a module with a manifest section in the middle did not strip it")
	}
}

func TestKeyRotation(t *testing.T) {
	old, cur, stranger := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	p := policy(allCaps, old, cur)
	for _, k := range []*plugin.PrivateKey{old, cur} {
		if _, err := plugin.Verify(mustSign(t, sendLog(), manifest("messaging.send", "log"), k), p); err != nil {
			t.Errorf("key %s: %v", k.ID, err)
		}
	}
	_, err := plugin.Verify(mustSign(t, sendLog(), manifest("messaging.send", "log"), stranger), p)
	if !errors.Is(err, plugin.ErrUntrustedKey) || !strings.Contains(err.Error(), old.ID) || !strings.Contains(err.Error(), cur.ID) {
		t.Fatalf("stranger: %v (want ErrUntrustedKey listing the trusted IDs)", err)
	}
}

// TestVerifyRejects covers every rejection path.
func TestVerifyRejects(t *testing.T) {
	key, other := testKey(t, 1), testKey(t, 2)
	mod := sendLog()
	good := manifest("messaging.send", "log")
	signed := mustSign(t, mod, good, key)
	stripped, mb, sig, ok := plugin.Split(signed)
	if !ok {
		t.Fatal("Split")
	}
	base := policy(allCaps, key)
	with := func(f func(*plugin.Policy)) plugin.Policy {
		p := base
		f(&p)
		return p
	}
	// forge signs manifest m (digest and key ID as given) with k.
	forge := func(stripped []byte, m plugin.Manifest, k *plugin.PrivateKey) []byte {
		b := plugin.MarshalManifest(m)
		return plugin.Assemble(stripped, b, ed25519.Sign(k.Key, plugin.SignedMessage(stripped, b)))
	}
	signedManifest := good
	signedManifest.Capabilities = []string{"log", "messaging.send"}
	signedManifest.KeyID = key.ID
	info, _ := plugin.Inspect(signed)
	signedManifest.ModuleDigest = info.Manifest.ModuleDigest

	tamperedCaps := signedManifest
	tamperedCaps.Capabilities = []string{"log", "messaging.send", "state.write"}
	wrongDigest := signedManifest
	wrongDigest.ModuleDigest = bytes.Repeat([]byte{7}, 32)
	wrongKeyID := signedManifest // signed by other, names key
	badVersion := signedManifest
	badVersion.Version = "1.2"
	unknownField := append(bytes.Clone(mb), 0x78, 0x01) // field 15, varint 1
	flipCode := bytes.Clone(signed)
	flipCode[len(mod)-20] ^= 0x01 // inside the code or the producers section
	flipFirst := bytes.Clone(signed)
	flipFirst[12] ^= 0x01 // inside the type section
	// The section's size as a 5-byte LEB128: valid WebAssembly, not what
	// Sign writes.
	body := slices.Concat(name(plugin.SectionName), signed[len(signed)-len(mb)-len(sig)-4:])
	n := len(body)
	nonCanonHeader := slices.Concat(stripped, []byte{0x00, byte(n) | 0x80, byte(n>>7) | 0x80, 0x80, 0x80, 0x00}, body)
	dupField := slices.Concat(stripped, plugin.AppendCustomSection(nil, plugin.SectionName,
		slices.Concat([]byte{0x0a, byte(len(mb))}, mb, []byte{0x12, 64}, sig, []byte{0x12, 64}, sig)))
	abi2 := manifest("messaging.send", "log")
	abi2.ABIVersion = 2

	cases := []struct {
		name   string
		module []byte
		policy plugin.Policy
		want   error
		says   []string // substrings of the message
	}{
		{"unsigned without the flag", mod, base, plugin.ErrUnsigned, []string{"no lockstep.manifest section", "sign it"}},
		{"unsigned, flag, capability not granted", mod, with(func(p *plugin.Policy) { p.AllowUnsigned, p.Grants = true, []string{"log"} }),
			plugin.ErrNotGranted, []string{"lockstep.send", "messaging.send", "granted: log"}},
		{"unsigned, flag, unknown import", buildModule("env.abort"), with(func(p *plugin.Policy) { p.AllowUnsigned = true }),
			plugin.ErrUndeclaredImport, []string{"env.abort", `module "env"`}},
		{"untrusted key", signed, policy(allCaps, other), plugin.ErrUntrustedKey, []string{`"pinger"`, key.ID, other.ID, "trusted keys"}},
		{"empty trust store", signed, plugin.Policy{Grants: allCaps}, plugin.ErrUntrustedKey, []string{"trust store is empty"}},
		{"untrusted key even with the unsigned flag", signed, with(func(p *plugin.Policy) { p.Trust, p.AllowUnsigned = plugin.NewTrust(other.Public()), true }),
			plugin.ErrUntrustedKey, nil},
		{"wrong key (names a trusted key, signed by another)", forge(stripped, wrongKeyID, other), base, plugin.ErrBadSignature, []string{key.ID, "re-sign"}},
		{"tampered manifest (capabilities re-encoded, old signature)", plugin.Assemble(stripped, plugin.MarshalManifest(tamperedCaps), sig), base,
			plugin.ErrBadSignature, []string{`module "pinger" 1.2.3`, "modified after signing"}},
		{"tampered signature", plugin.Assemble(stripped, mb, append(bytes.Clone(sig[:63]), sig[63]^1)), base, plugin.ErrBadSignature, nil},
		{"tampered code byte", flipCode, base, plugin.ErrDigestMismatch, []string{"changed after signing"}},
		{"tampered type section", flipFirst, base, plugin.ErrDigestMismatch, nil},
		{"digest mismatch under a valid signature", forge(stripped, wrongDigest, key), base, plugin.ErrDigestMismatch, []string{"0707"}},
		{"ABI mismatch", mustSign(t, mod, abi2, key), base, plugin.ErrABIMismatch, []string{"ABI 2", "ABI 1", "rebuild"}},
		{"ABI mismatch (host 2)", signed, with(func(p *plugin.Policy) { p.ABIVersion = 2 }), plugin.ErrABIMismatch, nil},
		{"version pin", signed, with(func(p *plugin.Policy) { p.Version = "1.2.4" }), plugin.ErrVersion, []string{"1.2.3", `"1.2.4"`}},
		{"version caret", signed, with(func(p *plugin.Policy) { p.Version = "^2.0" }), plugin.ErrVersion, nil},
		{"version range", signed, with(func(p *plugin.Policy) { p.Version = ">=1.0.0 <1.2.3" }), plugin.ErrVersion, nil},
		{"version tilde", signed, with(func(p *plugin.Policy) { p.Version = "~1.1" }), plugin.ErrVersion, nil},
		{"undeclared import", mustSign(t, mod, manifest("log"), key), base, plugin.ErrUndeclaredImport,
			[]string{"lockstep.send", "messaging.send", "declares log", "add messaging.send"}},
		{"undeclared import, nothing declared", mustSign(t, mod, manifest(), key), base, plugin.ErrUndeclaredImport, []string{"declares none"}},
		{"unknown host import", mustSign(t, buildModule("lockstep.teleport"), manifest(), key), base, plugin.ErrUndeclaredImport,
			[]string{"lockstep.teleport", "does not have"}},
		{"import from an unknown module", mustSign(t, buildModule("env.abort"), manifest(), key), base, plugin.ErrUndeclaredImport, []string{"env.abort"}},
		{"declared, not granted", signed, with(func(p *plugin.Policy) { p.Grants = []string{"log"} }), plugin.ErrNotGranted,
			[]string{"messaging.send", "granted: log", "grant it"}},
		{"declared, not imported, not granted", mustSign(t, mod, manifest("messaging.send", "log", "wasi"), key), with(func(p *plugin.Policy) { p.Grants = []string{"log", "messaging.send"} }),
			plugin.ErrNotGranted, []string{"wasi"}},
		{"inference model not granted", mustSign(t, buildModule("lockstep.infer"), manifest("inference:llama"), key),
			with(func(p *plugin.Policy) { p.Grants = []string{"inference:mistral"} }), plugin.ErrNotGranted, []string{"inference:llama"}},
		{"any-model inference, one model granted", mustSign(t, buildModule("lockstep.infer"), manifest("inference"), key),
			with(func(p *plugin.Policy) { p.Grants = []string{"inference:llama"} }), plugin.ErrNotGranted, nil},
		{"not a module", []byte("hello, I am not a module"), base, plugin.ErrMalformed, []string{"not a WebAssembly module"}},
		{"empty", nil, base, plugin.ErrMalformed, nil},
		{"component, not core module", append([]byte("\x00asm\x0d\x00\x01\x00"), mod[8:]...), base, plugin.ErrMalformed, []string{"core module"}},
		{"truncated", signed[:len(signed)-1], base, plugin.ErrMalformed, []string{"truncated"}},
		{"manifest section removed", stripped, base, plugin.ErrUnsigned, nil},
		{"manifest bytes garbage", plugin.Assemble(stripped, []byte{0xff, 0xff}, sig), base, plugin.ErrMalformed, []string{"manifest does not decode"}},
		{"signature too short", plugin.Assemble(stripped, mb, sig[:63]), base, plugin.ErrMalformed, []string{"63 bytes"}},
		{"no signature", plugin.Assemble(stripped, mb, nil), base, plugin.ErrMalformed, []string{"0 bytes"}},
		{"section payload not protobuf", slices.Concat(stripped, plugin.AppendCustomSection(nil, plugin.SectionName, []byte{0xff})), base,
			plugin.ErrMalformed, []string{"does not decode"}},
		{"section with a repeated field", dupField, base, plugin.ErrMalformed, []string{"not canonically encoded"}},
		{"section header not minimal", nonCanonHeader, base, plugin.ErrMalformed, []string{"header is not canonically encoded"}},
		{"section not last", slices.Concat(signed, plugin.AppendCustomSection(nil, "name", []byte{0})), base, plugin.ErrMalformed, []string{"not the module's last section"}},
		{"two manifest sections", slices.Concat(mod[:8], signed[len(mod):], signed[8:]), base, plugin.ErrMalformed, []string{"2 lockstep.manifest sections"}},
		{"manifest with an unknown field (validly signed)", plugin.Assemble(stripped, unknownField, ed25519.Sign(key.Key, plugin.SignedMessage(stripped, unknownField))), base,
			plugin.ErrMalformed, []string{"newer Lockstep"}},
		{"signed manifest invalid", forge(stripped, badVersion, key), base, plugin.ErrMalformed, []string{"MAJOR.MINOR.PATCH"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := plugin.Verify(c.module, c.policy)
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var pe *plugin.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not a *plugin.Error", err)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
			// Exactly one sentinel matches.
			n := 0
			for _, s := range []error{plugin.ErrUnsigned, plugin.ErrBadSignature, plugin.ErrUntrustedKey, plugin.ErrDigestMismatch,
				plugin.ErrABIMismatch, plugin.ErrVersion, plugin.ErrUndeclaredImport, plugin.ErrNotGranted, plugin.ErrMalformed} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%v matches %d sentinels", err, n)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	key := testKey(t, 1)
	_, err := plugin.Verify(mustSign(t, sendLog(), manifest("log"), key), policy(allCaps, key))
	var pe *plugin.Error
	if !errors.As(err, &pe) || pe.Module != "pinger" || pe.Version != "1.2.3" || pe.Import != "lockstep.send" || pe.Capability != "messaging.send" {
		t.Fatalf("%#v", pe)
	}
	_, err = plugin.Verify(mustSign(t, sendLog(), manifest("log", "messaging.send"), key), policy([]string{"messaging.send"}, key))
	if !errors.As(err, &pe) || pe.Capability != "log" || pe.Import != "" {
		t.Fatalf("%#v", pe)
	}
}

func TestVerifyVersionRequirements(t *testing.T) {
	key := testKey(t, 1)
	signed := mustSign(t, sendLog(), manifest("messaging.send", "log"), key)
	for _, req := range []string{"1.2.3", "=1.2.3", "^1.2", "^1.2.3", "~1.2", "1.x", "*", ">=1.0.0 <2.0.0", ">=1.0.0, <2.0.0", "^0.9 || ^1.0", ">= 1.2.3"} {
		p := policy(allCaps, key)
		p.Version = req
		if _, err := plugin.Verify(signed, p); err != nil {
			t.Errorf("%q: %v", req, err)
		}
	}
}

func TestVerifyUnsignedAllowed(t *testing.T) {
	cases := []struct {
		imports []string
		grants  []string
		want    []string
	}{
		{[]string{"lockstep.send", "lockstep.log"}, allCaps, []string{"log", "messaging.send"}},
		{[]string{"lockstep.tick"}, nil, nil},
		{[]string{"lockstep.config", "lockstep.tick"}, nil, nil},
		{[]string{"lockstep.infer", "lockstep.tick"}, []string{"inference:a", "inference:b", "log"}, []string{"inference:a", "inference:b"}},
		{[]string{"wasi_snapshot_preview1.fd_write", "wasi_snapshot_preview1.random_get"}, []string{"wasi"}, []string{"wasi"}},
	}
	for _, c := range cases {
		m, err := plugin.Verify(buildModule(c.imports...), plugin.Policy{AllowUnsigned: true, Grants: c.grants})
		if err != nil {
			t.Errorf("%v: %v", c.imports, err)
			continue
		}
		if m.KeyID != "" || m.Name != "" || m.ABIVersion != 1 || !slices.Equal(m.Capabilities, c.want) {
			t.Errorf("%v: %+v, want capabilities %v", c.imports, m, c.want)
		}
	}
}

func TestInferenceGrants(t *testing.T) {
	key := testKey(t, 1)
	mod := buildModule("lockstep.infer")
	for _, c := range []struct {
		declared, granted []string
		ok                bool
	}{
		{[]string{"inference:llama"}, []string{"inference:llama"}, true},
		{[]string{"inference:llama"}, []string{"inference"}, true},
		{[]string{"inference"}, []string{"inference"}, true},
		{[]string{"inference:llama", "inference:qwen/2.5:7b"}, []string{"inference:llama", "inference:qwen/2.5:7b"}, true},
		{[]string{"inference:llama"}, []string{"inference:qwen"}, false},
		{[]string{"inference"}, []string{"inference:llama"}, false},
		{[]string{"log"}, []string{"inference", "log"}, false}, // infer imported, not declared
	} {
		_, err := plugin.Verify(mustSign(t, mod, manifest(c.declared...), key), policy(c.granted, key))
		if (err == nil) != c.ok {
			t.Errorf("declared %v, granted %v: %v", c.declared, c.granted, err)
		}
	}
	caps := []string{"inference:llama", "log"}
	if !plugin.Allows(caps, plugin.InferenceCapability("llama")) || plugin.Allows(caps, plugin.InferenceCapability("qwen")) ||
		!plugin.Allows([]string{"inference"}, "inference:qwen") || plugin.Allows([]string{"inference:qwen"}, "inference") {
		t.Error("Allows")
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, c := range []struct {
		p    plugin.Policy
		says string
	}{
		{plugin.Policy{Grants: []string{"network"}}, `"network" is not a capability`},
		{plugin.Policy{Grants: []string{"inference:"}}, "model name"},
		{plugin.Policy{Grants: []string{"inference:a b"}}, "model name"},
		{plugin.Policy{Version: "one"}, "pin like 1.2.0"},
		{plugin.Policy{Version: ">=1.0.0 ||"}, "empty branch"},
	} {
		err := c.p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want it to say %q", c.p, err, c.says)
		}
		if _, verr := plugin.Verify(sendLog(), c.p); verr == nil || verr.Error() != err.Error() {
			t.Errorf("Verify did not return the policy error: %v", verr)
		}
	}
	if err := (plugin.Policy{Grants: plugin.Capabilities(), Version: "^1"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestSignRejects(t *testing.T) {
	key := testKey(t, 1)
	for _, c := range []struct {
		name   string
		module []byte
		m      plugin.Manifest
		key    *plugin.PrivateKey
		says   string
	}{
		{"no key", sendLog(), manifest(), nil, "no ed25519 private key"},
		{"short key", sendLog(), manifest(), &plugin.PrivateKey{Key: make([]byte, 10)}, "no ed25519 private key"},
		{"not a module", []byte("text"), manifest(), key, "not a WebAssembly module"},
		{"bad import section", append(sendLog(), 0x02, 0x03, 0x01, 0x01, 'x'), manifest(), key, "import"},
		{"no name", sendLog(), plugin.Manifest{Version: "1.0.0", ABIVersion: 1}, key, "name"},
		{"bad name", sendLog(), plugin.Manifest{Name: "a b", Version: "1.0.0", ABIVersion: 1}, key, "name"},
		{"bad version", sendLog(), plugin.Manifest{Name: "a", Version: "v1", ABIVersion: 1}, key, "semantic version"},
		{"no ABI", sendLog(), plugin.Manifest{Name: "a", Version: "1.0.0"}, key, "ABI version 0"},
		{"unknown capability", sendLog(), plugin.Manifest{Name: "a", Version: "1.0.0", ABIVersion: 1, Capabilities: []string{"net"}}, key, `"net" is not a capability`},
	} {
		_, err := plugin.Sign(c.module, c.m, c.key)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.says)
		}
	}
}

func TestInspect(t *testing.T) {
	info, err := plugin.Inspect(buildModule("lockstep.tick", "lockstep.join", "lockstep.leave", "wasi_snapshot_preview1.fd_write", "env.abort", "lockstep.join"))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Unsigned || info.Signed || info.Manifest != nil ||
		!slices.Equal(info.Imports, []string{"env.abort", "lockstep.join", "lockstep.leave", "lockstep.tick", "wasi_snapshot_preview1.fd_write"}) ||
		!slices.Equal(info.NeededCapabilities, []string{"channels", "wasi"}) ||
		!slices.Equal(info.UnknownImports, []string{"env.abort"}) {
		t.Fatalf("%+v", info)
	}
	// Every import kind parses.
	imports := vec(
		append(append(name("lockstep"), name("tbl")...), 0x01, 0x70, 0x00, 0x01),
		append(append(name("lockstep"), name("mem")...), 0x02, 0x01, 0x01, 0x02),
		append(append(name("lockstep"), name("g")...), 0x03, 0x7f, 0x00),
		append(append(name("lockstep"), name("t")...), 0x04, 0x00, 0x00),
		append(append(name("m64"), name("mem")...), 0x02, 0x05, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x02),
	)
	mod := append([]byte("\x00asm\x01\x00\x00\x00"), sec(2, imports)...)
	info, err = plugin.Inspect(mod)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.UnknownImports, []string{"lockstep.g", "lockstep.mem", "lockstep.t", "lockstep.tbl", "m64.mem"}) {
		t.Fatalf("%+v", info)
	}
	for _, bad := range [][]byte{
		append([]byte("\x00asm\x01\x00\x00\x00"), sec(2, append(vec(append(name("a"), name("b")...)), 0x09))...),
		append([]byte("\x00asm\x01\x00\x00\x00"), sec(2, vec(append(append(name("a"), name("b")...), 0x07)))...),
		append([]byte("\x00asm\x01\x00\x00\x00"), sec(2, []byte{0x02, 0x01, 'a'})...),
		append([]byte("\x00asm\x01\x00\x00\x00"), sec(2, []byte{0xff, 0xff, 0xff, 0xff, 0xff})...),
		append([]byte("\x00asm\x01\x00\x00\x00"), sec(2, vec(append(append(name("a"), 0x01, 0xff), 0x00, 0x00)))...),
		append([]byte("\x00asm\x01\x00\x00\x00"), sec(0, []byte{0x05, 'a'})...),
		slices.Concat([]byte("\x00asm\x01\x00\x00\x00"), sec(2, vec()), sec(2, vec())),
		append([]byte("\x00asm\x01\x00\x00\x00"), 0x01, 0x80, 0x80, 0x80, 0x80, 0x10),
		slices.Concat(sendLog(), plugin.AppendCustomSection(nil, plugin.SectionName, []byte{0xff})),
		plugin.Assemble(sendLog(), []byte{0x0a, 0x05}, make([]byte, 64)),
		plugin.Assemble(sendLog(), []byte{0x78, 0x01}, make([]byte, 64)),
	} {
		if info, err := plugin.Inspect(bad); !errors.Is(err, plugin.ErrMalformed) {
			t.Errorf("% x: %+v, %v", bad, info, err)
		}
	}
}
