package host

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/wire"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// Factory makes a fresh agent of one kind from its id and config (the
// config bytes of its spawn: JSON from a topology file). It is called at
// spawn and at every restart, and must be deterministic.
type Factory = func(id string, config []byte) (agent.Agent, error)

// Strategy says which agents a group restarts or stops when one fails.
type Strategy = engine.Strategy

// Directive says what a group does with a failed child.
type Directive = engine.Directive

// Strategies and directives; see package engine's docs for the rules.
const (
	OneForOne = engine.OneForOne
	AllForOne = engine.AllForOne
	Restart   = engine.Restart
	Stop      = engine.Stop
	Escalate  = engine.Escalate
)

// Group is a supervision group. Agents spawned without a group belong to the
// root group, which restarts one-for-one at most 10 times in 100 ticks and
// halts the run past that.
type Group struct {
	Name   string `json:"name" yaml:"name"`
	Parent string `json:"parent,omitempty" yaml:"parent"`
	// Strategy: one-for-one (default) or all-for-one.
	Strategy Strategy `json:"strategy" yaml:"strategy"`
	// OnFailure: restart (default), stop or escalate.
	OnFailure Directive `json:"on_failure" yaml:"on_failure"`
	// MaxRestarts within Window ticks (default 100); one more escalates.
	MaxRestarts int    `json:"max_restarts" yaml:"max_restarts"`
	Window      uint64 `json:"window" yaml:"window"`
}

// Options configures a Host. Zero values mean defaults.
type Options struct {
	// Seed seeds every agent's random source.
	Seed uint64
	// Groups is the supervision tree.
	Groups []Group
	// Kinds maps kind names to factories. Spawn accepts only these kinds.
	Kinds map[string]Factory
	// Workers is the number of goroutines agents run on (default 1). It
	// never changes results.
	Workers int
	// MaxMessageSize limits payloads in bytes (default 1 MiB).
	MaxMessageSize int
	// Logger receives agent and runtime logs (default logrus's standard
	// logger).
	Logger *logrus.Logger
	// Record, if set, receives the replay log. The Host flushes it at Close.
	Record io.Writer
	// CreatedBy is written into the replay log header.
	CreatedBy string
	// Modules are WebAssembly agent modules; each adds a kind of its name.
	Modules []Module
	// WASM configures the WebAssembly runtime.
	WASM WASMConfig
	// Models are the ONNX models agents may infer with (the model manager
	// starts only when there are some).
	Models []Model
	// Inference configures the model manager.
	Inference InferenceConfig
	// Quotas bound what every agent may do per tick and in standing state
	// (zero fields: the defaults; see Quotas).
	Quotas Quotas
	// RecordActions also records every agent's actions of every tick in
	// the replay log (a bigger log): a divergence found by verify is then
	// shown action by action. It is not part of the run's config.
	RecordActions bool
	// External names the channels and addresses through which agents
	// speak to the outside world: what they publish on an external channel
	// or send to an external address is in TickResult.Outputs (and in the
	// replay log), for the daemon's subscribers.
	External External
	// Federation, if set, makes this host the coordinator of a federated
	// run (package host/federation): the agents it does not call local run
	// in member processes, and their reports come back through it. It
	// changes no result; a federated run cannot be checkpointed.
	Federation actors.Remote
}

// External names a run's doors to the outside world. A publish on an
// external channel still reaches the channel's members, if any; a send to
// an external address (which no agent may take as its id) reaches only the
// outside.
type External struct {
	Channels  []string `json:"channels,omitempty" yaml:"channels"`
	Addresses []string `json:"addresses,omitempty" yaml:"addresses"`
}

func (x External) empty() bool { return len(x.Channels) == 0 && len(x.Addresses) == 0 }

// Output is a message for the outside world: published on an external
// channel (Channel set) or sent to an external address (To set).
type Output struct {
	From, Channel, To string
	Payload           []byte
}

// Quotas bound every agent of a run: actions, payload bytes and deliveries
// per tick, the length of a log line, state regions and their bytes, and
// channel memberships. Going over one fails the agent at that tick with a
// reason naming the quota. Zero fields mean the defaults (engine.Default*:
// 1024 actions, 4 MiB and 65 536 deliveries per tick, 4 KiB log lines, 256
// regions of 16 MiB in all, 256 channels).
type Quotas = engine.Quotas

// Limits on Options beyond those of Quotas and WASMConfig.
const (
	// MaxWorkers bounds Options.Workers.
	MaxWorkers = 1024
	// MaxMessageSizeLimit bounds Options.MaxMessageSize: an input is one
	// record of the replay log.
	MaxMessageSizeLimit = replaylog.MaxRecordSize / 2
)

// validate checks every number of opts; errors name the field and the fix.
// A replay's options come from its log's header, untrusted: the same checks
// hold.
func (opts *Options) validate() error {
	switch {
	case opts.Workers < 0 || opts.Workers > MaxWorkers:
		return fmt.Errorf("host: workers is %d; give 1..%d (0: one)", opts.Workers, MaxWorkers)
	case checkMaxMessageSize(opts.MaxMessageSize) != nil:
		return fmt.Errorf("host: %w", checkMaxMessageSize(opts.MaxMessageSize))
	}
	if err := opts.Quotas.Validate(); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if err := opts.WASM.validate(); err != nil {
		return fmt.Errorf("host: wasm: %w", err)
	}
	for i, m := range opts.Modules {
		if err := m.validate(); err != nil {
			return fmt.Errorf("host: module %d (%q): %w", i, m.Name, err)
		}
	}
	for _, g := range opts.Groups {
		if g.MaxRestarts < 0 {
			return fmt.Errorf("host: group %q: max_restarts is %d; give 0 or more", g.Name, g.MaxRestarts)
		}
	}
	return nil
}

func checkMaxMessageSize(n int) error {
	if n < 0 || n > MaxMessageSizeLimit {
		return fmt.Errorf("max_message_size is %d; give 1..%d bytes (0: the default, %d)", n, MaxMessageSizeLimit, engine.DefaultMaxMessageSize)
	}
	return nil
}

// runConfig is what a replay needs besides commands: it is the header's
// "topology" document, and its digest the config digest.
type runConfig struct {
	Seed           uint64     `json:"seed"`
	Groups         []Group    `json:"groups"`
	MaxMessageSize int        `json:"max_message_size"`
	Modules        []Module   `json:"modules,omitempty"`
	WASM           WASMConfig `json:"wasm"`
	Models         []Model    `json:"models,omitempty"`
	Quotas         Quotas     `json:"quotas"`
	// External is omitted when empty, so that the config digests of runs
	// without it are those of earlier versions.
	External *External `json:"external,omitempty"`
}

// recordedConfig is the run's config as the replay log keeps it. Files are
// recorded by name (the base of their path) and SHA-256, never by where
// they were on the recording machine: a log is a portable file, and verify
// finds them by name under its module directories (ReplayOptions).
func recordedConfig(opts Options, modules []Module) runConfig {
	cfg := runConfig{Seed: opts.Seed, Groups: opts.Groups, MaxMessageSize: opts.MaxMessageSize,
		Modules: slices.Clone(modules), WASM: opts.WASM, Models: slices.Clone(opts.Models), Quotas: opts.Quotas}
	if !opts.External.empty() {
		cfg.External = &opts.External
	}
	for i := range cfg.Modules {
		cfg.Modules[i].Path = fileName(cfg.Modules[i].Path)
	}
	for i := range cfg.Models {
		cfg.Models[i].Path = fileName(cfg.Models[i].Path)
	}
	cfg.WASM.Trust = make([]string, len(opts.WASM.Trust))
	for i, k := range opts.WASM.Trust {
		cfg.WASM.Trust[i] = fileName(k)
	}
	return cfg
}

// fileName is the last element of a path written on any OS.
func fileName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// AgentSpec describes an agent to spawn.
type AgentSpec struct {
	ID   string
	Kind string
	// Config is handed to the kind's Factory.
	Config []byte
	// Priority orders agents within a tick: higher first, then spawn order.
	Priority int32
	// Group is the supervision group ("" for the root group).
	Group string
	// Fuel is a WebAssembly agent's fuel per tick (0: its module's; at most
	// wasmagent.MaxFuel).
	Fuel uint64
}

// Event is something that happened to an agent at a barrier.
type Event struct {
	// Kind is one of failed, restarted, stopped, escalated, dead-letter,
	// halted.
	Kind   string
	Agent  string
	Detail string
	// Trace is a failure's WebAssembly stack trace, for people: it is in no
	// digest and not in the replay log.
	Trace string
}

// TickResult is the outcome of one tick.
type TickResult struct {
	Tick clock.Tick
	// Digest chains every tick so far.
	Digest [32]byte
	// Agents ran this tick, in canonical order, with their report digests.
	// The slice is shared with the results of other ticks that ran the
	// same agents: do not modify it.
	Agents       []string
	AgentDigests []uint64
	// AgentFuel is the fuel each agent used (WASM agents; 0 for Go agents).
	AgentFuel   []uint64
	DeadLetters uint64
	Events      []Event
	// Inferences is the number of inference requests agents made; the
	// results arrive at the next tick.
	Inferences int
	// Outputs are the messages agents emitted for the outside world
	// (Options.External), in canonical order.
	Outputs []Output
}

// DigestHex is the digest in hex.
func (r TickResult) DigestHex() string { return hex.EncodeToString(r.Digest[:]) }

// ErrHalted is wrapped by the error Step returns when a failure escalated
// past the root supervision group.
var ErrHalted = errors.New("host: run halted")

// Host runs one Lockstep run.
type Host struct {
	opts   Options
	eng    *engine.Engine
	sys    *actors.System
	rec    *replaylog.Writer
	last   TickResult
	ticks  uint64
	halted error
	closed bool
	// setChanged: agents stopped at the last barrier, so the next tick's
	// record names the agents again.
	setChanged bool
	wasm       map[uint32]*wasmagent.Runtime // by memory limit
	modules    map[string]*wasmagent.Module  // WebAssembly kinds by name
	// unreproducible says why the run stopped being reproducible, if it did.
	unreproducible string
	// recordErr is why the replay log could not take a tick, if it could
	// not: the run halted there.
	recordErr error
	// replayMaxFuel bounds the fuel of agents a replayed log spawns.
	replayMaxFuel uint64
	// scheduled inputs from a topology, applied before their tick.
	scheduled map[clock.Tick][]engine.Command
	inf       *inferencer
	// tracer, if set, sees every tick's trace; with captureTrace (a replay
	// of a log with actions) the last one is kept in lastTrace, and
	// replayActions are the recorded actions of the tick being replayed.
	tracer        func(*TickTrace)
	captureTrace  bool
	lastTrace     *TickTrace
	replayActions []*replaylog.AgentActions
	// instances are the agents' current instances, for checkpoints.
	instMu    sync.Mutex
	instances map[string]instance
	// answers, on a federation member, are the coordinator's inference
	// answers for the next commit (NewMember).
	answers *engine.Answered
	// ids are the ids of the agents of idsOf, a plan's Agents slice
	// (TickResult.Agents, shared while the engine shares the slice).
	ids   []string
	idsOf []*engine.Agent
}

// instance is the instance the factory made for an agent's incarnation.
type instance struct {
	incarnation uint32
	agent       agent.Agent
}

// New starts a host.
func New(opts Options) (*Host, error) { return start(opts, nil) }

// start starts a host, from a checkpoint's engine state when cp is set.
func start(opts Options, cp *Checkpoint) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = logrus.StandardLogger()
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	groups := make([]engine.GroupSpec, len(opts.Groups))
	for i, g := range opts.Groups {
		groups[i] = engine.GroupSpec{Name: g.Name, Parent: g.Parent, Strategy: g.Strategy, Directive: g.OnFailure, MaxRestarts: g.MaxRestarts, Window: clock.Tick(g.Window)}
	}
	ecfg := engine.Config{Seed: opts.Seed, Groups: groups, Quotas: opts.Quotas,
		External: engine.External{Channels: opts.External.Channels, Addresses: opts.External.Addresses}}
	var eng *engine.Engine
	var err error
	if cp != nil {
		eng, err = engine.Restore(ecfg, cp.Engine)
	} else {
		eng, err = engine.New(ecfg)
	}
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	opts.Modules = slices.Clone(opts.Modules)
	opts.Models = slices.Clone(opts.Models) // the model manager checks them
	h := &Host{opts: opts, eng: eng, instances: map[string]instance{}}
	if cp != nil {
		h.ticks, h.last.Digest = uint64(cp.Tick), cp.Digest
		h.setChanged = true // the next tick's record names its agents
	}
	if err := h.loadModules(); err != nil {
		h.closeWASM()
		return nil, err
	}
	if cp != nil {
		if got := h.configDigest(); got != cp.ConfigDigest {
			h.closeWASM()
			return nil, fmt.Errorf("host: the checkpoint of %s is of another run (config digest %x, this run's %x): resume it with the topology and modules it was taken with", cp.Tick, cp.ConfigDigest[:8], got[:8])
		}
	}
	if opts.Record != nil {
		h.rec, err = replaylog.NewWriter(opts.Record, h.LogHeader())
		if err != nil {
			h.closeWASM()
			return nil, fmt.Errorf("host: starting the replay log: %w", err)
		}
	}
	h.sys, err = actors.Start(actors.Config{
		Engine: eng, Factory: h.factory, Workers: opts.Workers,
		MaxMessageSize: opts.MaxMessageSize, Logger: opts.Logger, Remote: opts.Federation,
	})
	if err != nil {
		h.closeWASM()
		return nil, fmt.Errorf("host: %w", err)
	}
	if err := h.startModels(); err != nil {
		h.sys.Close()
		h.closeWASM()
		return nil, err
	}
	return h, nil
}

func (h *Host) closeWASM() {
	for _, rt := range h.wasm {
		rt.Close(context.Background())
	}
	h.wasm = nil
}

// factory makes an agent's instance and keeps it for checkpoints. It runs
// on the agent's worker; checkpoints read what it kept between ticks.
func (h *Host) factory(a *engine.Agent) (agent.Agent, error) {
	ag, err := h.newAgent(a)
	if err == nil {
		h.instMu.Lock()
		h.instances[a.ID] = instance{a.Incarnation, ag}
		h.instMu.Unlock()
	}
	return ag, err
}

func (h *Host) newAgent(a *engine.Agent) (agent.Agent, error) {
	if m := h.modules[a.Kind]; m != nil {
		return m.New(a.ID, a.Seed, a.Fuel, a.Config) // WASI's random source: the agent's own seed
	}
	f := h.opts.Kinds[a.Kind]
	if f == nil {
		return nil, fmt.Errorf("unknown kind %q", a.Kind)
	}
	return f(a.ID, a.Config)
}

func (h *Host) knownKinds() string {
	names := make([]string, 0, len(h.opts.Kinds)+len(h.modules))
	for k := range h.opts.Kinds {
		names = append(names, k)
	}
	for k := range h.modules {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// apply applies cmd to the next tick and records it (with key, an input's
// idempotency key) in the replay log: a command is in the log, after the
// last tick's records, as soon as it is applied, so that the daemon can
// acknowledge it once the log is on disk, before its tick runs.
func (h *Host) apply(cmd engine.Command, key string) error { return h.applyRecorded(cmd, key, false) }

// applyRecorded is apply, marking a topology's scheduled input as such in
// the log.
func (h *Host) applyRecorded(cmd engine.Command, key string, scheduled bool) error {
	if h.closed {
		return actors.ErrClosed
	}
	if h.halted != nil {
		return h.halted
	}
	if err := h.sys.Apply(cmd); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if h.rec != nil {
		rc := wire.EncodeCommand(uint64(h.Tick()), cmd)
		rc.Key, rc.Scheduled = key, scheduled
		if err := h.rec.Append(&replaylog.Record{Kind: &replaylog.Record_Command{Command: rc}}); err != nil {
			// Applied but not recorded: no tick may run with it.
			h.recordErr = fmt.Errorf("host: recording a command for %s: %w", h.Tick(), err)
			h.halted = fmt.Errorf("%w: %w; the replay log ends before %s", ErrHalted, h.recordErr, h.Tick())
			return h.halted
		}
	}
	return nil
}

// Spawn starts an agent at the next tick.
func (h *Host) Spawn(s AgentSpec) error {
	if h.opts.Kinds[s.Kind] == nil && h.modules[s.Kind] == nil {
		return fmt.Errorf("host: spawn %q: unknown kind %q (known kinds: %s); register it in Options.Kinds", s.ID, s.Kind, h.knownKinds())
	}
	if err := wasmagent.CheckFuel("fuel", s.Fuel, "its module's"); err != nil {
		return fmt.Errorf("host: spawn %q: %w", s.ID, err)
	}
	return h.apply(engine.Command{Spawn: &engine.SpawnSpec{ID: s.ID, Kind: s.Kind, Config: s.Config, Priority: s.Priority, Group: s.Group, Fuel: s.Fuel}}, "")
}

// Stop stops an agent before the next tick. Messages still routed to it
// become dead letters.
func (h *Host) Stop(id string) error { return h.apply(engine.Command{Stop: id}, "") }

// Join adds agent id to channel from the next tick on.
func (h *Host) Join(id, channel string) error {
	return h.apply(engine.Command{Join: &engine.Membership{Agent: id, Channel: channel}}, "")
}

// Leave removes agent id from channel from the next tick on.
func (h *Host) Leave(id, channel string) error {
	return h.apply(engine.Command{Leave: &engine.Membership{Agent: id, Channel: channel}}, "")
}

// Send delivers payload to agent to at the next tick, as an external input.
func (h *Host) Send(to string, payload []byte) error {
	return h.Input(Input{To: to, Payload: payload})
}

// Publish delivers payload to every member of channel at the next tick.
func (h *Host) Publish(channel string, payload []byte) error {
	return h.Input(Input{Channel: channel, Payload: payload})
}

// Input is an external message: to one agent (To) or to every member of a
// channel (Channel).
type Input struct {
	To, Channel string
	Payload     []byte
	// Key, if set, is recorded with the input in the replay log: the
	// daemon's idempotency key.
	Key string
}

// Input delivers in at the next tick. The payload is copied.
func (h *Host) Input(in Input) error {
	if err := h.CheckSize(in.Payload); err != nil {
		return err
	}
	if in.Key != "" && len(in.Key) > MaxKeySize {
		return fmt.Errorf("host: an idempotency key of %d bytes is over the %d-byte limit", len(in.Key), MaxKeySize)
	}
	return h.apply(engine.Command{Input: &engine.Input{To: in.To, Channel: in.Channel, Payload: slices.Clone(in.Payload)}}, in.Key)
}

// MaxKeySize bounds an input's idempotency key.
const MaxKeySize = 256

// CheckSize says whether an input's payload is within the run's
// MaxMessageSize.
func (h *Host) CheckSize(p []byte) error {
	limit := h.opts.MaxMessageSize
	if limit <= 0 {
		limit = engine.DefaultMaxMessageSize
	}
	if len(p) > limit {
		return fmt.Errorf("host: input of %d bytes is over the %d-byte limit (raise Options.MaxMessageSize or split it): %w", len(p), limit, agent.ErrTooLarge)
	}
	return nil
}

// RecordError is why the replay log could not take a record, if it could
// not (the run halted there); nil otherwise.
func (h *Host) RecordError() error { return h.recordErr }

// Alive reports whether agent id is running (as of the last barrier, with
// the commands applied since).
func (h *Host) Alive(id string) bool {
	a := h.eng.Lookup(id)
	return a != nil && a.Alive()
}

// Live is the number of agents running (as of the last barrier, with the
// commands applied since). Call it between ticks.
func (h *Host) Live() int { return h.eng.Live() }

// Members returns channel's members in canonical order. Call it between
// ticks.
func (h *Host) Members(channel string) []string { return h.eng.Members(channel) }

// ReadState returns owner's state region name as of the last barrier, as a
// read-only view (no copy). Call it between ticks.
func (h *Host) ReadState(owner, name string) ([]byte, bool) { return h.eng.ReadState(owner, name) }

// Groups returns the supervision groups the host was started with (a
// copy; the implicit root group is not among them).
func (h *Host) Groups() []Group { return slices.Clone(h.opts.Groups) }

// Tick is the tick the next Step will run.
func (h *Host) Tick() clock.Tick { return clock.Tick(h.ticks) }

// Last is the result of the last tick run.
func (h *Host) Last() TickResult { return h.last }

// Step runs one tick.
func (h *Host) Step() (TickResult, error) {
	if h.closed {
		return TickResult{}, actors.ErrClosed
	}
	if h.halted != nil {
		return TickResult{}, h.halted
	}
	for _, c := range h.scheduled[h.Tick()] {
		if err := h.applyRecorded(c, "", true); err != nil {
			return TickResult{}, fmt.Errorf("host: scheduled input for %s: %w", h.Tick(), err)
		}
	}
	delete(h.scheduled, h.Tick())
	out, err := h.sys.Step()
	if err != nil {
		if !errors.Is(err, actors.ErrClosed) {
			// An aborted tick (a federation member lost): nothing of it
			// was committed, and the log ends with the last tick that was.
			h.halted = fmt.Errorf("%w: %w", ErrHalted, err)
			return TickResult{Tick: h.Tick()}, h.halted
		}
		return TickResult{}, err
	}
	res := h.result(out)
	if h.tracer != nil || h.captureTrace {
		h.trace(out, res)
	}
	h.forget(out)
	h.noteWatchdog(res)
	h.last = res
	h.ticks++
	if h.rec != nil {
		if err := h.record(out, res); err != nil {
			// The log cannot go on; nor can a run that promises one. Close
			// then writes no End record: the log is a prefix whose every
			// tick verifies, not a run that claims to have completed.
			h.recordErr = err
			h.halted = fmt.Errorf("%w: %w; the replay log ends before %s", ErrHalted, err, res.Tick)
			return res, h.halted
		}
	}
	if out.Ready.Halted != nil {
		h.halted = fmt.Errorf("%w: %w", ErrHalted, out.Ready.Halted)
		return res, h.halted
	}
	return res, nil
}

func (h *Host) result(out actors.Outcome) TickResult {
	r := out.Ready
	res := TickResult{Tick: r.Tick, Digest: r.Digest, AgentDigests: r.AgentDigests, AgentFuel: r.AgentFuel, DeadLetters: r.DeadLetters, Inferences: r.Inferences}
	// The engine hands out one Plan.Agents slice until the set of agents
	// changes: so do we with their ids.
	if p := out.Plan.Agents; len(p) == 0 || len(h.idsOf) != len(p) || &h.idsOf[0] != &p[0] {
		h.ids = make([]string, len(p))
		for i, a := range p {
			h.ids[i] = a.ID
		}
		h.idsOf = p
	}
	res.Agents = h.ids
	for _, e := range r.Events {
		res.Events = append(res.Events, Event{Kind: e.Kind.String(), Agent: e.Agent, Detail: e.Detail, Trace: e.Trace})
	}
	for _, o := range r.Outputs {
		res.Outputs = append(res.Outputs, Output{From: o.From, Channel: o.Channel, To: o.To, Payload: o.Payload})
	}
	return res
}

// Run runs ticks until n have run (n <= 0: until ctx ends), asking driver
// before each (nil: free-running). onTick, if set, sees every result.
func (h *Host) Run(ctx context.Context, n int, driver clock.Driver, onTick func(TickResult)) error {
	if driver == nil {
		driver = clock.FreeRunning{}
	}
	for i := 0; n <= 0 || i < n; i++ {
		if err := driver.Wait(ctx, h.Tick()); err != nil {
			return err
		}
		res, err := h.Step()
		if onTick != nil && (err == nil || res.Agents != nil) {
			onTick(res)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close stops every agent (calling Shutdown), ends the replay log and
// flushes it. It returns the first error met.
func (h *Host) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	fallbacks := h.closeModels()
	h.sys.Close()
	h.closeWASM()
	if h.rec == nil {
		return nil
	}
	if h.recordErr != nil {
		if err := h.rec.Flush(); err != nil {
			return fmt.Errorf("host: flushing the replay log: %w", err)
		}
		return h.recordErr
	}
	var notes []string
	if h.halted != nil {
		notes = append(notes, h.halted.Error())
	}
	if h.unreproducible != "" {
		notes = append(notes, "not reproducible: "+h.unreproducible)
	}
	reason := strings.Join(append(notes, fallbacks...), "; ")
	err := h.rec.Append(&replaylog.Record{Kind: &replaylog.Record_End{End: &replaylog.End{
		Ticks: h.ticks, FinalDigest: h.last.Digest[:], Reason: reason,
	}}})
	if ferr := h.rec.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("host: finishing the replay log: %w", err)
	}
	return nil
}

func (h *Host) moduleDigests() map[string][]byte {
	if len(h.opts.Modules) == 0 {
		return nil
	}
	m := make(map[string][]byte, len(h.opts.Modules))
	for _, mod := range h.opts.Modules {
		m[mod.Name], _ = hex.DecodeString(mod.Digest)
	}
	return m
}

func (h *Host) abiVersion() uint32 {
	if len(h.opts.Modules) == 0 {
		return 0
	}
	return wasmagent.ABIVersion
}
