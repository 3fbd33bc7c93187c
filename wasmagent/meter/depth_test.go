package meter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Call depth: Options.MaxCallDepth.

var (
	i32Eqz  = op(0x45)
	unreach = op(0x00)
)

func returnCall(f uint32) []byte         { return cat(op(0x12), u32(f)) }
func callIndirect(t, tab uint32) []byte  { return cat(op(0x11), u32(t), u32(tab)) }
func returnCallInd(t, tab uint32) []byte { return cat(op(0x13), u32(t), u32(tab)) }

// The functions of depthModule, by index. Each takes n and recurses n times
// (n+1 frames), unless said otherwise.
const (
	fnRec     = iota // plain recursion: returns n
	fnInf            // () -> (): calls itself for ever
	fnEven           // mutual recursion with fnOdd: 1 if n is even
	fnOdd            //
	fnInd            // recursion through call_indirect: returns n
	fnTail           // return_call: one frame whatever n; returns 0
	fnTailInd        // return_call_indirect: one frame; returns 0
	fnDeep           // traps (unreachable) at the bottom, n+1 frames deep
	fnBrs            // leaves by br_if and br_table to the function's label: returns n
	fnMV             // (n, x) -> (x+n, x+n), leaving by br to the function's label
	fnRets           // leaves by return: returns n
	fnHost           // calls the imported host function at the bottom: returns n
	fnMix            // a br_table to an inner block or the function's label, by n's parity: returns n
	fnCount
)

var depthNames = [...]string{"rec", "inf", "even", "odd", "ind", "tail", "tailind", "deep", "brs", "mv", "rets", "host", "mix"}

// depthModule holds recursive functions that leave in every way there is.
// It imports env.host: () -> () (function 0), so fnX has index fnX+1.
func depthModule() []byte {
	const tI, tV, tMV = 0, 1, 2 // (i32) -> i32, () -> (), (i32 i32) -> (i32 i32)
	f := func(i uint32) uint32 { return i + 1 }
	dec := cat(lget(0), i32c(1), i32Sub)
	bodies := [][]byte{
		fnRec:  fbody("", lget(0), i32Eqz, ifb(0x7f), i32c(0), elseOp, dec, call(f(fnRec)), i32c(1), i32Add, end, end),
		fnInf:  fbody("", call(f(fnInf)), end),
		fnEven: fbody("", lget(0), i32Eqz, ifb(0x7f), i32c(1), elseOp, dec, call(f(fnOdd)), end, end),
		fnOdd:  fbody("", lget(0), i32Eqz, ifb(0x7f), i32c(0), elseOp, dec, call(f(fnEven)), end, end),
		fnInd: fbody("", lget(0), i32Eqz, ifb(0x7f), i32c(0), elseOp,
			dec, i32c(0), callIndirect(tI, 0), i32c(1), i32Add, end, end),
		fnTail: fbody("", lget(0), i32Eqz, ifb(void), i32c(0), ret, end, dec, returnCall(f(fnTail)), end),
		fnTailInd: fbody("", lget(0), i32Eqz, ifb(void), i32c(0), ret, end,
			dec, i32c(1), returnCallInd(tI, 0), end),
		fnDeep: fbody("", lget(0), i32Eqz, ifb(void), unreach, end, dec, call(f(fnDeep)), end),
		fnBrs: fbody("", i32c(0), lget(0), i32Eqz, brIf(0), drop,
			dec, call(f(fnBrs)), i32c(1), i32Add, lget(0), op(0x0e), vec(u32(0)), u32(0), end),
		fnMV: fbody("", lget(0), i32Eqz, ifb(void), lget(1), lget(1), br(1), end,
			dec, lget(1), i32c(1), i32Add, call(f(fnMV)), end),
		fnRets: fbody("", lget(0), i32Eqz, ifb(void), i32c(0), ret, end,
			dec, call(f(fnRets)), i32c(1), i32Add, ret, end),
		fnHost: fbody("", lget(0), i32Eqz, ifb(0x7f), call(0), i32c(0), elseOp, dec, call(f(fnHost)), i32c(1), i32Add, end, end),
		// labels in the br_table: 0 the block, 1 the if, 2 the function
		fnMix: fbody("", lget(0), i32Eqz, ifb(0x7f), i32c(0), elseOp,
			block(0x7f), dec, call(f(fnMix)), i32c(1), i32Add, lget(0), i32c(1), op(0x71), op(0x0e), vec(u32(0)), u32(2), end,
			end, end),
	}
	types := make([][]byte, fnCount)
	var exports [][]byte
	for i := range types {
		types[i] = u32(tI)
		exports = append(exports, export(depthNames[i], 0, f(uint32(i))))
	}
	types[fnInf], types[fnMV] = u32(tV), u32(tMV)
	return wasmModule(
		sec(secType, vec(functype(i32, i32), functype("", ""), functype(i32+i32, i32+i32))),
		sec(secImport, vec(cat(str("env"), str("host"), op(0), u32(tV)))),
		sec(secFunction, vec(types...)),
		sec(secTable, vec(op(0x70, 0, 2))),
		sec(secExport, vec(exports...)),
		sec(secElement, vec(cat(u32(0), i32c(0), end, vec(u32(f(fnInd)), u32(f(fnTailInd)))))),
		sec(secCode, vec(bodies...)),
	)
}

// depthInstance instantiates bin with env.host (which does nothing).
func depthInstance(t testing.TB, e engine, bin []byte) *instance {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, e.config().WithCoreFeatures(api.CoreFeaturesV2|experimental.CoreFeaturesTailCall))
	t.Cleanup(func() { rt.Close(ctx) })
	_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), nil, nil).
		Export("host").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("%s: instantiate: %v", e.name, err)
	}
	return &instance{t: t, rt: rt, mod: mod}
}

func (in *instance) depthGlobal() api.MutableGlobal {
	g, ok := in.mod.ExportedGlobal(DepthExport).(api.MutableGlobal)
	if !ok {
		in.t.Fatalf("no mutable global exported as %q", DepthExport)
	}
	if g.Type() != api.ValueTypeI32 {
		in.t.Fatalf("%s is %s, want i32", DepthExport, api.ValueTypeName(g.Type()))
	}
	return g
}

// depthOutcome is what one call did.
type depthOutcome struct {
	results []uint64
	err     error
	depth   uint32 // the depth global after the call
	fuel    int64  // fuel used; 0 without fuel
}

// outcome says what happened the way a host tells it: "ok [results]",
// "depth" (depth trap), "fuel" (fuel trap) or "trap".
func (o depthOutcome) String(limit uint32) string {
	switch {
	case o.err == nil:
		return fmt.Sprintf("ok %v depth %d", o.results, o.depth)
	case o.depth == limit+1:
		return "depth trap"
	case o.depth > limit:
		return fmt.Sprintf("trap with depth %d", o.depth)
	case o.fuel < 0:
		return "fuel trap"
	}
	return fmt.Sprintf("trap at depth %d", o.depth)
}

// depthCall resets the depth global to 0 (and sets the fuel), as a host
// does, calls fn and reads both back.
func (in *instance) depthCall(opts Options, fn string, args ...uint64) depthOutcome {
	const fuel = int64(1) << 40
	in.depthGlobal().Set(0)
	if opts.Fuel {
		in.fuelGlobal().Set(uint64(fuel))
	}
	var o depthOutcome
	o.results, o.err = in.call(fn, args...)
	for i := range o.results {
		o.results[i] = uint64(uint32(o.results[i])) // every result is an i32
	}
	o.depth = uint32(in.depthGlobal().Get())
	if opts.Fuel {
		left := int64(in.fuelGlobal().Get())
		o.fuel = fuel - left
		if left < 0 {
			o.fuel = -1
		}
	}
	return o
}

func TestCallDepth(t *testing.T) {
	const limit = 100
	type call struct {
		fn   int
		args []uint64
		want string
	}
	ok := func(r ...uint64) string { return fmt.Sprintf("ok %v depth 0", r) }
	cases := []call{
		{fnRec, []uint64{limit - 1}, ok(limit - 1)}, // exactly limit frames
		{fnRec, []uint64{limit}, "depth trap"},      // one more
		{fnRec, []uint64{5}, ok(5)},
		{fnInf, nil, "depth trap"},
		{fnEven, []uint64{limit - 1}, ok(0)},
		{fnEven, []uint64{limit - 2}, ok(1)},
		{fnEven, []uint64{limit}, "depth trap"},
		{fnOdd, []uint64{limit}, "depth trap"},
		{fnInd, []uint64{limit - 1}, ok(limit - 1)},
		{fnInd, []uint64{limit}, "depth trap"},
		{fnTail, []uint64{100 * limit}, ok(0)}, // return_call does not grow the depth
		{fnTailInd, []uint64{100 * limit}, ok(0)},
		{fnDeep, []uint64{limit - 1}, fmt.Sprintf("trap at depth %d", limit)}, // a trap at the limit leaves it there
		{fnDeep, []uint64{10}, "trap at depth 11"},
		{fnDeep, []uint64{limit}, "depth trap"},
		{fnBrs, []uint64{limit - 1}, ok(limit - 1)},
		{fnBrs, []uint64{0}, ok(0)},
		{fnBrs, []uint64{limit}, "depth trap"},
		{fnMV, []uint64{limit - 1, 7}, ok(limit-1+7, limit-1+7)},
		{fnMV, []uint64{limit, 7}, "depth trap"},
		{fnRets, []uint64{limit - 1}, ok(limit - 1)},
		{fnRets, []uint64{limit}, "depth trap"},
		{fnHost, []uint64{limit - 1}, ok(limit - 1)}, // the host function is not counted
		{fnHost, []uint64{limit}, "depth trap"},
		{fnMix, []uint64{limit - 1}, ok(limit - 1)},
		{fnMix, []uint64{limit - 2}, ok(limit - 2)},
		{fnMix, []uint64{limit}, "depth trap"},
	}
	orig := depthModule()
	for _, base := range []Options{{}, {Fuel: true}, {CanonicalizeNaN: true}, fuelAndNaN} {
		opts := base
		opts.MaxCallDepth = limit
		bin := mustRewrite(t, orig, opts)
		var plain []byte // the same rewrite without a depth limit, for the fuel
		if opts.Fuel {
			plain = mustRewrite(t, orig, base)
		}
		for _, c := range cases {
			name := depthNames[c.fn]
			var first *depthOutcome
			for _, e := range engines() {
				in := depthInstance(t, e, bin)
				o := in.depthCall(opts, name, c.args...)
				if got := o.String(limit); got != c.want {
					t.Errorf("%+v %s: %s%v: %s (%v), want %s", opts, e.name, name, c.args, got, o.err, c.want)
				}
				// The instance stays usable, and a call that resets the
				// depth starts from 0 again.
				if o := in.depthCall(opts, "rec", 3); o.String(limit) != ok(3) {
					t.Errorf("%+v %s: after %s%v: rec(3): %s", opts, e.name, name, c.args, o.String(limit))
				}
				if first == nil {
					first = &o
				} else if o.String(limit) != first.String(limit) || o.fuel != first.fuel {
					t.Errorf("%+v %s: %s%v: %s, fuel %d; %s: %s, fuel %d", opts, e.name, name, c.args,
						o.String(limit), o.fuel, engines()[0].name, first.String(limit), first.fuel)
				}
				if plain != nil && o.err == nil {
					// Fuel accounting does not change: the added code is free.
					p := depthInstance(t, e, plain)
					p.fuelGlobal().Set(1 << 40)
					if _, err := p.call(name, c.args...); err != nil {
						t.Fatal(err)
					}
					if used := int64(1<<40 - p.fuelGlobal().Get()); used != o.fuel {
						t.Errorf("%+v %s: %s%v used %d fuel, %d without the depth limit", opts, e.name, name, c.args, o.fuel, used)
					}
				}
			}
		}
	}
}

// TestCallDepthDefault: DefaultMaxCallDepth frames, plus a host function at
// the bottom, fit under wazero's interpreter's ceiling (2000 frames), and
// the depth trap comes first on both engines.
func TestCallDepthDefault(t *testing.T) {
	bin := mustRewrite(t, depthModule(), Options{Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth})
	opts := Options{Fuel: true}
	for _, e := range engines() {
		in := depthInstance(t, e, bin)
		for _, fn := range []string{"rec", "host", "ind", "brs"} {
			if o := in.depthCall(opts, fn, DefaultMaxCallDepth-1); o.err != nil || o.depth != 0 {
				t.Errorf("%s: %s(%d): %v, depth %d", e.name, fn, DefaultMaxCallDepth-1, o.err, o.depth)
			}
			if o := in.depthCall(opts, fn, DefaultMaxCallDepth); o.String(DefaultMaxCallDepth) != "depth trap" {
				t.Errorf("%s: %s(%d): %s (%v)", e.name, fn, DefaultMaxCallDepth, o.String(DefaultMaxCallDepth), o.err)
			}
		}
		if o := in.depthCall(opts, "inf"); o.String(DefaultMaxCallDepth) != "depth trap" {
			t.Errorf("%s: inf: %s (%v)", e.name, o.String(DefaultMaxCallDepth), o.err)
		}
	}
	// Without the limit, the engines stop the same recursion differently.
	plain := mustRewrite(t, depthModule(), Options{})
	for _, e := range engines() {
		in := depthInstance(t, e, plain)
		_, err := in.call("inf")
		if err == nil || !strings.Contains(err.Error(), "stack overflow") {
			t.Errorf("%s: inf without a limit: %v", e.name, err)
		}
	}
}

// startModule's start function calls rec(n) (n+1 frames under its own)
// and stores the result in the global it exports as "result".
func startModule(n int32) []byte {
	return wasmModule(
		sec(secType, vec(functype(i32, i32), functype("", ""))),
		sec(secFunction, vec(u32(0), u32(1))),
		sec(secGlobal, vec(cat(op(0x7f, 1), i32c(-1), end))),
		sec(secExport, vec(export("result", 3, 0))),
		sec(secStart, u32(1)),
		sec(secCode, vec(
			fbody("", lget(0), i32Eqz, ifb(0x7f), i32c(0), elseOp, lget(0), i32c(1), i32Sub, call(0), i32c(1), i32Add, end, end),
			fbody("", i32c(n), call(0), op(0x24, 0), end),
		)),
	)
}

func TestCallDepthStart(t *testing.T) {
	const limit = 50
	for _, opts := range []Options{
		{MaxCallDepth: limit},
		{Fuel: true, CanonicalizeNaN: true, StartFuel: 1 << 40, MaxCallDepth: limit},
	} {
		for _, e := range engines() {
			ctx := context.Background()
			rt := newRuntime(t, e)
			// The start function is depth 1: rec(limit-2) reaches the limit.
			mod, err := rt.InstantiateWithConfig(ctx, mustRewrite(t, startModule(limit-2), opts), wazero.NewModuleConfig().WithName("a"))
			if err != nil {
				t.Fatalf("%+v %s: %v", opts, e.name, err)
			}
			if r, d := mod.ExportedGlobal("result").Get(), mod.ExportedGlobal(DepthExport).Get(); uint32(r) != limit-2 || d != 0 {
				t.Errorf("%+v %s: result %d, depth %d", opts, e.name, r, d)
			}
			_, err = rt.InstantiateWithConfig(ctx, mustRewrite(t, startModule(limit-1), opts), wazero.NewModuleConfig().WithName("b"))
			if err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Errorf("%+v %s: start function one frame too deep: %v, want a trap", opts, e.name, err)
			}
		}
	}
}

// TestExportStart: with ExportStart the start function does not run at
// instantiation; it is exported as StartExport, and calling it runs it
// with the fuel and depth the caller set. A module already exporting that
// name is refused; one without a start function is unchanged by it.
func TestExportStart(t *testing.T) {
	const limit = 50
	opts := Options{Fuel: true, CanonicalizeNaN: true, MaxCallDepth: limit, ExportStart: true}
	for _, e := range engines() {
		ctx := context.Background()
		rt := newRuntime(t, e)
		mod, err := rt.InstantiateWithConfig(ctx, mustRewrite(t, startModule(limit-2), opts), wazero.NewModuleConfig().WithName("a"))
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if r := mod.ExportedGlobal("result").Get(); int32(r) != -1 {
			t.Fatalf("%s: the start function ran at instantiation (result %d)", e.name, int32(r))
		}
		mod.ExportedGlobal(FuelExport).(api.MutableGlobal).Set(1 << 20)
		if _, err := mod.ExportedFunction(StartExport).Call(ctx); err != nil {
			t.Fatalf("%s: %s: %v", e.name, StartExport, err)
		}
		if r, fuel := mod.ExportedGlobal("result").Get(), mod.ExportedGlobal(FuelExport).Get(); uint32(r) != limit-2 || fuel >= 1<<20 {
			t.Errorf("%s: result %d, fuel left %d", e.name, r, fuel)
		}
		deep, err := rt.InstantiateWithConfig(ctx, mustRewrite(t, startModule(limit-1), opts), wazero.NewModuleConfig().WithName("b"))
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		deep.ExportedGlobal(FuelExport).(api.MutableGlobal).Set(1 << 20)
		if _, err := deep.ExportedFunction(StartExport).Call(ctx); err == nil || deep.ExportedGlobal(DepthExport).Get() != limit+1 {
			t.Errorf("%s: start function one frame too deep: %v, depth %d", e.name, err, deep.ExportedGlobal(DepthExport).Get())
		}
	}
	withName := wasmModule(
		sec(secType, vec(functype("", ""))),
		sec(secFunction, vec(u32(0))),
		sec(secExport, vec(export(StartExport, 0, 0))),
		sec(secStart, u32(0)),
		sec(secCode, vec(fbody("", end))),
	)
	if _, err := Rewrite(withName, Options{ExportStart: true}); err == nil || !strings.Contains(err.Error(), "already exports") {
		t.Errorf("a module exporting %q: %v", StartExport, err)
	}
	// Without a start section too: the host would call the export as the
	// module's start function.
	noStart := wasmModule(
		sec(secType, vec(functype("", ""))),
		sec(secFunction, vec(u32(0))),
		sec(secExport, vec(export(StartExport, 0, 0))),
		sec(secCode, vec(fbody("", end))),
	)
	if _, err := Rewrite(noStart, Options{ExportStart: true}); err == nil || !strings.Contains(err.Error(), "already exports") {
		t.Errorf("a module without a start section exporting %q: %v", StartExport, err)
	}
	plain := wasmModule(sec(secType, vec(functype("", ""))), sec(secFunction, vec(u32(0))), sec(secCode, vec(fbody("", end))))
	if out := mustRewrite(t, plain, Options{ExportStart: true}); !bytes.Equal(out, plain) {
		t.Errorf("ExportStart changed a module without a start function")
	}
}

// TestCallDepthGlobals: the depth global comes after the existing globals
// and the fuel global, so nothing shifts; it is exported; rewriting twice is
// refused; the output is a function of the module and the options.
func TestCallDepthGlobals(t *testing.T) {
	env, orig := sectionsModule()
	for _, opts := range []Options{{MaxCallDepth: 7}, {Fuel: true, MaxCallDepth: 7}, {Fuel: true, CanonicalizeNaN: true, MaxCallDepth: 7}} {
		bin := mustRewrite(t, orig, opts)
		if !bytes.Equal(bin, mustRewrite(t, bytes.Clone(orig), opts)) {
			t.Errorf("%+v: two rewrites differ", opts)
		}
		for _, e := range engines() {
			rt, mod := withEnv(t, e, env, bin, opts)
			in := &instance{t: t, rt: rt, mod: mod}
			if opts.Fuel {
				in.fuelGlobal().Set(1000)
			}
			if g := mod.ExportedGlobal("g").Get(); g != 7 {
				t.Errorf("%+v %s: g = %d, want 7 (an index shifted?)", opts, e.name, g)
			}
			for _, c := range []struct {
				fn   string
				args []uint64
				want uint32
			}{{"init", nil, 'e' + 35 + 7}, {"indirect", []uint64{1}, 101}} {
				o := in.depthCall(opts, c.fn, c.args...)
				if o.err != nil || uint32(o.results[0]) != c.want || o.depth != 0 {
					t.Errorf("%+v %s: %s: %v %v depth %d", opts, e.name, c.fn, o.results, o.err, o.depth)
				}
			}
		}
		if _, err := Rewrite(bin, Options{MaxCallDepth: 3}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), DepthExport) {
			t.Errorf("%+v: rewriting twice: %v", opts, err)
		}
	}
	if _, err := Rewrite(orig, Options{MaxCallDepth: MaxCallDepthLimit + 1}); err == nil {
		t.Error("MaxCallDepth over MaxCallDepthLimit accepted")
	}
	if _, err := Rewrite(orig, Options{MaxCallDepth: MaxCallDepthLimit}); err != nil {
		t.Error(err)
	}
}

// heavyModule has rec (function 1), like depthModule's, with k more i64
// locals: its frame holds 1 + k + 2 values. light (function 2) is rec
// without them, calling rec(0) at the bottom.
func heavyModule(k uint32) []byte {
	locals := vec(cat(u32(k), op(0x7e)))
	rec := cat(locals, lget(0), i32Eqz, ifb(0x7f), i32c(0), elseOp, lget(0), i32c(1), i32Sub, call(1), i32c(1), i32Add, end, end)
	light := fbody("", lget(0), i32Eqz, ifb(0x7f), i32c(0), call(1), elseOp, lget(0), i32c(1), i32Sub, call(2), i32c(1), i32Add, end, end)
	return wasmModule(
		sec(secType, vec(functype("", ""), functype(i32, i32))),
		sec(secImport, vec(cat(str("env"), str("host"), op(0), u32(0)))),
		sec(secFunction, vec(u32(1), u32(1))),
		sec(secExport, vec(export("rec", 0, 1), export("light", 0, 2))),
		sec(secCode, vec(cat(u32(uint32(len(rec))), rec), light)),
	)
}

// TestFrameWeight: a frame of v values counts as 1 + v/FrameUnit calls, on
// entry and on return; a function that weighs more than MaxCallDepth is
// refused, naming it, its frame and the limit.
func TestFrameWeight(t *testing.T) {
	const limit = 100
	ok := func(r uint64) string { return fmt.Sprintf("ok [%d] depth 0", r) }
	for _, c := range []struct {
		k      uint32 // extra locals of rec
		fn     string
		arg    uint64
		want   string
		weight uint64 // rec's
	}{
		{FrameUnit - 4, "rec", limit - 1, ok(limit - 1), 1},     // 255 values: weight 1
		{FrameUnit - 3, "rec", limit/2 - 1, ok(limit/2 - 1), 2}, // 256 values: weight 2
		{FrameUnit - 3, "rec", limit / 2, "depth trap", 2},
		{3*FrameUnit + 7, "rec", limit/4 - 1, ok(limit/4 - 1), 4},
		{3*FrameUnit + 7, "rec", limit / 4, "depth trap", 4},    // would overshoot to 104: left at 101
		{3*FrameUnit + 7, "light", limit - 5, ok(limit - 5), 4}, // 96 light frames and rec(0): 100
		{3*FrameUnit + 7, "light", limit - 4, "depth trap", 4},
		{limit*FrameUnit - 4, "rec", 0, ok(0), limit}, // weighs exactly the limit
	} {
		bin := heavyModule(c.k)
		m, err := parse(bin)
		if err != nil {
			t.Fatal(err)
		}
		w := rewriter{m: m}
		w.forBodies(func(b *body, _ []byte) error {
			if b.index == 0 && b.weight() != c.weight {
				t.Errorf("k=%d: rec weighs %d, want %d", c.k, b.weight(), c.weight)
			}
			return nil
		})
		opts := Options{Fuel: true, MaxCallDepth: limit}
		out := mustRewrite(t, bin, opts)
		var first string
		for _, e := range engines() {
			in := depthInstance(t, e, out)
			o := in.depthCall(opts, c.fn, c.arg)
			if got := o.String(limit); got != c.want {
				t.Errorf("%s: k=%d %s(%d): %s (%v), want %s", e.name, c.k, c.fn, c.arg, got, o.err, c.want)
			}
			if s := fmt.Sprint(o.String(limit), o.fuel); first == "" {
				first = s
			} else if s != first {
				t.Errorf("%s: k=%d %s(%d): %s, other engine %s", e.name, c.k, c.fn, c.arg, s, first)
			}
		}
	}
	// One value more and rec alone weighs more than the limit.
	_, err := Rewrite(heavyModule(limit*FrameUnit-3), Options{MaxCallDepth: limit})
	for _, w := range []string{"function 0 (index 1)", fmt.Sprintf("holds up to %d values", limit*FrameUnit),
		fmt.Sprintf("%d parameters and locals", limit*FrameUnit-2), "operand stack up to 2 high",
		fmt.Sprintf("counts as %d calls", limit+1), "FrameUnit", fmt.Sprintf("MaxCallDepth (%d)", limit)} {
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), w) {
			t.Errorf("rec over the limit: %v, want ErrUnsupported saying %q", err, w)
		}
	}
	// Without a limit, nothing weighs anything.
	if _, err := Rewrite(heavyModule(1<<30), fuelAndNaN); err != nil {
		t.Error(err)
	}
	if _, err := Rewrite(heavyModule(1<<30), Options{MaxCallDepth: DefaultMaxCallDepth}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("2^30 locals: %v", err)
	}
}

// TestStackHeights checks the stack effects Rewrite knows (which bound a
// frame) on every valid module of the spec suites: at the end of every
// reachable block the height must be what the block type says. It logs the
// largest frame found.
func TestStackHeights(t *testing.T) {
	var modules, functions int
	var largest uint64
	for _, f := range specModules(t) {
		bin, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if compiles(bin) != nil {
			continue
		}
		m, err := parse(bin)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		w := rewriter{m: m}
		err = w.forBodies(func(b *body, _ []byte) error {
			functions++
			largest = max(largest, b.locals+b.maxStack)
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
		if w.unbalanced != 0 {
			t.Errorf("%s: %d blocks end at another stack height than their type says", filepath.Base(f), w.unbalanced)
		}
		modules++
	}
	t.Logf("%d modules, %d functions: the largest frame holds %d values", modules, functions, largest)
}
