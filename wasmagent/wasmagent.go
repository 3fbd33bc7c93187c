package wasmagent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/lockstep-rt/lockstep/wasmagent/meter"
)

// ABIVersion is the agent ABI this package speaks.
const ABIVersion = 1

// HostModule is the import module name of the host functions.
const HostModule = "lockstep"

// SharedInitExport is the optional export, a function taking and returning
// nothing that is never called, by which a module declares that its start
// function and _initialize make the same state for every agent: while they
// run, WASI's random source reads zeros and its clocks read tick 0, so
// that every agent of the module starts from one pre-initialised image
// even though they read them (Go's runtime does). Each agent's own random
// stream and clocks start with agent_init. sdk/ABI.md: "Shared
// initialisation".
const SharedInitExport = "lockstep_shared_init"

// Defaults for Config's zero values, and the limits of the values a Config
// may hold.
const (
	DefaultMaxPages = 256 // 16 MiB
	// DefaultFuel is an agent's budget per tick, shared by every call of
	// the tick (agent_alloc, each agent_receive, agent_step): about 50 ms
	// of a metered C loop on a 2-core 2.4 GHz EPYC (docs/BENCHMARKS.md).
	DefaultFuel = 50_000_000
	// DefaultInitFuel is the budget of instantiation: the start function,
	// _initialize and agent_init together, about 20 ms of a metered loop.
	// A Go guest's runtime start-up takes 1.5 M, AssemblyScript's 11 k, C
	// and Rust guests' under 100 (TestInitFuelOfGuests).
	DefaultInitFuel      = 20_000_000
	DefaultMaxModuleSize = 64 << 20
	// MaxFuel is the largest fuel budget: the meter's counter is a signed
	// 64-bit integer that must not wrap.
	MaxFuel = 1 << 62
	// MaxPagesLimit is the most pages a wasm32 memory can have (4 GiB).
	MaxPagesLimit = 65536
	// MaxModuleSizeLimit bounds MaxModuleSize: a module is read whole into
	// memory and decoded before it runs.
	MaxModuleSizeLimit = 1 << 30
	// MaxWatchdog bounds Watchdog.
	MaxWatchdog = time.Hour
)

// MaxCallDepth is how deep an agent's calls may nest: a function counts
// as one level, or more when its frame is large (package meter's "Call
// depth"). Guests measured need at most 32 (Go's runtime); wazero's
// interpreter stops at 2000 frames, its compiler much deeper: the limit
// comes first on both, so running into it is the same failure everywhere.
const MaxCallDepth = meter.DefaultMaxCallDepth

// StackBound is what one agent's call stack can take in host memory with
// the call depth limited: the interpreter's value stack holds at most
// 256 000 values (4 MiB, 8 with Go's slice growth) plus its Go frames; the
// compiler's frames of every guest measured are at most 6.3 KiB, 6.3 MiB
// at the limit. wazero caps a compiled stack at 84.5 MB whatever the
// depth: only a module with frames over 16 KiB (spill-heavy code, never
// seen from a compiler at -O2) could go past this bound, up to that cap.
// See RATIONALE.md: "What bounds the host's memory?".
const StackBound = 16 << 20

// Engines for Config.Engine.
const (
	EngineCompiler    = "compiler"
	EngineInterpreter = "interpreter"
)

// HostCallFuel is what every call of a host function costs, on top of one
// unit per BulkBytesPerFuel bytes it moves (reads from or writes to guest
// memory, or hands to the host). A unit of fuel is about a nanosecond of
// metered guest code, and a host call takes a few hundred: at this price a
// guest calling state_read in a loop burns its tick's fuel in about the
// time a guest loop does (host TestHostileAgents/reads and /burner), so
// fuel bounds the time spent in host functions as it bounds the time spent
// in guest code.
const HostCallFuel = 256

// BulkBytesPerFuel is the meter's rate for memory.copy and friends, which
// host calls pay too.
const BulkBytesPerFuel = meter.BulkBytesPerFuel

// Sentinel errors; every load error wraps ErrInvalidModule.
var (
	ErrInvalidModule = errors.New("wasmagent: invalid module")
	ErrFuelExhausted = errors.New("wasmagent: fuel exhausted")
	// ErrCallDepth marks a call that nested deeper than MaxCallDepth: the
	// same failure, with the same text, on every engine and CPU.
	ErrCallDepth = errors.New("wasmagent: call depth limit exceeded")
	// ErrWatchdog marks a call stopped by the wall-clock watchdog. Its text
	// appears in failure events, so hosts can tell the run is not
	// reproducible.
	ErrWatchdog = errors.New("wasmagent: watchdog fired (not reproducible)")
)

// Config configures a Runtime. Zero values mean defaults.
type Config struct {
	// MaxPages caps every agent's linear memory (64 KiB pages).
	MaxPages uint32
	// Fuel is an agent's budget per tick, shared by every call into it
	// that tick; InitFuel the budget of instantiation (the start function,
	// _initialize and agent_init together). Both in 1..MaxFuel, 0 for the
	// default.
	Fuel, InitFuel uint64
	// Unmetered turns fuel metering off (NaN canonicalisation stays on).
	// Only for measuring the metering's cost: an unmetered loop never ends.
	Unmetered bool
	// MaxModuleSize refuses larger modules, in bytes.
	MaxModuleSize int
	// CacheDir, if set, keeps compiled code on disk between runs.
	CacheDir string
	// Engine chooses wazero's engine: EngineCompiler, EngineInterpreter,
	// or "" for wazero's choice (the compiler where it has one: amd64 and
	// arm64). Results are the same on both.
	Engine string
	// NoImages instantiates every agent afresh, running its module's
	// start function, _initialize and agent_init, instead of starting it
	// from the module's pre-initialised image (Module.ImageStage). Results
	// are the same either way; it is there to show that they are.
	NoImages bool
	// Watchdog, if positive, bounds the wall-clock time of every guest call:
	// a backstop behind fuel, off by default because it slows guest loops
	// (wazero then checks for cancellation at every loop back-edge). When it
	// fires the call fails with ErrWatchdog, and the run is no longer
	// reproducible: wall-clock time decided its outcome.
	Watchdog time.Duration
}

// Validate checks every value is 0 (its default) or within its limit.
func (c Config) Validate() error {
	if err := errors.Join(
		CheckPages("max_pages", c.MaxPages, fmt.Sprint("the default, ", DefaultMaxPages)),
		CheckFuel("fuel", c.Fuel, fmt.Sprint("the default, ", DefaultFuel)),
		CheckFuel("init_fuel", c.InitFuel, fmt.Sprint("the default, ", DefaultInitFuel)),
	); err != nil {
		return fmt.Errorf("wasmagent: %w", err)
	}
	switch {
	case c.MaxModuleSize < 0 || c.MaxModuleSize > MaxModuleSizeLimit:
		return fmt.Errorf("wasmagent: max module size %d is outside 0..%d bytes", c.MaxModuleSize, MaxModuleSizeLimit)
	case c.Engine != "" && c.Engine != EngineCompiler && c.Engine != EngineInterpreter:
		return fmt.Errorf("wasmagent: engine %q: use %q or %q (or nothing: wazero's choice)", c.Engine, EngineCompiler, EngineInterpreter)
	case c.Watchdog < 0 || c.Watchdog > MaxWatchdog:
		return fmt.Errorf("wasmagent: watchdog %v is outside 0..%v (0: off)", c.Watchdog, MaxWatchdog)
	}
	return nil
}

// CheckFuel checks the fuel budget named knob: 0 (which stands for zero,
// say "the default") or 1..MaxFuel. Every fuel setting, from a topology,
// Options, a spawn or a replay log, goes through it.
func CheckFuel(knob string, fuel uint64, zero string) error {
	if fuel > MaxFuel {
		return fmt.Errorf("%s %d is over %d; give 1..%d per tick (0: %s)", knob, fuel, uint64(MaxFuel), uint64(MaxFuel), zero)
	}
	return nil
}

// CheckPages checks the memory limit named knob: 0 (which stands for zero)
// or 1..MaxPagesLimit pages.
func CheckPages(knob string, pages uint32, zero string) error {
	if pages > MaxPagesLimit {
		return fmt.Errorf("%s %d is over %d, the most a wasm32 memory can have (4 GiB); give 1..%d (0: %s)", knob, pages, MaxPagesLimit, MaxPagesLimit, zero)
	}
	return nil
}

func (c *Config) defaults() {
	if c.MaxPages == 0 {
		c.MaxPages = DefaultMaxPages
	}
	if c.Fuel == 0 {
		c.Fuel = DefaultFuel
	}
	if c.InitFuel == 0 {
		c.InitFuel = DefaultInitFuel
	}
	if c.MaxModuleSize == 0 {
		c.MaxModuleSize = DefaultMaxModuleSize
	}
}

// Runtime compiles and instantiates agent modules.
type Runtime struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache
	wasi  bool
	// memory holds the agents' linear memories (nil: wazero's, on the Go
	// heap).
	memory *slabs
	// plain is the module config of every instance: no name, no start
	// functions run by wazero (instantiate runs them), and a random
	// source that only modules importing WASI could read, which set their
	// own (else wazero would make a seeded one per instance).
	plain wazero.ModuleConfig
}

// NewRuntime starts a runtime.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	rc := wazero.NewRuntimeConfig()
	switch cfg.Engine {
	case EngineCompiler:
		rc = wazero.NewRuntimeConfigCompiler()
	case EngineInterpreter:
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	// No DWARF: the rewrite moves code, so a module's DWARF line tables
	// would put trap stack traces at the wrong lines. Traces name functions
	// from the name section, which the rewrite keeps.
	rc = rc.WithMemoryLimitPages(cfg.MaxPages).WithCoreFeatures(api.CoreFeaturesV2).
		WithCloseOnContextDone(cfg.Watchdog > 0).WithDebugInfoEnabled(false)
	r := &Runtime{cfg: cfg, memory: newSlabs(cfg.MaxPages), plain: wazero.NewModuleConfig().WithName("").WithStartFunctions().WithRandSource(wasiRandom{})}
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmagent: compilation cache %s: %w", cfg.CacheDir, err)
		}
		r.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := r.instantiateHost(ctx); err != nil {
		r.rt.Close(ctx)
		return nil, err
	}
	return r, nil
}

// Close releases every compiled module and instance, and their linear
// memories: nothing may read an instance's memory afterwards.
func (r *Runtime) Close(ctx context.Context) error {
	err := r.rt.Close(ctx)
	if r.memory != nil {
		r.memory.close()
	}
	if r.cache != nil {
		r.cache.Close(ctx)
	}
	return err
}

// Module is a compiled agent module.
type Module struct {
	Name string
	// Fuel is the per-tick budget of this module's agents (default: the
	// runtime's); New may set another per agent. 1..MaxFuel.
	Fuel uint64
	// Digest is the SHA-256 of the module as loaded (before rewriting).
	Digest [32]byte
	// AllowModel says whether this module's agents may request inferences
	// from a model (the inference capabilities of its manifest, see
	// plugin.Allows). Nil allows none: infer returns DENIED.
	AllowModel func(model string) bool
	rt         *Runtime
	compiled   wazero.CompiledModule
	wasi       bool
	init       bool // exports _initialize
	start      bool // the rewrite exported its start function (meter.StartExport)
	sharedInit bool // exports SharedInitExport
	// globals are the module's mutable globals, exported by the rewrite;
	// snapErr says why its instances cannot be snapshotted, nil if they
	// can.
	globals []meter.Global
	snapErr error
	// image is the pre-initialised image New starts agents from, nil if
	// none; noImage says why not, or why it stops where it does.
	image   *image
	noImage string
	// data is what the module's data segments write into a new instance's
	// memory, when the rewrite took them out of the module (nil if it kept
	// them): wazero evaluates and copies segments one by one, and Go's
	// linker writes tens of thousands; instantiate copies these runs.
	data []MemoryRun
	// dataFile holds data in a memory file that instances map instead of
	// copying it (nil: they copy data); imageFile holds the image's memory
	// for the instances that start from it (nil: they copy it).
	dataFile, imageFile *memoryFile
	// exportNames names exported functions by index, for stack traces of
	// modules without a name section.
	exportNames map[uint32]string
	// dispatch are the exports an instance calls through the rewrite's
	// meter.DispatchExport, by name (instance.export).
	dispatch map[string]dispatchedExport
}

// dispatched are the exports the rewrite's meter.DispatchExport calls,
// in the order of its which argument: the ABI's and _initialize.
var dispatched = []string{"agent_step", "agent_alloc", "agent_receive", "agent_shutdown", "agent_init", "_initialize", "lockstep_abi_version"}

// dispatchedExport is an export meter.DispatchExport calls: its which,
// its definition, and whether it takes its argument (asked once here:
// wazero's ParamTypes allocates).
type dispatchedExport struct {
	which    uint64
	def      api.FunctionDefinition
	hasParam bool
}

var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// signature of an export or import: params and results.
type signature struct{ params, results []api.ValueType }

func (s signature) String() string {
	return fmt.Sprintf("(%s) -> (%s)", typeNames(s.params), typeNames(s.results))
}

func typeNames(ts []api.ValueType) string {
	var b bytes.Buffer
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(t))
	}
	return b.String()
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
	// requiredExports is ABI v1's list of exported functions.
	requiredExports = map[string]signature{
		"lockstep_abi_version": {nil, []api.ValueType{i32}},
		"agent_alloc":          {[]api.ValueType{i32}, []api.ValueType{i32}},
		"agent_init":           {nil, []api.ValueType{i32}},
		"agent_receive":        {[]api.ValueType{i32}, []api.ValueType{i32}},
		"agent_step":           {[]api.ValueType{i32}, []api.ValueType{i32}},
		"agent_shutdown":       {nil, []api.ValueType{i32}},
	}
)

func (r *Runtime) invalid(name, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidModule, name, fmt.Sprintf(format, args...))
}

// Load validates, rewrites and compiles a module. name identifies it in
// errors and logs.
func (r *Runtime) Load(ctx context.Context, name string, wasm []byte) (*Module, error) {
	switch {
	case len(wasm) > r.cfg.MaxModuleSize:
		return nil, r.invalid(name, "%d bytes is over the %d-byte limit (raise max_module_size or shrink the module: build with -O2, strip debug info)", len(wasm), r.cfg.MaxModuleSize)
	case len(wasm) < 8 || !bytes.Equal(wasm[:4], wasmMagic):
		return nil, r.invalid(name, "not a WebAssembly module (it does not start with \\0asm); build it for wasm32")
	}
	rewritten, info, err := meter.RewriteInfo(wasm, meter.Options{
		Fuel: !r.cfg.Unmetered, CanonicalizeNaN: true, MaxCallDepth: MaxCallDepth,
		ExportStart:   true,       // run by instantiate, on the instantiation budget
		ExportGlobals: true,       // for Snapshot and Restore
		ExtractData:   true,       // written by instantiate: see Module.data
		Dispatch:      dispatched, // one call engine per instance: see export
	})
	if err != nil {
		return nil, r.invalid(name, "%v", err)
	}
	compiled, err := r.rt.CompileModule(ctx, rewritten)
	if err != nil {
		return nil, r.invalid(name, "does not compile: %v", err)
	}
	m := &Module{Name: name, Fuel: r.cfg.Fuel, Digest: sha256.Sum256(wasm), rt: r, compiled: compiled,
		globals: info.MutableGlobals}
	m.snapErr = m.snapshottable(info)
	exports := compiled.ExportedFunctions()
	m.exportNames = exportIndex(exports)
	for i, ok := range info.Dispatched {
		if ok {
			if m.dispatch == nil {
				m.dispatch = map[string]dispatchedExport{}
			}
			def := exports[dispatched[i]]
			m.dispatch[dispatched[i]] = dispatchedExport{which: uint64(i), def: def, hasParam: len(def.ParamTypes()) > 0}
		}
	}
	if err := m.checkABI(); err != nil {
		compiled.Close(ctx)
		return nil, err
	}
	if m.data, err = dataRuns(info.Data, compiled); err != nil {
		compiled.Close(ctx)
		return nil, r.invalid(name, "cannot be instantiated: %v", err)
	}
	if m.wasi && !r.wasi {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
			return nil, fmt.Errorf("wasmagent: instantiating WASI: %w", err)
		}
		r.wasi = true
	}
	// Instantiate once to ask the module its ABI version.
	probe, err := m.instantiate(ctx, nil, nil, runStart)
	if err != nil {
		compiled.Close(ctx)
		return nil, r.invalid(name, "cannot be instantiated: %v", err)
	}
	defer probe.close()
	if m.init {
		if err := probe.initModule(probe.export("_initialize")); err != nil {
			return nil, r.invalid(name, "_initialize failed: %v", err)
		}
	}
	v, err := probe.call(probe.export("lockstep_abi_version"), initCall)
	if err != nil {
		return nil, r.invalid(name, "lockstep_abi_version failed: %v", err)
	}
	if v != ABIVersion {
		return nil, r.invalid(name, "built for agent ABI %d, this host speaks ABI %d; rebuild it with the SDK of this Lockstep version", int32(v), ABIVersion)
	}
	if !r.cfg.NoImages {
		m.preinitialise(ctx)
	}
	// The data's memory file only now, and only if agents start from the
	// data: a module refused above would hold it until Runtime.Close, and
	// with an image no agent maps it (the probe and the template copied
	// the data instead).
	if r.memory != nil && m.image == nil {
		m.dataFile = r.memory.file(name, m.data)
	}
	return m, nil
}

// checkABI checks imports and exports against ABI v1.
func (m *Module) checkABI() error {
	r := m.rt
	exports := m.compiled.ExportedFunctions()
	names := make([]string, 0, len(requiredExports))
	for n := range requiredExports {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		want := requiredExports[n]
		def, ok := exports[n]
		if !ok {
			return r.invalid(m.Name, "missing export %s %s (see sdk/ABI.md; the SDK's LOCKSTEP_AGENT() or lockstep.Register provides it)", n, want)
		}
		got := signature{def.ParamTypes(), def.ResultTypes()}
		if !slices.Equal(got.params, want.params) || !slices.Equal(got.results, want.results) {
			return r.invalid(m.Name, "export %s has signature %s, ABI v1 wants %s", n, got, want)
		}
	}
	if _, ok := m.compiled.ExportedMemories()["memory"]; !ok {
		return r.invalid(m.Name, "does not export its memory as \"memory\" (link with --export-memory, the default for wasm-ld)")
	}
	if def, ok := exports["_initialize"]; ok {
		if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
			return r.invalid(m.Name, "export _initialize must take and return nothing")
		}
		m.init = true
	}
	_, m.start = exports[meter.StartExport]
	if def, ok := exports[SharedInitExport]; ok {
		if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
			return r.invalid(m.Name, "export %s must take and return nothing: it only declares shared initialisation and is never called (see sdk/ABI.md)", SharedInitExport)
		}
		m.sharedInit = true
	}
	for _, def := range m.compiled.ImportedFunctions() {
		mod, fn, _ := def.Import()
		switch mod {
		case HostModule:
			want, ok := hostSignatures[fn]
			if !ok {
				return r.invalid(m.Name, "imports %s.%s, which the host does not provide (ABI v1 offers: %s)", mod, fn, hostNames())
			}
			got := signature{def.ParamTypes(), def.ResultTypes()}
			if !slices.Equal(got.params, want.params) || !slices.Equal(got.results, want.results) {
				return r.invalid(m.Name, "imports %s.%s with signature %s, the host provides %s", mod, fn, got, want)
			}
		case wasi_snapshot_preview1.ModuleName:
			m.wasi = true
		default:
			return r.invalid(m.Name, "imports %s.%s from an unknown module %q (only %q and %q exist; with clang, link with -nostdlib or wasi-libc)", mod, fn, mod, HostModule, wasi_snapshot_preview1.ModuleName)
		}
	}
	for _, def := range m.compiled.ImportedMemories() {
		mod, n, _ := def.Import()
		return r.invalid(m.Name, "imports memory %s.%s; an agent must define its own memory", mod, n)
	}
	return nil
}

// wasiSeed is WASI's random source of an agent with the given seed (never
// the OS's); the instance keeps it, so that a snapshot holds its state.
func wasiSeed(seed uint64) *rand.ChaCha8 {
	var key [32]byte
	for i := range 4 {
		for j := range 8 {
			key[i*8+j] = byte(seed >> (8 * j))
		}
		seed = seed*6364136223846793005 + 1442695040888963407
	}
	return rand.NewChaCha8(key)
}
