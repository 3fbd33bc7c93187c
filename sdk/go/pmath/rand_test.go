package pmath

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// counting wraps a source and counts the words drawn.
type counting struct {
	src *rand.PCG
	n   int
}

func (c *counting) Uint64() uint64 { c.n++; return c.src.Uint64() }

func TestVariateWords(t *testing.T) {
	c := &counting{src: rand.NewPCG(3, 4)}
	for i := 0; i < 1000; i++ {
		NormFloat64(c.Uint64)
	}
	if c.n != 2000 {
		t.Errorf("1000 NormFloat64 drew %d words, want 2000", c.n)
	}
	c.n = 0
	for i := 0; i < 1000; i++ {
		ExpFloat64(c.Uint64)
	}
	if c.n != 1000 {
		t.Errorf("1000 ExpFloat64 drew %d words, want 1000", c.n)
	}
}

// TestVariateDefinition checks the documented formulas, with math/big for
// the cosine of the exact angle.
func TestVariateDefinition(t *testing.T) {
	src := rand.NewPCG(5, 6)
	for i := 0; i < 300; i++ {
		w1, w2 := src.Uint64(), src.Uint64()
		words := []uint64{w1, w2}
		k := 0
		u := func() uint64 { k++; return words[k-1] }
		got := NormFloat64(u)
		// cos(2 pi v / 2^53) for v = w2>>11, to 320 bits, rounded.
		w := uint(refPrec)
		ang := newF(w).Mul(bigPi(w), bigInt(int64(w2>>11), w))
		ang.SetMantExp(ang, -52)
		_, c := bigSinCos(ang, w)
		cf, _ := c.Float64()
		want := math.Sqrt(-2*Log(float64(w1>>11|1)*0x1p-53)) * cf
		if got != want {
			t.Fatalf("NormFloat64(%#x, %#x) = %v, want %v", w1, w2, got, want)
		}
		k = 0
		if got, want := ExpFloat64(u), -Log(float64(w1>>11|1)/(1<<53)); got != want {
			t.Fatalf("ExpFloat64(%#x) = %v, want %v", w1, got, want)
		}
	}
}

// moments returns the mean, variance, skewness and excess kurtosis of xs.
func moments(xs []float64) (mean, vari, skew, kurt float64) {
	n := float64(len(xs))
	for _, x := range xs {
		mean += x
	}
	mean /= n
	var m2, m3, m4 float64
	for _, x := range xs {
		d := x - mean
		m2 += d * d
		m3 += d * d * d
		m4 += d * d * d * d
	}
	m2, m3, m4 = m2/n, m3/n, m4/n
	return mean, m2, m3 / math.Pow(m2, 1.5), m4/(m2*m2) - 3
}

// ksStat returns the Kolmogorov-Smirnov statistic of xs against cdf.
func ksStat(xs []float64, cdf func(float64) float64) float64 {
	sort.Float64s(xs)
	n := float64(len(xs))
	d := 0.0
	for i, x := range xs {
		f := cdf(x)
		d = math.Max(d, math.Max(f-float64(i)/n, float64(i+1)/n-f))
	}
	return d
}

func sample(n int, f func(func() uint64) float64) []float64 {
	src := rand.NewPCG(42, 54)
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = f(src.Uint64)
	}
	return xs
}

func TestNormFloat64Distribution(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	xs := sample(n, NormFloat64)
	mean, vari, skew, kurt := moments(xs)
	sn := math.Sqrt(float64(n))
	t.Logf("NormFloat64, %d samples: mean %.5f, variance %.5f, skewness %.5f, excess kurtosis %.5f", n, mean, vari, skew, kurt)
	// Tolerances: 5 standard errors.
	if math.Abs(mean) > 5/sn || math.Abs(vari-1) > 5*math.Sqrt2/sn || math.Abs(skew) > 5*math.Sqrt(6)/sn ||
		math.Abs(kurt) > 5*math.Sqrt(24)/sn {
		t.Errorf("moments out of tolerance")
	}
	d := ksStat(xs, func(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) })
	t.Logf("Kolmogorov-Smirnov D = %.5f (critical at 0.1%%: %.5f)", d, 1.95/sn)
	if d > 1.95/sn {
		t.Errorf("Kolmogorov-Smirnov D = %v, above %v", d, 1.95/sn)
	}
}

func TestExpFloat64Distribution(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	xs := sample(n, ExpFloat64)
	mean, vari, skew, kurt := moments(xs)
	sn := math.Sqrt(float64(n))
	t.Logf("ExpFloat64, %d samples: mean %.5f, variance %.5f, skewness %.5f, excess kurtosis %.5f", n, mean, vari, skew, kurt)
	// Exponential(1): variance 1, skewness 2, excess kurtosis 6; the
	// variance of the sample variance is (mu4 - 1)/n = 8/n.
	if math.Abs(mean-1) > 5/sn || math.Abs(vari-1) > 5*math.Sqrt(8)/sn || math.Abs(skew-2) > 0.1 || math.Abs(kurt-6) > 1 {
		t.Errorf("moments out of tolerance")
	}
	d := ksStat(xs, func(x float64) float64 { return -math.Expm1(-x) })
	t.Logf("Kolmogorov-Smirnov D = %.5f (critical at 0.1%%: %.5f)", d, 1.95/sn)
	if d > 1.95/sn {
		t.Errorf("Kolmogorov-Smirnov D = %v, above %v", d, 1.95/sn)
	}
}
