package pmath

import "math"

// isInt reports whether the finite x is an integer; odd whether it is odd.
func isInt(x float64) (isInt, odd bool) {
	if math.Trunc(x) != x {
		return false, false
	}
	if math.Abs(x) >= 0x1p53 {
		return true, false
	}
	return true, int64(x)&1 == 1
}

// Pow returns x**y, the base-x exponential of y.
//
// Special cases are as for math.Pow (in this order):
//
//	Pow(x, ±0) = 1 for any x
//	Pow(1, y) = 1 for any y
//	Pow(x, 1) = x for any x (a NaN x gives the canonical NaN)
//	Pow(NaN, y) = NaN
//	Pow(x, NaN) = NaN
//	Pow(±0, y) = ±Inf for y an odd integer < 0
//	Pow(±0, -Inf) = +Inf
//	Pow(±0, +Inf) = +0
//	Pow(±0, y) = +Inf for finite y < 0 and not an odd integer
//	Pow(±0, y) = ±0 for y an odd integer > 0
//	Pow(±0, y) = +0 for finite y > 0 and not an odd integer
//	Pow(-1, ±Inf) = 1
//	Pow(x, +Inf) = +Inf for |x| > 1
//	Pow(x, -Inf) = +0 for |x| > 1
//	Pow(x, +Inf) = +0 for |x| < 1
//	Pow(x, -Inf) = +Inf for |x| < 1
//	Pow(+Inf, y) = +Inf for y > 0
//	Pow(+Inf, y) = +0 for y < 0
//	Pow(-Inf, y) = Pow(-0, -y)
//	Pow(x, y) = NaN for finite x < 0 and finite non-integer y
//
// Pow computes e^(y ln|x|) with ln|x| and the product in double-double
// precision, so results are correct to below 0.51 ulp for every y (math.Pow
// can be off by many ulps when the result is large or tiny); exact results
// such as Pow(10, 22) come out exact. Pow(x, 0.5) is Sqrt(x) for x >= 0.
func Pow(x, y float64) float64 {
	switch {
	case y == 0 || x == 1:
		return 1
	case y == 1:
		if isNaN(x) {
			return canonicalNaN
		}
		return x
	case isNaN(x) || isNaN(y):
		return canonicalNaN
	case x == 0:
		odd := false
		if isFinite(y) {
			_, odd = isInt(y)
		}
		switch {
		case y < 0:
			if odd && math.Signbit(x) {
				return math.Inf(-1)
			}
			return math.Inf(1)
		default: // y > 0
			if odd {
				return x
			}
			return 0
		}
	case math.IsInf(y, 0):
		switch {
		case x == -1:
			return 1
		case (math.Abs(x) < 1) == (y > 0):
			return 0
		default:
			return math.Inf(1)
		}
	case math.IsInf(x, 0):
		if x < 0 {
			return Pow(math.Copysign(0, -1), -y)
		}
		if y < 0 {
			return 0
		}
		return math.Inf(1)
	case y == 0.5 && x > 0:
		return math.Sqrt(x)
	}

	neg := false
	if x < 0 {
		yi, odd := isInt(y)
		if !yi {
			return canonicalNaN
		}
		neg = odd
		x = -x
	}
	var r float64
	switch {
	case x == 1: // x was -1
		r = 1
	case math.Abs(y) >= 0x1p64:
		// x != 1 so |ln x| >= 2^-53: |y ln x| > 2^11, beyond both limits.
		if (x > 1) == (y > 0) {
			r = math.Inf(1)
		} else {
			r = 0
		}
	default:
		lh, ll := logDD(x)
		zh, zl := twoProd(y, lh)
		zl += float64(y * ll)
		switch {
		case zh > expOverflow+1:
			r = math.Inf(1)
		case zh < expUnderflow-1:
			r = 0
		default:
			zh, zl = fastTwoSum(zh, zl)
			K, hi, lo := expCore(zh, zl)
			r = scaleRound(hi, lo, K)
		}
	}
	if neg {
		r = -r
	}
	return r
}
