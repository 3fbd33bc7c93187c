package pmath

import (
	"math"
	"math/bits"
)

// sin, cos, tan: |x| = n pi/2 + r with |r| <= pi/4, r as a double-double,
// by Cody-Waite with pi/2 in four parts (|x| < 2^20) or Payne-Hanek with
// the bits of 2/pi (beyond). Then r = a + s with a = j/64 and |s| <= 1/128:
// sin(a+s) = sin a + cos a*s + sin a*(cos s - 1) + cos a*(sin s - s), with
// sin a and cos a from sinCosTab (double-doubles) and short Taylor series
// in s (truncation below 2^-70).

const trigN = 52 // sinCosTab size: j/64 for j = 0..51 covers [0, pi/4+1/128]

// reduce returns n mod 4 and r = rh+rl with ax = n pi/2 + r, |r| <= pi/4
// (plus rounding), for finite ax >= 2^-27.
func reduce(ax float64) (n int, rh, rl float64) {
	switch {
	case ax <= math.Pi/4:
		return 0, ax, 0
	case ax < 0x1p20:
		// n < 2^20 and each pio2_i has at most 33 bits: n*pio2_1..3 are
		// exact, and pio2_1..4 hold pi/2 to ~150 bits, so r keeps ~90
		// significant bits even for the x closest to a multiple of pi/2.
		nf := (float64(ax*twoOverPi) + shifter) - shifter
		a := ax - float64(nf*pio2_1) // exact (Sterbenz)
		b, e1 := twoSum(a, -float64(nf*pio2_2))
		c, e2 := twoSum(b, -float64(nf*pio2_3))
		rh, rl = twoSum(c, (e1+e2)-float64(nf*pio2_4))
		return int(nf) & 3, rh, rl
	}
	return payneHanek(ax)
}

// twoOverPiWord returns the 64 bits of 2/pi after the binary point at
// positions i .. i+63 (position 1 has weight 2^-1; positions <= 0 are 0).
func twoOverPiWord(i int) uint64 {
	pos := i - 1
	switch {
	case pos <= -64:
		return 0
	case pos < 0:
		return twoOverPiBits[0] >> uint(-pos)
	}
	w, s := pos/64, uint(pos%64)
	if s == 0 {
		return twoOverPiBits[w]
	}
	return twoOverPiBits[w]<<s | twoOverPiBits[w+1]>>(64-s)
}

// payneHanek reduces a finite ax >= 2^20 with integer arithmetic:
// ax = m 2^q (m a 53-bit integer); ax*2/pi mod 4 needs only the bits of 2/pi
// from position q-1 on (earlier ones give multiples of 4). A 256-bit window
// of them times m gives the quadrant and ~190 bits of fraction.
func payneHanek(ax float64) (n int, rh, rl float64) {
	b := math.Float64bits(ax)
	q := int(b>>expShift) - expBias - 52
	m := b&fracMask | 1<<expShift
	i0 := q - 1
	w0 := twoOverPiWord(i0)
	w1 := twoOverPiWord(i0 + 64)
	w2 := twoOverPiWord(i0 + 128)
	w3 := twoOverPiWord(i0 + 192)
	// P = m*W; ax*2/pi = P/2^254 (mod 4).
	h3, r0 := bits.Mul64(m, w3)
	h2, l2 := bits.Mul64(m, w2)
	h1, l1 := bits.Mul64(m, w1)
	_, l0 := bits.Mul64(m, w0)
	r1, c := bits.Add64(h3, l2, 0)
	r2, c := bits.Add64(h2, l1, c)
	r3, _ := bits.Add64(h1, l0, c)
	n = int(r3 >> 62)
	f0 := r3<<2 | r2>>62
	f1 := r2<<2 | r1>>62
	f2 := r1<<2 | r0>>62
	neg := false
	if f0>>63 != 0 { // fraction >= 1/2: r = (f-1) pi/2
		n++
		var bo uint64
		f2, bo = bits.Sub64(0, f2, 0)
		f1, bo = bits.Sub64(0, f1, bo)
		f0, _ = bits.Sub64(0, f0, bo)
		neg = true
	}
	shift := 0
	for f0 == 0 && shift < 128 {
		f0, f1, f2 = f1, f2, 0
		shift += 64
	}
	if lz := bits.LeadingZeros64(f0); lz > 0 {
		f0 = f0<<lz | f1>>(64-lz)
		f1 = f1<<lz | f2>>(64-lz)
		shift += lz
	}
	// f = (f0 + f1/2^64) 2^(-64-shift), as fh + fl (53 bits each).
	fh := float64(f0>>11) * pow2(-53-shift)
	fl := float64((f0&0x7ff)<<42|f1>>22) * pow2(-106-shift)
	p, pe := twoProd(fh, pio2Hi)
	pe += float64(fh*pio2Lo) + float64(fl*pio2Hi)
	rh, rl = fastTwoSum(p, pe)
	if neg {
		rh, rl = -rh, -rl
	}
	return n & 3, rh, rl
}

// trigPrep splits |r| = a + s, a = j/64, and returns j, s, the low part of
// |r|, cos s - 1 and sin s - s. neg reports r < 0.
func trigPrep(rh, rl float64) (neg bool, j int, s, sl, cm1, sm float64) {
	if rh < 0 {
		neg = true
		rh, rl = -rh, -rl
	}
	j = int(float64(rh*64) + 0.5)
	s = rh - float64(float64(j)/64) // exact (Sterbenz); /64 compiles to a product
	s2 := float64(s * s)
	cm1 = float64(s2 * (float64(s2*(float64(s2*(-1.0/720))+1.0/24)) - 0.5))
	sm = float64(float64(s*s2) * (float64(s2*(float64(s2*(-1.0/5040))+1.0/120)) - 1.0/6))
	return neg, j, s, rl, cm1, sm
}

// sinDD returns sin r as a double-double for r = rh+rl, |r| <= pi/4+2^-8.
func sinDD(rh, rl float64) (hi, lo float64) {
	neg, j, s, sl, cm1, sm := trigPrep(rh, rl)
	t := &sinCosTab[j]
	sh, sll, ch, cl := t[0], t[1], t[2], t[3]
	p, pe := twoProd(ch, s)
	hi, e := twoSum(sh, p)
	lo = (e + pe) + (sll + float64(cl*s)) + (float64(sh*cm1) + float64(ch*sm)) +
		float64(sl*(ch-float64(sh*s)))
	hi, lo = fastTwoSum(hi, lo)
	if neg {
		hi, lo = -hi, -lo
	}
	return hi, lo
}

// cosDD returns cos r as a double-double for r = rh+rl, |r| <= pi/4+2^-8.
func cosDD(rh, rl float64) (hi, lo float64) {
	_, j, s, sl, cm1, sm := trigPrep(rh, rl)
	t := &sinCosTab[j]
	sh, sll, ch, cl := t[0], t[1], t[2], t[3]
	p, pe := twoProd(sh, s)
	hi, e := twoSum(ch, -p)
	lo = (e - pe) + (cl - float64(sll*s)) + (float64(ch*cm1) - float64(sh*sm)) -
		float64(sl*(sh+float64(ch*s)))
	return fastTwoSum(hi, lo)
}

// sinCosQuadrant returns sin or cos (wantCos) of n pi/2 + r, rounded.
func sinCosQuadrant(n int, rh, rl float64, wantCos bool) float64 {
	if wantCos {
		n++
	}
	var hi, lo float64
	if n&1 == 0 {
		hi, lo = sinDD(rh, rl)
	} else {
		hi, lo = cosDD(rh, rl)
	}
	if n&2 != 0 {
		hi, lo = -hi, -lo
	}
	return hi + lo
}

// Sin returns the sine of the radian argument x.
//
// Special cases are as for math.Sin:
//
//	Sin(±0) = ±0
//	Sin(±Inf) = NaN
//	Sin(NaN) = NaN
//
// The argument is reduced exactly for every finite x. Error: below 0.51 ulp.
func Sin(x float64) float64 {
	ax := math.Abs(x)
	switch {
	case !isFinite(x):
		return canonicalNaN
	case ax < 0x1p-27:
		return x // x - x^3/6 rounds to x
	}
	n, rh, rl := reduce(ax)
	r := sinCosQuadrant(n, rh, rl, false)
	if x < 0 {
		r = -r
	}
	return r
}

// Cos returns the cosine of the radian argument x.
//
// Special cases are as for math.Cos:
//
//	Cos(±Inf) = NaN
//	Cos(NaN) = NaN
//
// The argument is reduced exactly for every finite x. Error: below 0.51 ulp.
func Cos(x float64) float64 {
	ax := math.Abs(x)
	switch {
	case !isFinite(x):
		return canonicalNaN
	case ax < 0x1p-27:
		return 1 // 1 - x^2/2 rounds to 1
	}
	n, rh, rl := reduce(ax)
	return sinCosQuadrant(n, rh, rl, true)
}

// Tan returns the tangent of the radian argument x.
//
// Special cases are as for math.Tan:
//
//	Tan(±0) = ±0
//	Tan(±Inf) = NaN
//	Tan(NaN) = NaN
//
// The argument is reduced exactly for every finite x. Error: below 0.51 ulp.
func Tan(x float64) float64 {
	ax := math.Abs(x)
	switch {
	case !isFinite(x):
		return canonicalNaN
	case ax < 0x1p-27:
		return x // x + x^3/3 rounds to x
	}
	n, rh, rl := reduce(ax)
	sh, sl := sinDD(rh, rl)
	ch, cl := cosDD(rh, rl)
	var t float64
	if n&1 == 0 {
		qh, ql := ddDiv(sh, sl, ch, cl)
		t = qh + ql
	} else {
		qh, ql := ddDiv(ch, cl, sh, sl)
		t = -(qh + ql)
	}
	if x < 0 {
		t = -t
	}
	return t
}
