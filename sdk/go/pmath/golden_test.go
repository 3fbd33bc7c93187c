package pmath

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt")

const goldenFile = "testdata/golden.txt"

// goldenPerFunc is the number of inputs per function in the golden file.
const goldenPerFunc = 200

// edges are inputs every function gets in the golden file.
var edges = []float64{
	0, negz, minSub, -minSub, 0x1p-1022, 0x1p-1000, 1e-300, 1e-20, 0x1p-27, 0x1p-26, 1e-8, 0.001,
	0.1, 0.25, 0.5, 0.7, 0.75, 0.9, 0.99, 0.9999999999999999, 1, 1.0000000000000002, 1.5, 2, math.E, 3,
	math.Pi, 10, 22, 30, 100, 700, 709.78, 710, 745, 1e6, 0x1p20, 1e22, 1e300, maxF, inf, nan,
	-0.5, -1, -2, -3, -10, -100, -745.13, -1e22, -maxF, -inf,
}

var edges2 = [][2]float64{
	{2, 10}, {10, 22}, {2, -1074}, {2, 1023.5}, {-2, 3}, {-8, 1.0 / 3}, {0, -1}, {negz, -3}, {-1, inf},
	{0.5, inf}, {inf, 0}, {nan, 0}, {1, nan}, {3, 4}, {-3, -4}, {1e300, 1e300}, {minSub, minSub},
	{0, 0}, {negz, negz}, {1, 0}, {0, -1}, {-1, 1e-300}, {1e-300, -1}, {inf, -inf}, {1.0000000000000002, 1e17},
}

// goldenInputs returns the golden inputs of c: the edges, then random
// inputs from c's generator with a fixed seed.
func goldenInputs(c fcase) []pair {
	var in []pair
	if c.arity == 1 {
		for _, x := range edges {
			in = append(in, pair{x, 0})
		}
	} else {
		for _, p := range edges2 {
			in = append(in, pair{p[0], p[1]})
		}
	}
	r := rand.New(rand.NewPCG(2026, uint64(len(in))+uint64(c.name[0])))
	for len(in) < goldenPerFunc {
		x, y := c.gen(r)
		in = append(in, pair{x, y})
	}
	return in
}

func hex64(x float64) string { return fmt.Sprintf("%016x", math.Float64bits(x)) }

// goldenVariates is the number of NormFloat64 and ExpFloat64 values in the
// golden file, each from a fresh rand.NewPCG(1, 2).
const goldenVariates = 100

func writeGolden() []byte {
	var b bytes.Buffer
	b.WriteString("# pmath golden results: the same bits on every GOARCH.\n")
	b.WriteString("# <function> <input bits>... <result bits>, all float64 in hex.\n")
	b.WriteString("# NormFloat64 and ExpFloat64: <index> <result bits> for the values drawn\n")
	b.WriteString("# one after another from rand.NewPCG(1, 2).Uint64.\n")
	b.WriteString("# Regenerate with: go test ./sdk/go/pmath -run TestGolden -update\n")
	for _, c := range cases() {
		for _, p := range goldenInputs(c) {
			if c.arity == 1 {
				fmt.Fprintf(&b, "%s %s %s\n", c.name, hex64(p.x), hex64(c.f(p.x, 0)))
			} else {
				fmt.Fprintf(&b, "%s %s %s %s\n", c.name, hex64(p.x), hex64(p.y), hex64(c.f(p.x, p.y)))
			}
		}
	}
	for _, v := range variates() {
		src := rand.NewPCG(1, 2)
		for i := 0; i < goldenVariates; i++ {
			fmt.Fprintf(&b, "%s %d %s\n", v.name, i, hex64(v.f(src.Uint64)))
		}
	}
	return b.Bytes()
}

type variate struct {
	name string
	f    func(func() uint64) float64
}

func variates() []variate {
	return []variate{{"NormFloat64", NormFloat64}, {"ExpFloat64", ExpFloat64}}
}

// TestGolden checks every function bit for bit against testdata/golden.txt.
// It is the cross-platform check: run it on every GOARCH, e.g.
//
//	GOARCH=arm64 go test -c -o /tmp/pmath.arm64 ./sdk/go/pmath
//	qemu-aarch64-static /tmp/pmath.arm64 -test.run Golden
func TestGolden(t *testing.T) {
	if *update {
		if err := os.WriteFile(goldenFile, writeGolden(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (regenerate with -update)", err)
	}
	fns := map[string]fcase{}
	for _, c := range cases() {
		fns[c.name] = c
	}
	streams := map[string]func() uint64{}
	vfns := map[string]func(func() uint64) float64{}
	for _, v := range variates() {
		vfns[v.name] = v.f
		streams[v.name] = rand.NewPCG(1, 2).Uint64
	}
	count := map[string]int{}
	bad := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		name := f[0]
		count[name]++
		var got float64
		var args []uint64
		if vfns[name] != nil {
			// "<name> <index> <bits>": the index is a comment.
			f = f[len(f)-1:]
		} else {
			f = f[1:]
		}
		for _, s := range f {
			v, err := strconv.ParseUint(s, 16, 64)
			if err != nil {
				t.Fatalf("%s:%d: bad field %q", goldenFile, line, s)
			}
			args = append(args, v)
		}
		want := args[len(args)-1]
		switch {
		case vfns[name] != nil:
			got = vfns[name](streams[name])
		case fns[name].f != nil && len(args) == fns[name].arity+1:
			x := math.Float64frombits(args[0])
			y := 0.0
			if len(args) == 3 {
				y = math.Float64frombits(args[1])
			}
			got = fns[name].f(x, y)
		default:
			t.Fatalf("%s:%d: unknown function or wrong arity: %q", goldenFile, line, text)
		}
		if math.Float64bits(got) != want {
			bad++
			if bad <= 20 {
				t.Errorf("%s:%d: %s = %016x (%v), want %016x (%v)", goldenFile, line, text[:len(text)-17],
					math.Float64bits(got), got, want, math.Float64frombits(want))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d results differ from %s", bad, goldenFile)
	}
	for _, c := range cases() {
		if count[c.name] < goldenPerFunc {
			t.Errorf("%s has %d golden lines for %s, want %d: regenerate with -update", goldenFile, count[c.name], c.name, goldenPerFunc)
		}
	}
	for _, v := range variates() {
		if count[v.name] < goldenVariates {
			t.Errorf("%s has %d golden lines for %s, want %d", goldenFile, count[v.name], v.name, goldenVariates)
		}
	}
}
