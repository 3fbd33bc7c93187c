package engine

import (
	"fmt"
	"math/rand/v2"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
)

// DefaultMaxMessageSize is the payload limit when none is configured.
const DefaultMaxMessageSize = 1 << 20

// Outbox is the agent.Context of one agent: it records the agent's actions
// for the tick and enforces its quotas. Runners reuse one Outbox per agent,
// calling Reset before each tick.
type Outbox struct {
	eng     *Engine
	rec     *Agent
	q       *Quotas
	id      string
	seed    uint64
	maxSize int
	tick    clock.Tick
	actions []Action
	pcg     rand.PCG
	rng     agent.Rand
	seeded  bool
	// requests counts this tick's inference requests.
	requests uint32
	// bytes counts this tick's payload bytes, deliveries the messages its
	// sends and publishes deliver.
	bytes, deliveries int
	// violation is the first quota the agent went over this tick: the
	// runner fails the agent with it, whatever the agent returned.
	violation error
	// standing is the agent's standing use with this tick's actions
	// applied; valid once standingSet, from the tick's first state write,
	// join or leave.
	standing    standing
	standingSet bool
}

// standing tracks the standing quotas during a tick: the frozen values of
// the last barrier plus the tick's own actions.
type standing struct {
	regions, stateBytes, channels int
	written                       map[string]int  // region -> its size after this tick's writes
	member                        map[string]bool // channel -> membership after this tick's joins and leaves
}

var _ agent.Context = (*Outbox)(nil)

// defaultQuotas serve outboxes of agents that belong to no engine (tests).
var defaultQuotas = Quotas{}.WithDefaults()

// NewOutbox returns the context of agent a; payloads over maxSize bytes are
// refused (maxSize <= 0 means DefaultMaxMessageSize). Its quotas are its
// engine's (the defaults for an agent of no engine).
func NewOutbox(a *Agent, maxSize int) *Outbox {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	o := &Outbox{id: a.ID, seed: a.Seed, maxSize: maxSize, eng: a.eng, rec: a, q: &defaultQuotas}
	if a.eng != nil {
		o.q = &a.eng.quotas
	}
	o.rng = agent.Rand{Rand: rand.New(&o.pcg)}
	return o
}

// Reset starts tick t with an empty outbox.
func (o *Outbox) Reset(t clock.Tick) {
	o.tick = t
	o.actions = o.actions[:0]
	o.seeded = false
	o.requests = 0
	o.bytes, o.deliveries = 0, 0
	o.violation = nil
	if o.standingSet {
		clear(o.standing.written)
		clear(o.standing.member)
		o.standingSet = false
	}
}

// Violation is the first quota the agent went over this tick, or nil.
func (o *Outbox) Violation() error { return o.violation }

// Report returns the tick's report. Its actions stay valid until the agent
// acts again (at its next tick, after the barrier has consumed them): the
// outbox then reuses their storage. Payloads are not reused.
func (o *Outbox) Report() Report {
	return Report{Actions: o.actions, Digest: ActionsDigest(o.actions)}
}

// Tick implements agent.Context.
func (o *Outbox) Tick() clock.Tick { return o.tick }

// Self implements agent.Context.
func (o *Outbox) Self() string { return o.id }

// over records that the agent went over a quota, and returns the error.
func (o *Outbox) over(knob string, limit int, format string, args ...any) error {
	if o.violation == nil {
		o.violation = overQuota(knob, limit, fmt.Sprintf(format, args...))
	}
	return o.violation
}

// spend admits one more action carrying n payload bytes and delivering d
// messages, or returns the quota it would go over. After a violation every
// action is refused.
func (o *Outbox) spend(n, d int) error {
	switch {
	case o.q.Unenforced:
		return nil
	case o.violation != nil:
		return o.violation
	case len(o.actions) >= o.q.ActionsPerTick:
		return o.over("actions_per_tick", o.q.ActionsPerTick, "more than %d actions in %s", o.q.ActionsPerTick, o.tick)
	case n > o.q.BytesPerTick-o.bytes:
		return o.over("bytes_per_tick", o.q.BytesPerTick, "%d more payload bytes after %d in %s", n, o.bytes, o.tick)
	case d > o.q.DeliveriesPerTick-o.deliveries:
		return o.over("deliveries_per_tick", o.q.DeliveriesPerTick, "sends and publishes delivering more than %d messages in %s", o.q.DeliveriesPerTick, o.tick)
	}
	o.bytes += n
	o.deliveries += d
	return nil
}

// deliveriesOf is how many messages an action of kind k to target delivers:
// one for a send (a dead letter or an external output counts too), one per
// member but the sender for a publish, plus one for its copy to the outside
// on an external channel. Membership is frozen during a tick (the barrier
// changes it), so agents may read it concurrently.
func (o *Outbox) deliveriesOf(k ActionKind, target string) int {
	switch {
	case k == ActSend:
		return 1
	case k != ActPublish || o.eng == nil:
		return 0
	}
	n := 0
	if o.eng.extChannels[target] {
		n++
	}
	c := o.eng.channels[target]
	if c == nil {
		return n
	}
	n += len(c.members)
	if o.rec.member[target] {
		n--
	}
	return n
}

// emit records a send or publish of a copy of p to target.
func (o *Outbox) emit(k ActionKind, nameKind, target string, p []byte) error {
	if err := agent.ValidateName(nameKind, target); err != nil {
		return err
	}
	if len(p) > o.maxSize {
		verb := map[ActionKind]string{ActSend: "send", ActPublish: "publish", ActState: "state write"}[k]
		return fmt.Errorf("%w: %s to %q: %d bytes, the limit is %d (raise max_message_size or split the message)", agent.ErrTooLarge, verb, target, len(p), o.maxSize)
	}
	if k == ActState {
		if err := o.writeState(target, len(p)); err != nil {
			return err
		}
	}
	if err := o.spend(len(p), o.deliveriesOf(k, target)); err != nil {
		return err
	}
	o.actions = append(o.actions, Action{Kind: k, Target: target, Payload: append([]byte(nil), p...)})
	return nil
}

// Send implements agent.Context.
func (o *Outbox) Send(to string, payload []byte) error {
	return o.emit(ActSend, "agent id", to, payload)
}

// Publish implements agent.Context.
func (o *Outbox) Publish(channel string, payload []byte) error {
	return o.emit(ActPublish, "channel", channel, payload)
}

// Join implements agent.Context.
func (o *Outbox) Join(channel string) error { return o.member(ActJoin, channel) }

// Leave implements agent.Context.
func (o *Outbox) Leave(channel string) error { return o.member(ActLeave, channel) }

func (o *Outbox) member(k ActionKind, channel string) error {
	if err := agent.ValidateName("channel", channel); err != nil {
		return err
	}
	if err := o.changeMembership(channel, k == ActJoin); err != nil {
		return err
	}
	if err := o.spend(0, 0); err != nil {
		return err
	}
	o.actions = append(o.actions, Action{Kind: k, Target: channel})
	return nil
}

// changeMembership checks a join (or leave) of channel against the
// channels quota and accounts for it.
func (o *Outbox) changeMembership(channel string, join bool) error {
	if o.q.Unenforced {
		return nil
	}
	if o.violation != nil {
		return o.violation
	}
	s := o.standingNow()
	was, ok := s.member[channel]
	if !ok {
		was = o.rec.member[channel]
	}
	switch {
	case join && !was:
		if s.channels >= o.q.Channels {
			return o.over("channels", o.q.Channels, "joining %q as its channel number %d", channel, s.channels+1)
		}
		s.channels++
	case !join && was:
		s.channels--
	}
	s.member[channel] = join
	return nil
}

// writeState checks a write of n bytes to region name against the standing
// quotas and accounts for it.
func (o *Outbox) writeState(name string, n int) error {
	if o.q.Unenforced {
		return nil
	}
	if o.violation != nil {
		return o.violation
	}
	s := o.standingNow()
	old, ok := s.written[name]
	if !ok {
		var v []byte
		v, ok = o.rec.state[name]
		old = len(v)
	}
	if !ok && s.regions >= o.q.StateRegions {
		return o.over("state_regions", o.q.StateRegions, "writing a new state region %q as its region number %d", name, s.regions+1)
	}
	if n-old > o.q.StateBytes-s.stateBytes {
		return o.over("state_bytes", o.q.StateBytes, "state region %q of %d bytes makes %d bytes of state", name, n, s.stateBytes-old+n)
	}
	if !ok {
		s.regions++
	}
	s.stateBytes += n - old
	s.written[name] = n
	return nil
}

// standingNow returns the tick's standing use, starting it from the agent's
// frozen state and memberships (which only the barrier changes) at the
// tick's first state write, join or leave.
func (o *Outbox) standingNow() *standing {
	s := &o.standing
	if !o.standingSet {
		o.standingSet = true
		s.regions, s.stateBytes, s.channels = len(o.rec.state), o.rec.stateBytes, len(o.rec.member)
		if s.written == nil {
			s.written, s.member = map[string]int{}, map[string]bool{}
		}
	}
	return s
}

// Log implements agent.Context. A line over the log_line_bytes quota is
// not recorded and fails the agent.
func (o *Outbox) Log(level agent.Level, msg string) {
	if len(msg) > o.q.LogLineBytes && !o.q.Unenforced {
		o.over("log_line_bytes", o.q.LogLineBytes, "a log line of %d bytes", len(msg))
		return
	}
	if o.spend(len(msg), 0) != nil {
		return
	}
	o.actions = append(o.actions, Action{Kind: ActLog, Level: level, Payload: []byte(msg)})
}

// Rand implements agent.Context: a PCG stream seeded by (agent seed, tick).
func (o *Outbox) Rand() *agent.Rand {
	if !o.seeded {
		o.pcg.Seed(o.seed, uint64(o.tick))
		o.seeded = true
	}
	return &o.rng
}

// WriteState implements agent.Context.
func (o *Outbox) WriteState(name string, data []byte) error {
	return o.emit(ActState, "state region", name, data)
}

// ReadState implements agent.Context.
func (o *Outbox) ReadState(owner, name string) ([]byte, bool) {
	if o.eng == nil {
		return nil, false
	}
	return o.eng.ReadState(owner, name)
}

// Infer implements agent.Context.
func (o *Outbox) Infer(model, version string, input []byte) (uint32, error) {
	if err := agent.ValidateName("model id", model); err != nil {
		return 0, err
	}
	if version != "" {
		if err := agent.ValidateName("model version", version); err != nil {
			return 0, err
		}
	}
	if len(input) > o.maxSize {
		return 0, fmt.Errorf("%w: inference input for model %q: %d bytes, the limit is %d (raise max_message_size)", agent.ErrTooLarge, model, len(input), o.maxSize)
	}
	if err := o.spend(len(input), 0); err != nil {
		return 0, err
	}
	o.actions = append(o.actions, Action{Kind: ActInfer, Target: model, Version: version, Payload: append([]byte(nil), input...)})
	n := o.requests
	o.requests++
	return n, nil
}
