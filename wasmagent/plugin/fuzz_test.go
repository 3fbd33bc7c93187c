package plugin_test

import (
	"github.com/lockstep-rt/lockstep/internal/fuzzcorpus"

	"bytes"
	"errors"
	"flag"
	"slices"
	"sync"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// fuzzKeys are the fuzz tests' keys: the first two are trusted, the third
// is not.
var fuzzKeys = sync.OnceValue(func() [3]*plugin.PrivateKey {
	return [3]*plugin.PrivateKey{seedKey(0xa1), seedKey(0xa2), seedKey(0xa3)}
})

// fuzzSigned are the modules the fuzz tests' trusted keys signed: the only
// inputs FuzzVerify may accept.
var fuzzSigned = sync.OnceValue(func() map[string][]byte {
	k := fuzzKeys()
	sign := signOrPanic
	wasi := manifest("wasi", "log")
	wasi.Name, wasi.Version = "acme/wasi-agent", "0.1.0-rc.1+build.7"
	return map[string][]byte{
		"signed_send_log":      sign(sendLog(), manifest("messaging.send", "log"), k[0]),
		"signed_send_log_key2": sign(sendLog(), manifest("messaging.send", "log"), k[1]),
		"signed_all_imports": sign(buildModule("lockstep.send", "lockstep.publish", "lockstep.join", "lockstep.leave", "lockstep.state_write",
			"lockstep.state_read", "lockstep.infer", "lockstep.log", "lockstep.random", "lockstep.tick"),
			manifest("messaging.send", "messaging.publish", "channels", "state.write", "state.read", "inference:llama", "log", "random"), k[0]),
		"signed_wasi":      sign(buildModule("wasi_snapshot_preview1.fd_write", "lockstep.log"), wasi, k[1]),
		"signed_no_import": sign(buildModule(), manifest(), k[0]),
	}
})

// fuzzPolicy trusts the two fuzz keys and grants everything.
func fuzzPolicy(allowUnsigned bool) plugin.Policy {
	k := fuzzKeys()
	return plugin.Policy{
		Trust:         plugin.NewTrust(k[0].Public(), k[1].Public()),
		Grants:        append(plugin.Capabilities(), "inference:llama"),
		AllowUnsigned: allowUnsigned,
	}
}

// seedModules are the seed corpus, named after what they exercise.
func seedModules() map[string][]byte {
	k := fuzzKeys()
	seeds := map[string][]byte{}
	for n, m := range fuzzSigned() {
		seeds[n] = m
	}
	good := seeds["signed_send_log"]
	flip := func(off int) []byte {
		b := bytes.Clone(good)
		b[off] ^= 0x01
		return b
	}
	stripped, mb, sig, _ := plugin.Split(good)
	seeds["unsigned"] = sendLog()
	seeds["unsigned_unknown_import"] = buildModule("env.abort", "lockstep.teleport")
	seeds["untrusted_key"] = signOrPanic(sendLog(), manifest("messaging.send", "log"), k[2])
	seeds["flipped_code"] = flip(len(stripped) - 20)
	seeds["flipped_manifest"] = flip(len(good) - len(sig) - 10)
	seeds["flipped_signature"] = flip(len(good) - 1)
	seeds["flipped_section_name"] = flip(len(stripped) + 4)
	seeds["truncated"] = good[:len(good)-7]
	seeds["section_not_last"] = slices.Concat(good, plugin.AppendCustomSection(nil, "name", nil))
	seeds["two_sections"] = slices.Concat(stripped[:8], good[len(stripped):], good[8:])
	seeds["short_signature"] = plugin.Assemble(stripped, mb, sig[:40])
	seeds["bad_import_kind"] = append([]byte("\x00asm\x01\x00\x00\x00"), sec(2, vec(append(append(name("a"), name("b")...), 0x07)))...)
	seeds["not_wasm"] = []byte("hello")
	seeds["header_only"] = []byte("\x00asm\x01\x00\x00\x00")
	seeds["empty"] = []byte{}
	// A signed module whose damaged manifest section ran as unsigned under
	// AllowUnsigned, before Verify looked for damaged manifest sections.
	seeds["downgrade_section_id_flipped"] = flip(len(stripped))
	seeds["downgrade_name_length_flipped"] = flip(len(stripped) + 3)
	seeds["downgrade_name_byte_flipped"] = flip(len(stripped) + 4 + len(plugin.SectionName) - 1)
	producersSize := bytes.Clone(good) // 24 -> 26: the manifest section's name becomes a type section
	producersSize[len(stripped)-len("\x18\x09producershand-assembled")] ^= 0x02
	seeds["downgrade_producers_size_flipped"] = producersSize
	return seeds
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzInspect and FuzzVerify in step
// with seedModules; run with -update-corpus after changing the format or
// the seeds: go test -run TestFuzzCorpus -update-corpus ./wasmagent/plugin
func TestFuzzCorpus(t *testing.T) {
	for _, target := range []string{"FuzzInspect", "FuzzVerify"} {
		fuzzcorpus.Check(t, target, seedModules(), *updateCorpus, "-update-corpus")
	}
}

// FuzzInspect reads arbitrary bytes as a module. It must not panic, and
// what it returns must be consistent.
func FuzzInspect(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := plugin.Inspect(data)
		if err != nil {
			if !errors.Is(err, plugin.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if info.Unsigned == (info.Manifest != nil) || (info.Signed && info.Unsigned) {
			t.Fatalf("inconsistent %+v", info)
		}
		for _, l := range [][]string{info.Imports, info.NeededCapabilities, info.UnknownImports} {
			if !slices.IsSorted(l) || len(slices.Compact(slices.Clone(l))) != len(l) {
				t.Fatalf("not sorted and unique: %q", l)
			}
		}
		for _, c := range info.NeededCapabilities {
			if !slices.Contains(plugin.Capabilities(), c) {
				t.Fatalf("needs unknown capability %q", c)
			}
		}
		for _, u := range info.UnknownImports {
			if !slices.Contains(info.Imports, u) {
				t.Fatalf("unknown import %q is not an import", u)
			}
		}
	})
}

// FuzzVerify verifies arbitrary bytes. It must not panic, every error must
// be a *plugin.Error, and it must accept a signed module only if it is
// byte-for-byte one that the trusted keys signed (fuzzSigned); with
// AllowUnsigned, anything else it accepts must have no manifest section,
// and must not be a signed module with one byte changed (a damaged
// manifest is never run as unsigned).
func FuzzVerify(f *testing.F) {
	signed := fuzzSigned()
	strict, lax := fuzzPolicy(false), fuzzPolicy(true)
	f.Fuzz(func(t *testing.T, data []byte) {
		isSigned, damaged := false, false
		for _, s := range signed {
			if bytes.Equal(s, data) {
				isSigned = true
			}
			if len(s) == len(data) && bytesDiffer(s, data) == 1 {
				damaged = true
			}
		}
		m, err := plugin.Verify(data, strict)
		var pe *plugin.Error
		switch {
		case err == nil && !isSigned:
			t.Fatalf("accepted bytes no trusted key signed: %+v", m)
		case err != nil && isSigned:
			t.Fatalf("rejected a signed module: %v", err)
		case err != nil && !errors.As(err, &pe):
			t.Fatalf("%v is not a *plugin.Error", err)
		}

		m, err = plugin.Verify(data, lax)
		switch {
		case err != nil && !errors.As(err, &pe):
			t.Fatalf("%v is not a *plugin.Error", err)
		case err == nil && m.KeyID != "" && !isSigned:
			t.Fatalf("AllowUnsigned: accepted a signed module no trusted key signed: %+v", m)
		case err == nil && m.KeyID == "" && damaged:
			t.Fatalf("AllowUnsigned: accepted as unsigned a signed module with one byte changed")
		case err == nil && m.KeyID == "":
			info, ierr := plugin.Inspect(data)
			if ierr != nil || !info.Unsigned {
				t.Fatalf("AllowUnsigned: accepted as unsigned a module with a manifest section (%v)", ierr)
			}
		}
	})
}

// bytesDiffer counts the positions where a and b (of a's length) differ.
func bytesDiffer(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}
