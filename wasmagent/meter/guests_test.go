package meter

// How deep real guests call: the measurements behind DefaultMaxCallDepth.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// depthMeter is a function listener that follows the weighted call depth
// (see FrameUnit) of one module's defined functions.
type depthMeter struct {
	imported  uint32
	weights   []uint64 // by defined function
	cur, peak uint64
}

func (d *depthMeter) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.GoFunction() != nil || def.Index() < d.imported {
		return nil
	}
	return d
}

func (d *depthMeter) Before(_ context.Context, _ api.Module, def api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	d.cur += d.weights[def.Index()-d.imported]
	d.peak = max(d.peak, d.cur)
}

func (d *depthMeter) After(_ context.Context, _ api.Module, def api.FunctionDefinition, _ []uint64) {
	d.cur -= d.weights[def.Index()-d.imported]
}

func (d *depthMeter) Abort(_ context.Context, _ api.Module, def api.FunctionDefinition, _ error) {
	d.cur -= d.weights[def.Index()-d.imported]
}

// weights returns the weight of each defined function of bin.
func weights(t testing.TB, bin []byte) (imported uint32, ws []uint64) {
	m, err := parse(bin)
	if err != nil {
		t.Fatal(err)
	}
	w := rewriter{m: m}
	if err := w.forBodies(func(b *body, _ []byte) error { ws = append(ws, b.weight()); return nil }); err != nil {
		t.Fatal(err)
	}
	return m.importedFuncs, ws
}

// guestCall is one call a host makes. args may call the instance too (to
// allocate): that counts as part of the call.
type guestCall struct {
	fn   string
	args func(in *guestInstance) ([]uint64, error)
}

type guestInstance struct {
	mod api.Module
}

// agentCalls are what wasmagent calls in an agent's first ticks (sdk/ABI.md),
// with a message on channel "counts" before each step.
var agentCalls = func() []guestCall {
	calls := []guestCall{{fn: "_initialize"}, {fn: "lockstep_abi_version"}, {fn: "agent_init"}}
	for tick := uint64(1); tick <= 3; tick++ {
		calls = append(calls,
			guestCall{"agent_receive", func(in *guestInstance) ([]uint64, error) {
				p, err := in.alloc(64)
				b := make([]byte, 32, 48)
				binary.LittleEndian.PutUint64(b[0:], tick-1)
				binary.LittleEndian.PutUint32(b[8:], p+32) // from "agent"
				binary.LittleEndian.PutUint32(b[12:], 5)
				binary.LittleEndian.PutUint32(b[16:], p+37) // channel "counts"
				binary.LittleEndian.PutUint32(b[20:], 6)
				binary.LittleEndian.PutUint32(b[24:], p+43) // 8-byte payload
				binary.LittleEndian.PutUint32(b[28:], 8)
				b = append(b, "agentcounts"...)
				b = binary.LittleEndian.AppendUint64(b, 42)
				in.mod.Memory().Write(p, b)
				return []uint64{uint64(p)}, err
			}},
			guestCall{"agent_step", func(in *guestInstance) ([]uint64, error) {
				p, err := in.alloc(64)
				b := make([]byte, 24)
				binary.LittleEndian.PutUint64(b[0:], tick)
				binary.LittleEndian.PutUint32(b[8:], p+24)
				binary.LittleEndian.PutUint32(b[12:], 5)
				binary.LittleEndian.PutUint32(b[16:], 1)
				in.mod.Memory().Write(p, append(b, "agent"...))
				return []uint64{uint64(p)}, err
			}},
		)
	}
	return calls
}()

func (in *guestInstance) alloc(n uint32) (uint32, error) {
	r, err := in.mod.ExportedFunction("agent_alloc").Call(context.Background(), uint64(n))
	if err != nil {
		return 0, fmt.Errorf("agent_alloc: %w", err)
	}
	return uint32(r[0]), nil
}

// guestFuel is the fuel each call gets: a call that runs out of it (the
// spinner example spins for ever) ends there, and the next one is made.
const guestFuel = 1 << 26

// runGuest instantiates bin, rewritten with fuel, (WASI and stubs for every
// other import, which return zeros) and makes calls, skipping exports bin
// does not have. Before each call it sets the fuel and resets the depth
// global, if bin has one. It returns the peak weighted depth of each call,
// and the error of the first call that fails other than by running out of
// fuel.
func runGuest(t testing.TB, e engine, bin []byte, calls []guestCall, meter *depthMeter) (peaks []string, depth uint32, err error) {
	t.Helper()
	ctx := context.Background()
	rt := newRuntime(t, e)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	if meter != nil {
		ctx = experimental.WithFunctionListenerFactory(ctx, meter)
	}
	compiled, err := rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
	stubs := map[string]wazero.HostModuleBuilder{}
	for _, f := range compiled.ImportedFunctions() {
		m, name, _ := f.Import()
		if m == wasi_snapshot_preview1.ModuleName {
			continue
		}
		if stubs[m] == nil {
			stubs[m] = rt.NewHostModuleBuilder(m)
		}
		results := f.ResultTypes()
		stubs[m].NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
			for i := range results {
				stack[i] = 0
			}
		}), f.ParamTypes(), results).Export(name)
	}
	for _, b := range stubs {
		if _, err := b.Instantiate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mod, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
	in := &guestInstance{mod: mod}
	fuel := mod.ExportedGlobal(FuelExport).(api.MutableGlobal)
	dg, _ := mod.ExportedGlobal(DepthExport).(api.MutableGlobal)
	for _, c := range calls {
		f := mod.ExportedFunction(c.fn)
		if f == nil {
			continue
		}
		if meter != nil {
			meter.cur, meter.peak = 0, 0
		}
		fuel.Set(guestFuel)
		if dg != nil {
			dg.Set(0)
		}
		var args []uint64
		if c.args != nil {
			args, err = c.args(in)
		}
		if err == nil {
			_, err = f.Call(ctx, args...)
		}
		if dg != nil {
			depth = uint32(dg.Get())
		}
		exhausted := err != nil && int64(fuel.Get()) < 0
		if err != nil && !exhausted {
			return peaks, depth, fmt.Errorf("%s: %w", c.fn, err)
		}
		if meter != nil {
			peaks = append(peaks, fmt.Sprintf("%s %d", c.fn+map[bool]string{true: "(out of fuel)"}[exhausted], meter.peak))
		}
	}
	return peaks, depth, nil
}

// peak is the largest depth in peaks ("fn depth" each).
func peak(peaks []string) uint32 {
	var p uint32
	for _, s := range peaks {
		var fn string
		var d uint32
		fmt.Sscan(s, &fn, &d)
		p = max(p, d)
	}
	return p
}

// guestDepth measures the call depth bin reaches in calls on both engines
// (they must agree), then confirms it with the rewrite: with MaxCallDepth
// at that depth the calls run, one less and one of them hits the limit.
func guestDepth(t *testing.T, name string, bin []byte, calls []guestCall) uint32 {
	imported, ws := weights(t, bin)
	metered := mustRewrite(t, bin, Options{Fuel: true, StartFuel: guestFuel})
	var first []string
	for _, e := range engines() {
		peaks, _, err := runGuest(t, e, metered, calls, &depthMeter{imported: imported, weights: ws})
		if err != nil {
			t.Fatalf("%s %s: %v", name, e.name, err)
		}
		if first == nil {
			first = peaks
		} else if fmt.Sprint(peaks) != fmt.Sprint(first) {
			t.Errorf("%s: depths differ: %s %v, %s %v", name, engines()[0].name, first, e.name, peaks)
		}
	}
	d := peak(first)
	e := engines()[0] // the interpreter: compiles fastest
	opts := Options{Fuel: true, CanonicalizeNaN: true, StartFuel: guestFuel, MaxCallDepth: d}
	if _, depth, err := runGuest(t, e, mustRewrite(t, bin, opts), calls, nil); err != nil {
		t.Errorf("%s: with MaxCallDepth %d: %v (depth %d)", name, d, err, depth)
	}
	if opts.MaxCallDepth = d - 1; d > 1 {
		if _, depth, err := runGuest(t, e, mustRewrite(t, bin, opts), calls, nil); err == nil || depth != d {
			t.Errorf("%s: with MaxCallDepth %d: %v, depth %d; want the depth trap", name, d-1, err, depth)
		}
	}
	t.Logf("%s: %d functions, deepest call %d: %s", name, len(ws), d, strings.Join(first, ", "))
	return d
}

// TestGuestDepth measures a simple Go guest (testdata/goguest: _initialize,
// then steps that format, sort, marshal JSON and collect garbage) and a C
// one (cProgram, fib(15)). It builds the Go guest, so it is skipped with
// -short.
func TestGuestDepth(t *testing.T) {
	c := buildC(t)
	guestDepth(t, "C (clang -O2)", c, []guestCall{{"fib", func(*guestInstance) ([]uint64, error) { return []uint64{15}, nil }}})
	bin := buildGoGuest(t)
	step := func(*guestInstance) ([]uint64, error) { return []uint64{200}, nil }
	d := guestDepth(t, "Go (wasip1 c-shared)", bin, []guestCall{{fn: "_initialize"}, {"step", step}, {"step", step}, {"step", step}})
	if d > DefaultMaxCallDepth/4 {
		t.Errorf("the Go guest reaches depth %d: DefaultMaxCallDepth (%d) leaves it less than 4× headroom", d, DefaultMaxCallDepth)
	}
}

// buildGoGuest builds testdata/goguest, or skips the test (also with -short).
func buildGoGuest(t testing.TB) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	out := filepath.Join(t.TempDir(), "goguest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "main.go")
	cmd.Dir = "testdata/goguest"
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build the Go guest: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestGuestDepthExamples measures the example agents built by
// scripts/guests.sh into the directory LOCKSTEP_GUESTS names (skipped
// without it), with the lockstep imports stubbed to return 0.
func TestGuestDepthExamples(t *testing.T) {
	dir := os.Getenv("LOCKSTEP_GUESTS")
	if dir == "" {
		t.Skip("set LOCKSTEP_GUESTS to a directory of guests built by scripts/guests.sh")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.wasm"))
	sort.Strings(files)
	for _, f := range files {
		bin, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		guestDepth(t, filepath.Base(f), bin, agentCalls)
	}
}

// compiledStack compiles bin with wazero's compiler into a compilation cache
// and returns, for each defined function, the stack its prologue checks for
// (wazevo's requiredStackSize: the frame, the largest stack arguments of
// the calls it makes, and 32 bytes): an upper bound of what one level of
// calls through the function takes from the compiler's stack. It reads the
// cache file (wazero v1.12's format) and decodes the amd64 prologue
// (push rbp; mov rbp, rsp; sub rsp, N), so it skips elsewhere.
func compiledStack(t testing.TB, bin []byte) []int64 {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("decodes amd64 prologues")
	}
	dir := t.TempDir()
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache).
		WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := rt.CompileModule(ctx, bin); err != nil {
		t.Fatal(err)
	}
	rt.Close(ctx)
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Skipf("compilation cache: %d files, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// "WAZEVO", version, function count, offsets, code length, code.
	if len(b) < 12 || string(b[:6]) != "WAZEVO" {
		t.Skip("unknown compilation cache format")
	}
	p := 7 + int(b[6])
	n := int(binary.LittleEndian.Uint32(b[p:]))
	p += 4
	if len(b) < p+8*n+8 {
		t.Skip("unknown compilation cache format")
	}
	offs := make([]uint64, n)
	for i := range offs {
		offs[i] = binary.LittleEndian.Uint64(b[p:])
		p += 8
	}
	code := b[p+8:]
	sizes := make([]int64, n)
	for i, o := range offs {
		c := code[o:]
		switch {
		case len(c) < 11 || string(c[:4]) != "\x55\x48\x89\xe5":
			t.Skipf("function %d: unknown prologue % x", i, c[:min(len(c), 12)])
		case string(c[4:7]) == "\x48\x83\xec":
			sizes[i] = int64(int8(c[7]))
		case string(c[4:7]) == "\x48\x81\xec":
			sizes[i] = int64(int32(binary.LittleEndian.Uint32(c[7:])))
		default:
			t.Skipf("function %d: unknown prologue % x", i, c[:12])
		}
	}
	return sizes
}

// TestCompiledFrames measures the frames wazero's compiler gives real
// guests (the C program, the Go guest, and the examples in LOCKSTEP_GUESTS
// if set), which the compiler's stack ceiling (about 84 MB) must hold
// DefaultMaxCallDepth+1 deep with room to spare. It also logs how large a
// frame a small function can get (see "Stack memory" in doc.go): wazevo
// gives every spilled SSA value a slot of its own, so nested loops that each
// carry many locals across a call make frames that grow with their square.
func TestCompiledFrames(t *testing.T) {
	guests := map[string][]byte{"C (clang -O2)": buildC(t)}
	if dir := os.Getenv("LOCKSTEP_GUESTS"); dir != "" {
		files, _ := filepath.Glob(filepath.Join(dir, "*.wasm"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			guests[filepath.Base(f)] = b
		}
	}
	if !testing.Short() {
		guests["Go (testdata/goguest)"] = buildGoGuest(t)
	}
	names := make([]string, 0, len(guests))
	for n := range guests {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		bin := mustRewrite(t, guests[name], Options{Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth})
		sizes := compiledStack(t, bin)
		var largest, sum int64
		for _, s := range sizes {
			largest, sum = max(largest, s), sum+s
		}
		t.Logf("%s: %d functions, largest frame %d bytes, mean %d", name, len(sizes), largest, sum/int64(len(sizes)))
		if largest*(DefaultMaxCallDepth+1) > 40<<20 {
			t.Errorf("%s: a frame of %d bytes, DefaultMaxCallDepth+1 deep, takes over half the compiler's stack ceiling", name, largest)
		}
	}
	// k nested loops, each carrying k locals around a call.
	for _, k := range []int{25, 50, 100} {
		var code [][]byte
		locals := ""
		for i := 0; i < k; i++ {
			locals += i32
			code = append(code, loop(void))
		}
		for i := 0; i < k; i++ {
			code = append(code, lget(uint32(1+i)), i32c(1), i32Add, lset(uint32(1+i)))
		}
		code = append(code, call(0))
		for i := 0; i < k; i++ {
			code = append(code, lget(uint32(1+i)), lget(0), i32LtU, brIf(uint32(i)))
		}
		for i := 0; i < k; i++ {
			code = append(code, end)
		}
		code = append(code, lget(1), end)
		f := fbody(locals, code...)
		bin := wasmModule(sec(secType, vec(functype("", ""), functype(i32, i32))),
			sec(secFunction, vec(u32(0), u32(1))), sec(secCode, vec(fbody("", end), f)))
		sizes := compiledStack(t, mustRewrite(t, bin, Options{Fuel: true, MaxCallDepth: DefaultMaxCallDepth}))
		t.Logf("%d nested loops carrying %d locals around a call: %d bytes of code, a frame of %d bytes", k, k, len(f), sizes[1])
	}
}
