package plugin_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// sentinels are every sentinel error of package plugin.
var sentinels = []error{plugin.ErrUnsigned, plugin.ErrBadSignature, plugin.ErrUntrustedKey, plugin.ErrDigestMismatch,
	plugin.ErrABIMismatch, plugin.ErrVersion, plugin.ErrUndeclaredImport, plugin.ErrNotGranted, plugin.ErrMalformed}

// damagedModules are a signed module (sendLog, manifest "pinger" 1.2.3,
// signed by key) with its manifest section damaged in every way we could
// think of, each with what the refusal must say under a policy that trusts
// key (beyond "present", which every refusal says) and whether the
// manifest's name can still be read from it.
func damagedModules(t *testing.T, key *plugin.PrivateKey) []damaged {
	signed := mustSign(t, sendLog(), manifest("messaging.send", "log"), key)
	stripped, mb, sig, ok := plugin.Split(signed)
	if !ok {
		t.Fatal("Split")
	}
	sec := signed[len(stripped):] // the manifest section: id, size (2 bytes), name length, name, payload
	payload := sec[4+len(plugin.SectionName):]
	mbAt := len(signed) - len(payload) + 2 // payload: 0x0a, len(mb) (1 byte), mb, 0x12, 0x40, sig
	if len(mb) >= 128 || !bytes.Equal(signed[mbAt:mbAt+len(mb)], mb) || sec[0] != 0 || sec[3] != byte(len(plugin.SectionName)) {
		t.Fatalf("the test module's manifest section is not laid out as this test expects: % x", sec[:8])
	}
	flip := func(off int, mask byte) []byte {
		b := bytes.Clone(signed)
		b[off] ^= mask
		return b
	}
	nameAt := len(stripped) + 4
	withName := func(n string) []byte {
		return slices.Concat(stripped, plugin.AppendCustomSection(nil, n, payload))
	}
	// The producers section (the last of stripped) grown to hold the
	// manifest section: what a damaged size byte before it can do.
	producers := plugin.AppendCustomSection(nil, "producers", []byte("hand-assembled"))
	if !bytes.HasSuffix(stripped, producers) {
		t.Fatal("the test module does not end with its producers section")
	}
	swallowed := slices.Concat(stripped[:len(stripped)-len(producers)], plugin.AppendCustomSection(nil, "producers", slices.Concat([]byte("hand-assembled"), sec)))
	withPayload := func(p []byte) []byte {
		return slices.Concat(stripped, plugin.AppendCustomSection(nil, plugin.SectionName, p))
	}

	cases := []damaged{
		{"truncated file, inside the signature", signed[:len(signed)-7], []string{"truncated"}, true},
		{"truncated file, after the manifest bytes", signed[:mbAt+len(mb)+1], []string{"truncated"}, true},
		{"truncated file, inside the manifest bytes", signed[:mbAt+20], []string{"truncated"}, true},
		{"truncated file, inside the section name", signed[:nameAt+10], []string{"truncated"}, false},
		{"truncated section payload (size fixed)", withPayload(payload[:len(payload)-10]), nil, true},
		{"truncated manifest bytes (re-framed)", plugin.Assemble(stripped, mb[:len(mb)-30], sig), nil, true},
		{"flipped byte in the signature", flip(len(signed)-1, 0x01), []string{"signature does not verify"}, true},
		{"flipped byte in the manifest's name", flip(mbAt+3, 0x01), []string{"signature does not verify"}, false},
		{"flipped byte in the manifest's version", flip(mbAt+len("\x0a\x06pinger\x12\x05")+1, 0x04), []string{"signature does not verify"}, true},
		{"flipped byte in the manifest's key ID", flip(mbAt+len(mb)-1, 0x01), []string{"does not trust", "re-sign the module if its manifest was damaged"}, true},
		{"flipped byte in the manifest's digest", flip(mbAt+len(mb)-30, 0x01), []string{"SHA-256"}, true},
		{"signature removed", plugin.Assemble(stripped, mb, nil), []string{"0 bytes"}, true},
		{"section payload replaced by garbage", withPayload([]byte{0xff, 0x01}), []string{"does not decode"}, false},
		{"section id 0 -> 1", flip(len(stripped), 0x01), []string{"has id 1, not 0"}, true},
		{"section id 0 -> 2 (a second import section)", flip(len(stripped), 0x02), []string{"has id 2, not 0"}, true},
		{"section id 0 -> 0x80", flip(len(stripped), 0x80), []string{"has id 128, not 0"}, true},
		{"section id 0 -> 0xff", flip(len(stripped), 0xff), []string{"has id 255, not 0"}, true},
		{"section size shrunk", flip(len(stripped)+1, 0x02), []string{"does not parse"}, true},
		{"section size grown", flip(len(stripped)+2, 0x01), []string{"truncated"}, true},
		{"section name length 17 -> 16", flip(len(stripped)+3, 0x01), []string{`named "lockstep.manifes"`}, true},
		{"section name length 17 -> 19", flip(len(stripped)+3, 0x02), []string{"is named"}, true},
		{"section name length 17 -> 1", flip(len(stripped)+3, 0x10), []string{`named "l"`}, true},
		{"section name, first byte flipped", flip(nameAt, 0x01), []string{`named "mockstep.manifest"`}, true},
		{"section name, last byte flipped", flip(nameAt+len(plugin.SectionName)-1, 0x01), []string{`named "lockstep.manifesu"`}, true},
		{"section name, high bit set (not UTF-8)", flip(nameAt+5, 0x80), []string{"not valid UTF-8"}, true},
		{"section name, a byte dropped", withName("lockstep.manifst"), []string{`named "lockstep.manifst"`}, true},
		{"section name, a byte inserted", withName("lockstep..manifest"), []string{`named "lockstep..manifest"`}, true},
		{"section name, upper case", withName("Lockstep.Manifest"), []string{`named "Lockstep.Manifest"`}, true},
		{"manifest section swallowed by the section before it", swallowed, []string{`custom section "producers"`, "inside its contents"}, true},
		{"manifest section not last", slices.Concat(signed, plugin.AppendCustomSection(nil, "name", []byte{0})), []string{"not the module's last section"}, true},
		{"manifest section first", slices.Concat(stripped[:8], sec, stripped[8:]), []string{"not the module's last section"}, true},
		{"two manifest sections", slices.Concat(stripped[:8], sec, stripped[8:], sec), []string{"2 lockstep.manifest sections"}, true},
		{"a damaged copy before a valid manifest section", slices.Concat(stripped, plugin.AppendCustomSection(nil, "lockstep.manifesT", payload), sec),
			[]string{`named "lockstep.manifesT"`}, true},
		{"trailing garbage after the manifest section", slices.Concat(signed, []byte{0x00}), []string{"does not parse"}, true},
		{"manifest section emptied", withPayload(nil), []string{"0 bytes"}, false},
	}
	return cases
}

type damaged struct {
	name   string
	module []byte
	says   []string
	named  bool // the refusal names module "pinger"
}

// TestDamagedManifestIsRefused: a module that carries a manifest section,
// however damaged, is verified or refused; allow_unsigned never downgrades
// it to an unsigned module. The refusal says the manifest is present, why
// it fails, to re-sign the module, and names the module when its name can
// be read. Re-signing as it says gives a module that verifies, or Sign
// refuses the module too.
func TestDamagedManifestIsRefused(t *testing.T) {
	key := testKey(t, 1)
	trustAndAllow := policy(allCaps, key)
	trustAndAllow.AllowUnsigned = true
	allowOnly := plugin.Policy{Grants: allCaps, AllowUnsigned: true}
	for _, c := range damagedModules(t, key) {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range []struct {
				name string
				plugin.Policy
			}{{"trust and allow_unsigned", trustAndAllow}, {"allow_unsigned alone", allowOnly}} {
				m, err := plugin.Verify(c.module, p.Policy)
				if err == nil {
					t.Fatalf("%s: accepted %+v", p.name, m)
				}
				msg := err.Error()
				var pe *plugin.Error
				switch {
				case !errors.As(err, &pe):
					t.Fatalf("%s: %v is not a *plugin.Error", p.name, err)
				case errors.Is(err, plugin.ErrUnsigned):
					t.Fatalf("%s: refused as unsigned: %v", p.name, err)
				case !strings.Contains(msg, "lockstep.manifest section is present"):
					t.Errorf("%s: %q does not say the manifest is present", p.name, msg)
				case !strings.Contains(msg, "allow_unsigned does not apply to a module that carries a manifest"):
					t.Errorf("%s: %q does not say allow_unsigned does not apply", p.name, msg)
				case !strings.Contains(msg, "re-sign"):
					t.Errorf("%s: %q does not say to re-sign", p.name, msg)
				case c.named && pe.Module != "pinger":
					t.Errorf("%s: %q does not name module pinger", p.name, msg)
				}
				n := 0
				for _, s := range sentinels {
					if errors.Is(err, s) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s: %v matches %d sentinels", p.name, err, n)
				}
				if p.Trust != nil {
					for _, s := range c.says {
						if !strings.Contains(msg, s) {
							t.Errorf("%s: %q does not say %q", p.name, msg, s)
						}
					}
				}
				t.Logf("%s: %v", p.name, err)
			}
			if info, err := plugin.Inspect(c.module); err == nil && info.Unsigned {
				t.Errorf("Inspect calls it unsigned")
			}
			resigned, err := plugin.Sign(c.module, manifest("messaging.send", "log"), key)
			if err != nil {
				t.Logf("Sign: %v", err)
				return
			}
			if _, err := plugin.Verify(resigned, trustAndAllow); err != nil {
				t.Errorf("re-signed, it still fails: %v", err)
			}
		})
	}
}

// TestSignRefusesAnEmbeddedManifest: Sign cannot strip a manifest section
// inside another section, so it refuses to sign around it.
func TestSignRefusesAnEmbeddedManifest(t *testing.T) {
	key := testKey(t, 1)
	for _, c := range damagedModules(t, key) {
		if c.name != "manifest section swallowed by the section before it" {
			continue
		}
		_, err := plugin.Sign(c.module, manifest("messaging.send", "log"), key)
		if !errors.Is(err, plugin.ErrMalformed) || !strings.Contains(err.Error(), "sign the module as built") {
			t.Fatalf("Sign: %v", err)
		}
		return
	}
	t.Fatal("no such case")
}

// TestNotAManifest: sections that merely resemble the manifest's name from
// afar are not manifests, so unsigned modules carrying them still run
// under allow_unsigned.
func TestNotAManifest(t *testing.T) {
	p := plugin.Policy{Grants: allCaps, AllowUnsigned: true}
	for _, n := range []string{"lockstep", "lockstep.meta", "manifest", "lockstep.mani", "lockstep.manifold", "name", "producers", "sourceMappingURL"} {
		mod := slices.Concat(sendLog(), plugin.AppendCustomSection(nil, n, []byte("lockstep.manifest is mentioned here")))
		if m, err := plugin.Verify(mod, p); err != nil || m.KeyID != "" {
			t.Errorf("custom section %q: %+v, %v", n, m, err)
		}
	}
}

// TestNoDamageRunsUnsigned is TestEveryByteIsCovered under allow_unsigned,
// with and without trusted keys: no flipped bit, no inserted byte and no
// cut inside the manifest section turns a signed module into an unsigned
// one. Only cutting the whole manifest section off does (or more, at a
// section boundary).
func TestNoDamageRunsUnsigned(t *testing.T) {
	key := testKey(t, 1)
	signed := mustSign(t, sendLog(), manifest("messaging.send", "log"), key)
	stripped, _, _, _ := plugin.Split(signed)
	trustAndAllow := policy(allCaps, key)
	trustAndAllow.AllowUnsigned = true
	for _, p := range []plugin.Policy{trustAndAllow, {Grants: allCaps, AllowUnsigned: true}} {
		variant := make([]byte, len(signed))
		for off := range signed {
			for _, mask := range []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff} {
				copy(variant, signed)
				variant[off] ^= mask
				if m, err := plugin.Verify(variant, p); err == nil {
					t.Fatalf("trust %v: byte %d ^ %#02x: accepted %+v", p.Trust != nil, off, mask, m)
				}
			}
		}
		for n := range len(signed) {
			// A cut at a section boundary before the manifest section is a
			// (broken) unsigned module; wazero refuses it later.
			if m, err := plugin.Verify(signed[:n], p); err == nil && n > len(stripped) {
				t.Fatalf("trust %v: the first %d bytes were accepted: %+v", p.Trust != nil, n, m)
			}
		}
		for off := range len(signed) + 1 {
			for _, b := range []byte{0x00, 0x01, 0x80} {
				grown := slices.Concat(signed[:off], []byte{b}, signed[off:])
				if m, err := plugin.Verify(grown, p); err == nil {
					t.Fatalf("trust %v: inserting %#02x at byte %d was accepted: %+v", p.Trust != nil, b, off, m)
				}
			}
		}
	}
}
