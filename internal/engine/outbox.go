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
// for the tick. Runners reuse one Outbox per agent, calling Reset before
// each tick.
type Outbox struct {
	eng     *Engine
	id      string
	seed    uint64
	maxSize int
	tick    clock.Tick
	actions []Action
	pcg     rand.PCG
	rng     *rand.Rand
	seeded  bool
	// requests counts this tick's inference requests.
	requests uint32
}

var _ agent.Context = (*Outbox)(nil)

// NewOutbox returns the context of agent a; payloads over maxSize bytes are
// refused (maxSize <= 0 means DefaultMaxMessageSize).
func NewOutbox(a *Agent, maxSize int) *Outbox {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	o := &Outbox{id: a.ID, seed: a.Seed, maxSize: maxSize, eng: a.eng}
	o.rng = rand.New(&o.pcg)
	return o
}

// Reset starts tick t with an empty outbox.
func (o *Outbox) Reset(t clock.Tick) {
	o.tick = t
	o.actions = o.actions[:0]
	o.seeded = false
	o.requests = 0
}

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

// emit records a send or publish of a copy of p to target.
func (o *Outbox) emit(k ActionKind, nameKind, target string, p []byte) error {
	if err := agent.ValidateName(nameKind, target); err != nil {
		return err
	}
	if len(p) > o.maxSize {
		verb := map[ActionKind]string{ActSend: "send", ActPublish: "publish", ActState: "state write"}[k]
		return fmt.Errorf("%w: %s to %q: %d bytes, the limit is %d (raise max_message_size or split the message)", agent.ErrTooLarge, verb, target, len(p), o.maxSize)
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
	o.actions = append(o.actions, Action{Kind: k, Target: channel})
	return nil
}

// Log implements agent.Context.
func (o *Outbox) Log(level agent.Level, msg string) {
	o.actions = append(o.actions, Action{Kind: ActLog, Level: level, Payload: []byte(msg)})
}

// Rand implements agent.Context: a PCG stream seeded by (agent seed, tick).
func (o *Outbox) Rand() *rand.Rand {
	if !o.seeded {
		o.pcg.Seed(o.seed, uint64(o.tick))
		o.seeded = true
	}
	return o.rng
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
	o.actions = append(o.actions, Action{Kind: ActInfer, Target: model, Version: version, Payload: append([]byte(nil), input...)})
	n := o.requests
	o.requests++
	return n, nil
}
