package meter

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// bigModule repeats the test programs until the module is about n bytes.
func bigModule(n int) []byte {
	var fs []testFunc
	for len(fs) == 0 || len(buildModule(fs)) < n {
		for _, set := range [][]testFunc{programs, nanFuncs} {
			base := uint32(len(fs))
			for _, f := range set {
				f.name = fmt.Sprintf("%s%d", f.name, base)
				// calls go to the copy of their callee in this round
				code := make([][]byte, len(f.code))
				for i, c := range f.code {
					if len(c) == 2 && c[0] == 0x10 {
						c = call(base + uint32(c[1]))
					}
					code[i] = c
				}
				f.code = code
				fs = append(fs, f)
			}
		}
	}
	return buildModule(fs)
}

func BenchmarkRewrite(b *testing.B) {
	mods := []struct {
		name string
		bin  []byte
	}{{"synthetic-256KiB", bigModule(256 << 10)}}
	if _, err := os.Stat(clang); err == nil {
		c := buildC(b, "-mbulk-memory", "-msimd128")
		mods = append(mods, struct {
			name string
			bin  []byte
		}{"clang-O2", c})
	}
	for _, m := range mods {
		for _, opts := range []Options{{}, {Fuel: true}, fuelAndNaN} {
			b.Run(fmt.Sprintf("%s/fuel=%v,nan=%v", m.name, opts.Fuel, opts.CanonicalizeNaN), func(b *testing.B) {
				b.SetBytes(int64(len(m.bin)))
				b.ReportAllocs()
				var out []byte
				for b.Loop() {
					var err error
					if out, err = Rewrite(m.bin, opts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(out))/float64(len(m.bin)), "size-ratio")
			})
		}
	}
}

// loopModule is a hand-built CPU-bound loop: an FNV-1a style hash of
// 0..n-1, the loop body a single segment.
var loopModule = buildModule([]testFunc{{
	name: "hash", params: i32, results: i64, locals: i32 + i64,
	code: [][]byte{
		i64c(-3750763034362895579), lset(2),
		loop(void),
		lget(2), lget(1), op(0xad), op(0x85), i64c(1099511628211), op(0x7e), lset(2), // h = (h ^ i) * p
		lget(1), i32c(1), i32Add, ltee(1), lget(0), i32LtU, brIf(0),
		end, lget(2), end},
}})

// benchC adds entry points for the benchmark to the C test program.
const benchC = `
unsigned int collatz_sum(unsigned int n) {
	unsigned int s = 0;
	for (unsigned int i = 1; i < n; i++) s += collatz(i);
	return s;
}

#define M 48
static double ma[M][M], mb[M][M], mc[M][M];
double matmul(int reps) {
	for (int i = 0; i < M; i++)
		for (int j = 0; j < M; j++) { ma[i][j] = i + j * 0.5; mb[i][j] = i - j * 0.25; }
	for (int r = 0; r < reps; r++)
		for (int i = 0; i < M; i++)
			for (int j = 0; j < M; j++) {
				double s = 0;
				for (int k = 0; k < M; k++) s += ma[i][k] * mb[k][j];
				mc[i][j] = s;
			}
	return mc[M / 2][M / 3];
}

unsigned int sieve_reps(unsigned int reps) {
	unsigned int c = 0;
	for (unsigned int r = 0; r < reps; r++) c += primes(8192);
	return c;
}
`

// BenchmarkMeteredLoop times CPU-bound loops under wazero's compiler,
// unmetered and rewritten (fuel; fuel and NaNs; fuel, NaNs and the call
// depth limit), interleaved, and reports the ratios.
func BenchmarkMeteredLoop(b *testing.B) {
	type prog struct {
		name string
		bin  []byte
		fn   string
		arg  uint64
	}
	progs := []prog{{"hand-hash", loopModule, "hash", 1 << 20}}
	if _, err := os.Stat(clang); err == nil {
		c := buildCWith(b, benchC)
		progs = append(progs,
			prog{"c-collatz", c, "collatz_sum", 20000},
			prog{"c-sieve", c, "sieve_reps", 20},
			prog{"c-fnv", c, "fnv", 1 << 20},
			prog{"c-fib", c, "fib", 25},
			prog{"c-matmul", c, "matmul", 5},
			prog{"c-harmonic", c, "harmonic", 1 << 20},
		)
	}
	ctx := context.Background()
	compiler := wazero.NewRuntimeConfigCompiler()
	for _, p := range progs {
		b.Run(p.name, func(b *testing.B) {
			rt := wazero.NewRuntimeWithConfig(ctx, compiler)
			defer rt.Close(ctx)
			var fns [4]api.Function
			var fuel, depth [4]api.Global
			for i, opts := range []Options{{}, {Fuel: true}, fuelAndNaN,
				{Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth}} {
				bin := mustRewrite(b, p.bin, opts)
				mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName(""))
				if err != nil {
					b.Fatal(err)
				}
				fns[i], fuel[i], depth[i] = mod.ExportedFunction(p.fn), mod.ExportedGlobal(FuelExport), mod.ExportedGlobal(DepthExport)
			}
			var spent [4]time.Duration
			var results [4]uint64
			for b.Loop() {
				for i, f := range fns {
					if fuel[i] != nil {
						fuel[i].(api.MutableGlobal).Set(1 << 62)
					}
					if depth[i] != nil {
						depth[i].(api.MutableGlobal).Set(0)
					}
					start := time.Now()
					res, err := f.Call(ctx, p.arg)
					spent[i] += time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
					results[i] = res[0]
				}
			}
			if results[0] != results[1] || results[0] != results[3] {
				b.Fatalf("results differ: %#x unmetered, %#x metered, %#x with the depth limit", results[0], results[1], results[3])
			}
			b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "unmetered-ns/op")
			b.ReportMetric(float64(spent[1])/float64(spent[0]), "fuel/unmetered")
			b.ReportMetric(float64(spent[2])/float64(spent[0]), "fuel+nan/unmetered")
			b.ReportMetric(float64(spent[3])/float64(spent[0]), "fuel+nan+depth/unmetered")
		})
	}
}
