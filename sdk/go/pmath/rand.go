package pmath

import "math"

// open01 maps a 64-bit word to (0, 1): ((w>>11) | 1) / 2^53, an odd multiple
// of 2^-53, so never 0 or 1 and symmetric about 1/2.
func open01(w uint64) float64 { return float64(w>>11|1) * 0x1p-53 }

// cosTurn returns cos(2 pi v/2^53) for v = w>>11, the angle taken exactly
// (no rounding of 2 pi v): v's top two bits are the quadrant and the rest,
// centred, times pi/2 as a double-double is the reduced argument.
func cosTurn(w uint64) float64 {
	v := w >> 11
	n := int(v >> 51)
	f := int64(v & (1<<51 - 1))
	if f >= 1<<50 {
		n++
		f -= 1 << 51
	}
	u := float64(f) * 0x1p-51 // exact, |u| <= 1/2
	rh, rl := twoProd(u, pio2Hi)
	rl += float64(u * pio2Lo)
	rh, rl = fastTwoSum(rh, rl)
	return sinCosQuadrant(n, rh, rl, true)
}

// ExpFloat64 returns an exponentially distributed float64 with rate 1
// (mean 1), computed from exactly one word of u:
//
//	ExpFloat64(u) = -Log(((w>>11) | 1) / 2^53), w = u()
//
// with pmath's Log, so the same word gives the same bits on every platform.
// The result lies in (0, 36.74]. To get rate λ, divide by λ.
func ExpFloat64(u func() uint64) float64 {
	return -Log(open01(u()))
}

// NormFloat64 returns a standard normal float64 (mean 0, standard deviation
// 1) by the Box-Muller transform of exactly two words of u, taken in order:
//
//	NormFloat64(u) = Sqrt(-2 Log(((w1>>11) | 1) / 2^53)) * cos(2 pi (w2>>11) / 2^53)
//
// where w1 = u() then w2 = u(), Log is pmath's, and the cosine is of the
// exact angle (the product 2 pi (w2>>11)/2^53 is never rounded), rounded
// like Cos. The same words give the same bits on every platform. The
// result lies in [-8.58, 8.58]. To get mean mu and deviation sigma, use
// mu + float64(sigma*NormFloat64(u)): the float64 conversion stops the
// compiler from fusing the multiply-add (see the package documentation).
func NormFloat64(u func() uint64) float64 {
	w1 := u()
	w2 := u()
	r := math.Sqrt(-2 * Log(open01(w1)))
	return r * cosTurn(w2)
}
