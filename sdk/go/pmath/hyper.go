package pmath

import "math"

// Sinh, Cosh and Tanh are built on expm1DD (e^x - 1 as a double-double),
// which has no cancellation near 0, and on expCore for large |x|.

// Sinh returns the hyperbolic sine of x.
//
// Special cases are as for math.Sinh:
//
//	Sinh(±0) = ±0
//	Sinh(±Inf) = ±Inf
//	Sinh(NaN) = NaN
//
// Error: below 0.51 ulp.
func Sinh(x float64) float64 {
	ax := math.Abs(x)
	var r float64
	switch {
	case isNaN(x):
		return canonicalNaN
	case ax < 0x1p-27:
		return x // x + x^3/6 rounds to x
	case ax > 711:
		r = math.Inf(1)
	case ax > 22:
		// e^-|x| < 2^-63 e^|x|: sinh |x| = e^|x| / 2.
		K, hi, lo := expCore(ax, 0)
		r = scaleRound(hi, lo, K-1)
	default:
		// With M = e^|x| - 1: sinh |x| = (M + M/(M+1)) / 2, no cancellation.
		mh, ml := expm1DD(ax)
		dh, dl := twoSum(mh, 1)
		dh, dl = fastTwoSum(dh, dl+ml)
		qh, ql := ddDiv(mh, ml, dh, dl)
		sh, se := twoSum(mh, qh)
		r = (sh + (se + (ml + ql))) * 0.5
	}
	if x < 0 {
		r = -r
	}
	return r
}

// Cosh returns the hyperbolic cosine of x.
//
// Special cases are as for math.Cosh:
//
//	Cosh(±0) = 1
//	Cosh(±Inf) = +Inf
//	Cosh(NaN) = NaN
//
// Error: below 0.51 ulp.
func Cosh(x float64) float64 {
	ax := math.Abs(x)
	switch {
	case isNaN(x):
		return canonicalNaN
	case ax < 0x1p-27:
		return 1 // 1 + x^2/2 rounds to 1
	case ax > 711:
		return math.Inf(1)
	case ax > 22:
		K, hi, lo := expCore(ax, 0)
		return scaleRound(hi, lo, K-1)
	}
	// E = e^|x| = 1 + M; cosh = (E + 1/E) / 2.
	mh, ml := expm1DD(ax)
	eh, el := twoSum(1, mh)
	eh, el = fastTwoSum(eh, el+ml)
	ih, il := ddDiv(1, 0, eh, el)
	sh, se := twoSum(eh, ih)
	return (sh + (se + (el + il))) * 0.5
}

// Tanh returns the hyperbolic tangent of x.
//
// Special cases are as for math.Tanh:
//
//	Tanh(±0) = ±0
//	Tanh(±Inf) = ±1
//	Tanh(NaN) = NaN
//
// Error: below 0.51 ulp.
func Tanh(x float64) float64 {
	ax := math.Abs(x)
	var r float64
	switch {
	case isNaN(x):
		return canonicalNaN
	case ax < 0x1p-27:
		return x // x - x^3/3 rounds to x
	case ax > 22:
		r = 1 // 1 - 2e^-2|x| rounds to 1
	default:
		// With M = e^2|x| - 1: tanh |x| = M / (M + 2).
		mh, ml := expm1DD(2 * ax)
		dh, dl := twoSum(mh, 2)
		dh, dl = fastTwoSum(dh, dl+ml)
		qh, ql := ddDiv(mh, ml, dh, dl)
		r = qh + ql
	}
	if x < 0 {
		r = -r
	}
	return r
}
