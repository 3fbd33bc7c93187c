package host

import (
	"fmt"
	"unicode/utf8"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
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

// trace builds the trace of a tick, hands it to the tracer, and keeps it
// when a replay compares it with recorded actions.
func (h *Host) trace(out actors.Outcome, res TickResult) {
	t := &TickTrace{Tick: res.Tick, Digest: res.Digest, Events: res.Events, Outputs: res.Outputs, DeadLetters: res.DeadLetters,
		Agents: agentTraces(out)}
	if h.captureTrace {
		h.lastTrace = t
	}
	if h.tracer != nil {
		h.tracer(t)
	}
}

// agentTraces are the tick's agent by agent.
func agentTraces(out actors.Outcome) []AgentTrace {
	p, r := out.Plan, out.Ready
	traces := make([]AgentTrace, len(p.Agents))
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
		traces[i] = at
	}
	return traces
}

// recordActions appends the tick's AgentActions records.
func (h *Host) recordActions(out actors.Outcome) error {
	for _, at := range agentTraces(out) {
		if len(at.Actions) == 0 && at.Failed == "" {
			continue
		}
		rec := &replaylog.AgentActions{Tick: uint64(out.Plan.Tick), Agent: at.ID, Failed: at.Failed}
		for _, a := range at.Actions {
			rec.Actions = append(rec.Actions, &replaylog.Action{Kind: a.Kind, Target: a.Target, Payload: a.Payload, Level: a.Level, Version: a.Version})
		}
		if err := h.rec.Append(&replaylog.Record{Kind: &replaylog.Record_Actions{Actions: rec}}); err != nil {
			return err
		}
	}
	return nil
}

// explainActions compares agent id's recorded actions of the tick just
// replayed with the replay's, and says where they first differ ("" when
// the log holds none of its actions).
func (h *Host) explainActions(id string) string {
	if h.lastTrace == nil {
		return ""
	}
	var rec *replaylog.AgentActions
	for _, a := range h.replayActions {
		if a.Agent == id {
			rec = a
		}
	}
	var got *AgentTrace
	for i := range h.lastTrace.Agents {
		if h.lastTrace.Agents[i].ID == id {
			got = &h.lastTrace.Agents[i]
		}
	}
	if got == nil {
		return ""
	}
	logged, replayed := []string{}, []string{}
	if rec != nil {
		for _, a := range rec.Actions {
			logged = append(logged, describe(a.Kind, a.Target, a.Payload))
		}
		if rec.Failed != "" {
			logged = append(logged, "failed: "+rec.Failed)
		}
	}
	for _, a := range got.Actions {
		replayed = append(replayed, describe(a.Kind, a.Target, a.Payload))
	}
	if got.Failed != "" {
		replayed = append(replayed, "failed: "+got.Failed)
	}
	k := 0
	for k < len(logged) && k < len(replayed) && logged[k] == replayed[k] {
		k++
	}
	at := func(l []string) string {
		if k < len(l) {
			return l[k]
		}
		return "(nothing)"
	}
	if k == len(logged) && k == len(replayed) {
		return fmt.Sprintf("; the same %d actions on both sides: the fuel differs", k)
	}
	return fmt.Sprintf("; its action %d differs: log %s, replay %s", k+1, at(logged), at(replayed))
}

// describe is one action in a line: kind, target and a payload preview.
func describe(kind, target string, payload []byte) string {
	const show = 32
	p := fmt.Sprintf("%q", payload)
	if !utf8.Valid(payload) || len(payload) > show {
		p = fmt.Sprintf("%d bytes %x", len(payload), payload[:min(len(payload), show/2)])
	}
	return fmt.Sprintf("%s %s %s", kind, target, p)
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
