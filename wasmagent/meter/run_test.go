package meter

// Helpers that run modules under wazero, both engines.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

type engine struct {
	name   string
	config func() wazero.RuntimeConfig
}

func engines() []engine {
	e := []engine{{"interpreter", wazero.NewRuntimeConfigInterpreter}}
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
		e = append(e, engine{"compiler", wazero.NewRuntimeConfigCompiler})
	}
	return e
}

// instance is one instantiated module.
type instance struct {
	t   testing.TB
	rt  wazero.Runtime
	mod api.Module
}

func newRuntime(t testing.TB, e engine) wazero.Runtime {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, e.config())
	t.Cleanup(func() { rt.Close(ctx) })
	return rt
}

// withEnv instantiates the module env (as "env") and then bin, rewritten
// with opts, on a fresh runtime of engine e.
func withEnv(t testing.TB, e engine, env, bin []byte, opts Options) (wazero.Runtime, api.Module) {
	t.Helper()
	ctx := context.Background()
	rt := newRuntime(t, e)
	if _, err := rt.InstantiateWithConfig(ctx, env, wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, bin)
	if err != nil {
		t.Fatalf("%+v %s: %v", opts, e.name, err)
	}
	return rt, mod
}

func instantiate(t testing.TB, e engine, bin []byte) *instance {
	t.Helper()
	ctx := context.Background()
	rt := newRuntime(t, e)
	mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("%s: instantiate: %v", e.name, err)
	}
	return &instance{t: t, rt: rt, mod: mod}
}

// compiles reports whether wazero's interpreter accepts bin. wazero v1.12
// panics on some malformed modules (a function section type index out of
// range reaches its call validation unchecked; Rewrite rejects those): that
// counts as not compiling.
func compiles(bin []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wazero panicked: %v", p)
		}
	}()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	_, err = rt.CompileModule(ctx, bin)
	return err
}

func (in *instance) fuelGlobal() api.MutableGlobal {
	g, ok := in.mod.ExportedGlobal(FuelExport).(api.MutableGlobal)
	if !ok {
		in.t.Fatalf("no mutable global exported as %q", FuelExport)
	}
	return g
}

// call calls fn with args.
func (in *instance) call(fn string, args ...uint64) ([]uint64, error) {
	f := in.mod.ExportedFunction(fn)
	if f == nil {
		in.t.Fatalf("no export %q", fn)
	}
	return f.Call(context.Background(), args...)
}

// metered calls fn with the given fuel and returns its results, its error and
// the fuel left.
func (in *instance) metered(fuel int64, fn string, args ...uint64) ([]uint64, error, int64) {
	g := in.fuelGlobal()
	g.Set(uint64(fuel))
	res, err := in.call(fn, args...)
	return res, err, int64(g.Get())
}

// exhausted reports whether err and the fuel left say "fuel exhausted".
func exhausted(err error, left int64) bool {
	var exit interface{ ExitCode() uint32 }
	return err != nil && !errors.As(err, &exit) && left < 0
}

func mustRewrite(t testing.TB, bin []byte, opts Options) []byte {
	t.Helper()
	out, err := Rewrite(bin, opts)
	if err != nil {
		t.Fatalf("Rewrite(%+v): %v", opts, err)
	}
	return out
}

var fuelAndNaN = Options{Fuel: true, CanonicalizeNaN: true}
