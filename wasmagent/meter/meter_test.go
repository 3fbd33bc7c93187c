package meter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// testFunc is one exported function of a test module.
type testFunc struct {
	name            string
	params, results string // value type bytes
	locals          string
	code            [][]byte // ends with end
}

// buildModule assembles funcs (one type each, function i exported under its
// name) with one page of memory.
func buildModule(funcs []testFunc) []byte {
	var types, fns, exports, bodies [][]byte
	for i, f := range funcs {
		types = append(types, functype(f.params, f.results))
		fns = append(fns, u32(uint32(i)))
		exports = append(exports, export(f.name, 0, uint32(i)))
		bodies = append(bodies, fbody(f.locals, f.code...))
	}
	return wasmModule(
		sec(secType, vec(types...)),
		sec(secFunction, vec(fns...)),
		sec(secMemory, vec(op(0, 1))),
		sec(secExport, vec(exports...)),
		sec(secCode, vec(bodies...)),
	)
}

func index(funcs []testFunc, name string) uint32 {
	for i, f := range funcs {
		if f.name == name {
			return uint32(i)
		}
	}
	panic("no function " + name)
}

// Opcodes the test programs use.
var (
	i32Add  = op(0x6a)
	i32Sub  = op(0x6b)
	i32Mul  = op(0x6c)
	i32LtS  = op(0x48)
	i32LtU  = op(0x49)
	nop     = op(0x01)
	memGrow = op(0x40, 0)
)

// programs have a fuel cost that can be counted by hand; cost gives it for
// an argument.
var programs = func() []testFunc {
	fs := []testFunc{
		{name: "straight", results: i32, code: [][]byte{i32c(1), i32c(2), i32Add, end}},
		{name: "count", params: i32, results: i32, locals: i32, code: [][]byte{
			loop(void), lget(1), i32c(1), i32Add, ltee(1), lget(0), i32LtU, brIf(0), end,
			lget(1), end}},
		{name: "branch", params: i32, results: i32, code: [][]byte{
			lget(0), ifb(0x7f), i32c(10), elseOp, i32c(20), i32c(1), i32Add, end, end}},
		{name: "double", params: i32, results: i32, code: [][]byte{lget(0), i32c(2), i32Mul, end}},
		{name: "caller", results: i32, code: [][]byte{i32c(5), call(3), i32c(1), i32Add, end}},
		{name: "blockbr", params: i32, results: i32, code: [][]byte{
			block(void), lget(0), brIf(0), i32c(1), drop, end, i32c(7), end}},
		{name: "ret", params: i32, results: i32, code: [][]byte{
			lget(0), ifb(void), i32c(1), ret, end, i32c(2), i32c(3), i32Add, end}},
		{name: "brtable", params: i32, results: i32, code: [][]byte{
			block(void), block(void), block(void), lget(0), op(0x0e), vec(u32(0), u32(1)), u32(2), end,
			i32c(10), ret, end,
			i32c(20), i32c(1), i32Add, ret, end,
			i32c(30), nop, nop, i32c(2), i32Add, end}},
		{name: "plainblock", results: i32, code: [][]byte{block(void), i32c(1), drop, end, i32c(2), end}},
		{name: "grow", params: i32, results: i32, code: [][]byte{lget(0), memGrow, end}},
		{name: "fill", params: i32, code: [][]byte{i32c(0), i32c(0), lget(0), fc(fcMemoryFill), op(0), end}},
		{name: "copy", params: i32, code: [][]byte{i32c(0), i32c(8), lget(0), fc(fcMemoryCopy), op(0, 0), end}},
		{name: "fib", params: i32, results: i32, code: [][]byte{
			lget(0), i32c(2), i32LtS, ifb(0x7f), lget(0), elseOp,
			lget(0), i32c(1), i32Sub, call(12), lget(0), i32c(2), i32Sub, call(12), i32Add, end, end}},
		{name: "spin", code: [][]byte{loop(void), br(0), end, end}},
	}
	if index(fs, "double") != 3 || index(fs, "fib") != 12 {
		panic("programs: function indices moved")
	}
	return fs
}()

// args is arg if fn takes a parameter.
func args(fn string, arg uint64) []uint64 {
	if programs[index(programs, fn)].params == "" {
		return nil
	}
	return []uint64{arg}
}

// fibCost is the fuel fib(n) uses: 4 for the test and the if, then 2 + 1 on
// the base case, or 4 + 4 + 2 + 1 around the two calls.
func fibCost(n int) int64 {
	if n < 2 {
		return 7
	}
	return 15 + fibCost(n-1) + fibCost(n-2)
}

func TestFuelExactCount(t *testing.T) {
	bin := mustRewrite(t, buildModule(programs), Options{Fuel: true})
	cases := []struct {
		fn   string
		arg  uint64
		cost int64
	}{
		{"straight", 0, 4},          // i32.const i32.const i32.add end
		{"count", 10, 7*10 + 4},     // loop | 7 per iteration | end local.get end
		{"count", 1000, 7*1000 + 4}, //
		{"branch", 1, 2 + 2 + 1},    // local.get if | i32.const else | end
		{"branch", 0, 2 + 4 + 1},    // local.get if | i32.const i32.const i32.add end | end
		{"caller", 0, 2 + 4 + 3},    // i32.const call | double: 4 | i32.const i32.add end
		{"blockbr", 1, 3 + 2},       // block local.get br_if | i32.const end
		{"blockbr", 0, 3 + 3 + 2},   // … | i32.const drop end | i32.const end
		{"ret", 1, 2 + 2},           // local.get if | i32.const return
		{"ret", 0, 2 + 4},           // local.get if | i32.const i32.const i32.add end
		{"brtable", 0, 5 + 2},       // block×3 local.get br_table | i32.const return
		{"brtable", 1, 5 + 4},       // … | i32.const i32.const i32.add return
		{"brtable", 7, 5 + 6},       // … | i32.const nop nop i32.const i32.add end
		{"plainblock", 0, 6},        // an untargeted block is not a boundary
		{"grow", 0, 3},              // local.get memory.grow end
		{"grow", 1, 3 + CostMemoryGrowPage},
		{"grow", 3, 3 + 3*CostMemoryGrowPage},
		{"fill", 0, 5},
		{"fill", 7, 5}, // rounded down
		{"fill", 8, 5 + 1},
		{"fill", 4096, 5 + 4096/BulkBytesPerFuel},
		{"copy", 4096, 5 + 4096/BulkBytesPerFuel},
		{"fib", 0, fibCost(0)},
		{"fib", 10, fibCost(10)},
	}
	for _, e := range engines() {
		for _, c := range cases {
			in := instantiate(t, e, bin) // fresh: grow changes the memory
			const fuel = int64(1) << 40
			_, err, left := in.metered(fuel, c.fn, args(c.fn, c.arg)...)
			if err != nil {
				t.Fatalf("%s: %s(%d): %v", e.name, c.fn, c.arg, err)
			}
			if got := fuel - left; got != c.cost {
				t.Errorf("%s: %s(%d) used %d fuel, want %d", e.name, c.fn, c.arg, got, c.cost)
			}
		}
	}
}

func TestFuelExhaustion(t *testing.T) {
	bin := mustRewrite(t, buildModule(programs), Options{Fuel: true})
	var first []int64
	for _, e := range engines() {
		for run := 0; run < 3; run++ {
			in := instantiate(t, e, bin)
			var lefts []int64
			for _, c := range []struct {
				fn   string
				arg  uint64
				fuel int64
			}{
				{"spin", 0, 1000}, {"spin", 0, 0}, {"count", 1 << 30, 12345},
				{"fib", 25, 99999}, {"grow", 2, 2 * CostMemoryGrowPage}, {"fill", 65536, 100},
			} {
				_, err, left := in.metered(c.fuel, c.fn, args(c.fn, c.arg)...)
				if !exhausted(err, left) {
					t.Fatalf("%s: %s(%d) with %d fuel: err %v, %d left; want a trap with fuel < 0",
						e.name, c.fn, c.arg, c.fuel, err, left)
				}
				lefts = append(lefts, left)
			}
			if lefts[0] != -1 { // 1 for the loop, then 1 per iteration
				t.Errorf("%s: spin left %d fuel, want -1", e.name, lefts[0])
			}
			if first == nil {
				first = lefts
			} else if fmt.Sprint(lefts) != fmt.Sprint(first) {
				t.Errorf("%s run %d: fuel left %v, first run %v", e.name, run, lefts, first)
			}
			// The instance stays usable after an exhaustion.
			if res, err, _ := in.metered(100, "straight"); err != nil || res[0] != 3 {
				t.Errorf("%s: after exhaustion: %v %v", e.name, res, err)
			}
		}
	}
	if first[4] != 2*CostMemoryGrowPage-3-2*CostMemoryGrowPage {
		// the static segment (local.get memory.grow end) is charged first
		t.Errorf("grow: left %d", first[4])
	}
}

// TestResultsUnchanged runs every program on the original module and on its
// rewrites: the results must be identical.
func TestResultsUnchanged(t *testing.T) {
	orig := buildModule(programs)
	for _, opts := range []Options{{Fuel: true}, {CanonicalizeNaN: true}, fuelAndNaN,
		{MaxCallDepth: DefaultMaxCallDepth}, {Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth}} {
		rew := mustRewrite(t, orig, opts)
		for _, e := range engines() {
			for _, f := range programs {
				if f.name == "spin" {
					continue
				}
				for _, arg := range []uint64{0, 1, 2, 3, 7, 20} {
					a, b := instantiate(t, e, orig), instantiate(t, e, rew)
					args := []uint64{arg}
					if f.params == "" {
						args = nil
					}
					want, werr := a.call(f.name, args...)
					var got []uint64
					var gerr error
					if opts.Fuel {
						got, gerr, _ = b.metered(1<<50, f.name, args...)
					} else {
						got, gerr = b.call(f.name, args...)
					}
					if fmt.Sprint(want, werr) != fmt.Sprint(got, gerr) {
						t.Errorf("%+v %s: %s(%d) = %v %v, original %v %v", opts, e.name, f.name, arg, got, gerr, want, werr)
					}
				}
			}
		}
	}
}

// TestFuelIndependentOfNaN: canonicalisation is free.
func TestFuelIndependentOfNaN(t *testing.T) {
	a := instantiate(t, engines()[0], mustRewrite(t, buildModule(nanFuncs), Options{Fuel: true}))
	b := instantiate(t, engines()[0], mustRewrite(t, buildModule(nanFuncs), fuelAndNaN))
	for _, f := range nanFuncs {
		args := make([]uint64, len(f.params))
		_, _, x := a.metered(1000, f.name, args...)
		_, _, y := b.metered(1000, f.name, args...)
		if x != y {
			t.Errorf("%s: %d fuel left with NaN canonicalisation, %d without", f.name, y, x)
		}
	}
}

var (
	f64Div = op(0xa3)
	v128   = "\x7b"
)

var nanFuncs = []testFunc{
	{name: "f64div", params: f64 + f64, results: f64, code: [][]byte{lget(0), lget(1), f64Div, end}},
	{name: "f32div", params: f32 + f32, results: f32, code: [][]byte{lget(0), lget(1), op(0x95), end}},
	{name: "f64sqrt", params: f64, results: f64, code: [][]byte{lget(0), op(0x9f), end}},
	{name: "f32sqrt", params: f32, results: f32, code: [][]byte{lget(0), op(0x91), end}},
	{name: "f64add", params: f64 + f64, results: f64, code: [][]byte{lget(0), lget(1), op(0xa0), end}},
	{name: "f64min", params: f64 + f64, results: f64, code: [][]byte{lget(0), lget(1), op(0xa4), end}},
	{name: "f64nearest", params: f64, results: f64, code: [][]byte{lget(0), op(0x9e), end}},
	{name: "f64neg", params: f64, results: f64, code: [][]byte{lget(0), op(0x9a), end}},
	{name: "f64abs", params: f64, results: f64, code: [][]byte{lget(0), op(0x99), end}},
	{name: "f64copysign", params: f64 + f64, results: f64, code: [][]byte{lget(0), lget(1), op(0xa6), end}},
	{name: "promote", params: f32, results: f64, code: [][]byte{lget(0), op(0xbb), end}},
	{name: "demote", params: f64, results: f32, code: [][]byte{lget(0), op(0xb6), end}},
	{name: "reinterpret", params: i64, results: f64, code: [][]byte{lget(0), op(0xbf), end}},
	// f64x2.splat a; f64x2.replace_lane 1 b; f64x2.sqrt; both lanes as i64
	{name: "f64x2sqrt", params: f64 + f64, results: i64 + i64, locals: v128, code: [][]byte{
		lget(0), simd(0x14), lget(1), lane(0x22, 1), simd(0xef), ltee(2),
		lane(0x1d, 0), lget(2), lane(0x1d, 1), end}},
	// f32x4.splat a / f32x4.splat b; lanes 0 and 3 as i32
	{name: "f32x4div", params: f32 + f32, results: i32 + i32, locals: v128, code: [][]byte{
		lget(0), simd(0x13), lget(1), simd(0x13), simd(0xe7), ltee(2),
		lane(0x1b, 0), lget(2), lane(0x1b, 3), end}},
	{name: "f64x2neg", params: f64, results: i64, code: [][]byte{lget(0), simd(0x14), simd(0xed), lane(0x1d, 0), end}},
	// A result consumed at once by a canonicalised operation is canonicalised once, by it.
	{name: "divadd", params: f64 + f64 + f64, results: f64, code: [][]byte{lget(2), lget(0), lget(1), f64Div, op(0xa0), end}},
	{name: "divpromote", params: f32 + f32, results: f64, code: [][]byte{lget(0), lget(1), op(0x95), op(0xbb), end}},
	// … but not across lane shapes: f64x2.add(0, f32x4.div(a, b)), lane 0 as i64.
	{name: "shapes", params: f32 + f32, results: i64, code: [][]byte{
		cat(simd(fdV128Const), make([]byte, 16)), lget(0), simd(0x13), lget(1), simd(0x13), simd(0xe7), simd(0xf0),
		lane(0x1d, 0), end}},
}

func TestCanonicalizeNaN(t *testing.T) {
	const (
		canon64 = 0x7ff8000000000000
		canon32 = 0x7fc00000
	)
	b64 := math.Float64bits
	x, y := 0.1, 0.2
	b32 := func(f float32) uint64 { return uint64(math.Float32bits(f)) }
	cases := []struct {
		fn   string
		args []uint64
		want []uint64
	}{
		{"f64div", []uint64{0, 0}, []uint64{canon64}},
		{"f64div", []uint64{b64(1), b64(3)}, []uint64{b64(1.0 / 3)}},
		{"f64div", []uint64{b64(-1), 0}, []uint64{b64(math.Inf(-1))}},
		{"f32div", []uint64{0, 0}, []uint64{canon32}},
		{"f32div", []uint64{b32(1), b32(3)}, []uint64{b32(float32(1) / 3)}},
		{"f64sqrt", []uint64{b64(-1)}, []uint64{canon64}},
		{"f64sqrt", []uint64{b64(2)}, []uint64{b64(math.Sqrt2)}},
		{"f32sqrt", []uint64{b32(-1)}, []uint64{canon32}},
		{"f64add", []uint64{0x7ff0000000000001, b64(1)}, []uint64{canon64}}, // signalling NaN in
		{"f64add", []uint64{0xfff8000000000000, b64(1)}, []uint64{canon64}}, // negative NaN in
		{"f64add", []uint64{b64(math.Inf(1)), b64(math.Inf(-1))}, []uint64{canon64}},
		{"f64add", []uint64{b64(x), b64(y)}, []uint64{b64(x + y)}},
		{"f64min", []uint64{0x7ff4000000000000, b64(1)}, []uint64{canon64}},
		{"f64min", []uint64{b64(math.Copysign(0, -1)), 0}, []uint64{b64(math.Copysign(0, -1))}},
		{"f64nearest", []uint64{0xfff4000000000001}, []uint64{canon64}},
		{"f64nearest", []uint64{b64(2.5)}, []uint64{b64(2)}},
		{"promote", []uint64{0x7fa00001}, []uint64{canon64}},
		{"promote", []uint64{b32(1.5)}, []uint64{b64(1.5)}},
		{"demote", []uint64{0x7ff0000000000001}, []uint64{canon32}},
		{"demote", []uint64{b64(0.5)}, []uint64{b32(0.5)}},
		// Bit operations keep the NaN's bits, as the spec requires.
		{"f64neg", []uint64{canon64}, []uint64{0xfff8000000000000}},
		{"f64neg", []uint64{0x7ff4000000000001}, []uint64{0xfff4000000000001}},
		{"f64abs", []uint64{0xfff4000000000001}, []uint64{0x7ff4000000000001}},
		{"f64copysign", []uint64{0x7ff4000000000001, b64(-1)}, []uint64{0xfff4000000000001}},
		{"reinterpret", []uint64{0xfff4000000000001}, []uint64{0xfff4000000000001}},
		// Vectors, lane by lane.
		{"f64x2sqrt", []uint64{b64(-1), b64(4)}, []uint64{canon64, b64(2)}},
		{"f64x2sqrt", []uint64{b64(9), 0x7ff0000000000001}, []uint64{b64(3), canon64}},
		{"f32x4div", []uint64{0, 0}, []uint64{canon32, canon32}},
		{"f32x4div", []uint64{b32(3), b32(2)}, []uint64{b32(1.5), b32(1.5)}},
		{"f64x2neg", []uint64{canon64}, []uint64{0xfff8000000000000}},
		{"divadd", []uint64{0, 0, b64(1)}, []uint64{canon64}},
		{"divadd", []uint64{b64(1), b64(4), b64(1)}, []uint64{b64(1.25)}},
		{"divpromote", []uint64{0, 0}, []uint64{canon64}},
		{"shapes", []uint64{0, 0}, []uint64{0x7fc000007fc00000}},
		{"shapes", []uint64{b32(3), b32(2)}, []uint64{0x3fc000003fc00000}},
	}
	orig := buildModule(nanFuncs)
	for _, opts := range []Options{{CanonicalizeNaN: true}, fuelAndNaN} {
		bin := mustRewrite(t, orig, opts)
		for _, e := range engines() {
			in := instantiate(t, e, bin)
			raw := instantiate(t, e, orig)
			for _, c := range cases {
				var got []uint64
				var err error
				if opts.Fuel {
					got, err, _ = in.metered(1000, c.fn, c.args...)
				} else {
					got, err = in.call(c.fn, c.args...)
				}
				if err != nil {
					t.Fatalf("%s: %s: %v", e.name, c.fn, err)
				}
				f := nanFuncs[index(nanFuncs, c.fn)]
				for i := range got {
					if f.results[i] == i32[0] || f.results[i] == f32[0] {
						got[i] = uint64(uint32(got[i])) // wazero may leave garbage above 32 bits
					}
				}
				if fmt.Sprintf("%#x", got) != fmt.Sprintf("%#x", c.want) {
					r, _ := raw.call(c.fn, c.args...)
					t.Errorf("%+v %s: %s(%#x) = %#x, want %#x (unrewritten: %#x)", opts, e.name, c.fn, c.args, got, c.want, r)
				}
			}
		}
	}
}

// sections splits a module into its sections (id byte, size, payload).
func sections(t testing.TB, bin []byte) [][]byte {
	t.Helper()
	var out [][]byte
	r := newReader(bin, 0)
	r.off = 8
	for !r.done() {
		start := r.off
		r.byte()
		r.bytes(r.u32())
		out = append(out, bin[start:r.off])
	}
	if r.err != nil {
		t.Fatalf("sections: %v", r.err)
	}
	return out
}

// sectionsModule has every kind of section but start, custom sections in
// four places, an imported global and a data count section used by
// memory.init and data.drop.
func sectionsModule() (env, main []byte) {
	env = wasmModule(
		sec(secGlobal, vec(cat(op(0x7f, 0), i32c(35), end))),
		sec(secExport, vec(export("g", 3, 0))),
	)
	main = wasmModule(
		custom("first", []byte("leading custom section")),
		sec(secType, vec(functype("", i32), functype(i32, i32))),
		custom("after-type", nil),
		sec(secImport, vec(cat(str("env"), str("g"), op(3, 0x7f, 0)))),
		sec(secFunction, vec(u32(0), u32(1), u32(0))),
		sec(secTable, vec(op(0x70, 0, 1))),
		sec(secMemory, vec(op(0, 1))),
		sec(secGlobal, vec(cat(op(0x7f, 1), i32c(7), end))),
		sec(secExport, vec(export("init", 0, 0), export("indirect", 0, 1), export("memory", 2, 0), export("g", 3, 1))),
		sec(secElement, vec(cat(u32(0), i32c(0), end, vec(u32(2))))),
		custom("before-datacount", []byte{1, 2, 3}),
		sec(secDataCount, u32(1)),
		sec(secCode, vec(
			// memory.init 0 at 16 ("hello"); data.drop 0; i32.load8_u 16+1 + imported g + defined g
			fbody("", i32c(16), i32c(0), i32c(5), fc(8), op(0, 0), fc(9), op(0),
				i32c(16), op(0x2d, 0, 1), op(0x23, 0), i32Add, op(0x23, 1), i32Add, end),
			// call_indirect through the table to function 2
			fbody("", lget(0), i32c(0), op(0x11, 0, 0), i32Add, end),
			fbody("", i32c(100), end),
		)),
		sec(secData, vec(cat(u32(1), str("hello")))),
		custom("last", []byte("trailing")),
	)
	return env, main
}

func TestSectionsKept(t *testing.T) {
	env, orig := sectionsModule()
	for _, opts := range []Options{{}, {CanonicalizeNaN: true}, {Fuel: true}, fuelAndNaN} {
		bin := mustRewrite(t, orig, opts)
		a, b := sections(t, orig), sections(t, bin)
		if len(a) != len(b) {
			t.Fatalf("%+v: %d sections, want %d", opts, len(b), len(a))
		}
		for i := range a {
			id := a[i][0]
			if b[i][0] != id {
				t.Fatalf("%+v: section %d has id %d, want %d", opts, i, b[i][0], id)
			}
			rewritten := opts.Fuel && (id == secCode || id == secGlobal || id == secExport)
			if !rewritten && !bytes.Equal(a[i], b[i]) {
				t.Errorf("%+v: section %d (id %d) changed:\n%x\n%x", opts, i, id, a[i], b[i])
			}
		}
		if reflect.DeepEqual(opts, Options{}) && (!bytes.Equal(bin, orig) || &bin[0] == &orig[0]) {
			t.Errorf("zero Options: want an identical copy")
		}
		for _, e := range engines() {
			ctx := t.Context()
			_, mod := withEnv(t, e, env, bin, opts)
			if opts.Fuel {
				g := mod.ExportedGlobal(FuelExport)
				if g == nil || g.Get() != 0 {
					t.Fatalf("%+v %s: fuel global %v", opts, e.name, g)
				}
				g.(interface{ Set(uint64) }).Set(1000)
			}
			res, err := mod.ExportedFunction("init").Call(ctx)
			if err != nil || uint32(res[0]) != 'e'+35+7 {
				t.Errorf("%+v %s: init() = %v %v, want %d", opts, e.name, res, err, 'e'+35+7)
			}
			res, err = mod.ExportedFunction("indirect").Call(ctx, 1)
			if err != nil || uint32(res[0]) != 101 {
				t.Errorf("%+v %s: indirect(1) = %v %v, want 101", opts, e.name, res, err)
			}
			if opts.Fuel {
				// init: 12 + 5/8; indirect: 3, then 2 in the callee, then 2
				if left := mod.ExportedGlobal(FuelExport).Get(); left != 1000-12-7 {
					t.Errorf("%+v %s: %d fuel left, want %d", opts, e.name, left, 1000-12-7)
				}
			}
		}
	}
}

// TestSectionsAdded: fuel on a module without global and export sections
// adds both, in their places, and leaves the rest alone.
func TestSectionsAdded(t *testing.T) {
	orig := wasmModule(
		sec(secType, vec(functype("", ""))),
		sec(secFunction, vec(u32(0))),
		custom("middle", nil),
		sec(secStart, u32(0)),
		sec(secCode, vec(fbody("", end))),
		custom("end", []byte{0}), // wazero rejects an empty custom section at the very end
	)
	bin := mustRewrite(t, orig, Options{Fuel: true})
	var ids []byte
	for _, s := range sections(t, bin) {
		ids = append(ids, s[0])
	}
	if want := []byte{secType, secFunction, secCustom, secGlobal, secExport, secStart, secCode, secCustom}; !bytes.Equal(ids, want) {
		t.Errorf("section ids %v, want %v", ids, want)
	}
	if err := compiles(bin); err != nil {
		t.Fatal(err)
	}
	// With no sections at all after the global one.
	orig = wasmModule(sec(secType, vec(functype("", ""))))
	bin = mustRewrite(t, orig, Options{Fuel: true})
	if err := compiles(bin); err != nil {
		t.Fatal(err)
	}
	if n := len(sections(t, bin)); n != 3 {
		t.Errorf("%d sections, want 3", n)
	}
}

func TestDeterministicOutput(t *testing.T) {
	_, m := sectionsModule()
	for _, bin := range [][]byte{buildModule(programs), buildModule(nanFuncs), m} {
		for _, opts := range []Options{fuelAndNaN, {Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth}} {
			a := mustRewrite(t, bin, opts)
			b := mustRewrite(t, bytes.Clone(bin), opts)
			if !bytes.Equal(a, b) {
				t.Errorf("%+v: two rewrites of one module differ", opts)
			}
		}
	}
}

func TestAlreadyMetered(t *testing.T) {
	bin := mustRewrite(t, buildModule(programs), Options{Fuel: true})
	if _, err := Rewrite(bin, Options{Fuel: true}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), FuelExport) {
		t.Errorf("rewriting twice: %v", err)
	}
	// Canonicalising a metered module is fine.
	if _, err := Rewrite(bin, Options{CanonicalizeNaN: true}); err != nil {
		t.Error(err)
	}
}

func TestMalformed(t *testing.T) {
	_, valid := sectionsModule()
	bounds := map[int]bool{8: true}
	for _, s := range sections(t, valid) {
		n := 8
		for b := range bounds {
			n = max(n, b)
		}
		bounds[n+len(s)] = true
	}
	// Truncation anywhere but at a section boundary is an error.
	for i := 0; i < len(valid); i++ {
		_, err := Rewrite(valid[:i], fuelAndNaN)
		if bounds[i] {
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("truncated at %d: %v", i, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated at %d of %d: err %v, want ErrMalformed", i, len(valid), err)
		}
	}

	ty := sec(secType, vec(functype("", "")))
	fn := sec(secFunction, vec(u32(0)))
	code := func(b ...[]byte) []byte { return sec(secCode, vec(fbody("", b...))) }
	cases := []struct {
		name, bin, want string
	}{
		{"empty", "", "magic"},
		{"bad magic", "\x00asn\x01\x00\x00\x00", "magic"},
		{"bad version", "\x00asm\x02\x00\x00\x00", "version"},
		{"section id 14", string(wasmModule(sec(14))), "unknown section id 14"},
		{"section id 99", string(wasmModule(sec(99))), "unknown section id 99"},
		{"LEB too long", string(wasmModule(op(1, 0x80, 0x80, 0x80, 0x80, 0x80, 0))), "LEB128"},
		{"LEB overflows", string(wasmModule(op(1, 0xff, 0xff, 0xff, 0xff, 0x1f))), "LEB128"},
		{"section too long", string(wasmModule(op(1, 5, 0))), "runs past the end"},
		{"order", string(wasmModule(sec(secMemory, vec()), sec(secTable, vec()))), "out of order"},
		{"repeated", string(wasmModule(ty, ty)), "out of order or repeated"},
		{"count too big", string(wasmModule(sec(secType, u32(1000)))), "exceeds the remaining"},
		{"left over", string(wasmModule(sec(secType, vec(), op(0)))), "left over"},
		{"bad type form", string(wasmModule(sec(secType, vec(op(0x50, 0, 0))))), "type form"},
		{"bad value type", string(wasmModule(sec(secType, vec(op(0x60, 1, 0x55, 0))))), "value type 0x55"},
		{"type index", string(wasmModule(ty, sec(secFunction, vec(u32(1))))), "type index 1"},
		{"no bodies", string(wasmModule(ty, fn)), "0 function bodies for 1"},
		{"unknown opcode", string(wasmModule(ty, fn, code(op(0xff, 0), end))), "unknown or unsupported opcode 0xff"},
		{"unknown 0xfc", string(wasmModule(ty, fn, code(fc(18), end))), "unknown opcode 0xfc 18"},
		{"unknown 0xfd", string(wasmModule(ty, fn, code(simd(0x9a), end))), "unknown opcode 0xfd 154"},
		{"long SIMD opcode", string(wasmModule(ty, fn, code(op(0xfd, 0xe7, 0x00), end))), "0xfd opcode 103: unknown, or not in its shortest encoding"},
		{"SIMD opcode 3431", string(wasmModule(ty, fn, code(op(0xfd, 0xe7, 0x1a), end))), "0xfd opcode 3431"},
		{"missing end", string(wasmModule(ty, fn, code(nop))), "ends before"},
		{"block open", string(wasmModule(ty, fn, code(block(void), end))), "ends before"},
		{"after end", string(wasmModule(ty, fn, code(end, nop))), "after the function's final end"},
		{"else", string(wasmModule(ty, fn, code(block(void), elseOp, end, end))), "else without"},
		{"br depth", string(wasmModule(ty, fn, code(block(void), br(2), end, end))), "branch depth 2"},
		{"br_table depth", string(wasmModule(ty, fn, code(op(0x0e, 1, 0, 1), end))), "branch depth 1"},
		{"block type", string(wasmModule(ty, fn, code(block(0x55), end, end))), "block type"},
		{"local type", string(wasmModule(ty, fn, sec(secCode, vec(cat(u32(4), op(1, 1, 0x55, 0x0b)))))), "value type 0x55"},
		{"too many locals", string(wasmModule(ty, fn, sec(secCode, vec(cat(u32(14), op(2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b)))))), "exceed"},
		// Indices the appended locals and global would make valid, or the fuel's.
		{"local index", string(wasmModule(sec(secType, vec(functype(i32, ""))), fn, sec(secCode, vec(fbody(i64, lget(2), drop, end))))), "local index 2 out of range (2 locals)"},
		{"global index", string(wasmModule(ty, fn, code(op(0x23, 0), drop, end))), "global index 0 out of range (0 globals)"},
		{"global.set index", string(wasmModule(ty, fn, sec(secGlobal, vec(cat(op(0x7e, 1), i64c(0), end))), code(i64c(1), op(0x24, 1), end))), "global index 1 out of range"},
		{"export global", string(wasmModule(sec(secExport, vec(export("g", 3, 0))))), "global index 0 out of range"},
		{"const expr global", string(wasmModule(sec(secGlobal, vec(cat(op(0x7f, 0), op(0x23, 1), end))))), "global index 1 out of range (1 globals)"},
		{"truncated const", string(wasmModule(ty, fn, code(op(0x44, 0, 0), end))), "runs past the end"},
		{"data count", string(wasmModule(sec(secDataCount, u32(2)), sec(secData, vec()))), "declares 2"},
		{"element flags", string(wasmModule(sec(secElement, vec(op(8, 0))))), "unknown flags 8"},
		{"import kind", string(wasmModule(sec(secImport, vec(cat(str("a"), str("b"), op(5)))))), "unknown import kind"},
		{"utf8", string(wasmModule(sec(secExport, vec(cat(str("\xff"), op(0, 0)))))), "UTF-8"},
	}
	for _, c := range cases {
		for _, opts := range []Options{{}, fuelAndNaN} {
			_, err := Rewrite([]byte(c.bin), opts)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err %v, want ErrMalformed saying %q", c.name, err, c.want)
			}
		}
	}
	// Errors in a body name the function and the offset.
	_, err := Rewrite(wasmModule(ty, fn, code(nop, op(0xfe), end)), Options{})
	if want := "code section: function 0 (index 0): offset 0x18"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err %v, want it to contain %q", err, want)
	}
}

// TestEncoders checks the LEB128 encoders against the reader.
func TestEncoders(t *testing.T) {
	for _, v := range []uint32{0, 1, 63, 64, 127, 128, 16383, 16384, 1<<21 - 1, 1 << 28, math.MaxUint32} {
		r := newReader(appendU32(nil, v), 0)
		if got := r.u32(); got != v || r.err != nil || r.remaining() != 0 {
			t.Errorf("u32 %d: got %d, %v", v, got, r.err)
		}
	}
	for _, v := range []int64{0, 1, -1, 63, 64, -64, -65, 1 << 32, -(1 << 32), math.MaxInt64, math.MinInt64} {
		b := appendS64(nil, v)
		var got int64
		var shift uint
		for i, c := range b {
			got |= int64(c&0x7f) << shift
			shift += 7
			if c < 0x80 {
				if shift < 64 && c&0x40 != 0 {
					got |= -1 << shift
				}
				if i != len(b)-1 {
					t.Errorf("s64 %d: stray bytes", v)
				}
			}
		}
		if got != v {
			t.Errorf("s64 %d: decoded %d from %x", v, got, b)
		}
		if v >= -(1<<32) && v < 1<<32 {
			r := newReader(b, 0)
			if s := r.s33(); s != v || r.err != nil {
				t.Errorf("s33 %d: got %d, %v", v, s, r.err)
			}
		}
	}
	var buf [8]byte
	binary.LittleEndian.PutUint32(buf[:], 0x7fc00000)
	if !bytes.Equal(buf[:4], canonF32[:]) {
		t.Error("canonF32")
	}
	binary.LittleEndian.PutUint64(buf[:], 0x7ff8000000000000)
	if !bytes.Equal(buf[:], canonF64[:]) {
		t.Error("canonF64")
	}
}
