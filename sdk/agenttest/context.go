package agenttest

import (
	"fmt"
	"maps"
	"slices"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// ContextOptions configures a Context. Zero values mean the defaults of a
// host.
type ContextOptions struct {
	// Seed is the run's seed (host.Options.Seed): with the agent's id and
	// the tick it seeds Rand exactly as in a run.
	Seed uint64
	// Quotas bound the agent as host.Options.Quotas do.
	Quotas host.Quotas
	// MaxMessageSize limits payloads as host.Options.MaxMessageSize does.
	MaxMessageSize int
	// Channels are channels the agent is a member of from the start (as
	// if the host had joined it): they count towards the channels quota,
	// and the agent's own publishes on them reach no one.
	Channels []string
}

// Context is a recording agent.Context for unit tests of Go agents: call
// the agent's methods with it, then look at what the agent asked for.
//
// It is the runtime's own context: the same validation of names and sizes,
// the same quotas (a call over one is refused and Violation reports it),
// the same random source. Underneath is a run of one agent: Reset plays
// the barrier, so the agent's state writes and joins of a tick take effect
// for the next, as in a run. The agent is alone in it: its sends reach no
// one, its publishes count no deliveries, and other agents' state regions
// are what SetState put there.
//
// A Context is not safe for concurrent use (neither is a real one).
type Context struct {
	eng    *engine.Engine
	plan   engine.Plan
	rec    *engine.Agent
	out    *engine.Outbox
	others map[[2]string][]byte
}

var _ agent.Context = (*Context)(nil)

// NewContext returns the context of agent self at tick, with the default
// options (seed 0).
func NewContext(self string, tick clock.Tick) *Context {
	return NewContextWith(self, tick, ContextOptions{})
}

// NewContextWith returns the context of agent self at tick. It panics if
// self, a channel or an option is invalid.
func NewContextWith(self string, tick clock.Tick, opts ContextOptions) *Context {
	if opts.MaxMessageSize < 0 || opts.MaxMessageSize > host.MaxMessageSizeLimit {
		panic(fmt.Sprintf("agenttest: MaxMessageSize is %d; give 1..%d bytes (0: the default)", opts.MaxMessageSize, host.MaxMessageSizeLimit))
	}
	e, err := engine.New(engine.Config{Seed: opts.Seed, Quotas: opts.Quotas})
	if err != nil {
		panic("agenttest: " + err.Error())
	}
	if err := e.Apply(engine.Command{Spawn: &engine.SpawnSpec{ID: self, Kind: "agenttest"}}); err != nil {
		panic("agenttest: " + err.Error())
	}
	for _, ch := range opts.Channels {
		if err := e.Apply(engine.Command{Join: &engine.Membership{Agent: self, Channel: ch}}); err != nil {
			panic("agenttest: " + err.Error())
		}
	}
	c := &Context{eng: e, plan: e.Begin(), rec: e.Lookup(self), others: map[[2]string][]byte{}}
	c.out = engine.NewOutbox(c.rec, opts.MaxMessageSize)
	c.out.Reset(tick)
	return c
}

// Reset ends the tick and starts tick t with an empty outbox, as the
// barrier does between two ticks of a run: the agent's state writes and
// joins and leaves take effect (ReadState of its own regions sees the
// writes from now on), unless the tick went over a quota (Violation), in
// which case, as for a failed agent, they are dropped. (An error the
// agent's method returned is the test's to see: Reset keeps the effects.)
func (c *Context) Reset(t clock.Tick) {
	rep := c.out.Report()
	if c.out.Violation() != nil {
		rep = engine.Report{}
	}
	c.eng.Commit(c.plan, []engine.Report{rep})
	c.plan = c.eng.Begin()
	c.out.Reset(t)
}

// SetState sets owner's state region name, as ReadState returns it (a
// copy of data; nil data removes it). owner must be another agent: the
// agent's own regions are what it wrote before the last Reset.
func (c *Context) SetState(owner, name string, data []byte) {
	if owner == c.rec.ID {
		panic(fmt.Sprintf("agenttest: SetState(%q, %q): an agent's own regions are what it wrote before the last Reset; call WriteState and Reset", owner, name))
	}
	if data == nil {
		delete(c.others, [2]string{owner, name})
		return
	}
	c.others[[2]string{owner, name}] = slices.Clone(data)
}

// Outbox returns what the agent asked for since the last Reset, in order.
func (c *Context) Outbox() Outbox { return outboxOf(c.out.Report().Actions) }

// Sent returns the messages the agent sent since the last Reset.
func (c *Context) Sent() []Sent { return c.Outbox().Sent() }

// Published returns the messages the agent published since the last Reset.
func (c *Context) Published() []Published { return c.Outbox().Published() }

// Logs returns the lines the agent logged since the last Reset.
func (c *Context) Logs() []Log { return c.Outbox().Logs() }

// Inferences returns the inference requests since the last Reset.
func (c *Context) Inferences() []Inference { return c.Outbox().Inferences() }

// State returns the agent's state regions as they will be after this
// tick's barrier: those of earlier ticks with this tick's writes on top
// (copies; nil when there are none).
func (c *Context) State() map[string][]byte {
	m := maps.Clone(c.rec.Regions())
	for name, v := range c.Outbox().Writes() {
		if m == nil {
			m = map[string][]byte{}
		}
		m[name] = v
	}
	return regions(m)
}

// Channels returns the channels the agent will be a member of after this
// tick's barrier, sorted.
func (c *Context) Channels() []string {
	member := map[string]bool{}
	for _, ch := range c.rec.Channels() {
		member[ch] = true
	}
	for _, a := range c.Outbox() {
		switch a.Kind {
		case "join":
			member[a.Target] = true
		case "leave":
			delete(member, a.Target)
		}
	}
	return sortedKeys(member)
}

// Violation is the quota the agent went over since the last Reset, or
// nil. In a run the agent fails at this tick, whatever its method
// returned, and the tick's outbox is dropped.
func (c *Context) Violation() error { return c.out.Violation() }

// Tick implements agent.Context.
func (c *Context) Tick() clock.Tick { return c.out.Tick() }

// Self implements agent.Context.
func (c *Context) Self() string { return c.out.Self() }

// Send implements agent.Context.
func (c *Context) Send(to string, payload []byte) error { return c.out.Send(to, payload) }

// Publish implements agent.Context.
func (c *Context) Publish(channel string, payload []byte) error {
	return c.out.Publish(channel, payload)
}

// Join implements agent.Context.
func (c *Context) Join(channel string) error { return c.out.Join(channel) }

// Leave implements agent.Context.
func (c *Context) Leave(channel string) error { return c.out.Leave(channel) }

// Log implements agent.Context.
func (c *Context) Log(level agent.Level, msg string) { c.out.Log(level, msg) }

// WriteState implements agent.Context.
func (c *Context) WriteState(name string, data []byte) error { return c.out.WriteState(name, data) }

// ReadState implements agent.Context: the agent's own regions as of the
// last Reset, other agents' as SetState set them.
func (c *Context) ReadState(owner, name string) ([]byte, bool) {
	if owner == c.rec.ID {
		return c.eng.ReadState(owner, name)
	}
	v, ok := c.others[[2]string{owner, name}]
	return v, ok
}

// Rand implements agent.Context: the random source of agent Self at Tick
// in a run with the options' Seed.
func (c *Context) Rand() *agent.Rand { return c.out.Rand() }

// Infer implements agent.Context. Nothing answers: the request is
// recorded (Inferences); feed the agent its answer with Receive, as a
// message From agent.ModelSender.
func (c *Context) Infer(model, version string, input []byte) (uint32, error) {
	return c.out.Infer(model, version, input)
}
