package wasmagent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/wasmagent/meter"
)

type instanceKey struct{}

// callContext is an instance as the context of its calls: its Value for
// instanceKey is the instance, which host functions look up; it is never
// done. The instance is its own context so that a call reads no other
// object for it.
type callContext instance

func (*callContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*callContext) Done() <-chan struct{}       { return nil }
func (*callContext) Err() error                  { return nil }

func (c *callContext) Value(key any) any {
	if _, ok := key.(instanceKey); ok {
		return (*instance)(c)
	}
	return nil
}

// ctx is the context the instance's calls run with.
func (in *instance) ctx() context.Context { return (*callContext)(in) }

// instance is one agent's module instance; it implements agent.Agent,
// agent.Metered and agent.Snapshotter. A snapshot (snapshot.go) holds
// every field that outlives a call, except those a fresh instance of the
// same module, id, seed, fuel and config has the same (receive is looked up
// again when needed).
type instance struct {
	// What every step touches comes first, side by side: with thousands
	// of agents a tick reaches each instance from a cold cache.
	actx agent.Context // the context of the call in progress
	m    *Module
	mem  api.Memory
	fuel api.MutableGlobal
	// budget is the agent's fuel per tick; left what is left of it this
	// tick; used the fuel used since the last TakeFuel.
	budget, left, used uint64
	// scratch and scratchLen are the block the last agent_alloc call
	// returned.
	scratch, scratchLen uint32
	got                 uint32    // messages received since the last step
	stack               [1]uint64 // CallWithStack's: one argument or result
	// stderr keeps the start of what a WASI guest writes to fd 2 during
	// the current call: Go's runtime says there why it aborts.
	stderr guestStderr
	step   api.Function
	// stepVia is step when it is called through dispatch; dispatchStack
	// is the stack of calls through dispatch.
	stepVia       viaDispatch
	dispatchStack [2]uint64
	// started says Init, Receive, Step or Restore ran: Restore wants a
	// fresh instance.
	started bool

	mod api.Module
	// depth is the rewrite's call depth global: 0 between calls (a call
	// that fails sets it back).
	depth api.MutableGlobal
	// dispatch is the rewrite's meter.DispatchExport, nil if the module
	// has none. Calls through it must not nest: like any wazero function,
	// it has one stack (no host function calls back into its instance).
	dispatch   api.Function
	receive    api.Function // nil until the first message
	receiveVia viaDispatch
	initLeft   uint64 // what is left of the instantiation budget
	reads      int64  // WASI monotonic clock reads so far
	// random is WASI's random source (nil for Load's probe).
	random *rand.ChaCha8
	// config is the agent's config (its spawn's), which the config host
	// function copies out; the instance never changes it.
	config []byte
	// stage is how much of the initialisation the module's image did for
	// this instance (ImageNone: Init runs all of it).
	stage ImageStage
	// template marks the instance preinitialise makes the image of;
	// observed names the first input it read that another agent could see
	// differently ("" if none).
	template bool
	observed string
	// sharing is set while the module's start function or _initialize
	// runs for a module that declares SharedInitExport: WASI then reads
	// the same for every agent (zero random bytes, tick 0's clocks).
	sharing bool
	// filed says instantiate mapped a memory file over the new memory (the
	// module's data, or with fromImage its image's memory): for newInstance,
	// which loads the image next.
	filed bool
}

var _ agent.Agent = (*instance)(nil)
var _ agent.Metered = (*instance)(nil)
var _ agent.Snapshotter = (*instance)(nil)

// New returns a fresh instance of the module as the agent id with the given
// random seed for WASI (ignored by modules without WASI), fuel per tick
// (0: the module's Fuel; at most MaxFuel) and config: the bytes of its
// spawn's config (a topology agent's config:), which the agent reads with
// the host function config, from its start function on. New keeps a copy.
func (m *Module) New(id string, seed, fuel uint64, config []byte) (agent.Agent, error) {
	if err := CheckFuel("fuel", fuel, "its module's"); err != nil {
		return nil, fmt.Errorf("wasmagent: agent %q: %w", id, err)
	}
	in, err := m.newInstance(wasiSeed(seed), bytes.Clone(config))
	if err != nil {
		return nil, fmt.Errorf("wasmagent: instantiating %q for agent %q: %w", m.Name, id, err)
	}
	if fuel != 0 {
		in.budget, in.left = fuel, fuel
	}
	return in, nil
}

// epoch is what WASI guests see as the wall clock at tick 0 (wazero's own
// fake clock starts there too).
const epoch = 1640995200 // 2022-01-01T00:00:00Z

// TickDuration is how much WASI clock time one tick is.
const TickDuration = time.Millisecond

// instantiateMode says what instantiate does besides instantiating.
type instantiateMode uint8

const (
	runStart   instantiateMode = iota // run the start function: an agent's instance, or Load's probe
	asTemplate                        // run it as preinitialise's template, noting what it observes
	skipStart                         // leave it out, and the data the rewrite took out: freshMemory
	fromImage                         // as skipStart; the module's image replaces both (newInstance)
)

func (m *Module) instantiate(ctx context.Context, random *rand.ChaCha8, config []byte, mode instantiateMode) (*instance, error) {
	in := &instance{m: m, budget: m.Fuel, left: m.Fuel, initLeft: m.rt.cfg.InitFuel, random: random, config: config,
		template: mode == asTemplate}
	cfg := m.rt.plain // nothing reads WASI's clocks or random source
	if m.wasi {
		cfg = in.wasiConfig()
	}
	// file is what the new memory starts as, if a memory file holds it:
	// mapped, not copied.
	var file *memoryFile
	switch mode {
	case runStart, asTemplate:
		file = m.dataFile
	case fromImage:
		file = m.imageFile
	}
	var alloc *allocation // kept if file may be mapped
	switch mem := m.rt.memory; {
	case mem != nil && file != nil:
		alloc = &allocation{s: mem, min: file.size}
		if mode == fromImage { // and room to grow to the image's size in place
			alloc.min = max(alloc.min, uint64(m.image.snap.Pages)*pageBytes)
		}
		ctx = experimental.WithMemoryAllocator(ctx, alloc)
	case mem != nil:
		ctx = experimental.WithMemoryAllocator(ctx, mem)
	}
	mod, err := m.rt.rt.InstantiateModule(ctx, m.compiled, cfg)
	if err != nil {
		return nil, m.trapReason(err, "")
	}
	in.mod, in.mem = mod, mod.Memory()
	// The image holds what the data wrote (skipStart, fromImage); a memory
	// file maps it; else it is copied in.
	if alloc != nil && alloc.mem != nil {
		if in.filed, err = alloc.mem.mapFile(file); err != nil {
			mod.Close(ctx)
			return nil, err
		}
	}
	if (mode == runStart || mode == asTemplate) && !in.filed {
		mem, _ := in.memory()
		for _, r := range m.data {
			copy(mem[r.Offset:], r.Data)
		}
	}
	// Every export looked up builds a wazero call engine with its own
	// 10 KiB stack: the ABI's exports are called through the rewrite's
	// dispatch function, one call engine for all (export).
	if m.dispatch != nil {
		in.dispatch = mod.ExportedFunction(meter.DispatchExport)
	}
	in.step = in.exportTo(&in.stepVia, "agent_step")
	if g, ok := mod.ExportedGlobal(meter.FuelExport).(api.MutableGlobal); ok {
		in.fuel = g
	}
	if g, ok := mod.ExportedGlobal(meter.DepthExport).(api.MutableGlobal); ok {
		in.depth = g
	}
	// The module's start function, which the rewrite exported instead of
	// letting wazero run it: so its fuel and depth are the instantiation's,
	// and running out of them is told apart from a trap.
	// (Asked of the module, not wazero: a missing export costs an error.)
	if m.start && (mode == runStart || mode == asTemplate) {
		if err := in.initModule(mod.ExportedFunction(meter.StartExport)); err != nil {
			mod.Close(ctx)
			return nil, fmt.Errorf("start function: %w", err)
		}
	}
	return in, nil
}

// wasiConfig is the module config of an instance of a module that imports
// WASI: its clocks follow the tick (the wall clock is constant within a
// tick, TickDuration apart between ticks; sleeping is a no-op, wazero's
// default), its random source is the agent's.
func (in *instance) wasiConfig() wazero.ModuleConfig {
	cfg := in.m.rt.plain.
		WithWalltime(func() (int64, int32) {
			if !in.sharing {
				in.observe("the WASI wall clock")
			}
			d := time.Duration(in.tick()) * TickDuration
			return epoch + int64(d/time.Second), int32(d % time.Second)
		}, sys.ClockResolution(TickDuration)).
		WithNanotime(func() int64 {
			// Monotonic and never 0 (Go's runtime refuses 0); each read
			// advances it by 1 ns, so a guest waiting for time to pass
			// (Go's scheduler does) sees it pass, deterministically.
			if !in.sharing {
				in.observe("the WASI monotonic clock")
			}
			in.reads++
			return int64(in.tick()+1)*int64(TickDuration) + in.reads
		}, 1).
		WithStderr(&in.stderr)
	return cfg.WithRandSource(wasiRandom{in})
}

// wasiRandom is an instance's WASI random source: the agent's own stream,
// except that the module's shared initialisation (sharing) reads zeros, and
// so does preinitialise's template, noting that it read them. Without an
// instance (Runtime.plain's, which nothing reads) or a stream (Load's
// probe) it reads zeros.
type wasiRandom struct{ in *instance }

func (r wasiRandom) Read(p []byte) (int, error) {
	switch in := r.in; {
	case in == nil || in.sharing:
	case in.random != nil:
		return in.random.Read(p)
	default:
		in.observe("the WASI random source")
	}
	clear(p)
	return len(p), nil
}

// tick is the current tick: 0 outside calls from the host, and while the
// module's shared initialisation runs.
func (in *instance) tick() uint64 {
	if in.actx == nil || in.sharing {
		return 0
	}
	return uint64(in.actx.Tick())
}

func (in *instance) close() { in.mod.Close(context.Background()) }

// callKind says which budget a call draws on.
type callKind uint8

const (
	tickCall callKind = iota // the tick's: agent_alloc, agent_receive, agent_step, agent_shutdown
	initCall                 // instantiation's: _initialize, agent_init, lockstep_abi_version
)

// call runs fn on the fuel left of its kind's budget and returns its i32
// result (0 if none). ABI exports take at most one argument.
func (in *instance) call(fn api.Function, kind callKind, args ...uint64) (uint32, error) {
	pool := &in.left
	if kind == initCall {
		pool = &in.initLeft
	}
	budget := *pool
	if in.fuel != nil {
		in.fuel.Set(budget)
	}
	ctx := in.ctx()
	if wd := in.m.rt.cfg.Watchdog; wd > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wd)
		defer cancel()
	}
	// CallWithStack on the instance's own stack: no allocation per call.
	stack := in.stack[:]
	stack[0] = 0
	copy(stack, args)
	in.stderr.reset()
	err := fn.CallWithStack(ctx, stack)
	// A call that returns leaves the depth global at 0; one that failed
	// may not, and the next call must start from 0.
	var depth uint32
	if err != nil && in.depth != nil {
		depth = uint32(in.depth.Get())
		in.depth.Set(0)
	}
	if err != nil && ctx.Err() != nil {
		return 0, in.m.withTrace(fmt.Errorf("%w: %s ran past %v of wall-clock time", ErrWatchdog, exportName(fn), in.m.rt.cfg.Watchdog), err)
	}
	if in.fuel != nil {
		left := int64(in.fuel.Get())
		if left < 0 {
			in.used += budget
			*pool = 0
			return 0, in.m.withTrace(in.exhausted(fn, kind), err)
		}
		in.used += budget - uint64(left)
		*pool = uint64(left)
	}
	if err != nil && depth > MaxCallDepth {
		return 0, in.m.withTrace(fmt.Errorf("%w: %s nested calls deeper than %d levels (unbounded recursion?)", ErrCallDepth, exportName(fn), MaxCallDepth), err)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", exportName(fn), in.m.trapReason(err, in.stderr.abort(in.m.rt.cfg.MaxPages)))
	}
	return uint32(stack[0]), nil // 0 for _initialize, which has no result
}

// exhausted is the error of fn running out of its kind's budget.
func (in *instance) exhausted(fn api.Function, kind callKind) error {
	if kind == initCall {
		return fmt.Errorf("%w: %s used the last of the %d fuel of instantiation (start function, _initialize and agent_init together; raise wasm.init_fuel)", ErrFuelExhausted, exportName(fn), in.m.rt.cfg.InitFuel)
	}
	return fmt.Errorf("%w: %s used the last of the agent's %d fuel for this tick (shared by every call of the tick; raise wasm.fuel, or fuel: of the module or the agent)", ErrFuelExhausted, exportName(fn), in.budget)
}

// export returns the function the module exports as name: a call through
// the rewrite's dispatch function when it calls name (no call engine of
// its own), else wazero's.
func (in *instance) export(name string) api.Function { return in.exportTo(new(viaDispatch), name) }

// exportTo is export, filling in and returning via if name is called
// through the dispatch function.
func (in *instance) exportTo(via *viaDispatch, name string) api.Function {
	if d, ok := in.m.dispatch[name]; ok && in.dispatch != nil {
		*via = viaDispatch{Function: in.dispatch, in: in, dispatchedExport: d}
		return via
	}
	return in.mod.ExportedFunction(name)
}

// viaDispatch is an export called through the instance's dispatch
// function (meter.Options.Dispatch): its Definition is the export's, so
// errors and traces name it. It embeds the dispatch function, which
// makes it an api.Function (wazero seals the interface); every method is
// its own.
type viaDispatch struct {
	api.Function
	in *instance
	dispatchedExport
}

func (d *viaDispatch) Definition() api.FunctionDefinition { return d.def }

func (d *viaDispatch) Call(ctx context.Context, params ...uint64) ([]uint64, error) {
	stack := make([]uint64, 1)
	copy(stack, params)
	if err := d.CallWithStack(ctx, stack); err != nil {
		return nil, err
	}
	return stack[:len(d.def.ResultTypes())], nil // rare: ResultTypes allocates
}

// CallWithStack calls the dispatch function with which and the export's
// argument (0 if it takes none), and leaves its result (0 if it returns
// nothing) in stack[0].
func (d *viaDispatch) CallWithStack(ctx context.Context, stack []uint64) error {
	s := &d.in.dispatchStack
	s[0], s[1] = d.which, 0
	if d.hasParam {
		s[1] = stack[0]
	}
	if err := d.Function.CallWithStack(ctx, s[:]); err != nil {
		return err
	}
	if len(stack) > 0 {
		stack[0] = s[0]
	}
	return nil
}

// exportName names fn as the ABI does (the name section may say otherwise).
func exportName(fn api.Function) string {
	if names := fn.Definition().ExportNames(); len(names) > 0 {
		return names[0]
	}
	return fn.Definition().Name()
}

// trapReason keeps the first line of a wazero error: the trap itself, the
// same on every engine. The wasm stack trace wazero appends, whose text is
// engine-specific, goes with it as its StackTrace (agent.StackTracer): it
// is logged and shown, never part of a failure's reason or a digest.
// A guest's own account of the trap (see guestStderr.abort), if any,
// follows it after a colon.
func (m *Module) trapReason(err error, why string) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if why != "" {
		msg += ": " + why
	}
	return m.withTrace(errors.New(msg), err)
}

func (in *instance) callCode(fn api.Function, kind callKind, args ...uint64) error {
	code, err := in.call(fn, kind, args...)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s returned %d", exportName(fn), int32(code))
	}
	return nil
}

// Init runs _initialize (WASI reactors) and agent_init, or what of them
// the module's image did not run already.
func (in *instance) Init(ctx agent.Context) error {
	in.actx = ctx
	in.started = true
	if in.m.init && in.stage < ImageStarted {
		if err := in.initModule(in.export("_initialize")); err != nil {
			return err
		}
	}
	if in.stage == ImageInitialised {
		return nil
	}
	return in.callCode(in.export("agent_init"), initCall)
}

// initModule runs fn, the module's start function or _initialize, on the
// instantiation budget; for a module that declares SharedInitExport, with
// WASI reading the same for every agent (see sharing).
func (in *instance) initModule(fn api.Function) error {
	in.sharing = in.m.sharedInit
	defer func() { in.sharing = false }()
	_, err := in.call(fn, initCall)
	return err
}

// place returns the address of n bytes of guest memory for the host to
// write into: the block of the last agent_alloc call if n fits in it (the
// ABI keeps a block valid until the next agent_alloc call), else a new one.
// Steps of one agent write the same number of bytes every tick, so an
// agent_alloc call is rare after the first tick.
func (in *instance) place(n int) (uint32, error) {
	if uint64(n) <= uint64(in.scratchLen) {
		return in.scratch, nil
	}
	p, err := in.call(in.export("agent_alloc"), tickCall, uint64(n))
	if err != nil {
		return 0, err
	}
	if p == 0 || uint64(p)+uint64(n) > uint64(in.mem.Size()) {
		return 0, fmt.Errorf("agent_alloc(%d) returned %#x, outside its %d-byte memory", n, p, in.mem.Size())
	}
	in.scratch, in.scratchLen = p, uint32(n)
	return p, nil
}

// Receive copies msg into guest memory and calls agent_receive.
func (in *instance) Receive(ctx agent.Context, msg agent.Message) error {
	in.actx = ctx
	in.started = true
	n := 32 + len(msg.From) + len(msg.Channel) + len(msg.Payload)
	p, err := in.place(n)
	if err != nil {
		return err
	}
	buf, _ := in.mem.Read(p, uint32(n))
	le := binary.LittleEndian
	le.PutUint64(buf[0:], uint64(msg.Sent))
	off := uint32(32)
	field := func(at int, n int) { // header slot at: (ptr, len) of n bytes at off
		le.PutUint32(buf[at:], p+off)
		le.PutUint32(buf[at+4:], uint32(n))
		off += uint32(n)
	}
	copy(buf[off:], msg.From)
	field(8, len(msg.From))
	copy(buf[off:], msg.Channel)
	field(16, len(msg.Channel))
	copy(buf[off:], msg.Payload)
	field(24, len(msg.Payload))
	in.got++
	if in.receive == nil {
		in.receive = in.exportTo(&in.receiveVia, "agent_receive")
	}
	return in.callCode(in.receive, tickCall, uint64(p))
}

// Step writes the context and calls agent_step.
func (in *instance) Step(ctx agent.Context) error {
	in.actx = ctx
	in.started = true
	id := ctx.Self()
	n := 24 + len(id)
	p, err := in.place(n)
	if err != nil {
		return err
	}
	buf, _ := in.mem.Read(p, uint32(n))
	le := binary.LittleEndian
	le.PutUint64(buf[0:], uint64(ctx.Tick()))
	le.PutUint32(buf[8:], p+24)
	le.PutUint32(buf[12:], uint32(len(id)))
	le.PutUint32(buf[16:], in.got)
	le.PutUint32(buf[20:], 0)
	copy(buf[24:], id)
	in.got = 0
	return in.callCode(in.step, tickCall, uint64(p))
}

// Shutdown calls agent_shutdown and releases the instance.
func (in *instance) Shutdown(ctx agent.Context) error {
	in.actx = ctx
	defer in.close()
	in.left = in.budget // effects discarded: a budget of its own
	return in.callCode(in.export("agent_shutdown"), tickCall)
}

// TakeFuel returns the fuel used since the last call, and starts the next
// tick's budget: the host calls it after each tick's step.
func (in *instance) TakeFuel() uint64 {
	u := in.used
	in.used = 0
	in.left = in.budget
	return u
}
