package engine

import (
	"slices"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// InferCall is one inference request of a tick, as an agent made it.
type InferCall struct {
	Agent string
	// Request is the number Infer returned: the request's position among
	// the agent's requests this tick.
	Request        uint32
	Model, Version string
	Input          []byte // encoded tensor list (package modelactor/tensor)
}

// Inferencer answers a tick's inference requests. Commit calls it once per
// tick that has requests, with the calls in canonical order (agents in
// canonical order, each agent's requests in the order it made them), and
// delivers the results at the next tick. It returns one encoded
// tensor.Result per call, in the same order, and must be deterministic, or
// record what it returns so that a replay can return the same.
type Inferencer interface {
	Infer(t clock.Tick, calls []InferCall) [][]byte
}

// SetInferencer sets who answers inference requests; without one, every
// request gets an "unavailable" result. Call it before the first tick.
func (e *Engine) SetInferencer(i Inferencer) { e.inferencer = i }

// infer answers calls and queues each result for its caller's next tick,
// returning the FNV-1a digest of the results (with each caller's rank) for
// the tick digest.
func (e *Engine) infer(r *Ready, t clock.Tick, calls []InferCall, callers []*Agent) uint64 {
	if len(calls) == 0 {
		return 0
	}
	r.Inferences = len(calls)
	r.Answers = make([][]byte, 0, len(calls))
	var results [][]byte
	if e.inferencer != nil {
		results = e.inferencer.Infer(t, calls)
	}
	h := uint64(fnvOffset64)
	for i, c := range calls {
		var res []byte
		if i < len(results) {
			res = results[i]
		} else {
			res = tensor.Failure(c.Request, tensor.Unavailable, "inference is unavailable: this host has no model manager (declare models in the topology or host.Options.Models)").Encode()
		}
		r.Answers = append(r.Answers, res)
		a := callers[i]
		h = fnvBytes(fnvUint32(fnvUint64(h, a.Rank), uint32(len(res))), res)
		a.inbox = append(a.inbox, agent.Message{From: agent.ModelSender, Sent: t, Payload: res})
	}
	return h
}

// dropAnswers removes from a's inbox the answers to requests made at tick
// t, when a is being restarted: they belong to the incarnation that asked,
// and the fresh one numbers its own requests from 0 again. It returns how
// many it dropped (dead letters).
func dropAnswers(a *Agent, t clock.Tick) uint64 {
	n := len(a.inbox)
	a.inbox = slices.DeleteFunc(a.inbox, func(m agent.Message) bool { return m.From == agent.ModelSender && m.Sent == t })
	return uint64(n - len(a.inbox))
}

// Answered is an Inferencer that hands out answers computed elsewhere: a
// replica of an engine (a federation member) commits a tick with the
// answers its primary's Ready carried. Set it before each Commit; it
// answers the next call once and then nothing (every request of a tick
// not covered is "unavailable", which changes the digest: a mismatch shows).
type Answered struct{ answers [][]byte }

// Set holds the answers for the next Commit.
func (a *Answered) Set(answers [][]byte) { a.answers = answers }

// Infer implements Inferencer.
func (a *Answered) Infer(_ clock.Tick, calls []InferCall) [][]byte {
	out := a.answers
	a.answers = nil
	if len(out) > len(calls) {
		out = out[:len(calls)]
	}
	return out
}
