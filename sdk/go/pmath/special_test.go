package pmath

import (
	"math"
	"testing"
)

var (
	inf    = math.Inf(1)
	nan    = math.NaN()
	negz   = math.Copysign(0, -1)
	minSub = math.SmallestNonzeroFloat64
	maxF   = math.MaxFloat64
)

type special struct {
	name string
	f    func(x, y float64) float64
	x, y float64
	want float64
}

func s1(name string, f func(float64) float64, x, want float64) special {
	return special{name, one(f), x, 0, want}
}

func s2(name string, f func(float64, float64) float64, x, y, want float64) special {
	return special{name, f, x, y, want}
}

var specials = []special{
	s1("Exp", Exp, 0, 1), s1("Exp", Exp, negz, 1), s1("Exp", Exp, inf, inf), s1("Exp", Exp, -inf, 0),
	s1("Exp", Exp, nan, nan), s1("Exp", Exp, 710, inf), s1("Exp", Exp, -746, 0), s1("Exp", Exp, 1, math.E),
	s1("Exp", Exp, -745.1332191019412, 0), s1("Exp", Exp, -745.1332191019411, minSub), // both sides of 2^-1075
	s1("Exp", Exp, 709.782712893384, 1.7976931348622732e308), s1("Exp", Exp, minSub, 1), s1("Exp", Exp, -minSub, 1),

	s1("Expm1", Expm1, 0, 0), s1("Expm1", Expm1, negz, negz), s1("Expm1", Expm1, inf, inf), s1("Expm1", Expm1, -inf, -1),
	s1("Expm1", Expm1, nan, nan), s1("Expm1", Expm1, 710, inf), s1("Expm1", Expm1, -50, -1), s1("Expm1", Expm1, minSub, minSub),
	s1("Expm1", Expm1, 1e-20, 1e-20),

	s1("Log", Log, 1, 0), s1("Log", Log, 0, -inf), s1("Log", Log, negz, -inf), s1("Log", Log, -1, nan),
	s1("Log", Log, -inf, nan), s1("Log", Log, inf, inf), s1("Log", Log, nan, nan), s1("Log", Log, math.E, 1),
	s1("Log", Log, minSub, -744.4400719213812), s1("Log", Log, maxF, 709.782712893384),

	s1("Log2", Log2, 1, 0), s1("Log2", Log2, 0, -inf), s1("Log2", Log2, -1, nan), s1("Log2", Log2, inf, inf),
	s1("Log2", Log2, nan, nan), s1("Log2", Log2, 8, 3), s1("Log2", Log2, 0.125, -3), s1("Log2", Log2, minSub, -1074),
	s1("Log2", Log2, math.Ldexp(1, 1023), 1023),

	s1("Log10", Log10, 1, 0), s1("Log10", Log10, 0, -inf), s1("Log10", Log10, -1, nan), s1("Log10", Log10, inf, inf),
	s1("Log10", Log10, nan, nan), s1("Log10", Log10, 1000, 3), s1("Log10", Log10, 1e22, 22), s1("Log10", Log10, 1e-5, -5),

	s1("Log1p", Log1p, 0, 0), s1("Log1p", Log1p, negz, negz), s1("Log1p", Log1p, -1, -inf), s1("Log1p", Log1p, -2, nan),
	s1("Log1p", Log1p, inf, inf), s1("Log1p", Log1p, -inf, nan), s1("Log1p", Log1p, nan, nan), s1("Log1p", Log1p, minSub, minSub),
	s1("Log1p", Log1p, math.E-1, 1),

	s2("Pow", Pow, 5, 0, 1), s2("Pow", Pow, nan, 0, 1), s2("Pow", Pow, nan, negz, 1), s2("Pow", Pow, 1, nan, 1),
	s2("Pow", Pow, 1, inf, 1), s2("Pow", Pow, nan, 1, nan), s2("Pow", Pow, -7, 1, -7), s2("Pow", Pow, nan, 2, nan),
	s2("Pow", Pow, 2, nan, nan), s2("Pow", Pow, 0, -3, inf), s2("Pow", Pow, negz, -3, -inf), s2("Pow", Pow, 0, -inf, inf),
	s2("Pow", Pow, negz, -inf, inf), s2("Pow", Pow, 0, inf, 0), s2("Pow", Pow, negz, inf, 0), s2("Pow", Pow, 0, -2, inf),
	s2("Pow", Pow, negz, -2.5, inf), s2("Pow", Pow, 0, 3, 0), s2("Pow", Pow, negz, 3, negz), s2("Pow", Pow, negz, 2, 0),
	s2("Pow", Pow, negz, 0.5, 0), s2("Pow", Pow, -1, inf, 1), s2("Pow", Pow, -1, -inf, 1), s2("Pow", Pow, 2, inf, inf),
	s2("Pow", Pow, -2, inf, inf), s2("Pow", Pow, 2, -inf, 0), s2("Pow", Pow, 0.5, inf, 0), s2("Pow", Pow, -0.5, -inf, inf),
	s2("Pow", Pow, inf, 2, inf), s2("Pow", Pow, inf, -2, 0), s2("Pow", Pow, -inf, 3, -inf), s2("Pow", Pow, -inf, 2, inf),
	s2("Pow", Pow, -inf, -3, negz), s2("Pow", Pow, -inf, -2, 0), s2("Pow", Pow, -inf, 0.5, inf), s2("Pow", Pow, -2, 0.5, nan),
	s2("Pow", Pow, -8, 1.0/3, nan), s2("Pow", Pow, -2, 3, -8), s2("Pow", Pow, -2, -2, 0.25), s2("Pow", Pow, 10, 22, 1e22),
	s2("Pow", Pow, 2, -1074, minSub), s2("Pow", Pow, 2, -1075, 0), s2("Pow", Pow, 2, 1024, inf), s2("Pow", Pow, 2, 1023, math.Ldexp(1, 1023)),
	s2("Pow", Pow, 10, -1, 0.1), s2("Pow", Pow, 4, 0.5, 2), s2("Pow", Pow, 1e300, 1e300, inf), s2("Pow", Pow, 1e-300, 1e300, 0),
	s2("Pow", Pow, -1, 1e300, 1), s2("Pow", Pow, -1, 3, -1), s2("Pow", Pow, 1.0000000000000002, 1e20, inf),
	s2("Pow", Pow, 0.9999999999999999, 1e20, 0), s2("Pow", Pow, 27, 1.0/3, 3),

	s1("Sin", Sin, 0, 0), s1("Sin", Sin, negz, negz), s1("Sin", Sin, inf, nan), s1("Sin", Sin, -inf, nan),
	s1("Sin", Sin, nan, nan), s1("Sin", Sin, minSub, minSub), s1("Sin", Sin, math.Pi, 1.2246467991473532e-16),
	s1("Sin", Sin, 1e22, -0.8522008497671888), s1("Sin", Sin, maxF, 0.004961954789184062),
	// 0x1.6ac5b262ca1ffp+849 is the float64 closest to a multiple of pi/2.
	s1("Sin", Sin, 0x1.6ac5b262ca1ffp+849, 1), s1("Cos", Cos, 0x1.6ac5b262ca1ffp+849, -4.687165924254628e-19),

	s1("Cos", Cos, 0, 1), s1("Cos", Cos, negz, 1), s1("Cos", Cos, inf, nan), s1("Cos", Cos, nan, nan),
	s1("Cos", Cos, math.Pi, -1), s1("Cos", Cos, math.Pi/2, 6.123233995736766e-17), s1("Cos", Cos, 1e22, 0.523214785395139),

	s1("Tan", Tan, 0, 0), s1("Tan", Tan, negz, negz), s1("Tan", Tan, inf, nan), s1("Tan", Tan, nan, nan),
	s1("Tan", Tan, math.Pi/4, 0.9999999999999999), s1("Tan", Tan, math.Pi/2, 1.633123935319537e16),
	s1("Tan", Tan, 1e22, -1.6287782256068988),

	s1("Atan", Atan, 0, 0), s1("Atan", Atan, negz, negz), s1("Atan", Atan, inf, math.Pi/2), s1("Atan", Atan, -inf, -math.Pi/2),
	s1("Atan", Atan, nan, nan), s1("Atan", Atan, 1, math.Pi/4), s1("Atan", Atan, 1e300, math.Pi/2),

	s2("Atan2", Atan2, 1, nan, nan), s2("Atan2", Atan2, nan, 1, nan), s2("Atan2", Atan2, 0, 0, 0), s2("Atan2", Atan2, 0, 1, 0),
	s2("Atan2", Atan2, negz, 0, negz), s2("Atan2", Atan2, negz, 1, negz), s2("Atan2", Atan2, 0, negz, math.Pi),
	s2("Atan2", Atan2, 0, -1, math.Pi), s2("Atan2", Atan2, negz, negz, -math.Pi), s2("Atan2", Atan2, negz, -1, -math.Pi),
	s2("Atan2", Atan2, 1, 0, math.Pi/2), s2("Atan2", Atan2, 1, negz, math.Pi/2), s2("Atan2", Atan2, -1, 0, -math.Pi/2),
	s2("Atan2", Atan2, inf, inf, math.Pi/4), s2("Atan2", Atan2, -inf, inf, -math.Pi/4), s2("Atan2", Atan2, inf, -inf, 3*math.Pi/4),
	s2("Atan2", Atan2, -inf, -inf, -3*math.Pi/4), s2("Atan2", Atan2, 1, inf, 0), s2("Atan2", Atan2, -1, inf, negz),
	s2("Atan2", Atan2, 1, -inf, math.Pi), s2("Atan2", Atan2, -1, -inf, -math.Pi), s2("Atan2", Atan2, inf, 1, math.Pi/2),
	s2("Atan2", Atan2, -inf, 1, -math.Pi/2), s2("Atan2", Atan2, 1, 1, math.Pi/4), s2("Atan2", Atan2, -1, -1, -3*math.Pi/4),
	s2("Atan2", Atan2, -6e-264, -1.25e116, -math.Pi), // math.Atan2 gives +Pi (y/x underflows to +0)
	s2("Atan2", Atan2, 1e-300, 1e300, 0), s2("Atan2", Atan2, maxF, minSub, math.Pi/2),

	s1("Asin", Asin, 0, 0), s1("Asin", Asin, negz, negz), s1("Asin", Asin, 1, math.Pi/2), s1("Asin", Asin, -1, -math.Pi/2),
	s1("Asin", Asin, 1.0000000000000002, nan), s1("Asin", Asin, -inf, nan), s1("Asin", Asin, nan, nan), s1("Asin", Asin, 0.5, math.Pi/6),

	s1("Acos", Acos, 1, 0), s1("Acos", Acos, -1, math.Pi), s1("Acos", Acos, 0, math.Pi/2), s1("Acos", Acos, negz, math.Pi/2),
	s1("Acos", Acos, 2, nan), s1("Acos", Acos, nan, nan), s1("Acos", Acos, 0.5, 1.0471975511965979),
	s1("Acos", Acos, 0.9999999999999998, 2.1073424255447017e-08), // math.Acos: 2.107342433887993e-08

	s1("Sinh", Sinh, 0, 0), s1("Sinh", Sinh, negz, negz), s1("Sinh", Sinh, inf, inf), s1("Sinh", Sinh, -inf, -inf),
	s1("Sinh", Sinh, nan, nan), s1("Sinh", Sinh, 711, inf), s1("Sinh", Sinh, -710.4, -1.6663642832806496e308),
	s1("Sinh", Sinh, minSub, minSub),

	s1("Cosh", Cosh, 0, 1), s1("Cosh", Cosh, negz, 1), s1("Cosh", Cosh, inf, inf), s1("Cosh", Cosh, -inf, inf),
	s1("Cosh", Cosh, nan, nan), s1("Cosh", Cosh, 711, inf), s1("Cosh", Cosh, -710.4, 1.6663642832806496e308),

	s1("Tanh", Tanh, 0, 0), s1("Tanh", Tanh, negz, negz), s1("Tanh", Tanh, inf, 1), s1("Tanh", Tanh, -inf, -1),
	s1("Tanh", Tanh, nan, nan), s1("Tanh", Tanh, 30, 1), s1("Tanh", Tanh, minSub, minSub),

	s2("Hypot", Hypot, inf, nan, inf), s2("Hypot", Hypot, nan, -inf, inf), s2("Hypot", Hypot, nan, 1, nan),
	s2("Hypot", Hypot, 1, nan, nan), s2("Hypot", Hypot, 0, 0, 0), s2("Hypot", Hypot, negz, negz, 0),
	s2("Hypot", Hypot, 3, -4, 5), s2("Hypot", Hypot, maxF, maxF, inf), s2("Hypot", Hypot, minSub, minSub, minSub),
	s2("Hypot", Hypot, 3*minSub, 4*minSub, 5*minSub), s2("Hypot", Hypot, 3e300, 4e300, 5e300), s2("Hypot", Hypot, -7, 0, 7),

	s1("Cbrt", Cbrt, 0, 0), s1("Cbrt", Cbrt, negz, negz), s1("Cbrt", Cbrt, inf, inf), s1("Cbrt", Cbrt, -inf, -inf),
	s1("Cbrt", Cbrt, nan, nan), s1("Cbrt", Cbrt, 27, 3), s1("Cbrt", Cbrt, -0.125, -0.5), s1("Cbrt", Cbrt, minSub, math.Ldexp(1, -358)),
	s1("Cbrt", Cbrt, 1e300, 1e100),
}

// TestSpecial checks special and exact cases bit for bit; every NaN must
// be the canonical 0x7ff8000000000000.
func TestSpecial(t *testing.T) {
	for _, s := range specials {
		got := s.f(s.x, s.y)
		want := math.Float64bits(s.want)
		if math.IsNaN(s.want) {
			want = 0x7ff8000000000000
		}
		if math.Float64bits(got) != want {
			t.Errorf("%s(%v, %v) = %v (%#x), want %v (%#x)", s.name, s.x, s.y, got, math.Float64bits(got), s.want, want)
		}
	}
}

// TestCanonicalNaN checks that NaN results are canonical for NaN inputs of
// any payload and sign, and for invalid arguments.
func TestCanonicalNaN(t *testing.T) {
	nans := []float64{math.NaN(), math.Float64frombits(0xfff8000000000000), math.Float64frombits(0x7ff0000000000001),
		math.Float64frombits(0xfff4000000000123)}
	for _, c := range cases() {
		for _, n := range nans {
			for _, a := range [][2]float64{{n, 0.5}, {0.5, n}, {n, n}} {
				if c.arity == 1 && a[0] == 0.5 {
					continue
				}
				got := c.f(a[0], a[1])
				if math.IsNaN(got) && math.Float64bits(got) != 0x7ff8000000000000 {
					t.Errorf("%s(%#x, %#x) = NaN %#x, want 0x7ff8000000000000", c.name,
						math.Float64bits(a[0]), math.Float64bits(a[1]), math.Float64bits(got))
				}
			}
		}
	}
}
