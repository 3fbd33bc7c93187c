package host

import (
	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// TickTrace is what happened in one tick, agent by agent: what it was
// delivered and what it did. Tracers (agenthost trace, diff) read it; it
// never changes a run. Payloads are shared with the run: read them during
// the call, do not keep or modify them.
type TickTrace struct {
	Tick   clock.Tick
	Digest [32]byte
	// Agents are the agents that ran, in canonical order.
	Agents      []AgentTrace
	Events      []Event
	Outputs     []Output
	DeadLetters uint64
}

// AgentTrace is one agent's tick.
type AgentTrace struct {
	ID string
	// Delivered are its messages of the tick, in the order it received
	// them: external inputs, then messages from agents.
	Delivered []agent.Message
	// Actions are what it asked for, in order; a failed tick's are dropped
	// by the run (Failed says why) but shown here.
	Actions []Action
	// Fuel is the fuel it used (WebAssembly agents), Digest its report's
	// digest (what the tick digest chains).
	Fuel   uint64
	Digest uint64
	// Failed is the reason it failed this tick ("" when it did not), and
	// Trace its WebAssembly stack trace, if any.
	Failed, Trace string
}

// Action is one thing an agent asked for during a tick.
type Action struct {
	// Kind is send, publish, join, leave, log, state or infer.
	Kind string
	// Target is the agent (send), channel (publish, join, leave), state
	// region (state) or model (infer).
	Target string
	// Payload is the message, log line, region value or inference input.
	Payload []byte
	// Level is a log line's level (error, warning, info, debug).
	Level string
	// Version is an inference's model version.
	Version string
}

var actionKinds = [...]string{engine.ActSend: "send", engine.ActPublish: "publish", engine.ActJoin: "join", engine.ActLeave: "leave",
	engine.ActLog: "log", engine.ActState: "state", engine.ActInfer: "infer"}

var levelNames = map[agent.Level]string{agent.LevelError: "error", agent.LevelWarn: "warning", agent.LevelInfo: "info", agent.LevelDebug: "debug"}

// Trace calls fn with the trace of every tick Step runs from now on (nil:
// stop tracing), in the goroutine that calls Step. Tracing changes no
// digest and no record.
func (h *Host) Trace(fn func(*TickTrace)) { h.tracer = fn }

// trace builds the trace of a tick and hands it to the tracer.
func (h *Host) trace(out actors.Outcome, res TickResult) {
	p, r := out.Plan, out.Ready
	t := &TickTrace{Tick: res.Tick, Digest: res.Digest, Events: res.Events, Outputs: res.Outputs, DeadLetters: res.DeadLetters,
		Agents: make([]AgentTrace, len(p.Agents))}
	for i, a := range p.Agents {
		at := AgentTrace{ID: a.ID}
		if i < len(p.Inputs) {
			at.Delivered = append(at.Delivered, p.Inputs[i]...)
		}
		if i < len(p.Deliveries) {
			at.Delivered = append(at.Delivered, p.Deliveries[i]...)
		}
		if i < len(r.Reports) {
			rep := r.Reports[i]
			at.Fuel, at.Digest = rep.Fuel, rep.Digest
			if rep.Failed {
				at.Failed, at.Trace = rep.Reason, rep.Trace
			}
			for _, act := range rep.Actions {
				x := Action{Target: act.Target, Payload: act.Payload, Version: act.Version}
				if int(act.Kind) < len(actionKinds) {
					x.Kind = actionKinds[act.Kind]
				}
				if act.Kind == engine.ActLog {
					x.Level = levelNames[act.Level]
				}
				at.Actions = append(at.Actions, x)
			}
		}
		t.Agents[i] = at
	}
	h.tracer(t)
}

// AgentState is an agent as of the last barrier, for inspection.
type AgentState struct {
	ID, Kind string
	Alive    bool
	// Incarnation counts its restarts.
	Incarnation uint32
	Group       string
	Channels    []string
	// Regions are its state regions (shared: do not modify them).
	Regions map[string][]byte
}

// Inspection is the run's state at a tick boundary.
type Inspection struct {
	// Tick is the next tick; the state is that after Tick-1.
	Tick   clock.Tick
	Digest [32]byte
	Agents []AgentState
	// Restarts are, per supervision group, the ticks of the restarts still
	// inside its window.
	Restarts map[string][]uint64
}

// Inspect describes the run between ticks: every agent spawned so far
// (stopped ones too), its group, restarts, channels and state regions.
// An agent's instance (a WebAssembly agent's memory and globals) is
// SnapshotAgent's.
func (h *Host) Inspect() *Inspection {
	in := &Inspection{Tick: h.Tick(), Digest: h.last.Digest, Restarts: h.eng.GroupRestarts()}
	for _, a := range h.eng.Agents() {
		in.Agents = append(in.Agents, AgentState{ID: a.ID, Kind: a.Kind, Alive: a.Alive(), Incarnation: a.Incarnation,
			Group: a.Group(), Channels: a.Channels(), Regions: a.Regions()})
	}
	return in
}
