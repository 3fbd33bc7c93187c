package pmath

import "math"

// Hypot returns Sqrt(p*p + q*q), taking care to avoid unnecessary overflow
// and underflow.
//
// Special cases are as for math.Hypot:
//
//	Hypot(±Inf, q) = +Inf
//	Hypot(p, ±Inf) = +Inf
//	Hypot(NaN, q) = NaN
//	Hypot(p, NaN) = NaN
//
// p*p + q*q is formed exactly (as a double-double) and its root corrected
// by one Newton step, so the result is within 0.51 ulp (math.Hypot is not:
// it computes p*sqrt(1+(q/p)^2)).
func Hypot(p, q float64) float64 {
	a, b := math.Abs(p), math.Abs(q)
	switch {
	case math.IsInf(a, 1) || math.IsInf(b, 1):
		return math.Inf(1)
	case isNaN(a) || isNaN(b):
		return canonicalNaN
	}
	if a < b {
		a, b = b, a
	}
	if b == 0 {
		return a
	}
	ea := ilogb(a)
	if ilogb(b) < ea-60 {
		return a // sqrt(a^2 + b^2) = a (1 + (b/a)^2/2), (b/a)^2 < 2^-118
	}
	// Scale a into [1, 2): b >= 2^-61 stays normal, and the squares are
	// exact double-doubles.
	a = mulPow2(a, -ea)
	b = mulPow2(b, -ea)
	s1, e1 := twoProd(a, a)
	s2, e2 := twoProd(b, b)
	sh, se := twoSum(s1, s2)
	sh, sl := fastTwoSum(sh, se+(e1+e2))
	r := math.Sqrt(sh)
	rr, re := twoProd(r, r)
	c := (((sh - rr) - re) + sl) / (2 * r)
	return scaleRound(r, c, ea)
}

// Cbrt returns the cube root of x.
//
// Special cases are as for math.Cbrt:
//
//	Cbrt(±0) = ±0
//	Cbrt(±Inf) = ±Inf
//	Cbrt(NaN) = NaN
//
// Error: below 0.51 ulp (exact cubes give exact roots).
func Cbrt(x float64) float64 {
	switch {
	case isNaN(x):
		return canonicalNaN
	case x == 0 || math.IsInf(x, 0):
		return x
	}
	ax := math.Abs(x)
	e := ilogb(ax)
	q := e / 3
	if e < 3*q {
		q-- // floor division
	}
	m := mulPow2(ax, -3*q) // in [1, 8)
	// Quadratic guess (relative error < 4%), three Newton steps (< 2^-37),
	// then one Newton step with the residual m - y^3 as a double-double.
	y := float64(m*float64(float64(m*-0.012732)+0.24786)) + 0.8015
	for i := 0; i < 3; i++ {
		y2 := float64(y * y)
		y = y - (float64(y2*y)-m)/(3*y2)
	}
	s, se := twoProd(y, y)
	t, te := twoProd(y, s)
	te += float64(y * se)
	res := (m - t) - te // m - t is exact
	y += res / (3 * s)
	y = mulPow2(y, q)
	if x < 0 {
		y = -y
	}
	return y
}
