package pmath

// Error-free transformations and double-double helpers. Every product that
// meets an addition is written float64(a*b): the explicit conversion rounds,
// so the compiler cannot fuse it into a multiply-add (see doc.go).

import "math"

const (
	signMask = 1 << 63
	fracMask = 1<<52 - 1
	expShift = 52
	expBias  = 1023

	// shifter rounds a float64 t with |t| < 2^51 to an integer:
	// (t + shifter) - shifter, in round-to-nearest-even.
	shifter = 0x1.8p52
)

// canonicalNaN is the quiet NaN every function returns: 0x7ff8000000000000,
// the same as Lockstep's WASM NaN canonicalisation (RATIONALE.md: "Why
// canonicalise NaNs?"). math.NaN() is 0x7ff8000000000001, and NaNs made by
// arithmetic differ by GOARCH (amd64 makes 0xfff8...).
var canonicalNaN = math.Float64frombits(0x7ff8000000000000)

func isNaN(x float64) bool { return x != x }

// isFinite reports whether x is neither NaN nor an infinity.
func isFinite(x float64) bool { return x-x == 0 }

// pow2 returns 2^k for -1022 <= k <= 1023.
func pow2(k int) float64 { return math.Float64frombits(uint64(k+expBias) << expShift) }

// mulPow2 returns x*2^k, exactly unless the result overflows (then ±Inf) or
// is subnormal (then rounded once, by the last multiplication).
func mulPow2(x float64, k int) float64 {
	for k > 1023 {
		x *= 0x1p1023
		k -= 1023
	}
	for k < -2044 {
		x *= 0x1p-1022
		k += 1022
	}
	if k < -1022 {
		// x*2^k = (x*2^(k+1022)) * 2^-1022: the first product stays normal
		// unless the result is below 2^-1075 anyway, the second rounds once.
		return x * pow2(k+1022) * 0x1p-1022
	}
	return x * pow2(k)
}

// ilogb returns the unbiased exponent of a finite nonzero x (subnormals
// included): |x| is in [2^e, 2^(e+1)).
func ilogb(x float64) int {
	b := math.Float64bits(x) &^ signMask
	if b < 1<<expShift {
		b = math.Float64bits(x*0x1p54) &^ signMask
		return int(b>>expShift) - expBias - 54
	}
	return int(b>>expShift) - expBias
}

// twoSum returns s = fl(a+b) and e such that s+e == a+b exactly.
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	e = (a - (s - bb)) + (b - bb)
	return s, e
}

// fastTwoSum is twoSum for |a| >= |b| (or a == 0).
func fastTwoSum(a, b float64) (s, e float64) {
	s = a + b
	e = b - (s - a)
	return s, e
}

// split returns hi+lo == a with hi holding the high 26 bits (Veltkamp).
// |a| must be below 2^995.
func split(a float64) (hi, lo float64) {
	const c = 0x1p27 + 1
	t := float64(c * a)
	hi = t - (t - a)
	lo = a - hi
	return hi, lo
}

// twoProd returns p = fl(a*b) and e with p+e == a*b exactly (Dekker), as
// long as nothing overflows or underflows.
func twoProd(a, b float64) (p, e float64) {
	p = float64(a * b)
	ah, al := split(a)
	bh, bl := split(b)
	e = ((float64(ah*bh) - p) + float64(ah*bl) + float64(al*bh)) + float64(al*bl)
	return p, e
}

// ddDiv returns (ah+al)/(bh+bl) as a double-double.
func ddDiv(ah, al, bh, bl float64) (qh, ql float64) {
	qh = ah / bh
	p, pe := twoProd(qh, bh)
	r := (((ah - p) - pe) + al) - float64(qh*bl)
	return fastTwoSum(qh, r/bh)
}

// ddSub returns (ah+al) - (bh+bl) as a double-double.
func ddSub(ah, al, bh, bl float64) (float64, float64) {
	s, e := twoSum(ah, -bh)
	return fastTwoSum(s, e+(al-bl))
}

// scaleRound returns (hi+lo)*2^k rounded once to float64, including when
// the result is subnormal or overflows. hi+lo must be normalised
// (|lo| <= ulp(hi)) and hi normal.
func scaleRound(hi, lo float64, k int) float64 {
	v := hi + lo
	if v == 0 {
		return v
	}
	if k > -1000 && k < 1000 && k+ilogb(v) >= -1022 {
		return v * pow2(k)
	}
	e := ilogb(v) + k
	if e >= -1022 {
		return mulPow2(v, k)
	}
	if e < -1080 {
		return math.Copysign(0, hi)
	}
	neg := hi < 0
	if neg {
		hi, lo = -hi, -lo
	}
	// In units of 2^-1022 the result y is below 1, and subnormals are the
	// multiples of 2^-52 there: round 1+y, whose ulp is 2^-52, then drop 1.
	m := k + 1022 // in [-58, 0]
	yh := float64(hi * pow2(m))
	yl := float64(lo * pow2(m))
	s := 1 + yh
	c := ((1 - s) + yh) + yl
	r := ((s + c) - 1) * 0x1p-1022
	if neg {
		r = -r
	}
	return r
}
