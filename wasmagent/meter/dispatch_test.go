package meter

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

// TestDispatch: DispatchExport calls each dispatchable export as calling it
// directly does, with the same result and the same fuel and call depth
// left (it is neither metered nor counted), traps for a listed name that is
// missing or of another type, and Info.Dispatched says which are called.
// Without any dispatchable export, nothing is added.
func TestDispatch(t *testing.T) {
	// Function 0 is imported; a re-export of it is dispatched too.
	bin := wasmModule(
		sec(secType, vec(functype(i32, i32), functype("", i32), functype("", ""), functype(i64, i64))),
		sec(secImport, vec(cat(str("env"), str("twice"), []byte{0}, u32(0)))),
		sec(secFunction, vec(u32(0), u32(1), u32(2), u32(3))),
		sec(secGlobal, vec(cat([]byte{0x7f, 1}, i32c(0), end))),
		sec(secExport, vec(export("add", 0, 1), export("seven", 0, 2), export("bump", 0, 3),
			export("wide", 0, 4), export("twice", 0, 0), export("g", 3, 0))),
		sec(secCode, vec(
			fbody("", lget(0), i32c(3), op(0x6a), end),                  // add: arg + 3
			fbody("", i32c(7), end),                                     // seven
			fbody("", op(0x23, 0), i32c(1), op(0x6a), op(0x24, 0), end), // bump: g++
			fbody("", lget(0), end),                                     // wide: (i64) -> i64
		)),
	)
	env := wasmModule(
		sec(secType, vec(functype(i32, i32))),
		sec(secFunction, vec(u32(0))),
		sec(secExport, vec(export("twice", 0, 0))),
		sec(secCode, vec(fbody("", lget(0), lget(0), op(0x6a), end))),
	)
	names := []string{"add", "seven", "bump", "wide", "missing", "g", "twice"}
	opts := Options{Fuel: true, MaxCallDepth: DefaultMaxCallDepth, Dispatch: names}
	out, info, err := RewriteInfo(bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, true, false, false, false, true}; !slices.Equal(info.Dispatched, want) {
		t.Fatalf("Dispatched = %v, want %v", info.Dispatched, want)
	}
	direct, _, err := RewriteInfo(bin, Options{Fuel: true, MaxCallDepth: DefaultMaxCallDepth})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range engines() {
		_, mod := withEnv(t, e, env, out, opts)
		_, ref := withEnv(t, e, env, direct, opts)
		if ref.ExportedFunction(DispatchExport) != nil {
			t.Fatalf("%s: exported without Dispatch", DispatchExport)
		}
		dispatch := mod.ExportedFunction(DispatchExport)
		state := func(m api.Module) (fuel, depth uint64) {
			return m.ExportedGlobal(FuelExport).Get(), m.ExportedGlobal(DepthExport).Get()
		}
		for which, name := range names {
			for _, m := range []api.Module{mod, ref} {
				m.ExportedGlobal(FuelExport).(api.MutableGlobal).Set(1000)
			}
			got, err := dispatch.Call(ctx, uint64(which), 5)
			if !info.Dispatched[which] {
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Errorf("%s: %s(%d) for %q: %v, %v; want the unreachable trap", e.name, DispatchExport, which, name, got, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %s(%d) for %q: %v", e.name, DispatchExport, which, name, err)
			}
			fn := ref.ExportedFunction(name)
			var args []uint64
			if len(fn.Definition().ParamTypes()) == 1 {
				args = []uint64{5}
			}
			want, err := fn.Call(ctx, args...)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				want = []uint64{0}
			}
			if uint32(got[0]) != uint32(want[0]) {
				t.Errorf("%s: %q through %s = %d, directly %d", e.name, name, DispatchExport, got[0], want[0])
			}
			f, d := state(mod)
			if rf, rd := state(ref); f != rf || d != rd {
				t.Errorf("%s: %q leaves fuel %d, depth %d through %s; %d, %d directly", e.name, name, f, d, DispatchExport, rf, rd)
			}
		}
		if g, rg := mod.ExportedGlobal("g").Get(), ref.ExportedGlobal("g").Get(); g != 1 || rg != 1 {
			t.Errorf("%s: bump ran %d times through %s, %d directly; want 1", e.name, g, DispatchExport, rg)
		}
	}

	// Nothing dispatchable: the module is rewritten as without Dispatch.
	none, info, err := RewriteInfo(bin, Options{Fuel: true, Dispatch: []string{"wide", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := Rewrite(bin, Options{Fuel: true})
	if info.Dispatched != nil || !slices.Equal(none, plain) {
		t.Errorf("nothing dispatchable: Dispatched %v, module changed: %v", info.Dispatched, !slices.Equal(none, plain))
	}
	// A module that exports the name already is refused.
	again, _, err := RewriteInfo(out, Options{Dispatch: names})
	if err == nil || !strings.Contains(err.Error(), DispatchExport) {
		t.Errorf("a module exporting %s: %v, %d bytes", DispatchExport, err, len(again))
	}
}
