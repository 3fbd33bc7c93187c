package meter

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// globalsModule imports one mutable global (env.g, index 0) and defines
// four: an immutable i32 (1), mutable i32 (2), i64 (3) and f64 (4). It
// exports global 2 under its own name "own" and a function "bump" that adds
// 1 to globals 2 and 3 and 1.5 to global 4; "get" returns global 2.
func globalsModule() []byte {
	return wasmModule(
		sec(secType, vec(functype("", ""), functype("", i32))),
		sec(secImport, vec(cat(str("env"), str("g"), op(3, tI32, 1)))),
		sec(secFunction, vec(u32(0), u32(1))),
		sec(secGlobal, vec(
			cat(op(tI32, 0), i32c(7), end),
			cat(op(tI32, 1), i32c(10), end),
			cat(op(tI64, 1), i64c(-5), end),
			cat(op(tF64, 1), f64c(0.25), end),
		)),
		sec(secExport, vec(export("own", 3, 2), export("bump", 0, 0), export("get", 0, 1))),
		sec(secCode, vec(
			fbody("",
				op(opGlobalGet, 2), i32c(1), i32Add, op(opGlobalSet, 2),
				op(opGlobalGet, 3), i64c(1), op(0x7c), op(opGlobalSet, 3), // i64.add
				op(opGlobalGet, 4), f64c(1.5), op(0xa0), op(opGlobalSet, 4), // f64.add
				end),
			fbody("", op(opGlobalGet, 2), end),
		)),
	)
}

var snapshotOpts = Options{Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth, ExportStart: true, ExportGlobals: true}

func TestExportGlobals(t *testing.T) {
	out, info, err := RewriteInfo(globalsModule(), snapshotOpts)
	if err != nil {
		t.Fatal(err)
	}
	want := []Global{{2, tI32, "lockstep.global.2"}, {3, tI64, "lockstep.global.3"}, {4, tF64, "lockstep.global.4"}}
	if len(info.MutableGlobals) != len(want) {
		t.Fatalf("MutableGlobals = %+v, want %+v", info.MutableGlobals, want)
	}
	for i, g := range info.MutableGlobals {
		if g != want[i] {
			t.Fatalf("MutableGlobals = %+v, want %+v", info.MutableGlobals, want)
		}
	}
	if info.TableMutation != "" || info.DataDrop != "" {
		t.Fatalf("info = %+v, want no table mutation nor data drop", info)
	}
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			rt := newRuntime(t, e)
			env := wasmModule(
				sec(secGlobal, vec(cat(op(tI32, 1), i32c(0), end))),
				sec(secExport, vec(export("g", 3, 0))),
			)
			if _, err := rt.InstantiateWithConfig(ctx, env, wazero.NewModuleConfig().WithName("env")); err != nil {
				t.Fatal(err)
			}
			mod, err := rt.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			glob := func(name string) api.MutableGlobal {
				g, ok := mod.ExportedGlobal(name).(api.MutableGlobal)
				if !ok {
					t.Fatalf("no mutable global exported as %q", name)
				}
				return g
			}
			// The imported global, the immutable one and the rewrite's
			// own are not exported under the prefix.
			for _, name := range []string{"lockstep.global.0", "lockstep.global.1", "lockstep.global.5", "lockstep.global.6"} {
				if mod.ExportedGlobal(name) != nil {
					t.Errorf("%s is exported", name)
				}
			}
			g2, g3, g4 := glob("lockstep.global.2"), glob("lockstep.global.3"), glob("lockstep.global.4")
			if g2.Type() != api.ValueTypeI32 || g3.Type() != api.ValueTypeI64 || g4.Type() != api.ValueTypeF64 {
				t.Fatalf("types %v %v %v", g2.Type(), g3.Type(), g4.Type())
			}
			if g2.Get() != 10 || int64(g3.Get()) != -5 || math.Float64frombits(g4.Get()) != 0.25 {
				t.Fatalf("initial values %d %d %v", g2.Get(), int64(g3.Get()), math.Float64frombits(g4.Get()))
			}
			// The fuel global must allow the calls.
			glob(FuelExport).Set(1000)
			if _, err := mod.ExportedFunction("bump").Call(ctx); err != nil {
				t.Fatal(err)
			}
			if g2.Get() != 11 || int64(g3.Get()) != -4 || math.Float64frombits(g4.Get()) != 1.75 {
				t.Fatalf("after bump: %d %d %v", g2.Get(), int64(g3.Get()), math.Float64frombits(g4.Get()))
			}
			// Set through the export, seen by the code and the
			// module's own export of the same global.
			g2.Set(41)
			g3.Set(uint64(math.MaxInt64))
			g4.Set(math.Float64bits(-2))
			glob(FuelExport).Set(1000)
			if _, err := mod.ExportedFunction("bump").Call(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := mod.ExportedFunction("get").Call(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res[0] != 42 || glob("own").Get() != 42 || int64(g3.Get()) != math.MinInt64 || math.Float64frombits(g4.Get()) != -0.5 {
				t.Fatalf("after set and bump: %d %d %d %v", res[0], glob("own").Get(), int64(g3.Get()), math.Float64frombits(g4.Get()))
			}
		})
	}
}

// TestExportGlobalsAlone: ExportGlobals alone rewrites the export section
// only; the fuel of the code is unchanged by it.
func TestExportGlobalsAlone(t *testing.T) {
	bin := globalsModule()
	out, info, err := RewriteInfo(bin, Options{ExportGlobals: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.MutableGlobals) != 3 || len(out) <= len(bin) {
		t.Fatalf("info %+v, %d bytes from %d", info, len(out), len(bin))
	}
	if err := compiles(out); err != nil {
		t.Fatal(err)
	}
	// Metering gives the same code with and without the exports.
	a := mustRewrite(t, bin, fuelAndNaN)
	b := mustRewrite(t, bin, Options{Fuel: true, CanonicalizeNaN: true, ExportGlobals: true})
	if !strings.Contains(string(b), string(codeSectionOf(t, a))) {
		t.Fatal("ExportGlobals changed the code section")
	}
}

func codeSectionOf(t *testing.T, bin []byte) []byte {
	m, err := parse(bin)
	if err != nil {
		t.Fatal(err)
	}
	s := m.sections[m.codeSec]
	return bin[s.start:s.end]
}

func TestExportGlobalsNone(t *testing.T) {
	// A module without globals, and one with only an immutable global
	// and an imported mutable one: nothing to export.
	noGlobals := buildModule(programs)
	immutable := wasmModule(
		sec(secType, vec(functype("", ""))),
		sec(secImport, vec(cat(str("env"), str("g"), op(3, tI64, 1)))),
		sec(secFunction, vec(u32(0))),
		sec(secGlobal, vec(cat(op(tI32, 0), i32c(7), end))),
		sec(secCode, vec(fbody("", end))),
	)
	for name, bin := range map[string][]byte{"no globals": noGlobals, "immutable": immutable} {
		out, info, err := RewriteInfo(bin, Options{ExportGlobals: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(info.MutableGlobals) != 0 || string(out) != string(bin) {
			t.Errorf("%s: info %+v; rewritten: %v", name, info, string(out) != string(bin))
		}
		out2, info, err := RewriteInfo(bin, snapshotOpts)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.MutableGlobals) != 0 || strings.Contains(string(out2), GlobalExportPrefix) {
			t.Errorf("%s: info %+v, or an export with the prefix", name, info)
		}
		if string(out2) != string(mustRewrite(t, bin, Options{Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth, ExportStart: true})) {
			t.Errorf("%s: ExportGlobals changed a module with nothing to export", name)
		}
	}
	// Without ExportGlobals, Info still lists them; nothing is exported.
	out, info, err := RewriteInfo(globalsModule(), fuelAndNaN)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.MutableGlobals) != 3 || strings.Contains(string(out), GlobalExportPrefix) {
		t.Fatalf("info %+v, or an export with the prefix", info)
	}
}

func TestExportGlobalsClash(t *testing.T) {
	bin := wasmModule(
		sec(secGlobal, vec(cat(op(tI32, 1), i32c(0), end))),
		sec(secExport, vec(export("lockstep.global.7", 3, 0))),
	)
	_, _, err := RewriteInfo(bin, Options{ExportGlobals: true})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), `already exports "lockstep.global.7"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Rewrite(bin, fuelAndNaN); err != nil {
		t.Fatalf("without ExportGlobals: %v", err)
	}
	// Rewriting twice is refused too.
	once, err := Rewrite(globalsModule(), Options{ExportGlobals: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Rewrite(once, Options{ExportGlobals: true}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("second rewrite: %v", err)
	}
}

func TestTableMutation(t *testing.T) {
	table := sec(secTable, vec(op(tFuncref, 0, 1)))
	elems := sec(secElement, vec(cat(u32(1), op(0), vec(u32(0))))) // passive, funcref, function 0
	module := func(code ...[]byte) []byte {
		return wasmModule(
			sec(secType, vec(functype("", ""))),
			sec(secFunction, vec(u32(0), u32(0))),
			table,
			sec(secExport, vec(export("f", 0, 1))),
			elems,
			sec(secCode, vec(fbody("", end), fbody("", append(cat(code...), end...)))),
		)
	}
	cases := []struct {
		name       string
		code       [][]byte
		table, dat string
	}{
		{"call_indirect", [][]byte{i32c(0), op(opCallIndirect, 0, 0)}, "", ""},
		{"table.get", [][]byte{i32c(0), op(0x25, 0), drop}, "", ""},
		{"table.size", [][]byte{fc(16), u32(0), drop}, "", ""},
		{"table.set", [][]byte{i32c(0), op(0xd0, tFuncref), op(opTableSet, 0)}, "table.set in function 1 (index 1) at offset", ""},
		{"table.grow", [][]byte{op(0xd0, tFuncref), i32c(1), fc(fcTableGrow), u32(0), drop}, "table.grow in function 1", ""},
		{"table.fill", [][]byte{i32c(0), op(0xd0, tFuncref), i32c(1), fc(fcTableFill), u32(0)}, "table.fill in function 1", ""},
		{"table.copy", [][]byte{i32c(0), i32c(0), i32c(1), fc(fcTableCopy), u32(0), u32(0)}, "table.copy in function 1", ""},
		{"table.init", [][]byte{i32c(0), i32c(0), i32c(1), fc(fcTableInit), u32(0), u32(0)}, "table.init in function 1", ""},
		{"elem.drop", [][]byte{fc(fcElemDrop), u32(0)}, "elem.drop in function 1", ""},
		// Even where it cannot be reached.
		{"dead", [][]byte{op(opReturn), fc(fcElemDrop), u32(0)}, "elem.drop in function 1", ""},
	}
	for _, c := range cases {
		bin := module(c.code...)
		if err := compiles(bin); err != nil {
			t.Fatalf("%s: the test module does not compile: %v", c.name, err)
		}
		for _, opts := range []Options{{}, snapshotOpts} {
			_, info, err := RewriteInfo(bin, opts)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !strings.HasPrefix(info.TableMutation, c.table) || (c.table == "") != (info.TableMutation == "") || info.DataDrop != "" {
				t.Errorf("%s %+v: info %+v, want TableMutation %q", c.name, opts, info, c.table)
			}
		}
	}
	// data.drop is reported apart.
	bin := wasmModule(
		sec(secType, vec(functype("", ""))),
		sec(secFunction, vec(u32(0))),
		sec(secMemory, vec(op(0, 1))),
		sec(secDataCount, u32(1)),
		sec(secCode, vec(fbody("", fc(fcDataDrop), u32(0), end))),
		sec(secData, vec(cat(u32(1), str("hi")))),
	)
	if err := compiles(bin); err != nil {
		t.Fatal(err)
	}
	_, info, err := RewriteInfo(bin, snapshotOpts)
	if err != nil {
		t.Fatal(err)
	}
	if info.TableMutation != "" || !strings.HasPrefix(info.DataDrop, "data.drop in function 0 (index 0) at offset") {
		t.Fatalf("info %+v", info)
	}
}
