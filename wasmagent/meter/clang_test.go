package meter

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const clang = "/usr/bin/clang-14"

// cProgram is C-like code: loops, floats, recursion, a static array,
// memset and memcpy.
const cProgram = `
#ifndef __wasm_bulk_memory__
// -nostdlib: no libc. volatile keeps clang from turning these back into calls.
void *memset(void *d, int c, unsigned long n) {
	volatile unsigned char *p = d;
	while (n--) *p++ = (unsigned char)c;
	return d;
}
void *memcpy(void *d, const void *s, unsigned long n) {
	volatile unsigned char *p = d;
	const unsigned char *q = s;
	while (n--) *p++ = *q++;
	return d;
}
#endif

#define N 8192
static unsigned char sieve_buf[N];
static char src[N], dst[N];
static float arr[256];

unsigned int primes(unsigned int n) {
	if (n > N) n = N;
	__builtin_memset(sieve_buf, 1, n);
	unsigned int c = 0;
	for (unsigned int i = 2; i < n; i++)
		if (sieve_buf[i]) {
			c++;
			for (unsigned int j = i * i; j < n; j += i) sieve_buf[j] = 0;
		}
	return c;
}

double harmonic(int n) {
	double s = 0;
	for (int i = 1; i <= n; i++) s += 1.0 / i;
	return s;
}

unsigned int collatz(unsigned int n) {
	unsigned int s = 0;
	while (n > 1) { n = (n & 1) ? 3 * n + 1 : n / 2; s++; }
	return s;
}

unsigned int fib(unsigned int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

float dot(int n) {
	for (int i = 0; i < 256; i++) arr[i] = i * 0.5f;
	float s = 0;
	for (int k = 0; k < n; k++)
		for (int i = 0; i < 256; i++) s += arr[i] * arr[k & 255];
	return s;
}

double nan_of(double x) { return (x - x) / (x - x); }

unsigned long long fnv(unsigned int n) {
	unsigned long long h = 1469598103934665603ULL;
	for (unsigned int i = 0; i < n; i++) { h ^= i & 0xff; h *= 1099511628211ULL; }
	return h;
}

unsigned int copy(unsigned int n) {
	if (n > N) n = N;
	for (unsigned int i = 0; i < n; i++) src[i] = (char)i;
	__builtin_memcpy(dst, src, n);
	return n ? (unsigned char)dst[n - 1] : 0;
}
`

// buildC compiles cProgram with clang-14, or skips the test.
func buildC(t testing.TB, flags ...string) []byte {
	t.Helper()
	return buildCWith(t, "", flags...)
}

// buildCWith compiles cProgram followed by extra.
func buildCWith(t testing.TB, extra string, flags ...string) []byte {
	t.Helper()
	if _, err := os.Stat(clang); err != nil {
		t.Skipf("%s not found", clang)
	}
	dir := t.TempDir()
	src, out := filepath.Join(dir, "p.c"), filepath.Join(dir, "p.wasm")
	if err := os.WriteFile(src, []byte(cProgram+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--target=wasm32", "-nostdlib", "-O2", "-Wl,--no-entry", "-Wl,--export-all", "-o", out, src}, flags...)
	if b, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
		t.Skipf("clang cannot build wasm32 here: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var cCalls = []struct {
	fn   string
	args []uint64
}{
	{"primes", []uint64{1000}}, {"primes", []uint64{8192}},
	{"harmonic", []uint64{1000}}, {"collatz", []uint64{27}}, {"collatz", []uint64{97}},
	{"fib", []uint64{15}}, {"dot", []uint64{20}}, {"nan_of", []uint64{math.Float64bits(1)}},
	{"fnv", []uint64{5000}}, {"copy", []uint64{5000}}, {"copy", []uint64{0}},
}

func TestClangModule(t *testing.T) {
	for _, flags := range [][]string{nil, {"-mbulk-memory", "-msimd128", "-mnontrapping-fptoint", "-msign-ext"}} {
		t.Run(fmt.Sprint(flags), func(t *testing.T) {
			orig := buildC(t, flags...)
			bin := mustRewrite(t, orig, fuelAndNaN)
			var fuels []int64
			for _, e := range engines() {
				for run := 0; run < 2; run++ {
					a, b := instantiate(t, e, orig), instantiate(t, e, bin)
					var used []int64
					for _, c := range cCalls {
						want, werr := a.call(c.fn, c.args...)
						const fuel = int64(1) << 40
						got, err, left := b.metered(fuel, c.fn, c.args...)
						if werr != nil || err != nil {
							t.Fatalf("%s: %s%v: %v / %v", e.name, c.fn, c.args, werr, err)
						}
						if c.fn == "nan_of" {
							if got[0] != 0x7ff8000000000000 {
								t.Errorf("%s: nan_of(1) = %#x, want the canonical NaN (unrewritten %#x)", e.name, got[0], want[0])
							}
						} else if c.fn == "collatz" || c.fn == "primes" || c.fn == "fib" || c.fn == "copy" || c.fn == "dot" {
							if uint32(got[0]) != uint32(want[0]) {
								t.Errorf("%s: %s%v = %d, want %d", e.name, c.fn, c.args, uint32(got[0]), uint32(want[0]))
							}
						} else if got[0] != want[0] {
							t.Errorf("%s: %s%v = %#x, want %#x", e.name, c.fn, c.args, got[0], want[0])
						}
						used = append(used, fuel-left)
					}
					// With a third of the fuel it needs, every call runs out, deterministically.
					for i, c := range cCalls {
						_, err, left := b.metered(used[i]/3, c.fn, c.args...)
						if !exhausted(err, left) {
							t.Errorf("%s: %s%v with %d fuel: %v, %d left", e.name, c.fn, c.args, used[i]/3, err, left)
						}
						used = append(used, left)
					}
					if fuels == nil {
						fuels = used
						t.Logf("fuel used: %v", used[:len(cCalls)])
					} else if fmt.Sprint(used) != fmt.Sprint(fuels) {
						t.Errorf("%s run %d: fuel %v, first run %v", e.name, run, used, fuels)
					}
				}
			}
		})
	}
}
