package pmath

import "math"

// log: x = 2^k m, m in [1,2), F = 1 + j/128 the nearest to m, f = m - F
// (exact) and u = f/F (|u| <= 2^-8, kept as a double-double). Then
// ln x = k ln2 + ln F + ln(1+u), with ln F from logTab (a double-double) and
// ln(1+u) from its Taylor series to u^9 (truncation below 2^-72 |u|).

const logN = 128 // table size: ln(1 + j/128), j = 0..127

// logParts returns k and hi+lo (|lo| <= ulp(hi)) with
// ln(x+xl) = k ln2 + hi + lo, relative error below 2^-68, for finite x > 0
// and |xl| <= ulp(x)/2.
func logParts(x, xl float64) (k int, hi, lo float64) {
	b := math.Float64bits(x)
	if b < 1<<expShift { // subnormal
		b = math.Float64bits(x * 0x1p54)
		k = -54
	}
	k += int(b>>expShift) - expBias
	ml := mulPow2(xl, -k) // exact, or too small to matter
	j := int(b>>(expShift-7))&(logN-1) + int(b>>(expShift-8))&1
	m := math.Float64frombits(b&fracMask | expBias<<expShift)
	if j == logN {
		// m is within 2^-8 of 2: use m/2 (just below 1) and F = 1, so that
		// ln x has no cancellation between k ln2 and ln F.
		m *= 0.5
		ml *= 0.5
		k++
		j = 0
	}
	F := 1 + float64(float64(j)/logN) // x/128 compiles to x*(1/128): guard it too
	f, fl := twoSum(m-F, ml)          // m - F is exact (Sterbenz)
	uh := f / F
	// ul = (f + fl - uh*F)/F, with f - uh*F computed exactly: F has 8 bits.
	sh, sl := split(uh)
	ul := (((f - float64(sh*F)) - float64(sl*F)) + fl) / F

	// ln(1+u) = u - u^2/2 + u^3 (1/3 - u/4 + ... + u^6/9), u = uh + ul.
	const (
		c3 = 1.0 / 3
		c4 = -1.0 / 4
		c5 = 1.0 / 5
		c6 = -1.0 / 6
		c7 = 1.0 / 7
		c8 = -1.0 / 8
		c9 = 1.0 / 9
	)
	q := float64(uh*c9) + c8
	q = float64(uh*q) + c7
	q = float64(uh*q) + c6
	q = float64(uh*q) + c5
	q = float64(uh*q) + c4
	q = float64(uh*q) + c3
	s, se := twoProd(uh, uh)
	tail := float64(float64(s*uh) * q)
	a, ae := twoSum(logTab[j][0], uh)
	hi, he := twoSum(a, float64(-0.5*s))
	lo = (((logTab[j][1] + ul) - float64(uh*ul)) - float64(0.5*se)) + tail + (ae + he)
	hi, lo = fastTwoSum(hi, lo)
	return k, hi, lo
}

// logDD returns ln x as a double-double (|lo| <= ulp(hi)) for finite x > 0.
func logDD(x float64) (hi, lo float64) {
	k, h, l := logParts(x, 0)
	kf := float64(k)
	hi, e := twoSum(float64(kf*ln2Hi), h) // kf*ln2Hi is exact
	return fastTwoSum(hi, e+(l+float64(kf*ln2Lo)))
}

// logSpecial handles the arguments for which ln x is not finite and
// nonzero-defined: it reports ok=false for finite x > 0.
func logSpecial(x float64) (r float64, ok bool) {
	switch {
	case isNaN(x) || x < 0:
		return canonicalNaN, true
	case x == 0:
		return math.Inf(-1), true
	case x > math.MaxFloat64:
		return x, true
	}
	return 0, false
}

// Log returns the natural logarithm of x.
//
// Special cases are as for math.Log:
//
//	Log(+Inf) = +Inf
//	Log(0) = -Inf
//	Log(x < 0) = NaN
//	Log(NaN) = NaN
//
// Error: below 0.51 ulp.
func Log(x float64) float64 {
	if r, ok := logSpecial(x); ok {
		return r
	}
	hi, lo := logDD(x)
	return hi + lo
}

// Log2 returns the binary logarithm of x. It is exact for powers of two.
// The special cases are the same as for Log. Error: below 0.51 ulp.
func Log2(x float64) float64 {
	if r, ok := logSpecial(x); ok {
		return r
	}
	k, h, l := logParts(x, 0)
	p, pe := twoProd(h, invLn2Hi)
	pe += float64(h*invLn2Lo) + float64(l*invLn2Hi)
	s, e := twoSum(float64(k), p)
	return s + (e + pe)
}

// Log10 returns the decimal logarithm of x. The special cases are the same
// as for Log. Error: below 0.51 ulp (so Log10 of an exact power of ten
// that is a float64 is exact).
func Log10(x float64) float64 {
	if r, ok := logSpecial(x); ok {
		return r
	}
	h, l := logDD(x)
	p, pe := twoProd(h, invLn10Hi)
	pe += float64(h*invLn10Lo) + float64(l*invLn10Hi)
	return p + pe
}

// Log1p returns the natural logarithm of 1 plus x, accurate also when x is
// near zero.
//
// Special cases are as for math.Log1p:
//
//	Log1p(+Inf) = +Inf
//	Log1p(±0) = ±0
//	Log1p(-1) = -Inf
//	Log1p(x < -1) = NaN
//	Log1p(NaN) = NaN
//
// Error: below 0.51 ulp.
func Log1p(x float64) float64 {
	switch {
	case isNaN(x) || x < -1:
		return canonicalNaN
	case x == -1:
		return math.Inf(-1)
	case x > math.MaxFloat64:
		return x
	case math.Abs(x) < 0x1p-54:
		return x // x - x^2/2 rounds to x; keeps -0
	}
	s, se := twoSum(1, x) // s+se == 1+x exactly, s > 0
	k, h, l := logParts(s, se)
	kf := float64(k)
	hi, e := twoSum(float64(kf*ln2Hi), h)
	return hi + (e + (l + float64(kf*ln2Lo)))
}
