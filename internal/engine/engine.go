package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
)

// Sentinel errors; every error Apply returns wraps one of them.
var (
	ErrDuplicateAgent = errors.New("engine: duplicate agent id")
	ErrUnknownAgent   = errors.New("engine: unknown agent")
	ErrUnknownGroup   = errors.New("engine: unknown supervision group")
	ErrBadCommand     = errors.New("engine: bad command")
)

// Config holds what a run is made of besides its commands.
type Config struct {
	// Seed seeds every agent's random source.
	Seed uint64
	// Groups is the supervision tree. A group with an empty Parent hangs
	// under the root group, which restarts one-for-one, at most 10 times in
	// 100 ticks, then halts the run.
	Groups []GroupSpec
	// Quotas bound every agent (zero fields: the defaults).
	Quotas Quotas
	// External names the run's outputs to the world outside it.
	External External
}

// External declares the channels and addresses through which agents emit
// messages to the outside world (a daemon's subscribers, say). Outputs are
// returned in Ready.Outputs, in canonical order.
type External struct {
	// Channels are external channels: a publish on one is delivered to its
	// members (if any) as usual and also copied to Ready.Outputs.
	Channels []string
	// Addresses are external addresses: a send to one goes to
	// Ready.Outputs instead of being a dead letter. No agent may have an
	// address as its id.
	Addresses []string
}

// Output is a message an agent emitted to the outside world in a tick: a
// publish on an external channel (Channel set) or a send to an external
// address (To set). Its payload is shared: do not modify it.
type Output struct {
	From    string
	Channel string
	To      string
	Payload []byte
}

// validate checks every name of x, and that none is declared twice.
func (x External) validate() error {
	for _, l := range []struct {
		what  string
		names []string
	}{{"external channel", x.Channels}, {"external address", x.Addresses}} {
		seen := map[string]bool{}
		for _, n := range l.names {
			if err := agent.ValidateName(l.what, n); err != nil {
				return fmt.Errorf("%w: %w", ErrBadCommand, err)
			}
			if seen[n] {
				return fmt.Errorf("%w: %s %q is declared twice; list it once", ErrBadCommand, l.what, n)
			}
			seen[n] = true
		}
	}
	return nil
}

// set returns names as a set, or nil if there are none.
func set(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Engine is the deterministic core of one run. It is not safe for
// concurrent use.
type Engine struct {
	seed   uint64
	tick   clock.Tick
	digest [32]byte

	agents   map[string]*Agent
	nextRank uint64
	live     []*Agent // canonical order
	dirty    bool     // live needs re-sorting
	// snap is a copy of live handed out as Plan.Agents, shared by every plan
	// until live changes (nil then); it is never modified.
	snap []*Agent

	channels map[string]*channel
	groups   map[string]*group
	root     *group

	pending []Command
	spawned []*Agent
	stopped []*Agent
	// pendingDead counts messages dropped by stop commands since the last
	// barrier; they are reported with the next tick.
	pendingDead uint64

	chainBuf []byte // chain's scratch buffer

	inferencer Inferencer
	quotas     Quotas

	// extChannels and extAddresses are Config.External as sets (nil when
	// empty); read-only after New.
	extChannels, extAddresses map[string]bool
	// extPrint is the fingerprint of Config.External (for snapshots).
	extPrint uint64
	// restored are the live agents of a restored engine: the next Begin
	// hands them out as spawned, so that the caller creates their runners.
	restored []*Agent
	// running is set from Begin to Commit.
	running bool
	// noInputs is all nils: the Inputs of plans without external inputs
	// (never written).
	noInputs [][]agent.Message
}

// Agent is the engine's record of one agent.
type Agent struct {
	ID       string
	Kind     string
	Config   []byte
	Priority int32
	Rank     uint64 // spawn rank: 1, 2, 3... (0 is external input)
	Seed     uint64 // this agent's random seed
	// Incarnation counts restarts.
	Incarnation uint32
	// Fuel is the fuel per tick its spawn asked for (0: the default).
	Fuel uint64

	group  *group
	alive  bool
	member map[string]bool
	inputs []agent.Message // for the next tick, from commands
	inbox  []agent.Message // for the next tick, from agents
	// spare is the storage of the deliveries handed out at the last Begin:
	// read during that tick, it is free again after its barrier and becomes
	// the inbox at the next Begin.
	spare []agent.Message
	state map[string][]byte // frozen state regions, replaced at barriers
	// stateBytes is the total size of state.
	stateBytes int
	eng        *Engine
	spawnAt    clock.Tick
	// image is the instance snapshot a restored agent starts from instead
	// of Init (nil: Init). Its runner consumes it; a restart or stop drops
	// it.
	image []byte
	// fresh marks an incarnation that has not run yet (spawned or
	// restarted since the last Begin): it has no instance, and starts with
	// Init.
	fresh bool
}

type channel struct {
	members []*Agent // canonical order
	dirty   bool
}

// New returns an engine for cfg, or an error naming the bad group.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Quotas.Validate(); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := cfg.External.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		quotas:       cfg.Quotas.WithDefaults(),
		seed:         cfg.Seed,
		agents:       map[string]*Agent{},
		channels:     map[string]*channel{},
		nextRank:     1,
		extChannels:  set(cfg.External.Channels),
		extAddresses: set(cfg.External.Addresses),
		extPrint:     externalPrint(cfg.External),
	}
	if err := e.buildGroups(cfg.Groups); err != nil {
		return nil, err
	}
	return e, nil
}

// Tick is the next tick Begin will start.
func (e *Engine) Tick() clock.Tick { return e.tick }

// Digest is the chained digest after the last committed tick.
func (e *Engine) Digest() [32]byte { return e.digest }

// ReadState returns the frozen value of owner's state region name as of the
// last barrier. The slice is shared and must not be modified. It is safe to
// call from agents during a tick (Commit is the only writer).
func (e *Engine) ReadState(owner, name string) ([]byte, bool) {
	a := e.agents[owner]
	if a == nil || !a.alive {
		return nil, false
	}
	v, ok := a.state[name]
	return v, ok
}

// Live is the number of agents alive: spawned (or restored) and not
// stopped, commands applied so far included.
func (e *Engine) Live() int {
	n := 0
	for _, a := range e.live {
		if a.alive {
			n++
		}
	}
	return n
}

// Lookup returns the agent with id, or nil.
func (e *Engine) Lookup(id string) *Agent { return e.agents[id] }

// Alive reports whether a is running.
func (a *Agent) Alive() bool { return a.alive }

// Command is an external command. Exactly one field is set.
type Command struct {
	Spawn *SpawnSpec
	Stop  string      // agent id
	Join  *Membership // agent joins channel
	Leave *Membership // agent leaves channel
	Input *Input
}

// SpawnSpec describes an agent to start.
type SpawnSpec struct {
	ID       string
	Kind     string
	Config   []byte
	Priority int32 // higher runs (and is routed) first
	Group    string
	// Fuel is the agent's fuel per tick, for factories of metered agents
	// (0: their default).
	Fuel uint64
}

// Membership names an agent and a channel.
type Membership struct{ Agent, Channel string }

// Input is an external message delivered at the next tick, to one agent
// (To) or to every member of a channel (Channel).
type Input struct {
	To, Channel string
	Payload     []byte
}

// Apply validates cmd and applies it to the state the next tick starts from.
// On error nothing changes.
func (e *Engine) Apply(cmd Command) error {
	switch {
	case cmd.Spawn != nil:
		s := cmd.Spawn
		if err := agent.ValidateName("agent id", s.ID); err != nil {
			return fmt.Errorf("%w: spawn: %w", ErrBadCommand, err)
		}
		if old := e.agents[s.ID]; old != nil {
			return fmt.Errorf("%w: %q (spawned at %s); pick another id", ErrDuplicateAgent, s.ID, old.spawnAt)
		}
		if e.extAddresses[s.ID] {
			return fmt.Errorf("%w: spawn %q: the id is an external address (External.Addresses); pick another id", ErrBadCommand, s.ID)
		}
		g, err := e.group(s.Group)
		if err != nil {
			return fmt.Errorf("spawn %q: %w", s.ID, err)
		}
		a := &Agent{
			ID: s.ID, Kind: s.Kind, Config: s.Config, Priority: s.Priority, Fuel: s.Fuel,
			Rank: e.nextRank, Seed: agentSeed(e.seed, s.ID),
			group: g, alive: true, member: map[string]bool{}, spawnAt: e.tick, eng: e, fresh: true,
		}
		e.nextRank++
		e.agents[s.ID] = a
		g.agents = append(g.agents, a)
		e.live = append(e.live, a)
		e.dirty, e.snap = true, nil
		e.spawned = append(e.spawned, a)
	case cmd.Stop != "":
		a, err := e.liveAgent("stop", cmd.Stop)
		if err != nil {
			return err
		}
		e.pendingDead += e.stop(a)
		e.stopped = append(e.stopped, a)
	case cmd.Join != nil || cmd.Leave != nil:
		m, verb := cmd.Join, "join"
		if m == nil {
			m, verb = cmd.Leave, "leave"
		}
		a, err := e.liveAgent(verb, m.Agent)
		if err != nil {
			return err
		}
		if err := agent.ValidateName("channel", m.Channel); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadCommand, verb, err)
		}
		e.setMember(a, m.Channel, verb == "join")
	case cmd.Input != nil:
		in := cmd.Input
		if (in.To == "") == (in.Channel == "") {
			return fmt.Errorf("%w: input needs exactly one of a target agent or a channel (got to=%q channel=%q)", ErrBadCommand, in.To, in.Channel)
		}
		msg := agent.Message{Channel: in.Channel, Sent: e.tick, Payload: in.Payload}
		if in.To != "" {
			a, err := e.liveAgent("input to", in.To)
			if err != nil {
				return err
			}
			a.inputs = append(a.inputs, msg)
		} else {
			if err := agent.ValidateName("channel", in.Channel); err != nil {
				return fmt.Errorf("%w: input: %w", ErrBadCommand, err)
			}
			for _, a := range e.members(in.Channel) {
				a.inputs = append(a.inputs, msg)
			}
		}
	default:
		return fmt.Errorf("%w: empty command", ErrBadCommand)
	}
	e.pending = append(e.pending, cmd)
	return nil
}

func (e *Engine) liveAgent(verb, id string) (*Agent, error) {
	a := e.agents[id]
	if a == nil {
		return nil, fmt.Errorf("%w: %s %q: no agent has that id; spawn it first", ErrUnknownAgent, verb, id)
	}
	if !a.alive {
		return nil, fmt.Errorf("%w: %s %q: the agent is stopped", ErrUnknownAgent, verb, id)
	}
	return a, nil
}

// Plan is what a tick must run.
type Plan struct {
	Tick clock.Tick
	// Commands applied since the last barrier, in order: what a replay log
	// records for this tick.
	Commands []Command
	// Spawned and Stopped are the agents the commands started and stopped;
	// the caller creates and destroys their runners. The first plan of an
	// engine made by Restore also lists every live agent in Spawned (in
	// spawn rank order), as if it had just been spawned: the caller creates
	// their runners, which bring each back from its image.
	Spawned, Stopped []*Agent
	// Agents run this tick, in canonical order. The slice is shared with
	// the plans of other ticks that run the same agents: do not modify it.
	Agents []*Agent
	// Inputs[i] are the external inputs for Agents[i], in command order.
	// Do not modify it: a tick without inputs shares it with others.
	Inputs [][]agent.Message
	// Deliveries[i] are the messages routed to Agents[i] at the last barrier,
	// in canonical order. Their storage is reused from the next tick's
	// barrier on: read them before committing the next tick.
	Deliveries [][]agent.Message
}

// Begin starts the next tick.
func (e *Engine) Begin() Plan {
	e.sortLive()
	if e.snap == nil {
		e.snap = slices.Clone(e.live)
	}
	n := len(e.snap)
	// Most ticks have no external inputs: their Inputs is a shared slice
	// of nils, made anew only for a tick with some.
	if cap(e.noInputs) < n {
		e.noInputs = make([][]agent.Message, n)
	}
	spawned := e.spawned
	if e.restored != nil {
		spawned = mergeByRank(e.restored, e.spawned)
		e.restored = nil
	}
	p := Plan{
		Tick:     e.tick,
		Commands: e.pending, Spawned: spawned, Stopped: e.stopped,
		Agents:     e.snap,
		Inputs:     e.noInputs[:n:n],
		Deliveries: make([][]agent.Message, n),
	}
	for i, a := range p.Agents {
		a.fresh = false
		if a.inputs != nil {
			if &p.Inputs[0] == &e.noInputs[0] {
				p.Inputs = make([][]agent.Message, n)
			}
			p.Inputs[i], a.inputs = a.inputs, nil
		}
		p.Deliveries[i], a.inbox, a.spare = a.inbox, reuse(a.spare, len(a.inbox)), a.inbox
	}
	e.pending, e.spawned, e.stopped = nil, nil, nil
	e.running = true
	return p
}

// mergeByRank returns the agents of a and b (each in rank order), in rank
// order, each once.
func mergeByRank(a, b []*Agent) []*Agent {
	out := make([]*Agent, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0].Rank < b[0].Rank:
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0].Rank < a[0].Rank:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return out
}

// reuse empties the storage of an agent's last deliveries for its next
// inbox, unless it is much larger than the latest ones (a burst's storage
// is let go).
func reuse(spare []agent.Message, latest int) []agent.Message {
	if cap(spare) > 4*max(latest, 64) {
		return nil
	}
	clear(spare[:cap(spare)]) // drop payload references
	return spare[:0]
}

// ActionKind says what an Action does.
type ActionKind uint8

// Action kinds.
const (
	ActSend ActionKind = iota + 1
	ActPublish
	ActJoin
	ActLeave
	ActLog
	ActState // write a state region: Target is its name, Payload its bytes
	ActInfer // request an inference: Target is the model, Version its version, Payload the input
)

// Action is one effect an agent asked for during a tick.
type Action struct {
	Kind ActionKind
	// Target is the agent id (send) or the channel (publish, join, leave).
	Target  string
	Payload []byte // message body, or the log text
	Level   agent.Level
	Version string // model version (ActInfer)
}

// Report is what one agent did in one tick.
type Report struct {
	Actions []Action
	// Failed marks a failed tick; Reason says why. A failed report's actions
	// are ignored.
	Failed bool
	Reason string
	// Trace is a failed report's stack trace (Failure.Trace), if any. It
	// enters neither digests nor the events' details: Commit hands it on
	// in the failed event's Trace.
	Trace string
	// Digest is ActionsDigest(Actions), with Fuel mixed in for metered
	// agents, computed by the runner (in parallel).
	Digest uint64
	// Fuel is the fuel the agent used this tick (0 for unmetered agents).
	Fuel uint64
}

// ActionsDigest is the 64-bit FNV-1a digest of an agent's actions in one
// tick; it enters the tick digest.
func ActionsDigest(actions []Action) uint64 {
	h := uint64(fnvOffset64)
	for _, a := range actions {
		h = fnvByte(h, byte(a.Kind))
		h = fnvUint32(h, uint32(len(a.Target)))
		h = fnvUint32(h, uint32(len(a.Payload)))
		h = fnvString(h, a.Target)
		h = fnvBytes(h, a.Payload)
		switch a.Kind {
		case ActLog:
			h = fnvByte(h, byte(a.Level))
		case ActInfer:
			h = fnvString(fnvUint32(h, uint32(len(a.Version))), a.Version)
		}
	}
	return h
}

func failureDigest(reason string) uint64 {
	return fnvString(fnvString(fnvOffset64, "failed\x00"), reason)
}

// 64-bit FNV-1a (as hash/fnv's New64a, without its allocation and
// interface calls: these run once per agent per tick).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime64 }

// fnvUint32 feeds v little-endian.
func fnvUint32(h uint64, v uint32) uint64 {
	for range 4 {
		h = fnvByte(h, byte(v))
		v >>= 8
	}
	return h
}

// fnvUint64 feeds v little-endian.
func fnvUint64(h, v uint64) uint64 {
	for range 8 {
		h = fnvByte(h, byte(v))
		v >>= 8
	}
	return h
}

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = fnvByte(h, c)
	}
	return h
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}

// EventKind names what happened to an agent at a barrier.
type EventKind uint8

// Event kinds; the numbers match the replay log's.
const (
	EventFailed EventKind = iota + 1
	EventRestarted
	EventStopped
	EventEscalated
	EventDeadLetter
	EventHalted
)

var eventNames = [...]string{"", "failed", "restarted", "stopped", "escalated", "dead-letter", "halted"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", k)
}

// Event is a supervision or routing event of a tick, in deterministic order.
type Event struct {
	Kind   EventKind
	Agent  string // agent id, or group name for escalations
	Detail string
	// Trace is a failed event's stack trace (Report.Trace), for logs and
	// people: it is not part of the digest, and replay logs do not record
	// it.
	Trace string
}

// MaxEventDetail is the most bytes of an event's Detail: longer texts (a
// failure's reason carrying an agent's last log line, say) are clipped, so
// a tick's replay record stays bounded.
const MaxEventDetail = 1024

// Clip returns s as valid UTF-8 of at most MaxEventDetail bytes: invalid
// bytes become U+FFFD, and a longer text is cut at a character boundary and
// ends in "… (N bytes)". Event details are clipped before they enter a
// digest or a log.
func Clip(s string) string {
	if len(s) <= MaxEventDetail && utf8.ValidString(s) {
		return s
	}
	n := len(s)
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxEventDetail {
		return s
	}
	suffix := fmt.Sprintf("… (%d bytes)", n)
	cut := MaxEventDetail - len(suffix)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}

// deadLetters aggregates one agent's sends of a tick to unknown or stopped
// agents into one event: however many there are, the tick's record holds a
// count, the first target and a digest of all targets.
type deadLetters struct {
	n      uint64
	first  string
	digest uint64
}

func (d *deadLetters) add(target string) {
	if d.n == 0 {
		d.first, d.digest = target, fnvOffset64
	}
	d.n++
	d.digest = fnvString(fnvUint32(d.digest, uint32(len(target))), target)
}

func (d *deadLetters) event(from string) Event {
	detail := "to " + d.first
	if d.n > 1 {
		detail = fmt.Sprintf("%d messages to unknown or stopped agents, the first to %s (targets digest %016x)", d.n, d.first, d.digest)
	}
	return Event{Kind: EventDeadLetter, Agent: from, Detail: detail}
}

// LogLine is a log action, emitted at the barrier in canonical order.
type LogLine struct {
	Agent string
	Level agent.Level
	Text  string
}

// Ready is the outcome of a tick.
type Ready struct {
	Tick   clock.Tick
	Digest [32]byte
	// AgentDigests[i] is the report digest of Plan.Agents[i].
	AgentDigests []uint64
	// AgentFuel[i] is the fuel Plan.Agents[i] used (0: unmetered or failed).
	AgentFuel   []uint64
	DeadLetters uint64
	Events      []Event
	Logs        []LogLine
	// Outputs are the messages agents emitted to the outside world this
	// tick (Config.External), in canonical order: agents in canonical
	// order, each agent's in emission order. A failed agent emits none.
	Outputs []Output
	// Inferences is the number of inference requests the tick made; their
	// results, delivered at the next tick, enter Digest.
	Inferences int
	// Answers are the encoded results of the tick's inference requests, in
	// call order (see Inferencer): what a replica of the engine needs to
	// commit the same tick (Answered). Shared: do not modify.
	Answers [][]byte
	// Restart and Stop are the agents the supervisors decided to restart
	// (fresh instance, Init again) and to stop, in canonical order.
	Restart, Stop []*Agent
	// Halted is non-nil when a failure escalated past the root group: the
	// run cannot go on. It is a *HaltError, whose text names the failure
	// that caused the halt (the halted event's detail is shorter).
	Halted error
	// Reports are the reports Commit was given, Plan.Agents[i]'s at i: for
	// tracers. The caller's slice, valid until it reuses it (the next tick).
	Reports []Report
}

type membershipChange struct {
	a    *Agent
	ch   string
	join bool
}

// Commit closes the tick begun by p with one report per p.Agents entry.
func (e *Engine) Commit(p Plan, reports []Report) Ready {
	if len(reports) != len(p.Agents) {
		panic(fmt.Sprintf("engine: Commit got %d reports for %d agents", len(reports), len(p.Agents)))
	}
	r := Ready{Tick: p.Tick, AgentDigests: make([]uint64, len(reports)), AgentFuel: make([]uint64, len(reports)), Reports: reports}
	var changes []membershipChange
	var failed []*Agent
	var calls []InferCall
	var callers []*Agent
	for i, a := range p.Agents {
		rep := &reports[i]
		if rep.Failed {
			reason := Clip(rep.Reason)
			r.AgentDigests[i] = failureDigest(reason)
			r.Events = append(r.Events, Event{Kind: EventFailed, Agent: a.ID, Detail: reason, Trace: rep.Trace})
			failed = append(failed, a)
			continue
		}
		r.AgentDigests[i] = rep.Digest
		r.AgentFuel[i] = rep.Fuel
		var last *Agent // the last send's target: agents often send in runs
		var requests uint32
		var dead deadLetters
		for _, act := range rep.Actions {
			switch act.Kind {
			case ActSend:
				msg := agent.Message{From: a.ID, Sent: p.Tick, Payload: act.Payload}
				t := last
				if t == nil || t.ID != act.Target {
					t = e.agents[act.Target]
					last = t
				}
				switch {
				case t != nil && t.alive:
					t.inbox = append(t.inbox, msg)
				case t == nil && e.extAddresses[act.Target]:
					r.Outputs = append(r.Outputs, Output{From: a.ID, To: act.Target, Payload: act.Payload})
				default:
					dead.add(act.Target)
				}
			case ActPublish:
				msg := agent.Message{From: a.ID, Channel: act.Target, Sent: p.Tick, Payload: act.Payload}
				for _, t := range e.members(act.Target) {
					if t != a {
						t.inbox = append(t.inbox, msg)
					}
				}
				if e.extChannels[act.Target] {
					r.Outputs = append(r.Outputs, Output{From: a.ID, Channel: act.Target, Payload: act.Payload})
				}
			case ActJoin, ActLeave:
				changes = append(changes, membershipChange{a, act.Target, act.Kind == ActJoin})
			case ActLog:
				r.Logs = append(r.Logs, LogLine{Agent: a.ID, Level: act.Level, Text: string(act.Payload)})
			case ActState:
				// Readers run during ticks, never during Commit: the flip
				// needs no lock.
				if a.state == nil {
					a.state = map[string][]byte{}
				}
				a.stateBytes += len(act.Payload) - len(a.state[act.Target])
				a.state[act.Target] = act.Payload
			case ActInfer:
				calls = append(calls, InferCall{Agent: a.ID, Request: requests, Model: act.Target, Version: act.Version, Input: act.Payload})
				callers = append(callers, a)
				requests++
			}
		}
		if dead.n > 0 {
			r.DeadLetters += dead.n
			r.Events = append(r.Events, dead.event(a.ID))
		}
	}
	inferDigest := e.infer(&r, p.Tick, calls, callers)
	for _, c := range changes {
		if c.a.alive {
			e.setMember(c.a, c.ch, c.join)
		}
	}
	e.supervise(&r, failed)
	for _, a := range r.Stop {
		r.DeadLetters += e.stop(a)
	}
	if r.Inferences > 0 {
		for _, a := range r.Restart {
			r.DeadLetters += dropAnswers(a, p.Tick)
		}
	}
	r.DeadLetters += e.pendingDead
	e.pendingDead = 0
	e.chain(&r, p, inferDigest)
	e.tick++
	e.running = false
	return r
}

// chain folds the tick into the running digest: SHA-256 of the previous
// digest, the tick, the number of agents, each agent's rank and report
// digest, the dead letters, the inference results (when there were any) and
// the events, fed in one Write.
func (e *Engine) chain(r *Ready, p Plan, inferDigest uint64) {
	b := e.chainBuf[:0]
	b = append(b, e.digest[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Tick))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(p.Agents)))
	for i, a := range p.Agents {
		b = binary.LittleEndian.AppendUint64(b, a.Rank)
		b = binary.LittleEndian.AppendUint64(b, r.AgentDigests[i])
	}
	b = binary.LittleEndian.AppendUint64(b, r.DeadLetters)
	if r.Inferences > 0 {
		b = binary.LittleEndian.AppendUint64(b, uint64(r.Inferences))
		b = binary.LittleEndian.AppendUint64(b, inferDigest)
	}
	for _, ev := range r.Events {
		b = binary.LittleEndian.AppendUint64(b, uint64(ev.Kind))
		b = append(b, ev.Agent...)
		b = append(b, 0)
		b = append(b, ev.Detail...)
		b = append(b, 0)
	}
	e.digest = sha256.Sum256(b)
	e.chainBuf = b
	r.Digest = e.digest
}

// stop marks a stopped and drops its membership and pending messages,
// returning how many messages became dead letters.
func (e *Engine) stop(a *Agent) uint64 {
	a.alive = false
	for ch := range a.member {
		e.setMember(a, ch, false)
	}
	n := uint64(len(a.inbox) + len(a.inputs))
	a.inbox, a.inputs, a.spare, a.state, a.stateBytes, a.image = nil, nil, nil, nil, 0, nil
	e.live = slices.DeleteFunc(e.live, func(x *Agent) bool { return x == a })
	e.snap = nil
	return n
}

func (e *Engine) setMember(a *Agent, name string, join bool) {
	if a.member[name] == join {
		return
	}
	c := e.channels[name]
	if c == nil {
		c = &channel{}
		e.channels[name] = c
	}
	if join {
		a.member[name] = true
		c.members = append(c.members, a)
		c.dirty = true
	} else {
		delete(a.member, name)
		c.members = slices.DeleteFunc(c.members, func(x *Agent) bool { return x == a })
		if len(c.members) == 0 {
			delete(e.channels, name)
		}
	}
}

func (e *Engine) members(name string) []*Agent {
	c := e.channels[name]
	if c == nil {
		return nil
	}
	if c.dirty {
		slices.SortFunc(c.members, canonical)
		c.dirty = false
	}
	return c.members
}

// Members returns the ids of channel's members in canonical order.
func (e *Engine) Members(channel string) []string {
	var ids []string
	for _, a := range e.members(channel) {
		ids = append(ids, a.ID)
	}
	return ids
}

func (e *Engine) sortLive() {
	if e.dirty {
		slices.SortFunc(e.live, canonical)
		e.dirty = false
	}
}

// canonical orders agents by priority (higher first), then spawn rank.
func canonical(a, b *Agent) int {
	if a.Priority != b.Priority {
		if a.Priority > b.Priority {
			return -1
		}
		return 1
	}
	switch {
	case a.Rank < b.Rank:
		return -1
	case a.Rank > b.Rank:
		return 1
	}
	return 0
}

// agentSeed derives an agent's random seed from the run seed and its id:
// FNV-1a of the seed (little-endian) and the id.
func agentSeed(seed uint64, id string) uint64 {
	return fnvString(fnvUint64(fnvOffset64, seed), id)
}
