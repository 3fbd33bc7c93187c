package pmath

import (
	"flag"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"testing"
)

var (
	flagN   = flag.Int("pmath.n", 1<<21, "random inputs per function in TestAccuracy (1<<16 with -short)")
	flagRef = flag.Int("pmath.ref", 2000, "inputs per function (sampled, plus as many where pmath and math differ) checked against math/big")
)

// A fcase is a function under test: its pmath and math versions (one
// argument functions ignore y), the math/big reference, an input generator
// and the bounds the test enforces.
type fcase struct {
	name  string
	arity int
	f, m  func(x, y float64) float64
	ref   func(x, y float64) *big.Float
	gen   func(r *rand.Rand) (x, y float64)
	// bound: max error in ulps against the exact result (math/big).
	bound float64
}

func one(f func(float64) float64) func(x, y float64) float64 {
	return func(x, _ float64) float64 { return f(x) }
}

func oneRef(f func(float64) *big.Float) func(x, y float64) *big.Float {
	return func(x, _ float64) *big.Float { return f(x) }
}

func g1(f func(r *rand.Rand) float64) func(r *rand.Rand) (float64, float64) {
	return func(r *rand.Rand) (float64, float64) { return f(r), 0 }
}

// Input generators.

func uni(r *rand.Rand, a, b float64) float64 { return a + (b-a)*r.Float64() }

// logUni returns a random float64 with exponent uniform in [e0, e1].
func logUni(r *rand.Rand, e0, e1 int) float64 {
	return math.Ldexp(1+r.Float64(), e0+r.IntN(e1-e0+1))
}

func sgn(r *rand.Rand, x float64) float64 {
	if r.IntN(2) == 0 {
		return -x
	}
	return x
}

// anyFinite returns a float64 with uniformly random bits, finite.
func anyFinite(r *rand.Rand) float64 {
	for {
		x := math.Float64frombits(r.Uint64())
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			return x
		}
	}
}

// nudge moves x by up to k ulps either way.
func nudge(r *rand.Rand, x float64, k int) float64 {
	for i := r.IntN(k + 1); i > 0; i-- {
		x = math.Nextafter(x, math.Inf(2*r.IntN(2)-1))
	}
	return x
}

func genExp(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0, 1, 2, 3:
		return uni(r, -745.2, 709.8)
	case 4, 5, 6:
		return sgn(r, logUni(r, -60, 9))
	case 7:
		return uni(r, 700, 709.8)
	case 8:
		return uni(r, -745.2, -700)
	}
	return uni(r, -2, 2)
}

func genExpm1(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0, 1, 2:
		return uni(r, -40, 40)
	case 3, 4, 5:
		return sgn(r, logUni(r, -60, 2))
	case 6:
		return uni(r, 40, 709.8)
	}
	return uni(r, -1, 1)
}

func genLog(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0, 1, 2:
		return math.Abs(anyFinite(r))
	case 3, 4, 5:
		return 1 + sgn(r, logUni(r, -60, -2))
	case 6:
		return logUni(r, -1074, 1023)
	}
	return uni(r, 0.5, 2)
}

func genLog1p(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0, 1, 2:
		return logUni(r, -60, 1020)
	case 3, 4, 5:
		return -r.Float64()
	case 6, 7:
		return sgn(r, logUni(r, -60, -2))
	}
	return uni(r, -0.5, 2)
}

func genPow(r *rand.Rand) (float64, float64) {
	switch r.IntN(10) {
	case 0, 1, 2, 3:
		// Results spread over the whole range.
		x := logUni(r, -30, 30)
		return x, uni(r, -744, 709) / math.Log(x)
	case 4, 5:
		return logUni(r, -10, 10), uni(r, -10, 10)
	case 6:
		// x near 1, large y.
		x := 1 + sgn(r, logUni(r, -50, -4))
		return x, uni(r, -700, 700) / math.Log(x)
	case 7:
		// Negative x with an integer y.
		x := -logUni(r, -8, 8)
		return x, math.Round(uni(r, -40, 40))
	case 8:
		return logUni(r, -5, 5), math.Round(uni(r, -60, 60))
	}
	x := anyFinite(r)
	return math.Abs(x), uni(r, -2, 2)
}

func genTrig(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0, 1, 2:
		return uni(r, -10, 10)
	case 3, 4:
		return sgn(r, logUni(r, -30, 1023))
	case 5, 6:
		return sgn(r, logUni(r, -30, 22))
	case 7, 8:
		// Near multiples of pi/2, where the reduced argument is smallest.
		k := float64(1 + r.IntN(1<<22))
		return nudge(r, k*(math.Pi/2), 3)
	}
	return uni(r, -math.Pi, math.Pi)
}

func genAtan(r *rand.Rand) float64 {
	if r.IntN(3) == 0 {
		return uni(r, -2, 2)
	}
	return sgn(r, logUni(r, -40, 80))
}

func genAtan2(r *rand.Rand) (float64, float64) {
	switch r.IntN(4) {
	case 0:
		return sgn(r, logUni(r, -1074, 1023)), sgn(r, logUni(r, -1074, 1023))
	case 1:
		e := r.IntN(2000) - 1000
		return sgn(r, logUni(r, e-4, e+4)), sgn(r, logUni(r, e-4, e+4))
	}
	return sgn(r, logUni(r, -40, 40)), sgn(r, logUni(r, -40, 40))
}

func genAsin(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0, 1, 2, 3:
		return uni(r, -1, 1)
	case 4, 5, 6:
		return sgn(r, 1-logUni(r, -53, -2))
	}
	return sgn(r, logUni(r, -60, -1))
}

func genSinh(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0, 1, 2, 3:
		return uni(r, -30, 30)
	case 4, 5:
		return uni(r, -711, 711)
	}
	return sgn(r, logUni(r, -40, 3))
}

func genTanh(r *rand.Rand) float64 {
	if r.IntN(5) < 2 {
		return uni(r, -25, 25)
	}
	return sgn(r, logUni(r, -40, 4))
}

func genHypot(r *rand.Rand) (float64, float64) {
	switch r.IntN(3) {
	case 0:
		return anyFinite(r), anyFinite(r)
	case 1:
		e := r.IntN(2100) - 1075
		return sgn(r, logUni(r, e-30, e+30)), sgn(r, logUni(r, e-30, e+30))
	}
	return uni(r, -10, 10), uni(r, -10, 10)
}

func genCbrt(r *rand.Rand) float64 {
	if r.IntN(2) == 0 {
		return uni(r, -100, 100)
	}
	return anyFinite(r)
}

func cases() []fcase {
	return []fcase{
		{"Exp", 1, one(Exp), one(math.Exp), oneRef(refExp), g1(genExp), 0.51},
		{"Expm1", 1, one(Expm1), one(math.Expm1), oneRef(refExpm1), g1(genExpm1), 0.51},
		{"Log", 1, one(Log), one(math.Log), oneRef(refLog), g1(genLog), 0.51},
		{"Log1p", 1, one(Log1p), one(math.Log1p), oneRef(refLog1p), g1(genLog1p), 0.51},
		{"Log2", 1, one(Log2), one(math.Log2), oneRef(refLog2), g1(genLog), 0.51},
		{"Log10", 1, one(Log10), one(math.Log10), oneRef(refLog10), g1(genLog), 0.51},
		{"Pow", 2, Pow, math.Pow, refPow, genPow, 0.51},
		{"Sin", 1, one(Sin), one(math.Sin), oneRef(refSin), g1(genTrig), 0.51},
		{"Cos", 1, one(Cos), one(math.Cos), oneRef(refCos), g1(genTrig), 0.51},
		{"Tan", 1, one(Tan), one(math.Tan), oneRef(refTan), g1(genTrig), 0.51},
		{"Atan", 1, one(Atan), one(math.Atan), oneRef(refAtan), g1(genAtan), 0.51},
		{"Atan2", 2, Atan2, math.Atan2, refAtan2, genAtan2, 0.51},
		{"Asin", 1, one(Asin), one(math.Asin), oneRef(refAsin), g1(genAsin), 0.51},
		{"Acos", 1, one(Acos), one(math.Acos), oneRef(refAcos), g1(genAsin), 0.51},
		{"Sinh", 1, one(Sinh), one(math.Sinh), oneRef(refSinh), g1(genSinh), 0.51},
		{"Cosh", 1, one(Cosh), one(math.Cosh), oneRef(refCosh), g1(genSinh), 0.51},
		{"Tanh", 1, one(Tanh), one(math.Tanh), oneRef(refTanh), g1(genTanh), 0.51},
		{"Hypot", 2, Hypot, math.Hypot, refHypot, genHypot, 0.51},
		{"Cbrt", 1, one(Cbrt), one(math.Cbrt), oneRef(refCbrt), g1(genCbrt), 0.51},
	}
}

// ordered maps a float64 to an int64 that orders like the float, with
// adjacent floats adjacent (±0 both map to 0).
func ordered(x float64) int64 {
	b := int64(math.Float64bits(x))
	if b < 0 {
		return -(b & math.MaxInt64)
	}
	return b
}

// ulpDiff returns the number of float64s between a and b (0 if both NaN).
func ulpDiff(a, b float64) int64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		if math.IsNaN(a) && math.IsNaN(b) {
			return 0
		}
		return math.MaxInt64
	}
	d := ordered(a) - ordered(b)
	if d < 0 {
		d = -d
	}
	return d
}

type pair struct{ x, y float64 }

// TestAccuracy compares every function with package math on -pmath.n
// random inputs (math is itself off by up to an ulp on good days, and by
// far more in places: see doc.go), then measures the error against the
// math/big reference on a sample of the inputs, on the largest differences
// from math and on a random choice of the inputs where the two differ by
// more than one ulp. The test fails if any error exceeds the bound.
func TestAccuracy(t *testing.T) {
	n, nref := *flagN, *flagRef
	if testing.Short() {
		n, nref = 1<<16, 200
	}
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			var (
				maxDiff     int64
				maxAt       pair
				ndiff, nbig int
				sample, big []pair
				bigSize     []int64
			)
			every := max(n/nref, 1)
			for i := 0; i < n; i++ {
				x, y := c.gen(r)
				got, want := c.f(x, y), c.m(x, y)
				d := ulpDiff(got, want)
				if d > 0 {
					ndiff++
				}
				if d > 1 {
					nbig++
					if len(big) < 1<<18 {
						big = append(big, pair{x, y})
						bigSize = append(bigSize, d)
					}
				}
				if d > maxDiff {
					maxDiff, maxAt = d, pair{x, y}
				}
				if i%every == 0 {
					sample = append(sample, pair{x, y})
				}
			}
			check := append([]pair{maxAt}, sample...)
			idx := make([]int, len(big))
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(a, b int) bool { return bigSize[idx[a]] > bigSize[idx[b]] })
			for i := 0; i < len(idx) && i < nref/2; i++ {
				check = append(check, big[idx[i]])
			}
			for i := 0; len(big) > 0 && i < nref/2; i++ {
				check = append(check, big[r.IntN(len(big))])
			}
			var worst, worstMath float64
			var worstAt pair
			checked, notCR := 0, 0
			for _, p := range check {
				ref := c.ref(p.x, p.y)
				if ref == nil {
					continue
				}
				got, gotMath := c.f(p.x, p.y), c.m(p.x, p.y)
				var e, em float64
				if rf, _ := ref.Float64(); math.IsInf(rf, 0) {
					// The correctly rounded result overflows.
					if got != rf {
						e = math.Inf(1)
					}
					if gotMath != rf {
						em = math.Inf(1)
					}
				} else {
					e, em = ulpErr(got, ref), ulpErr(gotMath, ref)
				}
				checked++
				if e > 0.5 {
					notCR++
				}
				if e > worst {
					worst, worstAt = e, p
				}
				worstMath = math.Max(worstMath, em)
			}
			t.Logf("%-6s %d inputs: equal to math on %.2f%%, more than 1 ulp apart on %d (at most %d ulp, at %v); "+
				"vs math/big on %d of them: max error %.4f ulp (at %v), %d not correctly rounded; math's max error there %.4g ulp",
				c.name, n, 100-100*float64(ndiff)/float64(n), nbig, maxDiff, fmtPair(c, maxAt),
				checked, worst, fmtPair(c, worstAt), notCR, worstMath)
			if worst > c.bound {
				t.Errorf("%s: error %.4f ulp at %v exceeds the bound %.2f ulp", c.name, worst, fmtPair(c, worstAt), c.bound)
			}
		})
	}
}

func fmtPair(c fcase, p pair) any {
	if c.arity == 1 {
		return p.x
	}
	return [2]float64{p.x, p.y}
}
