package pmath

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// relErrBits returns -log2 |(hi+lo) - ref| / |ref|: the number of correct
// bits of a double-double.
func relErrBits(hi, lo float64, ref *big.Float) float64 {
	v := newF(refPrec).Add(bigFrom(hi, 64), bigFrom(lo, 64))
	d := newF(refPrec).Sub(v, ref)
	if d.Sign() == 0 {
		return 200
	}
	d.Quo(d, ref)
	f, _ := d.Float64()
	return -math.Log2(math.Abs(f))
}

// TestKernelPrecision measures the double-double kernels before their final
// rounding. A kernel with b correct bits gives results within
// 0.5 + 2^(53-b) ulp (more precisely, 2^(53-b) is an upper bound of the
// extra error in ulps, as the ulp is at least 2^-53 of the value).
func TestKernelPrecision(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewPCG(7, 7))
	type kernel struct {
		name string
		bits float64 // required correct bits
		run  func() float64
	}
	kernels := []kernel{
		{"logDD", 66, func() float64 {
			x := genLog(r)
			if x == 0 || x == 1 {
				return 200
			}
			h, l := logDD(x)
			return relErrBits(h, l, refLog(x))
		}},
		{"expCore", 60, func() float64 {
			x := uni(r, -745, 709)
			xl := x * 0x1p-54 * (2*r.Float64() - 1)
			K, h, l := expCore(x, xl)
			w := uint(refPrec)
			ref := bigExp(newF(w).Add(bigFrom(x, w), bigFrom(xl, w)), w)
			ref.SetMantExp(ref, -K)
			return relErrBits(h, l, ref)
		}},
		{"expm1DD", 62, func() float64 {
			x := genExpm1(r)
			if math.Abs(x) > 45 || math.Abs(x) < 0x1p-54 {
				return 200
			}
			h, l := expm1DD(x)
			return relErrBits(h, l, refExpm1(x))
		}},
		{"reduce", 62, func() float64 {
			// rh+rl against x mod pi/2 (absolute error relative to |r|).
			x := math.Abs(genTrig(r))
			if x < 0x1p-27 {
				return 200
			}
			n, rh, rl := reduce(x)
			rn, ref := reducePio2(bigFrom(x, refPrec), refPrec)
			if rn != n {
				return 0
			}
			return relErrBits(rh, rl, ref)
		}},
		{"sinDD/cosDD", 64, func() float64 {
			// The kernels on |r| <= pi/4 (plus a low part), against math/big.
			rh := uni(r, -math.Pi/4, math.Pi/4)
			if r.IntN(4) == 0 {
				rh = sgn(r, logUni(r, -60, -2))
			}
			rl := rh * 0x1p-54 * (2*r.Float64() - 1)
			w := uint(refPrec)
			s, c := bigSinCosSmall(newF(w).Add(bigFrom(rh, w), bigFrom(rl, w)), w)
			h, l := sinDD(rh, rl)
			h2, l2 := cosDD(rh, rl)
			return math.Min(relErrBits(h, l, s), relErrBits(h2, l2, c))
		}},
		{"atan2DD", 64, func() float64 {
			y, x := genAtan2(r)
			if y == 0 || x == 0 {
				return 200
			}
			ref := refAtan2(math.Abs(y), x)
			if ref.MantExp(nil) < -1000 {
				return 200 // underflows: no relative precision to measure
			}
			if x > 0 && ilogb(math.Abs(y)) < ilogb(x)-40 {
				return 200 // y/x < 2^-39: atanRatio returns y/x, rounded
			}
			h, l := atan2DD(math.Abs(y), x)
			return relErrBits(h, l, ref)
		}},
	}
	for _, k := range kernels {
		worst := 200.0
		for i := 0; i < n; i++ {
			worst = math.Min(worst, k.run())
		}
		t.Logf("%-12s %d inputs: at least %.1f correct bits (extra error <= %.2g ulp)", k.name, n, worst, math.Exp2(53-worst))
		if worst < k.bits {
			t.Errorf("%s: only %.1f correct bits, want %v", k.name, worst, k.bits)
		}
	}
}
