// Package observe publishes a read-only view of a running host for
// dashboards and scrapers: JSON views and Prometheus metrics over HTTP.
//
// The host's driver goroutine calls Observer.Publish after every tick, at
// the barrier (from the onTick callback of host.Run). Publish only reads the
// tick's result, the host's tick trace (Host.Trace, which never changes a
// run), the host's inspection and its model metrics, copies what it keeps
// into a fresh Snapshot and swaps it in atomically; HTTP handlers read the
// latest snapshot and never touch the host. So serving, scraping, attaching
// or detaching a reader never blocks a tick and never changes a digest.
//
//	obs := observe.New("my-run", h)
//	obs.SetLength(1000)
//	srv, _ := server.Serve(listener, obs.Handler(), server.Limits{})
//	defer srv.Shutdown(ctx)
//	err := h.Run(ctx, 1000, obs.Driver(nil), obs.Publish)
//	obs.Finish(err) // before h.Close: the final view of the agents
//
// Observer.Driver wraps the run's clock so that the observer knows when each
// tick's work starts: lockstep_tick_duration_seconds and the history's
// work_seconds are the time from the clock releasing a tick to its barrier
// (pacing excluded), less the observer's own bookkeeping.
//
// Package host/observe/server serves it with a cap on connections and
// read, write and idle timeouts, so clients cannot exhaust the process's
// file descriptors; agenthost run --observe and cmd/agentui both use it.
//
// The endpoints are listed at Handler. Every JSON answer carries an ETag
// (the publish it shows) and answers a matching If-None-Match with 304, and
// every one but /snapshot is bounded whatever the number of agents: a
// dashboard polls /summary (with ?after=TICK for only the new history) and
// pages through /agents and /channels.
package observe

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/modelactor"
)

// MaxEvents is how many of the most recent events a Snapshot keeps.
const MaxEvents = 100

// HistorySize is how many of the most recent ticks' summaries a Snapshot
// keeps (Snapshot.History).
const HistorySize = 1000

// MaxLogLines is how many of its most recent log lines an agent's view
// keeps.
const MaxLogLines = 3

// maxLogText bounds a kept log line, in bytes.
const maxLogText = 200

// rateWindow is how many publishes the ticks/second figure spans.
const rateWindow = 64

// inspectAlways is the number of agents up to which the agents' view is
// rebuilt at every publish; past it, only when the last rebuild took under
// a tenth of the time since (and always at Finish), so that a large run
// spends at most about a tenth of its driver's time on the view.
const inspectAlways = 2000

// Agent states in Agent.State.
const (
	StateRunning    = "running"
	StateRestarting = "restarting"
	StateStopped    = "stopped"
)

// Snapshot is what the host looked like at its last barrier. Every field is
// a copy: a Snapshot never changes once published.
type Snapshot struct {
	// Run is the run's name (the topology's).
	Run string `json:"run"`
	// Seq counts publishes (and Finish); the JSON views' ETag.
	Seq uint64 `json:"seq"`
	// Tick is the last tick run; meaningless while Counts.Ticks is 0.
	Tick uint64 `json:"tick"`
	// Length is the number of ticks the run was started for (0: unknown or
	// until stopped; see SetLength).
	Length uint64 `json:"length,omitempty"`
	// ETASeconds is the wall time the run's remaining ticks should take at
	// the current rate (0 when the length or the rate is unknown).
	ETASeconds float64 `json:"eta_seconds,omitempty"`
	// Digest is the chained digest after Tick, in hex ("" before any tick).
	Digest string `json:"digest"`
	// Agents are every agent spawned, as of AgentsTick: those that ran in
	// canonical order, then the stopped ones in spawn order.
	Agents []Agent `json:"agents"`
	// AgentsTick is the tick of the agents' view (it may trail Tick by a
	// few ticks in a run of many agents; Finish brings it up to date).
	AgentsTick uint64 `json:"agents_tick"`
	// Groups is the supervision tree, root first, with its agents' states.
	Groups []Group `json:"groups"`
	// Channels are the channels with members as of AgentsTick, by name.
	Channels []Channel `json:"channels"`
	// Counts are totals over every tick published.
	Counts Counts `json:"counts"`
	// History is a summary of each of the last HistorySize ticks, oldest
	// first.
	History []TickStat `json:"history"`
	// Events are the last MaxEvents events, oldest first.
	Events []Event `json:"events"`
	// Models are the model manager's metrics (none when the run declares
	// no models).
	Models []modelactor.Metrics `json:"models,omitempty"`
	// TicksPerSecond is the wall-clock rate over the last publishes; it is
	// informational and never part of a run.
	TicksPerSecond float64 `json:"ticks_per_second"`
	// Reproducible is false once the run stopped being reproducible (see
	// host.Host.Reproducible).
	Reproducible bool `json:"reproducible"`
	// Ended is true once the run is over (Finish); EndReason then says why
	// it ended early, if it did ("" when all its ticks ran).
	Ended     bool   `json:"ended"`
	EndReason string `json:"end_reason,omitempty"`
	// Published is the wall time of the publish (informational).
	Published time.Time `json:"published"`
}

// Agent is one agent as of a barrier.
type Agent struct {
	ID    string `json:"id"`
	Kind  string `json:"kind,omitempty"`
	Group string `json:"group,omitempty"`
	// State is running, restarting (it failed or was restarted at the
	// tick) or stopped.
	State string `json:"state,omitempty"`
	// Restarts counts its restarts (its incarnation).
	Restarts uint32 `json:"restarts"`
	// Digest is the agent's report digest for the tick.
	Digest Hex64 `json:"digest"`
	// Fuel is the fuel it used at the tick (WebAssembly agents; 0 for Go
	// agents), FuelTotal over every tick observed.
	Fuel      uint64 `json:"fuel"`
	FuelTotal uint64 `json:"fuel_total"`
	// MessagesIn counts the messages delivered to it (inputs included),
	// MessagesOut those it sent or published, over every tick observed.
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
	// Channels are the channels it is a member of.
	Channels []string `json:"channels,omitempty"`
	// Regions are the sizes in bytes of its state regions, by name.
	Regions map[string]int `json:"regions,omitempty"`
	// Logs are its last MaxLogLines log lines, oldest first.
	Logs []LogLine `json:"logs,omitempty"`
}

// LogLine is one line an agent logged.
type LogLine struct {
	Tick  uint64 `json:"tick"`
	Level string `json:"level"`
	// Text is the line, cut to 200 bytes.
	Text string `json:"text"`
}

// Group is a supervision group and the states of its agents.
type Group struct {
	Name string `json:"name"`
	// Parent is "" for the root group.
	Parent string `json:"parent,omitempty"`
	// Strategy, OnFailure, MaxRestarts and Window are the group's policy
	// (empty for the implicit root group: see host.Group).
	Strategy    string `json:"strategy,omitempty"`
	OnFailure   string `json:"on_failure,omitempty"`
	MaxRestarts int    `json:"max_restarts,omitempty"`
	Window      uint64 `json:"window,omitempty"`
	// Agents counts its agents by state.
	Running    int `json:"running"`
	Restarting int `json:"restarting"`
	Stopped    int `json:"stopped"`
	// Restarts sums its agents' restarts; InWindow counts the group's
	// restarts still inside its window (one past MaxRestarts escalates).
	Restarts uint64 `json:"restarts"`
	InWindow int    `json:"in_window"`
}

// Channel is a channel and its members, in spawn order.
type Channel struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// TickStat summarises one tick.
type TickStat struct {
	Tick uint64 `json:"tick"`
	// WorkSeconds is the wall time of the tick's work (0 when the run's
	// clock was not wrapped by Observer.Driver).
	WorkSeconds float64 `json:"work_seconds"`
	// Delivered counts the messages delivered to agents at the tick.
	Delivered   uint64 `json:"delivered"`
	Failures    uint64 `json:"failures"`
	Restarts    uint64 `json:"restarts"`
	DeadLetters uint64 `json:"dead_letters"`
	Fuel        uint64 `json:"fuel"`
	Inferences  uint64 `json:"inferences"`
	Agents      int    `json:"agents"`
}

// Counts are cumulative counts over a run.
type Counts struct {
	Ticks       uint64 `json:"ticks"`
	Failures    uint64 `json:"failures"`
	Restarts    uint64 `json:"restarts"`
	DeadLetters uint64 `json:"dead_letters"`
	Inferences  uint64 `json:"inferences"`
	Delivered   uint64 `json:"delivered"`
	Fuel        uint64 `json:"fuel"`
}

// Event is a supervision or routing event and the tick it happened at.
type Event struct {
	Tick uint64 `json:"tick"`
	// Kind is one of failed, restarted, stopped, escalated, dead-letter,
	// halted.
	Kind   string `json:"kind"`
	Agent  string `json:"agent"`
	Detail string `json:"detail,omitempty"`
}

// Hex64 is a 64-bit digest that reads and writes as 16 hex digits in JSON.
type Hex64 uint64

// String is the digest in hex.
func (x Hex64) String() string { return fmt.Sprintf("%016x", uint64(x)) }

// MarshalJSON writes the digest as a hex string.
func (x Hex64) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, `"%016x"`, uint64(x)), nil }

// UnmarshalJSON reads a hex string.
func (x *Hex64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("observe: digest: %w", err)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return fmt.Errorf("observe: digest %q: %w", s, err)
	}
	*x = Hex64(v)
	return nil
}

// acc is what the observer accumulates about one agent between views.
type acc struct {
	in, out, fuel uint64
	logs          []LogLine // ring of the last MaxLogLines, oldest first
}

// Observer keeps the latest Snapshot of a host and serves it.
type Observer struct {
	h    *host.Host
	snap atomic.Pointer[Snapshot]
	now  func() time.Time // time.Now; tests replace it
	// born tells this observer's ETags from another's (agentui's replay
	// makes a new observer for each move over the ticks).
	born int64

	// mu serialises Publish, Finish and the tracer (normally all called by
	// the driver goroutine anyway).
	mu      sync.Mutex
	seq     uint64
	length  uint64
	counts  Counts
	events  ring[Event]    // the last MaxEvents
	history ring[TickStat] // the last HistorySize
	times   []time.Time
	agents  map[string]*acc
	// begun is when the clock released the tick in progress (zero: not
	// known); traced is the time the tracer took during it, delivered the
	// messages it delivered.
	begun     time.Time
	traced    time.Duration
	delivered uint64
	// inspected is when the agents' view was last rebuilt and inspectCost
	// how long that took.
	inspected   time.Time
	inspectCost time.Duration

	reg      *prometheus.Registry
	duration prometheus.Histogram
}

// New makes an observer of h for a run called name and starts tracing h
// (Host.Trace: it changes no digest). Call it from the goroutine that
// drives h, before the run. h may be nil (a snapshot then has no agents'
// view, no models and is reproducible).
func New(name string, h *host.Host) *Observer {
	o := &Observer{h: h, now: time.Now, born: time.Now().UnixNano(), reg: prometheus.NewRegistry(), agents: map[string]*acc{}}
	o.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "lockstep_tick_duration_seconds",
		Help: "Wall time of each tick's work, from the clock releasing it to its barrier (pacing excluded; informational, never part of a run).",
		// 10µs .. ~42s
		Buckets: prometheus.ExponentialBuckets(1e-5, 4, 12),
	})
	o.reg.MustRegister(o.duration, collector{o})
	var models *modelactor.Manager
	if h != nil {
		models = h.Models()
	}
	registerRuntime(o.reg, models)
	o.snap.Store(&Snapshot{Run: name, Agents: []Agent{}, Groups: []Group{}, Channels: []Channel{}, History: []TickStat{}, Events: []Event{},
		Reproducible: h == nil || h.Reproducible(), Published: o.now()})
	if h != nil {
		h.Trace(o.trace)
	}
	return o
}

// SetLength says how many ticks the run is started for, for its progress
// and ETA (0: unknown).
func (o *Observer) SetLength(ticks uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.length = ticks
}

// Snapshot returns the latest snapshot. It never blocks Publish; callers
// must not modify it.
func (o *Observer) Snapshot() *Snapshot { return o.snap.Load() }

// Driver wraps the run's clock (nil: free-running) so that the observer
// knows when each tick's work starts. It waits exactly as d does.
func (o *Observer) Driver(d clock.Driver) clock.Driver {
	if d == nil {
		d = clock.FreeRunning{}
	}
	return timedDriver{d, o}
}

type timedDriver struct {
	clock.Driver
	o *Observer
}

// Wait implements clock.Driver.
func (t timedDriver) Wait(ctx context.Context, tick clock.Tick) error {
	err := t.Driver.Wait(ctx, tick)
	t.o.mu.Lock()
	t.o.begun, t.o.traced = t.o.now(), 0
	t.o.mu.Unlock()
	return err
}

// trace reads a tick's trace (inside Step): messages in and out and log
// lines per agent.
func (o *Observer) trace(tt *host.TickTrace) {
	start := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	var delivered uint64
	for i := range tt.Agents {
		at := &tt.Agents[i]
		a := o.acc(at.ID)
		a.in += uint64(len(at.Delivered))
		delivered += uint64(len(at.Delivered))
		for _, act := range at.Actions {
			switch act.Kind {
			case "send", "publish":
				a.out++
			case "log":
				text := act.Payload[:min(len(act.Payload), maxLogText)]
				l := LogLine{Tick: uint64(tt.Tick), Level: act.Level, Text: string(text)}
				if len(a.logs) == MaxLogLines {
					a.logs = append(a.logs[:0:0], a.logs[1:]...)
				}
				a.logs = append(a.logs, l)
			}
		}
	}
	o.delivered = delivered
	o.traced += o.now().Sub(start)
}

func (o *Observer) acc(id string) *acc {
	a := o.agents[id]
	if a == nil {
		a = &acc{}
		o.agents[id] = a
	}
	return a
}

// Publish records the result of a tick; call it after every tick, from the
// goroutine that drives the host (host.Run's onTick). It reads r, the
// host's inspection and its model metrics and changes nothing of the run.
func (o *Observer) Publish(r host.TickResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	stat := TickStat{Tick: uint64(r.Tick), Delivered: o.delivered, DeadLetters: r.DeadLetters, Inferences: uint64(r.Inferences), Agents: len(r.Agents)}
	if !o.begun.IsZero() {
		work := now.Sub(o.begun) - o.traced
		stat.WorkSeconds = max(work, 0).Seconds()
		o.duration.Observe(stat.WorkSeconds)
		o.begun = time.Time{}
	}
	o.delivered = 0
	if len(o.times) == rateWindow {
		copy(o.times, o.times[1:])
		o.times = o.times[:rateWindow-1]
	}
	o.times = append(o.times, now)

	for i, id := range r.Agents {
		if i < len(r.AgentFuel) {
			stat.Fuel += r.AgentFuel[i]
			o.acc(id).fuel += r.AgentFuel[i]
		}
	}
	restarting := map[string]bool{}
	for _, e := range r.Events {
		switch e.Kind {
		case "failed":
			stat.Failures++
			restarting[e.Agent] = true
		case "restarted":
			stat.Restarts++
			restarting[e.Agent] = true
		}
		o.events.add(Event{Tick: uint64(r.Tick), Kind: e.Kind, Agent: e.Agent, Detail: e.Detail}, MaxEvents)
	}
	o.counts.Ticks++
	o.counts.Failures += stat.Failures
	o.counts.Restarts += stat.Restarts
	o.counts.DeadLetters += stat.DeadLetters
	o.counts.Inferences += stat.Inferences
	o.counts.Delivered += stat.Delivered
	o.counts.Fuel += stat.Fuel
	o.history.add(stat, HistorySize)

	prev := o.snap.Load()
	s := o.base(prev, now)
	s.Tick, s.Digest = uint64(r.Tick), r.DigestHex()
	if n := len(o.times); n > 1 {
		if d := o.times[n-1].Sub(o.times[0]).Seconds(); d > 0 {
			s.TicksPerSecond = float64(n-1) / d
		}
	}
	if s.Length > 0 && s.TicksPerSecond > 0 && o.counts.Ticks < s.Length {
		s.ETASeconds = float64(s.Length-o.counts.Ticks) / s.TicksPerSecond
	}
	if o.h == nil || len(r.Agents) <= inspectAlways || now.Sub(o.inspected) >= 10*o.inspectCost {
		o.view(s, r, restarting)
	}
	o.snap.Store(s)
}

// Finish marks the run ended (err: why it ended early; nil when all its
// ticks ran) and brings the agents' view up to date. Call it after the
// run's last Publish and before closing the host (Close stops the agents).
func (o *Observer) Finish(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	prev := o.snap.Load()
	s := o.base(prev, o.now())
	s.Tick, s.Digest, s.TicksPerSecond = prev.Tick, prev.Digest, prev.TicksPerSecond
	s.Ended = true
	if err != nil {
		s.EndReason = err.Error()
	}
	if o.h != nil && prev.Digest != "" {
		last := o.h.Last()
		restarting := map[string]bool{}
		for _, e := range last.Events {
			if e.Kind == "failed" || e.Kind == "restarted" {
				restarting[e.Agent] = true
			}
		}
		o.view(s, last, restarting)
	}
	o.snap.Store(s)
}

// base is a new snapshot with the cumulative fields; the agents' view is
// prev's until view replaces it.
func (o *Observer) base(prev *Snapshot, now time.Time) *Snapshot {
	o.seq++
	s := &Snapshot{
		Run: prev.Run, Seq: o.seq, Length: o.length, Counts: o.counts, History: o.history.recent(), Events: o.events.recent(),
		Agents: prev.Agents, AgentsTick: prev.AgentsTick, Groups: prev.Groups, Channels: prev.Channels,
		Reproducible: true, Published: now,
	}
	if o.h != nil {
		s.Reproducible = o.h.Reproducible()
		if m := o.h.Models(); m != nil {
			s.Models = m.Metrics() // a fresh slice of copies
		}
	}
	return s
}

// view rebuilds the agents', groups' and channels' views of s from r and
// the host's inspection.
func (o *Observer) view(s *Snapshot, r host.TickResult, restarting map[string]bool) {
	start := o.now()
	defer func() { o.inspected, o.inspectCost = o.now(), o.now().Sub(start) }()
	s.AgentsTick = uint64(r.Tick)
	ran := make(map[string]int, len(r.Agents))
	agents := make([]Agent, len(r.Agents), len(r.Agents)+1)
	for i, id := range r.Agents {
		ran[id] = i
		agents[i] = Agent{ID: id, State: StateRunning}
		if i < len(r.AgentDigests) {
			agents[i].Digest = Hex64(r.AgentDigests[i])
		}
		if i < len(r.AgentFuel) {
			agents[i].Fuel = r.AgentFuel[i]
		}
	}
	if o.h == nil {
		for i := range agents {
			o.fill(&agents[i])
		}
		s.Agents = agents
		return
	}
	in := o.h.Inspect()
	byGroup := map[string]*Group{}
	s.Groups = groups(o.h.Groups(), in.Restarts, byGroup)
	members := map[string][]string{}
	for _, st := range in.Agents {
		var a *Agent
		if i, ok := ran[st.ID]; ok {
			a = &agents[i]
		} else {
			agents = append(agents, Agent{ID: st.ID})
			a = &agents[len(agents)-1]
		}
		a.Kind, a.Group, a.Restarts, a.Channels = st.Kind, st.Group, st.Incarnation, st.Channels
		switch {
		case !st.Alive:
			a.State = StateStopped
		case restarting[st.ID]:
			a.State = StateRestarting
		default:
			a.State = StateRunning
		}
		if len(st.Regions) > 0 {
			a.Regions = make(map[string]int, len(st.Regions))
			for name, b := range st.Regions {
				a.Regions[name] = len(b)
			}
		}
		o.fill(a)
		if g := byGroup[st.Group]; g != nil {
			switch a.State {
			case StateRunning:
				g.Running++
			case StateRestarting:
				g.Restarting++
			case StateStopped:
				g.Stopped++
			}
			g.Restarts += uint64(st.Incarnation)
		}
		if st.Alive {
			for _, ch := range st.Channels {
				members[ch] = append(members[ch], st.ID)
			}
		}
	}
	s.Agents = agents
	s.Channels = make([]Channel, 0, len(members))
	for name, m := range members {
		s.Channels = append(s.Channels, Channel{Name: name, Members: m})
	}
	slices.SortFunc(s.Channels, func(a, b Channel) int { return cmp.Compare(a.Name, b.Name) })
}

// fill copies what the observer accumulated about a into its view.
func (o *Observer) fill(a *Agent) {
	if x := o.agents[a.ID]; x != nil {
		a.MessagesIn, a.MessagesOut, a.FuelTotal = x.in, x.out, x.fuel
		a.Logs = slices.Clone(x.logs)
	}
}

// groups is the supervision tree, the implicit root first (its policy is
// the engine's, see host.Group, and left out here) then the declared groups
// in declaration order, with restarts in window; byGroup indexes the result
// by name.
func groups(decl []host.Group, inWindow map[string][]uint64, byGroup map[string]*Group) []Group {
	out := []Group{{Name: engine.RootGroup}}
	for _, g := range decl {
		parent := g.Parent
		if parent == "" {
			parent = engine.RootGroup
		}
		out = append(out, Group{Name: g.Name, Parent: parent, Strategy: g.Strategy.String(), OnFailure: g.OnFailure.String(), MaxRestarts: g.MaxRestarts, Window: g.Window})
	}
	for i := range out {
		out[i].InWindow = len(inWindow[out[i].Name])
		byGroup[out[i].Name] = &out[i]
	}
	return out
}
