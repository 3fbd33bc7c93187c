package meter

import (
	"github.com/lockstep-rt/lockstep/internal/fuzzcorpus"

	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz/FuzzRewrite from the test modules")

// fuzzSeeds are the committed seed corpus, by file name.
// The clang-built ones are left out when withClang is false.
func fuzzSeeds(t testing.TB, withClang bool) map[string][]byte {
	_, sectionsMod := sectionsModule()
	seeds := map[string][]byte{
		"programs":       buildModule(programs),
		"nan-and-simd":   buildModule(nanFuncs),
		"all-sections":   sectionsMod,
		"empty":          wasmModule(),
		"truncated-body": buildModule(programs)[:60],
		"long-leb":       wasmModule(op(1, 0x80, 0x80, 0x80, 0x80, 0x80, 0)),
		"call-depth":     depthModule(),
		"heavy-frame":    heavyModule(3 * FrameUnit),
	}
	if withClang {
		seeds["clang-O2"] = buildC(t)
		seeds["clang-O2-bulk-simd"] = buildC(t, "-mbulk-memory", "-msimd128", "-mnontrapping-fptoint", "-msign-ext")
	}
	return seeds
}

// TestWriteFuzzCorpus writes the seed corpus when run with -write-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to rewrite testdata/fuzz/FuzzRewrite")
	}
	fuzzcorpus.Check(t, "FuzzRewrite", fuzzSeeds(t, true), true, "-write-corpus")
}

// FuzzRewrite: Rewrite never panics and its errors wrap ErrMalformed; zero
// Options return the module unchanged; every rewrite of a module wazero
// compiles compiles, and Rewrite accepts every module wazero compiles
// (checked where wazero can be trusted not to allocate gigabytes first),
// except, with MaxCallDepth, one with a frame too large for the limit.
func FuzzRewrite(f *testing.F) {
	for _, bin := range fuzzSeeds(f, false) { // and the committed corpus
		f.Add(bin)
	}
	f.Fuzz(func(t *testing.T, bin []byte) {
		if len(bin) > 1<<16 {
			return
		}
		all := []Options{{}, {Fuel: true}, {CanonicalizeNaN: true}, fuelAndNaN,
			{MaxCallDepth: 3}, {Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth},
			{Fuel: true, MaxCallDepth: DefaultMaxCallDepth, Dispatch: fuzzDispatch}}
		outs := map[int][]byte{} // by position in all; all[0] is the zero Options
		for i, opts := range all {
			out, err := Rewrite(bin, opts)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%+v: error does not wrap ErrMalformed: %v", opts, err)
				}
				continue
			}
			outs[i] = out
		}
		if out, ok := outs[0]; ok && !bytes.Equal(out, bin) {
			t.Fatal("zero Options changed the module")
		}
		// wazero allocates by the counts it reads before checking them
		// against the input's size. When Rewrite accepts a module it has
		// checked every count but the number of locals; otherwise only a
		// module without any large LEB128 number anywhere is safe to try.
		_, accepted := outs[0]
		if manyLocals(bin) || !accepted && largeLEB(bin) || compiles(bin) != nil {
			return
		}
		for i, opts := range all {
			out, ok := outs[i]
			if !ok {
				_, err := Rewrite(bin, opts)
				if opts.Fuel && bytes.Contains(bin, []byte(FuelExport)) ||
					opts.MaxCallDepth > 0 && bytes.Contains(bin, []byte(DepthExport)) ||
					len(opts.Dispatch) > 0 && bytes.Contains(bin, []byte(DispatchExport)) ||
					strings.Contains(err.Error(), "wazero v1.12 reads one byte") {
					continue // may already export it; or wazero misreads a SIMD opcode
				}
				if opts.MaxCallDepth > 0 && errors.Is(err, ErrUnsupported) && strings.Contains(err.Error(), "FrameUnit") {
					continue // a frame too large for the depth limit
				}
				t.Fatalf("wazero compiles the module, Rewrite(%+v) fails: %v", opts, err)
			}
			if err := compiles(out); err != nil {
				t.Fatalf("wazero compiles the module but not its Rewrite(%+v): %v", opts, err)
			}
		}
	})
}

// largeLEB reports whether a LEB128 u32 over 2^20 starts at any offset of bin.
func largeLEB(bin []byte) bool {
	for i := range bin {
		r := newReader(bin[i:], 0)
		if v := r.u32(); r.err == nil && v > 1<<20 {
			return true
		}
	}
	return false
}

// manyLocals reports whether a function body of bin, as far as it can be
// read, declares over a million locals.
func manyLocals(bin []byte) bool {
	r := newReader(bin, 0)
	r.off = 8
	for !r.done() {
		id := r.byte()
		payload := r.bytes(r.u32())
		if id != secCode {
			continue
		}
		c := newReader(payload, 0)
		for n := c.u32(); n > 0 && c.ok(); n-- {
			b := newReader(c.bytes(c.u32()), 0)
			var sum uint64
			for g := b.u32(); g > 0 && b.ok(); g-- {
				sum += uint64(b.u32())
				b.byte()
			}
			if sum > 1<<20 {
				return true
			}
		}
	}
	return false
}

// fuzzDispatch are export names of the fuzz corpus's modules and of agents
// (and one that no module exports), for Options.Dispatch.
var fuzzDispatch = []string{"agent_step", "f", "main", "_start", "run", "", "agent_alloc"}
