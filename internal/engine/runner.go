package engine

import (
	"fmt"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
)

// Factory makes a fresh instance of an agent from its record (kind and
// config). It is called at spawn and at every restart.
type Factory func(a *Agent) (agent.Agent, error)

// Failure is the panic value a Runner raises when its agent fails; the
// caller (a supervisor, or the reference scheduler) recovers it.
type Failure struct {
	Agent  string
	Tick   clock.Tick
	Phase  string // init, restore, receive, step
	Reason string
	// Trace is where in the agent's code it failed, if the agent's error
	// said (agent.StackTracer: a WebAssembly trap's wasm stack trace). It
	// is for logs and people only: it is not part of Error, so it never
	// enters a digest or an event's detail (traces may differ between
	// wazero's engines and versions).
	Trace string
}

// Error describes the failure; it is also the reason recorded in digests
// (without Trace).
func (f *Failure) Error() string {
	return fmt.Sprintf("agent %q failed at %s in %s: %s", f.Agent, f.Tick, f.Phase, f.Reason)
}

// Runner drives one incarnation of an agent through ticks.
type Runner struct {
	rec     *Agent
	factory Factory
	impl    agent.Agent
	out     *Outbox
}

// NewRunner returns a runner for a fresh incarnation of a.
func NewRunner(a *Agent, f Factory, maxMessageSize int) *Runner {
	return &Runner{rec: a, factory: f, out: NewOutbox(a, maxMessageSize)}
}

// call runs f for phase at tick t and turns an error or a panic into a
// *Failure panic.
func (r *Runner) call(t clock.Tick, phase string, f func() error) {
	defer func() {
		if p := recover(); p != nil {
			if fl, ok := p.(*Failure); ok {
				panic(fl)
			}
			panic(&Failure{Agent: r.rec.ID, Tick: t, Phase: phase, Reason: r.lastWords(fmt.Sprintf("panic: %v", p))})
		}
	}()
	err := f()
	trace := agent.StackTrace(err)
	if v := r.out.violation; v != nil {
		// A quota is the host's limit, not the agent's error to handle: the
		// agent fails whatever it returned.
		err = v
	}
	if err != nil {
		panic(&Failure{Agent: r.rec.ID, Tick: t, Phase: phase, Reason: r.lastWords(err.Error()), Trace: trace})
	}
}

// maxLastWords is the most bytes of a log line a failure's reason quotes.
const maxLastWords = 256

// lastWords adds to a failure's reason the last error or warning the agent
// logged in the failing tick (an abort message, say), which would otherwise
// be lost with the rest of the tick's outbox.
func (r *Runner) lastWords(reason string) string {
	for i := len(r.out.actions) - 1; i >= 0; i-- {
		if a := r.out.actions[i]; a.Kind == ActLog && a.Level <= agent.LevelWarn {
			line, more := a.Payload, ""
			if len(line) > maxLastWords {
				line, more = line[:maxLastWords], fmt.Sprintf("… (%d bytes)", len(a.Payload))
			}
			return fmt.Sprintf("%s (its last %s log line: %q%s)", reason, levelName(a.Level), line, more)
		}
	}
	return reason
}

func levelName(l agent.Level) string {
	if l == agent.LevelError {
		return "error"
	}
	return "warning"
}

// begin makes sure the agent exists and is initialised. A fresh
// incarnation starts its outbox at tick t; Step moves it on afterwards.
//
// An agent of a restored engine that has an image (see Engine.Snapshot) is
// brought back by its instance's agent.Snapshotter.Restore instead of
// Init; the image is used once.
func (r *Runner) begin(t clock.Tick) {
	if r.impl != nil {
		return
	}
	r.out.Reset(t)
	image, phase := r.rec.image, "init"
	if image != nil {
		r.rec.image, phase = nil, "restore"
	}
	r.call(t, phase, func() error {
		impl, err := r.factory(r.rec)
		if err != nil {
			return fmt.Errorf("creating agent of kind %q: %w", r.rec.Kind, err)
		}
		if image == nil {
			err = impl.Init(r.out)
		} else if s, ok := impl.(agent.Snapshotter); !ok {
			err = fmt.Errorf("agent kind %q cannot be restored from a snapshot: its instances do not implement agent.Snapshotter (Snapshot and Restore)", r.rec.Kind)
		} else if err = s.Restore(image); err != nil {
			err = fmt.Errorf("restoring agent of kind %q from its snapshot image (%d bytes): %w", r.rec.Kind, len(image), err)
		}
		if err != nil {
			return err
		}
		r.impl = impl
		return nil
	})
}

// Snapshot returns the image of the agent's instance, for the image
// function of Engine.Snapshot: nil when the runner has no instance (it has
// not run yet), an error when the instance does not implement
// agent.Snapshotter or its Snapshot fails (or panics). Call it between
// ticks only.
func (r *Runner) Snapshot() (image []byte, err error) {
	if r.impl == nil {
		return nil, nil
	}
	s, ok := r.impl.(agent.Snapshotter)
	if !ok {
		return nil, fmt.Errorf("agent %q of kind %q cannot be snapshotted: its instance does not implement agent.Snapshotter (Snapshot and Restore)", r.rec.ID, r.rec.Kind)
	}
	defer func() {
		if p := recover(); p != nil {
			image, err = nil, fmt.Errorf("agent %q of kind %q: snapshot: panic: %v", r.rec.ID, r.rec.Kind, p)
		}
	}()
	image, err = s.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("agent %q of kind %q: snapshot: %w", r.rec.ID, r.rec.Kind, err)
	}
	if image == nil {
		image = []byte{} // an empty image, not "no instance"
	}
	return image, nil
}

// Deliver hands msgs to the agent at tick t.
func (r *Runner) Deliver(t clock.Tick, msgs []agent.Message) {
	r.begin(t)
	for _, m := range msgs {
		r.call(t, "receive", func() error { return r.impl.Receive(r.out, m) })
	}
}

// Step steps the agent at tick t and returns its report.
func (r *Runner) Step(t clock.Tick) Report {
	r.begin(t)
	r.call(t, "step", func() error { return r.impl.Step(r.out) })
	rep := r.out.Report()
	if m, ok := r.impl.(agent.Metered); ok {
		rep.Fuel = m.TakeFuel()
		rep.Digest = fnvUint64(rep.Digest, rep.Fuel)
	}
	r.out.Reset(t + 1)
	return rep
}

// Shutdown calls the agent's Shutdown, ignoring its effects and failures.
func (r *Runner) Shutdown() {
	if r.impl == nil {
		return
	}
	defer func() { _ = recover() }()
	_ = r.impl.Shutdown(r.out)
	r.impl = nil
}

// Reference is the naive reference scheduler: it runs every agent of a tick
// one after the other in the calling goroutine. Differential tests compare
// the actor runtime against it.
type Reference struct {
	e       *Engine
	factory Factory
	maxSize int
	runners map[*Agent]*Runner
}

// NewReference returns a reference scheduler over e.
func NewReference(e *Engine, f Factory, maxMessageSize int) *Reference {
	return &Reference{e: e, factory: f, maxSize: maxMessageSize, runners: map[*Agent]*Runner{}}
}

// Step runs one tick.
func (s *Reference) Step() (Plan, Ready) {
	p := s.e.Begin()
	for _, a := range p.Stopped {
		if r := s.runners[a]; r != nil {
			r.Shutdown()
			delete(s.runners, a)
		}
	}
	reports := make([]Report, len(p.Agents))
	for i, a := range p.Agents {
		r := s.runners[a]
		if r == nil {
			r = NewRunner(a, s.factory, s.maxSize)
			s.runners[a] = r
		}
		reports[i] = r.Tick(p.Tick, p.Inputs[i], p.Deliveries[i])
	}
	ready := s.e.Commit(p, reports)
	for _, a := range ready.Stop {
		s.runners[a].Shutdown()
		delete(s.runners, a)
	}
	for _, a := range ready.Restart {
		s.runners[a].Shutdown()
		s.runners[a] = NewRunner(a, s.factory, s.maxSize)
	}
	return p, ready
}

// Snapshot snapshots the engine between ticks, with the images of the
// agents' instances (Runner.Snapshot).
func (s *Reference) Snapshot() ([]byte, error) {
	return s.e.Snapshot(func(a *Agent) ([]byte, error) {
		if r := s.runners[a]; r != nil {
			return r.Snapshot()
		}
		return nil, nil
	})
}

// Tick runs the agent's whole tick t in the calling goroutine: its inputs,
// then its deliveries, then a step. A failure is the report (Failed, with
// the reason), as a supervisor would make it.
func (r *Runner) Tick(t clock.Tick, inputs, deliveries []agent.Message) (rep Report) {
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(*Failure)
			if !ok {
				panic(p)
			}
			rep = Report{Failed: true, Reason: f.Error(), Trace: f.Trace}
		}
	}()
	r.Deliver(t, inputs)
	r.Deliver(t, deliveries)
	return r.Step(t)
}
