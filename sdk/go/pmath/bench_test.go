package pmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

var sink float64

// benchInputs returns 1024 typical arguments from gen.
func benchInputs(gen func(r *rand.Rand) (float64, float64)) ([]float64, []float64) {
	r := rand.New(rand.NewPCG(9, 9))
	xs, ys := make([]float64, 1024), make([]float64, 1024)
	for i := range xs {
		xs[i], ys[i] = gen(r)
	}
	return xs, ys
}

func benchPair(b *testing.B, gen func(r *rand.Rand) (float64, float64), ours, theirs func(x, y float64) float64) {
	xs, ys := benchInputs(gen)
	run := func(f func(x, y float64) float64) func(b *testing.B) {
		return func(b *testing.B) {
			s := 0.0
			for i := 0; i < b.N; i++ {
				j := i & 1023
				s += f(xs[j], ys[j])
			}
			sink = s
		}
	}
	b.Run("pmath", run(ours))
	b.Run("math", run(theirs))
}

func u1(a, b float64) func(r *rand.Rand) (float64, float64) {
	return func(r *rand.Rand) (float64, float64) { return uni(r, a, b), 0 }
}

func BenchmarkExp(b *testing.B)   { benchPair(b, u1(-20, 20), one(Exp), one(math.Exp)) }
func BenchmarkExpm1(b *testing.B) { benchPair(b, u1(-2, 2), one(Expm1), one(math.Expm1)) }
func BenchmarkLog(b *testing.B)   { benchPair(b, u1(0.01, 100), one(Log), one(math.Log)) }
func BenchmarkLog1p(b *testing.B) { benchPair(b, u1(-0.5, 2), one(Log1p), one(math.Log1p)) }
func BenchmarkLog2(b *testing.B)  { benchPair(b, u1(0.01, 100), one(Log2), one(math.Log2)) }
func BenchmarkLog10(b *testing.B) { benchPair(b, u1(0.01, 100), one(Log10), one(math.Log10)) }
func BenchmarkPow(b *testing.B) {
	benchPair(b, func(r *rand.Rand) (float64, float64) { return uni(r, 0.1, 10), uni(r, -10, 10) }, Pow, math.Pow)
}
func BenchmarkSin(b *testing.B)     { benchPair(b, u1(-10, 10), one(Sin), one(math.Sin)) }
func BenchmarkCos(b *testing.B)     { benchPair(b, u1(-10, 10), one(Cos), one(math.Cos)) }
func BenchmarkTan(b *testing.B)     { benchPair(b, u1(-10, 10), one(Tan), one(math.Tan)) }
func BenchmarkSinHuge(b *testing.B) { benchPair(b, u1(1e20, 1e22), one(Sin), one(math.Sin)) }
func BenchmarkAtan(b *testing.B)    { benchPair(b, u1(-10, 10), one(Atan), one(math.Atan)) }
func BenchmarkAtan2(b *testing.B) {
	benchPair(b, func(r *rand.Rand) (float64, float64) { return uni(r, -10, 10), uni(r, -10, 10) }, Atan2, math.Atan2)
}
func BenchmarkAsin(b *testing.B) { benchPair(b, u1(-1, 1), one(Asin), one(math.Asin)) }
func BenchmarkAcos(b *testing.B) { benchPair(b, u1(-1, 1), one(Acos), one(math.Acos)) }
func BenchmarkSinh(b *testing.B) { benchPair(b, u1(-5, 5), one(Sinh), one(math.Sinh)) }
func BenchmarkCosh(b *testing.B) { benchPair(b, u1(-5, 5), one(Cosh), one(math.Cosh)) }
func BenchmarkTanh(b *testing.B) { benchPair(b, u1(-5, 5), one(Tanh), one(math.Tanh)) }
func BenchmarkHypot(b *testing.B) {
	benchPair(b, func(r *rand.Rand) (float64, float64) { return uni(r, -10, 10), uni(r, -10, 10) }, Hypot, math.Hypot)
}
func BenchmarkCbrt(b *testing.B) { benchPair(b, u1(-100, 100), one(Cbrt), one(math.Cbrt)) }

func BenchmarkNormFloat64(b *testing.B) {
	b.Run("pmath", func(b *testing.B) {
		src := rand.NewPCG(1, 2)
		s := 0.0
		for i := 0; i < b.N; i++ {
			s += NormFloat64(src.Uint64)
		}
		sink = s
	})
	b.Run("math/rand/v2", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		s := 0.0
		for i := 0; i < b.N; i++ {
			s += r.NormFloat64()
		}
		sink = s
	})
}

func BenchmarkExpFloat64(b *testing.B) {
	b.Run("pmath", func(b *testing.B) {
		src := rand.NewPCG(1, 2)
		s := 0.0
		for i := 0; i < b.N; i++ {
			s += ExpFloat64(src.Uint64)
		}
		sink = s
	})
	b.Run("math/rand/v2", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		s := 0.0
		for i := 0; i < b.N; i++ {
			s += r.ExpFloat64()
		}
		sink = s
	})
}
