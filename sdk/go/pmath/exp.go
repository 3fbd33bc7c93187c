package pmath

import "math"

// exp: x = (128K + j) ln2/128 + r with |r| <= ln2/256, so
// e^x = 2^K * 2^(j/128) * e^r, with 2^(j/128) from expTab (a double-double)
// and e^r - 1 from its Taylor series to r^6 (truncation below 2^-71).

const expN = 128 // table size: 2^(j/128), j = 0..127

const (
	expOverflow  = 0x1.62e42fefa39efp9  // ln(MaxFloat64) ~ 709.78: above, +Inf
	expUnderflow = -0x1.74910d52d3052p9 // ln(2^-1075) ~ -745.13: below, 0
)

// expReduce returns k and r = rh+rl with x+xl = k*ln2/128 + r.
func expReduce(x, xl float64) (k int, rh, rl float64) {
	kf := (float64(x*invLn2N) + shifter) - shifter
	r1 := x - float64(kf*ln2NHi) // exact: kf*ln2NHi is exact and close to x
	c := xl - float64(kf*ln2NLo)
	rh, rl = twoSum(r1, c)
	return int(kf), rh, rl
}

// expm1Poly returns e^r - 1 - r for |r| <= ln2/256 (in double precision,
// which is enough: the value is below 2^-17).
func expm1Poly(r float64) float64 {
	const (
		c2 = 1.0 / 2
		c3 = 1.0 / 6
		c4 = 1.0 / 24
		c5 = 1.0 / 120
		c6 = 1.0 / 720
	)
	p := float64(r*c6) + c5
	p = float64(r*p) + c4
	p = float64(r*p) + c3
	p = float64(r*p) + c2
	return float64(float64(r*r) * p)
}

// expCore returns K and hi+lo (|lo| <= ulp(hi), hi in [0.99, 2)) with
// e^(x+xl) = 2^K (hi+lo), relative error below 2^-61. |x| <= 750.
func expCore(x, xl float64) (K int, hi, lo float64) {
	k, rh, rl := expReduce(x, xl)
	j := k & (expN - 1)
	K = k >> 7
	th, tl := expTab[j][0], expTab[j][1]
	// e^r = 1 + rh + pl: pl holds rl, its cross term and the polynomial.
	pl := (rl + float64(rh*rl)) + expm1Poly(rh)
	a := float64(th * rh) // |a| < 2^-8: its rounding error is below 2^-61
	hi, e := fastTwoSum(th, a)
	lo = e + ((float64(th*pl) + tl) + float64(tl*rh))
	hi, lo = fastTwoSum(hi, lo)
	return K, hi, lo
}

// Exp returns e**x.
//
// Special cases are as for math.Exp:
//
//	Exp(+Inf) = +Inf
//	Exp(NaN) = NaN
//
// Very large values overflow to +Inf and very negative values underflow
// to 0 (subnormal results are rounded once). Error: below 0.51 ulp.
func Exp(x float64) float64 {
	switch {
	case isNaN(x):
		return canonicalNaN
	case x > expOverflow:
		return math.Inf(1)
	case x < expUnderflow:
		return 0
	}
	K, hi, lo := expCore(x, 0)
	if K > -1022 && K < 1024 {
		// hi+lo is in [0.99, 2): the result is normal (or overflows once).
		return (hi + lo) * pow2(K)
	}
	return scaleRound(hi, lo, K)
}

// expm1DD returns e^x - 1 as a double-double for |x| <= 45.
func expm1DD(x float64) (hi, lo float64) {
	k, rh, rl := expReduce(x, 0)
	j := k & (expN - 1)
	scale := pow2(k >> 7)
	th, tl := expTab[j][0], expTab[j][1]
	pl := (rl + float64(rh*rl)) + expm1Poly(rh)
	// e^x = scale * (th + th*rh + rest); th*rh exactly, since for small x
	// the result may be much smaller than th.
	a, ae := twoProd(th, rh)
	rest := ae + ((float64(th*pl) + tl) + float64(tl*(rh+pl)))
	h, e := twoSum(float64(th*scale), -1)
	h, e2 := twoSum(h, float64(a*scale))
	return fastTwoSum(h, (e+e2)+float64(rest*scale))
}

// Expm1 returns e**x - 1, accurate also when x is near zero.
//
// Special cases are as for math.Expm1:
//
//	Expm1(+Inf) = +Inf
//	Expm1(-Inf) = -1
//	Expm1(NaN) = NaN
//
// Very large values overflow to +Inf. Error: below 0.51 ulp.
func Expm1(x float64) float64 {
	ax := math.Abs(x)
	switch {
	case isNaN(x):
		return canonicalNaN
	case ax < 0x1p-54:
		return x // e^x - 1 = x(1 + x/2 + ...) rounds to x; keeps -0
	case x > 40:
		return Exp(x) // e^x > 2^57: the -1 is below half an ulp
	case x < -40:
		return -1 // e^x < 2^-57
	}
	hi, lo := expm1DD(x)
	return hi + lo
}
