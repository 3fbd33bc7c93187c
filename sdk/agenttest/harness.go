package agenttest

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
)

// Subject is what a Harness runs: an Agent or a Module.
type Subject interface{ subject() subject }

// subject is a Subject's spec.
type subject struct {
	kind     string
	factory  host.Factory // a Go agent's
	module   *host.Module // a WebAssembly agent's
	id       string
	config   []byte
	channels []string
	group    string
}

// Agent is a Go agent to run in a Harness.
type Agent struct {
	// Kind is the agent's kind (default "agent").
	Kind string
	// Factory makes its instances, at spawn and at every restart. Required.
	Factory host.Factory
	// ID is the agent's id (default: Kind).
	ID string
	// Config is handed to Factory.
	Config []byte
	// Channels are joined before the first tick.
	Channels []string
	// Group is its supervision group, one of Options.Groups ("": the root
	// group, which restarts it at most 10 times in 100 ticks, then halts).
	Group string
}

func (a Agent) subject() subject {
	kind := a.Kind
	if kind == "" {
		kind = "agent"
	}
	id := a.ID
	if id == "" {
		id = kind
	}
	return subject{kind: kind, factory: a.Factory, id: id, config: a.Config, channels: a.Channels, group: a.Group}
}

// Module is a WebAssembly agent to run in a Harness: the module at Path,
// loaded as a host does (checked, rewritten for fuel, granted Grants).
type Module struct {
	// Path is the .wasm file. Required.
	Path string
	// Name is the module's kind (default: Path's base name without .wasm).
	Name string
	// Grants are the capabilities granted to it (host.Module.Grants).
	Grants []string
	// Fuel and MaxPages, if set, override Options.WASM's fuel per tick and
	// memory limit for this module.
	Fuel     uint64
	MaxPages uint32
	// ID is the agent's id (default: Name).
	ID string
	// Config is the agent's config, as a spawn (a topology's config:)
	// gives it.
	Config []byte
	// Channels are joined before the first tick.
	Channels []string
	// Group is its supervision group (as Agent.Group).
	Group string
}

func (m Module) subject() subject {
	name := m.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(m.Path), ".wasm")
	}
	id := m.ID
	if id == "" {
		id = name
	}
	return subject{kind: name, id: id, config: m.Config, channels: m.Channels, group: m.Group,
		module: &host.Module{Name: name, Path: m.Path, Grants: m.Grants, Fuel: m.Fuel, MaxPages: m.MaxPages}}
}

// Options configures a Harness's host: each field is host.Options' field
// of that name. Zero values mean a host's defaults.
type Options struct {
	// Seed is the run's seed: the agent's random source derives from it.
	Seed uint64
	// Groups are supervision groups for Agent.Group and Module.Group.
	Groups []host.Group
	// Quotas bound the agent (and the stand-ins).
	Quotas host.Quotas
	// MaxMessageSize limits payloads, inputs included.
	MaxMessageSize int
	// WASM configures the WebAssembly runtime. With no Trust, unsigned
	// modules are allowed (AllowUnsigned).
	WASM host.WASMConfig
	// Models and Inference start the model manager, for agents that infer.
	Models    []host.Model
	Inference host.InferenceConfig
	// Logger receives the host's logs (default: none; the agent's log
	// lines are in its Outbox anyway).
	Logger *logrus.Logger
}

// Input is a message for the agent under test, delivered at Tick.
//
// With From empty it is an external input (host.Input), to the agent or,
// with Channel set, to every member of Channel. With From set it is a
// message from another agent: the harness spawns a stand-in agent with
// that id (the first time it is needed, before the tick it sends in),
// which sends it, or publishes it on Channel, at Tick-1, so that it
// arrives at Tick from From, as a real agent's would. Tick must then be at
// least 1, and a publish reaches the agent only if it is a member of
// Channel. Stand-ins run in the harness's host; they are left out of its
// records.
type Input struct {
	Tick    clock.Tick
	From    string
	Channel string
	Payload []byte
}

// Tick is the record of one tick of the agent under test.
type Tick struct {
	Tick clock.Tick
	// Ran is false when the agent did not run in this tick (it was
	// stopped).
	Ran bool
	// Delivered are the messages it received, in order: external inputs,
	// then messages from agents (and inference results).
	Delivered []agent.Message
	// Outbox is what it asked for; empty in a tick it failed in (the run
	// drops a failed tick's outbox).
	Outbox
	// Failed is why it failed in this tick ("" if it did not), Trace the
	// WebAssembly stack trace of the failure, if any.
	Failed, Trace string
	// Fuel is the fuel it used (WebAssembly agents).
	Fuel uint64
	// Events are the tick's events about it (failed, restarted, stopped,
	// escalated, dead-letter).
	Events []host.Event
	// State is its state regions after the tick's barrier.
	State map[string][]byte
}

// String describes the tick in lines: the tick, each delivery ("<-"), each
// action, the failure and the events, and the fuel.
func (r Tick) String() string {
	var b strings.Builder
	b.WriteString(r.Tick.String())
	if !r.Ran {
		b.WriteString(" (did not run)")
	}
	b.WriteString("\n")
	for _, m := range r.Delivered {
		from := m.From
		if from == "" {
			from = "input"
		}
		if m.Channel != "" {
			from += " on " + m.Channel
		}
		fmt.Fprintf(&b, "  <- %s %s\n", from, show(m.Payload))
	}
	b.WriteString(r.Outbox.String())
	if r.Failed != "" {
		fmt.Fprintf(&b, "  failed: %s\n", r.Failed)
	}
	for _, e := range r.Events {
		switch {
		case e.Kind == "failed":
		case e.Detail != "":
			fmt.Fprintf(&b, "  %s: %s\n", e.Kind, e.Detail)
		default:
			fmt.Fprintf(&b, "  %s\n", e.Kind)
		}
	}
	if r.Fuel > 0 {
		fmt.Fprintf(&b, "  fuel %d\n", r.Fuel)
	}
	return b.String()
}

// standInKind is the kind of the agents that send Inputs From others.
const standInKind = "agenttest-stand-in"

// Harness runs one agent in a host of its own, tick by tick, and records
// every tick (Tick). Its methods must be called from the test's goroutine.
type Harness struct {
	t  testing.TB
	h  *host.Host
	id string

	mu       sync.Mutex // guards what stand-ins and the factory share with the test
	inputs   map[clock.Tick][]Input
	standIns map[string]bool
	instance agent.Agent

	ticks  []Tick
	traced *Tick
	halted error
}

// Run runs s for ticks ticks with inputs, in a harness with the default
// Options, and returns the harness: its records are in Ticks.
func Run(t testing.TB, s Subject, ticks int, inputs ...Input) *Harness {
	t.Helper()
	h := New(t, s, nil)
	for _, in := range inputs {
		h.Input(in)
	}
	h.Run(ticks)
	return h
}

// New starts a host with opts (nil: the defaults) and spawns s in it; no
// tick has run. The host is closed when the test ends.
func New(t testing.TB, s Subject, opts *Options) *Harness {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	sub := s.subject()
	hr := &Harness{t: t, id: sub.id, inputs: map[clock.Tick][]Input{}, standIns: map[string]bool{}}
	ho := host.Options{
		Seed: opts.Seed, Groups: opts.Groups, Quotas: opts.Quotas, MaxMessageSize: opts.MaxMessageSize,
		WASM: opts.WASM, Models: opts.Models, Inference: opts.Inference, Logger: opts.Logger,
		Kinds: map[string]host.Factory{standInKind: hr.newStandIn},
	}
	if ho.Logger == nil {
		ho.Logger = logrus.New()
		ho.Logger.SetOutput(io.Discard)
	}
	if len(ho.WASM.Trust) == 0 {
		ho.WASM.AllowUnsigned = true
	}
	switch {
	case sub.module != nil:
		if sub.module.Path == "" {
			t.Fatal("agenttest: Module needs a Path")
		}
		ho.Modules = []host.Module{*sub.module}
	case sub.factory == nil:
		t.Fatalf("agenttest: Agent %q needs a Factory", sub.id)
	default:
		if sub.kind == standInKind {
			t.Fatalf("agenttest: kind %q is the harness's own; pick another", sub.kind)
		}
		ho.Kinds[sub.kind] = func(id string, config []byte) (agent.Agent, error) {
			a, err := sub.factory(id, config)
			if err == nil {
				hr.mu.Lock()
				hr.instance = a
				hr.mu.Unlock()
			}
			return a, err
		}
	}
	h, err := host.New(ho)
	if err != nil {
		t.Fatalf("agenttest: %v", err)
	}
	hr.h = h
	t.Cleanup(func() { _ = h.Close() })
	if err := h.Spawn(host.AgentSpec{ID: sub.id, Kind: sub.kind, Config: sub.config, Group: sub.group}); err != nil {
		t.Fatalf("agenttest: %v", err)
	}
	for _, ch := range sub.channels {
		if err := h.Join(sub.id, ch); err != nil {
			t.Fatalf("agenttest: %v", err)
		}
	}
	h.Trace(hr.trace)
	return hr
}

// Input schedules in (see Input). A tick that has run, or a message from
// an agent whose sending tick has run, fails the test.
func (hr *Harness) Input(in Input) {
	hr.t.Helper()
	next := hr.h.Tick()
	switch {
	case in.Tick < next:
		hr.t.Fatalf("agenttest: an input for %s, which has run (the next tick is %s)", in.Tick, next)
	case in.From == hr.id:
		hr.t.Fatalf("agenttest: an input from %q, the agent under test itself", in.From)
	case in.From != "" && in.Tick == 0:
		hr.t.Fatalf("agenttest: a message from agent %q at t0: agents' messages are sent a tick before they arrive, so t1 is the first (leave From empty for an external input)", in.From)
	case in.From != "" && in.Tick-1 < next:
		hr.t.Fatalf("agenttest: a message from agent %q for %s: it is sent at %s, which has run", in.From, in.Tick, in.Tick-1)
	}
	if in.From != "" {
		if err := agent.ValidateName("agent id", in.From); err != nil {
			hr.t.Fatalf("agenttest: input From: %v", err)
		}
	}
	in.Payload = slices.Clone(in.Payload)
	hr.mu.Lock()
	hr.inputs[in.Tick] = append(hr.inputs[in.Tick], in)
	hr.mu.Unlock()
}

// Send schedules an external input to the agent at tick.
func (hr *Harness) Send(tick clock.Tick, payload []byte) {
	hr.t.Helper()
	hr.Input(Input{Tick: tick, Payload: payload})
}

// Step runs one tick and returns its record. After a halt it fails the
// test.
func (hr *Harness) Step() Tick {
	hr.t.Helper()
	if hr.halted != nil {
		hr.t.Fatalf("agenttest: the run halted at %s: %v", hr.ticks[len(hr.ticks)-1].Tick, hr.halted)
	}
	if err := hr.prepare(hr.h.Tick()); err != nil {
		hr.t.Fatalf("agenttest: %s: %v", hr.h.Tick(), err)
	}
	hr.traced = nil
	res, err := hr.h.Step()
	if err != nil && !errors.Is(err, host.ErrHalted) || hr.traced == nil {
		hr.t.Fatalf("agenttest: %s: %v", hr.h.Tick(), err)
	}
	rec := *hr.traced
	rec.Tick = res.Tick
	for _, a := range hr.h.Inspect().Agents {
		if a.ID == hr.id {
			rec.State = regions(a.Regions)
		}
	}
	hr.ticks = append(hr.ticks, rec)
	hr.halted = err
	return rec
}

// Run runs n more ticks, or fewer if the run halts (Halted), and returns
// their records.
func (hr *Harness) Run(n int) []Tick {
	hr.t.Helper()
	from := len(hr.ticks)
	for range n {
		hr.Step()
		if hr.halted != nil {
			break
		}
	}
	return hr.ticks[from:]
}

// prepare applies the inputs of tick t: external inputs to the agent or a
// channel, and spawns of the stand-ins that send at t.
func (hr *Harness) prepare(t clock.Tick) error {
	hr.mu.Lock()
	now, next := slices.Clone(hr.inputs[t]), slices.Clone(hr.inputs[t+1])
	var spawn []string
	for _, in := range next {
		if in.From != "" && !hr.standIns[in.From] {
			hr.standIns[in.From] = true
			spawn = append(spawn, in.From)
		}
	}
	hr.mu.Unlock()
	for _, id := range spawn {
		if err := hr.h.Spawn(host.AgentSpec{ID: id, Kind: standInKind}); err != nil {
			return fmt.Errorf("stand-in for messages from %q: %w", id, err)
		}
	}
	for _, in := range now {
		if in.From != "" {
			continue
		}
		to := hr.id
		if in.Channel != "" {
			to = ""
		}
		if err := hr.h.Input(host.Input{To: to, Channel: in.Channel, Payload: in.Payload}); err != nil {
			return err
		}
	}
	return nil
}

// trace records the agent's tick from the host's trace.
func (hr *Harness) trace(tt *host.TickTrace) {
	rec := &Tick{Tick: tt.Tick}
	for _, at := range tt.Agents {
		if at.ID != hr.id {
			continue
		}
		rec.Ran = true
		for _, m := range at.Delivered {
			m.Payload = slices.Clone(m.Payload)
			rec.Delivered = append(rec.Delivered, m)
		}
		for _, a := range at.Actions {
			a.Payload = slices.Clone(a.Payload)
			rec.Outbox = append(rec.Outbox, a)
		}
		rec.Failed, rec.Trace, rec.Fuel = at.Failed, at.Trace, at.Fuel
	}
	for _, e := range tt.Events {
		if e.Agent == hr.id {
			rec.Events = append(rec.Events, e)
		}
	}
	hr.traced = rec
}

// newStandIn makes a stand-in: it sends, at each tick, the inputs From it
// for the next tick.
func (hr *Harness) newStandIn(string, []byte) (agent.Agent, error) {
	return standIn{hr}, nil
}

type standIn struct{ hr *Harness }

func (standIn) Init(agent.Context) error                   { return nil }
func (standIn) Receive(agent.Context, agent.Message) error { return nil }
func (standIn) Shutdown(agent.Context) error               { return nil }

func (s standIn) Step(ctx agent.Context) error {
	s.hr.mu.Lock()
	ins := slices.Clone(s.hr.inputs[ctx.Tick()+1])
	s.hr.mu.Unlock()
	for _, in := range ins {
		if in.From != ctx.Self() {
			continue
		}
		var err error
		if in.Channel != "" {
			err = ctx.Publish(in.Channel, in.Payload)
		} else {
			err = ctx.Send(s.hr.id, in.Payload)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes the host (New also has the test close it when it ends).
func (hr *Harness) Close() error { return hr.h.Close() }

// ID is the agent's id.
func (hr *Harness) ID() string { return hr.id }

// Host is the harness's host, for what the harness does not show.
func (hr *Harness) Host() *host.Host { return hr.h }

// Instance is the agent's current instance (the last its Factory made), or
// nil for a module or before the first tick.
func (hr *Harness) Instance() agent.Agent {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return hr.instance
}

// Ticks returns the record of every tick run so far.
func (hr *Harness) Ticks() []Tick { return hr.ticks }

// At returns the record of tick t; a tick that has not run fails the test.
func (hr *Harness) At(t clock.Tick) Tick {
	hr.t.Helper()
	if int(t) >= len(hr.ticks) {
		hr.t.Fatalf("agenttest: %s has not run (%d ticks have)", t, len(hr.ticks))
	}
	return hr.ticks[t]
}

// State returns the agent's state region name as of the last tick.
func (hr *Harness) State(name string) ([]byte, bool) { return hr.h.ReadState(hr.id, name) }

// Failures returns the records of the ticks the agent failed in.
func (hr *Harness) Failures() []Tick {
	var out []Tick
	for _, r := range hr.ticks {
		if r.Failed != "" {
			out = append(out, r)
		}
	}
	return out
}

// AssertNoFailures fails the test, naming each, if the agent failed in
// any tick so far or the run halted.
func (hr *Harness) AssertNoFailures() {
	hr.t.Helper()
	for _, r := range hr.Failures() {
		hr.t.Errorf("agenttest: %s failed at %s: %s", hr.id, r.Tick, r.Failed)
	}
	if hr.halted != nil {
		hr.t.Errorf("agenttest: %v", hr.halted)
	}
}

// Halted is the error the run halted with (host.ErrHalted), or nil.
func (hr *Harness) Halted() error { return hr.halted }

// String describes every tick so far (Tick.String).
func (hr *Harness) String() string {
	var b strings.Builder
	for _, r := range hr.ticks {
		b.WriteString(r.String())
	}
	return b.String()
}

// Steps runs n ticks of h, a host the test built (a whole topology, say),
// and returns their results. It fails the test at the first error and at
// the first tick with an event (a failure, restart, stop, escalation or
// dead letter): it is for runs that must go cleanly. Step a host yourself
// to look at its events.
func Steps(t testing.TB, h *host.Host, n int) []host.TickResult {
	t.Helper()
	out := make([]host.TickResult, 0, n)
	for range n {
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Events) > 0 {
			t.Fatalf("%s: unexpected events %+v", r.Tick, r.Events)
		}
		out = append(out, r)
	}
	return out
}
