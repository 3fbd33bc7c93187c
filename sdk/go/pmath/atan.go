package pmath

import "math"

// atan: for 0 <= y <= x, atan(y/x) = atan c + atan t with c = j/64 the
// nearest to y/x and t = (y - c x)/(x + c y), |t| <= 1/128, where numerator,
// denominator and quotient are double-doubles (c has 7 bits, so c*x splits
// into exact products) — y/x itself is never rounded. atan c comes from
// atanTab (double-doubles) and atan t from its Taylor series to t^9
// (truncation below 2^-70 |t|). Atan2, Atan, Asin and Acos all use it.

const atanN = 65 // atanTab size: j/64 for j = 0..64

// atanRatio returns atan(y/x) as a double-double for finite 0 <= y <= x,
// x > 0.
func atanRatio(y, x float64) (hi, lo float64) {
	if y == 0 {
		return 0, 0
	}
	ex := ilogb(x)
	if ilogb(y) < ex-40 {
		// y/x < 2^-39: atan(y/x) = y/x (1 - (y/x)^2/3 ...) rounds like y/x.
		return y / x, 0
	}
	// Scale x into [1, 2); y >= 2^-41 stays normal.
	sc := -ex
	x = mulPow2(x, sc)
	y = mulPow2(y, sc)
	j := int(float64((y/x)*64) + 0.5)
	c := float64(j) / 64
	xh, xl := split(x)
	yh, yl := split(y)
	// c*xh, c*xl, c*yh, c*yl are exact (c has at most 7 significant bits).
	a, ae := twoSum(y, -float64(c*xh))
	nh, nl := twoSum(a, ae-float64(c*xl))
	dh, dl := twoSum(x, float64(c*yh))
	dl += float64(c * yl)
	dh, dl = fastTwoSum(dh, dl)
	th, tl := ddDiv(nh, nl, dh, dl)
	const (
		c3 = -1.0 / 3
		c5 = 1.0 / 5
		c7 = -1.0 / 7
		c9 = 1.0 / 9
	)
	t2 := float64(th * th)
	p := float64(t2*c9) + c7
	p = float64(t2*p) + c5
	p = float64(t2*p) + c3
	tail := float64(float64(th*t2) * p)
	hi, e := twoSum(atanTab[j][0], th)
	lo = e + (atanTab[j][1] + (tl + tail))
	return fastTwoSum(hi, lo)
}

// atan2DD returns atan2(y, x) as a double-double for finite, not both
// zero, y >= 0 and x (the sign of y is applied by the caller).
func atan2DD(y, x float64) (hi, lo float64) {
	ax := math.Abs(x)
	if y <= ax {
		hi, lo = atanRatio(y, ax)
	} else {
		hi, lo = atanRatio(ax, y)
		hi, lo = ddSub(pio2Hi, pio2Lo, hi, lo)
	}
	if x < 0 || (x == 0 && math.Signbit(x)) {
		hi, lo = ddSub(piHi, piLo, hi, lo)
	}
	return hi, lo
}

// Atan returns the arctangent, in radians, of x.
//
// Special cases are as for math.Atan:
//
//	Atan(±0) = ±0
//	Atan(±Inf) = ±Pi/2
//
// Error: below 0.51 ulp.
func Atan(x float64) float64 {
	ax := math.Abs(x)
	var r float64
	switch {
	case isNaN(x):
		return canonicalNaN
	case ax < 0x1p-27:
		return x // x - x^3/3 rounds to x
	case ax > 0x1p60:
		r = math.Pi / 2 // pi/2 - 1/x rounds to pi/2
	case ax <= 1:
		hi, lo := atanRatio(ax, 1)
		r = hi + lo
	default:
		hi, lo := atanRatio(1, ax)
		hi, lo = ddSub(pio2Hi, pio2Lo, hi, lo)
		r = hi + lo
	}
	if x < 0 {
		r = -r
	}
	return r
}

// Atan2 returns the arc tangent of y/x, using the signs of the two to
// determine the quadrant of the return value.
//
// Special cases are as for math.Atan2 (in this order):
//
//	Atan2(y, NaN) = NaN
//	Atan2(NaN, x) = NaN
//	Atan2(+0, x>=0) = +0
//	Atan2(-0, x>=0) = -0
//	Atan2(+0, x<=-0) = +Pi
//	Atan2(-0, x<=-0) = -Pi
//	Atan2(y>0, 0) = +Pi/2
//	Atan2(y<0, 0) = -Pi/2
//	Atan2(+Inf, +Inf) = +Pi/4
//	Atan2(-Inf, +Inf) = -Pi/4
//	Atan2(+Inf, -Inf) = 3Pi/4
//	Atan2(-Inf, -Inf) = -3Pi/4
//	Atan2(y, +Inf) = 0
//	Atan2(y>0, -Inf) = +Pi
//	Atan2(y<0, -Inf) = -Pi
//	Atan2(+Inf, x) = +Pi/2
//	Atan2(-Inf, x) = -Pi/2
//
// y/x is never rounded: the result is within 0.51 ulp of atan2 of the
// exact arguments (math.Atan2 rounds y/x first).
func Atan2(y, x float64) float64 {
	var r float64
	switch {
	case isNaN(x) || isNaN(y):
		return canonicalNaN
	case y == 0:
		if x >= 0 && !math.Signbit(x) {
			return y // ±0
		}
		r = math.Pi
	case x == 0:
		r = math.Pi / 2
	case math.IsInf(x, 0):
		switch {
		case math.IsInf(x, 1) && math.IsInf(y, 0):
			r = math.Pi / 4
		case math.IsInf(y, 0):
			r = 3 * math.Pi / 4
		case x > 0:
			r = 0
		default:
			r = math.Pi
		}
	case math.IsInf(y, 0):
		r = math.Pi / 2
	default:
		hi, lo := atan2DD(math.Abs(y), x)
		r = hi + lo
	}
	if math.Signbit(y) {
		r = -r
	}
	return r
}

// sqrt1mx2 returns sqrt(1 - x^2) as a double-double for |x| <= 1.
func sqrt1mx2(x float64) (hi, lo float64) {
	p, pe := twoProd(x, x)
	a, ae := twoSum(1, -p)
	a, al := fastTwoSum(a, ae-pe)
	hi = math.Sqrt(a)
	if hi == 0 {
		return 0, 0
	}
	q, qe := twoProd(hi, hi)
	lo = (((a - q) - qe) + al) / (2 * hi)
	return hi, lo
}

// Asin returns the arcsine, in radians, of x.
//
// Special cases are as for math.Asin:
//
//	Asin(±0) = ±0
//	Asin(x) = NaN if x < -1 or x > 1
//
// Asin(x) is atan2(x, sqrt(1-x^2)) with 1-x^2 and its root as
// double-doubles. Error: below 0.51 ulp.
func Asin(x float64) float64 {
	ax := math.Abs(x)
	switch {
	case isNaN(x) || ax > 1:
		return canonicalNaN
	case ax < 0x1p-27:
		return x // x + x^3/6 rounds to x
	}
	ch, cl := sqrt1mx2(ax)
	hi, lo := atan2DD(ax, ch)
	// The root's low part cl moves the angle by -ax*cl (ax^2 + ch^2 = 1).
	r := hi + (lo - float64(ax*cl))
	if x < 0 {
		r = -r
	}
	return r
}

// Acos returns the arccosine, in radians, of x.
//
// Special case is as for math.Acos:
//
//	Acos(x) = NaN if x < -1 or x > 1
//
// Acos(x) is atan2(sqrt(1-x^2), x) with 1-x^2 and its root as
// double-doubles, so it stays accurate near x = ±1 (math.Acos is Pi/2 -
// Asin(x) and loses most of its bits there). Error: below 0.51 ulp.
func Acos(x float64) float64 {
	switch {
	case isNaN(x) || math.Abs(x) > 1:
		return canonicalNaN
	case math.Abs(x) < 0x1p-57:
		return math.Pi / 2 // pi/2 - x rounds to pi/2
	}
	sh, sl := sqrt1mx2(x)
	if sh == 0 {
		if x > 0 {
			return 0
		}
		return math.Pi
	}
	hi, lo := atan2DD(sh, x)
	// The root's low part sl moves the angle by x*sl (x^2 + sh^2 = 1).
	return hi + (lo + float64(x*sl))
}
