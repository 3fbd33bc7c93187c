package pmath

// A slow, high-precision reference built on math/big only. It serves two
// purposes: it generates tables.go (see tables_test.go) and it is the ground
// truth the accuracy tests measure ulp errors against. Every function takes
// the precision (in bits) of its result; internally it works with guard bits.

import (
	"math"
	"math/big"
	"sync"
)

const refPrec = 320 // bits of the reference results used by the tests

func newF(prec uint) *big.Float { return new(big.Float).SetPrec(prec) }

func bigFrom(x float64, prec uint) *big.Float { return newF(prec).SetFloat64(x) }

func bigInt(n int64, prec uint) *big.Float { return newF(prec).SetInt64(n) }

// atanInv returns atan(1/n) by its Taylor series.
func atanInv(n int64, prec uint) *big.Float {
	w := prec + 32
	sum := newF(w)
	nn := bigInt(n*n, w)
	pw := newF(w).Quo(bigInt(1, w), bigInt(n, w)) // 1/n^(2k+1)
	eps := newF(w).SetMantExp(bigInt(1, w), -int(w))
	for k := int64(0); ; k++ {
		t := newF(w).Quo(pw, bigInt(2*k+1, w))
		if k%2 == 0 {
			sum.Add(sum, t)
		} else {
			sum.Sub(sum, t)
		}
		if t.Cmp(eps) < 0 {
			break
		}
		pw.Quo(pw, nn)
	}
	return newF(prec).Set(sum)
}

const constPrec = 2600 // bits of the cached constants: enough to reduce 2^1024

var (
	constOnce          sync.Once
	bigPiC, bigLn2C    *big.Float
	bigLn10C, bigPio2C *big.Float
)

func initConsts() {
	constOnce.Do(func() {
		// Machin: pi = 16 atan(1/5) - 4 atan(1/239).
		a := atanInv(5, constPrec+16)
		b := atanInv(239, constPrec+16)
		pi := newF(constPrec+16).Mul(a, bigInt(16, constPrec+16))
		pi.Sub(pi, newF(constPrec+16).Mul(b, bigInt(4, constPrec+16)))
		bigPiC = newF(constPrec).Set(pi)
		bigPio2C = newF(constPrec).Quo(bigPiC, bigInt(2, constPrec))
		// ln 2 = 2 atanh(1/3) = 2 sum 1/((2k+1) 3^(2k+1)).
		w := uint(constPrec + 16)
		sum := newF(w)
		pw := newF(w).Quo(bigInt(1, w), bigInt(3, w))
		eps := newF(w).SetMantExp(bigInt(1, w), -int(w))
		for k := int64(0); ; k++ {
			t := newF(w).Quo(pw, bigInt(2*k+1, w))
			sum.Add(sum, t)
			if t.Cmp(eps) < 0 {
				break
			}
			pw.Quo(pw, bigInt(9, w))
		}
		bigLn2C = newF(constPrec).Mul(sum, bigInt(2, w))
	})
}

var ln10Once sync.Once

func bigPi(prec uint) *big.Float   { initConsts(); return newF(prec).Set(bigPiC) }
func bigPio2(prec uint) *big.Float { initConsts(); return newF(prec).Set(bigPio2C) }
func bigLn2(prec uint) *big.Float  { initConsts(); return newF(prec).Set(bigLn2C) }
func bigLn10(prec uint) *big.Float {
	ln10Once.Do(func() { bigLn10C = bigLog(bigInt(10, 700), 700) })
	return newF(prec).Set(bigLn10C)
}

// bigExp returns e^x. |x| must be below ~2^20.
func bigExp(x *big.Float, prec uint) *big.Float {
	if x.Sign() == 0 {
		return bigInt(1, prec)
	}
	w := prec + 64
	xf, _ := x.Float64()
	n := int64(math.Round(xf / math.Ln2))
	r := newF(w).Set(x)
	r.Sub(r, newF(w).Mul(bigInt(n, w), bigLn2(w+32)))
	const s = 24
	r.SetMantExp(r, -s)
	// Taylor series of e^r - 1, then square s times.
	sum := newF(w)
	term := bigInt(1, w)
	eps := newF(w).SetMantExp(bigInt(1, w), -int(w)-s)
	for k := int64(1); ; k++ {
		term.Mul(term, r)
		term.Quo(term, bigInt(k, w))
		sum.Add(sum, term)
		if newF(w).Abs(term).Cmp(eps) < 0 {
			break
		}
	}
	sum.Add(sum, bigInt(1, w))
	for i := 0; i < s; i++ {
		sum.Mul(sum, sum)
	}
	sum.SetMantExp(sum, int(n))
	return newF(prec).Set(sum)
}

// bigLog returns ln x for x > 0, by Halley iterations on bigExp.
func bigLog(x *big.Float, prec uint) *big.Float {
	w := prec + 64
	mant := newF(w)
	e := x.MantExp(mant) // x = mant * 2^e, mant in [0.5, 1)
	mf, _ := mant.Float64()
	y0 := math.Log(mf) + float64(e)*math.Ln2
	y := bigFrom(y0, w)
	xx := newF(w).Set(x)
	for bits := 40; bits < int(w)+40; bits *= 3 {
		// y += 2 (x - e^y) / (x + e^y)
		ey := bigExp(y, w)
		num := newF(w).Sub(xx, ey)
		den := newF(w).Add(xx, ey)
		num.Quo(num, den)
		num.Mul(num, bigInt(2, w))
		y.Add(y, num)
	}
	return newF(prec).Set(y)
}

// reducePio2 returns n mod 4 and r = x - n*pi/2 with |r| <= pi/4.
func reducePio2(x *big.Float, prec uint) (int, *big.Float) {
	w := prec + 80
	if e := x.MantExp(nil); e > 0 {
		w += uint(e)
	}
	pio2 := bigPio2(w)
	q := newF(w).Quo(x, pio2)
	// round to nearest integer
	qi, _ := newF(w).Add(q, newF(w).SetFloat64(0.5*float64(q.Sign()))).Int(nil)
	qf := newF(w).SetInt(qi)
	r := newF(w).Sub(x, newF(w).Mul(qf, pio2))
	n := int(new(big.Int).And(qi, big.NewInt(3)).Int64())
	if qi.Sign() < 0 {
		n = int(new(big.Int).Mod(qi, big.NewInt(4)).Int64())
	}
	return n, newF(prec + 64).Set(r)
}

// bigSinCosSmall returns sin r and cos r for |r| <= 1 by Taylor series.
func bigSinCosSmall(r *big.Float, prec uint) (*big.Float, *big.Float) {
	w := prec + 32
	r2 := newF(w).Mul(r, r)
	sin, cos := newF(w).Set(r), bigInt(1, w)
	ts, tc := newF(w).Set(r), bigInt(1, w)
	eps := newF(w).SetMantExp(bigInt(1, w), -int(w)-80)
	for k := int64(1); ; k++ {
		tc.Mul(tc, r2)
		tc.Quo(tc, bigInt((2*k-1)*(2*k), w))
		tc.Neg(tc)
		ts.Mul(ts, r2)
		ts.Quo(ts, bigInt((2*k)*(2*k+1), w))
		ts.Neg(ts)
		cos.Add(cos, tc)
		sin.Add(sin, ts)
		if newF(w).Abs(tc).Cmp(eps) < 0 {
			break
		}
	}
	return newF(prec).Set(sin), newF(prec).Set(cos)
}

func bigSinCos(x *big.Float, prec uint) (*big.Float, *big.Float) {
	n, r := reducePio2(x, prec)
	s, c := bigSinCosSmall(r, prec+64)
	switch n {
	case 1:
		s, c = c, s.Neg(s)
	case 2:
		s, c = s.Neg(s), c.Neg(c)
	case 3:
		s, c = c.Neg(c), s
	}
	return newF(prec).Set(s), newF(prec).Set(c)
}

// bigAtan returns atan x.
func bigAtan(x *big.Float, prec uint) *big.Float {
	w := prec + 64
	if x.Sign() == 0 {
		return newF(prec)
	}
	if x.Sign() < 0 {
		r := bigAtan(newF(w).Neg(x), w)
		return newF(prec).Neg(r)
	}
	one := bigInt(1, w)
	if x.Cmp(one) > 0 {
		inv := newF(w).Quo(one, x)
		r := bigAtan(inv, w)
		return newF(prec).Sub(bigPio2(w), r)
	}
	// Halve the angle 5 times: t <- t / (1 + sqrt(1 + t^2)).
	t := newF(w).Set(x)
	const halvings = 5
	for i := 0; i < halvings; i++ {
		d := newF(w).Mul(t, t)
		d.Add(d, one)
		d.Sqrt(d)
		d.Add(d, one)
		t.Quo(t, d)
	}
	t2 := newF(w).Mul(t, t)
	sum := newF(w).Set(t)
	pw := newF(w).Set(t)
	eps := newF(w).SetMantExp(one, -int(w)-16)
	for k := int64(1); ; k++ {
		pw.Mul(pw, t2)
		pw.Neg(pw)
		term := newF(w).Quo(pw, bigInt(2*k+1, w))
		sum.Add(sum, term)
		if newF(w).Abs(term).Cmp(eps) < 0 {
			break
		}
	}
	sum.SetMantExp(sum, halvings)
	return newF(prec).Set(sum)
}

// extra returns guard bits that cover cancellation for a tiny argument.
func extra(x float64) uint {
	if x == 0 {
		return 0
	}
	_, e := math.Frexp(x)
	if e < 0 {
		return uint(-e)
	}
	return 0
}

// Reference functions: each returns the exact value to about refPrec bits.
// A nil result means "no finite reference" (the tests skip such inputs).

func refExp(x float64) *big.Float { return bigExp(bigFrom(x, refPrec), refPrec) }

func refExpm1(x float64) *big.Float {
	w := refPrec + extra(x)
	e := bigExp(bigFrom(x, w), w)
	return newF(refPrec).Sub(e, bigInt(1, w))
}

func refLog(x float64) *big.Float { return bigLog(bigFrom(x, refPrec), refPrec) }

func refLog1p(x float64) *big.Float {
	w := uint(refPrec + 1100)
	a := newF(w).Add(bigFrom(x, w), bigInt(1, w))
	return newF(refPrec).Set(bigLog(a, refPrec+64))
}

func refLog2(x float64) *big.Float {
	l := bigLog(bigFrom(x, refPrec), refPrec+32)
	return newF(refPrec).Quo(l, bigLn2(refPrec+32))
}

func refLog10(x float64) *big.Float {
	l := bigLog(bigFrom(x, refPrec), refPrec+32)
	return newF(refPrec).Quo(l, bigLn10(refPrec+32))
}

func refPow(x, y float64) *big.Float {
	w := uint(refPrec + 80)
	neg := x < 0 && math.Mod(y, 2) != 0
	l := bigLog(bigFrom(math.Abs(x), w), w)
	l.Mul(l, bigFrom(y, w))
	if f, _ := l.Float64(); f > 800 || f < -800 {
		return nil
	}
	r := bigExp(l, refPrec)
	if neg {
		r.Neg(r)
	}
	return r
}

func refSin(x float64) *big.Float {
	s, _ := bigSinCos(bigFrom(x, refPrec+16), refPrec)
	return s
}

func refCos(x float64) *big.Float {
	_, c := bigSinCos(bigFrom(x, refPrec+16), refPrec)
	return c
}

func refTan(x float64) *big.Float {
	s, c := bigSinCos(bigFrom(x, refPrec+16), refPrec+32)
	return newF(refPrec).Quo(s, c)
}

func refAtan(x float64) *big.Float { return bigAtan(bigFrom(x, refPrec), refPrec) }

func refAtan2(y, x float64) *big.Float {
	w := uint(refPrec + 64)
	if x == 0 || y == 0 {
		return nil
	}
	q := newF(w).Quo(bigFrom(y, w), bigFrom(x, w))
	a := bigAtan(q, w)
	if x < 0 {
		if y >= 0 {
			a.Add(a, bigPi(w))
		} else {
			a.Sub(a, bigPi(w))
		}
	}
	return newF(refPrec).Set(a)
}

func refAsin(x float64) *big.Float {
	w := uint(refPrec + 64)
	if math.Abs(x) == 1 {
		r := bigPio2(refPrec)
		if x < 0 {
			r.Neg(r)
		}
		return r
	}
	xb := bigFrom(x, w)
	d := newF(w).Mul(xb, xb)
	d.Sub(bigInt(1, w), d)
	d.Sqrt(d)
	return newF(refPrec).Set(bigAtan(d.Quo(xb, d), w))
}

func refAcos(x float64) *big.Float {
	w := uint(refPrec + 128)
	if x == 1 {
		return newF(refPrec)
	}
	if x == -1 {
		return bigPi(refPrec)
	}
	xb := bigFrom(x, w)
	d := newF(w).Mul(xb, xb)
	d.Sub(bigInt(1, w), d)
	d.Sqrt(d)
	a := bigAtan(d.Quo(xb, d), w)
	return newF(refPrec).Sub(bigPio2(w), a)
}

func refSinh(x float64) *big.Float {
	w := refPrec + extra(x)
	e := bigExp(bigFrom(x, w), w)
	inv := newF(w).Quo(bigInt(1, w), e)
	e.Sub(e, inv)
	return newF(refPrec).SetMantExp(e, -1)
}

func refCosh(x float64) *big.Float {
	w := uint(refPrec)
	e := bigExp(bigFrom(x, w), w)
	inv := newF(w).Quo(bigInt(1, w), e)
	e.Add(e, inv)
	return newF(refPrec).SetMantExp(e, -1)
}

func refTanh(x float64) *big.Float {
	w := refPrec + extra(x)
	e := bigExp(bigFrom(2*x, w), w)
	num := newF(w).Sub(e, bigInt(1, w))
	den := newF(w).Add(e, bigInt(1, w))
	return newF(refPrec).Quo(num, den)
}

func refHypot(x, y float64) *big.Float {
	w := uint(refPrec + 64)
	a := newF(w).Mul(bigFrom(x, w), bigFrom(x, w))
	b := newF(w).Mul(bigFrom(y, w), bigFrom(y, w))
	a.Add(a, b)
	return newF(refPrec).Sqrt(a)
}

func refCbrt(x float64) *big.Float {
	w := uint(refPrec + 64)
	if x == 0 {
		return newF(refPrec)
	}
	l := bigLog(bigFrom(math.Abs(x), w), w)
	l.Quo(l, bigInt(3, w))
	r := bigExp(l, refPrec)
	if x < 0 {
		r.Neg(r)
	}
	return r
}

// ulpErr returns |got - ref| in units in the last place of ref, with the
// binade and the subnormal spacing of float64. It returns +Inf when got is
// not finite (ref always is).
func ulpErr(got float64, ref *big.Float) float64 {
	if math.IsNaN(got) || math.IsInf(got, 0) {
		return math.Inf(1)
	}
	d := newF(refPrec).Sub(bigFrom(got, refPrec), ref)
	if d.Sign() == 0 {
		return 0
	}
	e := -1074
	if ref.Sign() != 0 {
		// ref in [2^(x-1), 2^x): ulp is 2^(x-53), at least 2^-1074.
		if x := ref.MantExp(nil); x-53 > e {
			e = x - 53
		}
	}
	d.SetMantExp(d, -e)
	f, _ := d.Float64()
	return math.Abs(f)
}
