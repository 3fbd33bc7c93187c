// Package pmath is portable float64 math for Lockstep agents written in Go:
// every function returns the same bits on every GOOS and GOARCH (linux/amd64,
// linux/arm64, linux/riscv64, windows/amd64, wasip1/wasm, ...), so that runs
// that use it give identical digests everywhere. It is pure Go, imports the
// standard library only, holds no state and is safe for concurrent use.
//
// # What is portable in Go, and what is not
//
// Portable — IEEE 754 correctly rounded, or exact, on every platform:
//
//   - +, -, * and / on float64, each as an operation of its own;
//   - conversions between integers and floats of values in range;
//   - math.Sqrt, math.Abs, math.Floor, math.Ceil, math.Trunc,
//     math.Copysign, math.Signbit, math.Float64bits, math.Float64frombits,
//     math.Inf and math.IsInf, and comparisons.
//
// Not portable:
//
//   - x*y + z, x*y - z and z - x*y: the compiler fuses them into one
//     fused multiply-add (one rounding instead of two) on arm64, riscv64,
//     ppc64, s390x and loong64, and on amd64 built with GOAMD64=v3 — never
//     on amd64 with the default GOAMD64=v1. It does so across statements
//     too (p := x*y; q := p + z), and x/2^k is compiled to a product that
//     fuses the same way. An explicit conversion, float64(x*y) + z, rounds
//     the product and prevents the fusion (the Go spec says so).
//   - math.Exp, Log, Pow, Sin, Cos, Tan, Atan, Asin, Acos, Atan2, Sinh,
//     Cosh, Tanh, Log2, Log10, Log1p, Expm1, Hypot, Cbrt, ...: some are
//     assembly on some GOARCHes (math.Exp on amd64, with an FMA variant
//     chosen at run time by the CPU, and on arm64, loong64, s390x; math.Log
//     on amd64 and s390x; math.Hypot on 386 and amd64; nearly all on s390x)
//     and the rest is pure Go that the compiler fuses as above. On the 3,870
//     inputs of this package's golden file, math gives other bits on arm64
//     than on amd64 for 234 of them, on riscv64 for 291, and arm64 and
//     riscv64 disagree on 59. Some differences are large: on amd64
//     math.Exp(709.437) is +Inf and math.Log(5e-324) is -709.09; on arm64
//     they are 1.27e308 and -744.44.
//   - rand.NormFloat64 and rand.ExpFloat64 of math/rand and math/rand/v2
//     (they call math.Exp and math.Log): 12 of 2^20 samples differ between
//     amd64 and arm64. The integer methods and Float64 of math/rand/v2 are
//     portable.
//   - The sign and payload of a NaN made by arithmetic (0/0 is 0xfff8...
//     on amd64 and 0x7ff8... on arm64), and float-to-int conversions of
//     values out of range.
//   - Anything run after foreign code (cgo) changed the thread's
//     floating-point environment (rounding mode, flush-to-zero): pmath, like
//     all of Go, assumes the default.
//
// # Using pmath from a Go agent
//
//  1. Call pmath instead of math for the functions it has: Exp, Expm1,
//     Log, Log1p, Log2, Log10, Pow, Sin, Cos, Tan, Atan, Atan2, Asin, Acos,
//     Sinh, Cosh, Tanh, Hypot and Cbrt. Keep using math for the exact
//     functions listed above.
//  2. In your own arithmetic, write every product that meets an addition
//     or a subtraction as float64(a*b): float64(a*b) + c, Horner steps
//     p = float64(p*x) + c, sums of products float64(a*b) + float64(c*d),
//     and the same when the product was computed in an earlier statement.
//  3. Draw normal and exponential variates from the agent's random source
//     (agent.Context.Rand): its NormFloat64 and ExpFloat64 are these
//     functions over its words. From any other source of uint64 words call
//     NormFloat64 and ExpFloat64 directly, never math/rand's methods of
//     the same names. Each documents exactly which words it consumes.
//  4. Keep NaNs out of messages and state, or replace them with one fixed
//     NaN: every NaN pmath returns is the canonical quiet NaN
//     0x7ff8000000000000 (the one Lockstep's WASM rewrite uses; math.NaN()
//     is 0x7ff8000000000001), whatever the payload of a NaN argument, but
//     NaNs made by your own arithmetic are not.
//  5. Check your agent the way pmath checks itself: cross-compile its tests
//     (GOARCH=arm64 go test -c) and run them under qemu-aarch64-static
//     against results recorded on amd64, and look for fused instructions
//     (FMADDD, FMSUBD, FNMADDD, FNMSUBD) in GOARCH=arm64 go build -gcflags=-S.
//
// # How pmath guarantees it
//
// Every product that meets an addition is written float64(...), and
// TestNoFusedMultiplyAdd compiles the package for arm64, riscv64, ppc64le,
// s390x, loong64 and amd64 with GOAMD64=v3 and fails on any fused
// instruction in the assembly. No assembly and no math function other than
// the exact ones above are used. Tables and constants (tables.go) are
// generated from math/big and TestTables checks them. TestGolden compares
// every function bit for bit with testdata/golden.txt (about 200 inputs per
// function, and the first 100 variates from a fixed PCG seed); it passes on
// amd64 and, cross-compiled, under qemu-aarch64-static and
// qemu-riscv64-static. A copy of the package with the float64(...) guards
// removed still passes on amd64 but fails about 700 golden lines on arm64
// and riscv64.
//
// Results are part of what a recorded run replays: a change to pmath that
// changes any result bit changes digests, and shows up in golden.txt.
//
// # Accuracy
//
// Each function computes its result as a double-double (about 106 bits)
// good to at least 61 bits (exp), 66 bits (sin, cos, tan, atan, atan2),
// 70 bits (log) before one final rounding, with arguments reduced exactly
// (Payne-Hanek with 1408 bits of 2/pi for large trigonometric arguments).
// Every function is therefore within 0.51 ulp of the exact result — not
// always correctly rounded, but close (Pow: the error of y*ln x adds at
// most 0.006 ulp). Measured against a math/big reference on linux/amd64
// (TestAccuracy: 2^21 random and edge inputs per function, of which 4,000
// per function are checked against math/big, including the inputs where
// pmath and math differ most), the largest error of any function is 0.501
// ulp; a run with 2^22 inputs and 40,000 checks per function gave 0.5010
// (Pow), 0.5009 (Exp, Sinh, Cosh) and at most 0.5002 for the others.
//
// Package math on linux/amd64, measured the same way, is off by up to:
// Exp, Sinh, Cosh +Inf (overflow for x in (709.43, 709.78)); Log, Log10
// 3e14 ulp (subnormal x); Log2 3e14 ulp (x near 1); Pow 5e15 ulp; Sin, Cos,
// Tan 2e8 ulp (x near a multiple of pi/2); Acos 2.5e7 ulp and Asin 1,025
// ulp (x near ±1); Atan2 returns +Pi for -Pi when y/x underflows; Hypot 1.9
// ulp; Atan 1.0 ulp; Expm1, Log1p, Cbrt, Tanh below 0.75 ulp.
//
// # Speed
//
// On amd64, pmath takes from half (Expm1) to about 5 times (Asin) as long
// as math; Exp and Pow are about as fast, Log, Sin and Cos about twice as
// slow (see bench_test.go). The double-double arithmetic that buys the
// accuracy costs time, and math uses assembly there. NormFloat64 draws two
// words and costs a Log, a Sqrt and a cosine (about 15 times
// rand.NormFloat64's ziggurat); ExpFloat64 draws one word and costs a Log.
package pmath
