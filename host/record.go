package host

import (
	"crypto/sha256"
	"fmt"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

func engineConfigDigest(cfg []byte) [32]byte { return sha256.Sum256(cfg) }

// record appends the tick's recorded inference outputs, outputs and digest
// to the replay log (its commands are recorded as they are applied).
func (h *Host) record(out actors.Outcome, res TickResult) error {
	t := uint64(out.Plan.Tick)
	for _, o := range h.inf.pending {
		if err := h.rec.Append(&replaylog.Record{Kind: &replaylog.Record_Inference{Inference: o}}); err != nil {
			return fmt.Errorf("host: recording %s: %w", out.Plan.Tick, err)
		}
	}
	h.inf.pending = h.inf.pending[:0]
	for _, o := range res.Outputs {
		ro := &replaylog.Output{Tick: t, From: o.From, Channel: o.Channel, To: o.To, Payload: o.Payload}
		if err := h.rec.Append(&replaylog.Record{Kind: &replaylog.Record_Output{Output: ro}}); err != nil {
			return fmt.Errorf("host: recording %s: %w", out.Plan.Tick, err)
		}
	}
	if h.opts.RecordActions {
		if err := h.recordActions(out); err != nil {
			return fmt.Errorf("host: recording %s: %w", out.Plan.Tick, err)
		}
	}
	td := &replaylog.TickDigest{Tick: t, Digest: res.Digest[:], AgentDigests: res.AgentDigests, DeadLetters: res.DeadLetters}
	if h.agentsChanged(out) {
		td.Agents = res.Agents
	}
	for _, e := range out.Ready.Events {
		td.Events = append(td.Events, &replaylog.Event{Kind: replaylog.Event_Kind(e.Kind), Agent: e.Agent, Detail: e.Detail})
	}
	if err := h.rec.Append(&replaylog.Record{Kind: &replaylog.Record_Tick{Tick: td}}); err != nil {
		return fmt.Errorf("host: recording %s: %w", out.Plan.Tick, err)
	}
	return nil
}

// agentsChanged reports whether the set of running agents differs from the
// last tick's, so the log names them again.
func (h *Host) agentsChanged(out actors.Outcome) bool {
	changed := h.ticks == 1 || h.setChanged || len(out.Plan.Spawned) > 0 || len(out.Plan.Stopped) > 0
	h.setChanged = len(out.Ready.Stop) > 0
	return changed
}

func encodeCommand(t uint64, c engine.Command) *replaylog.Command {
	rc := &replaylog.Command{Tick: t}
	switch {
	case c.Spawn != nil:
		s := c.Spawn
		rc.Op = &replaylog.Command_Spawn{Spawn: &replaylog.Spawn{Id: s.ID, Kind: s.Kind, Config: s.Config, Priority: s.Priority, Group: s.Group, Fuel: s.Fuel}}
	case c.Stop != "":
		rc.Op = &replaylog.Command_Stop{Stop: &replaylog.Stop{Id: c.Stop}}
	case c.Join != nil:
		rc.Op = &replaylog.Command_Join{Join: &replaylog.Membership{Agent: c.Join.Agent, Channel: c.Join.Channel}}
	case c.Leave != nil:
		rc.Op = &replaylog.Command_Leave{Leave: &replaylog.Membership{Agent: c.Leave.Agent, Channel: c.Leave.Channel}}
	case c.Input != nil:
		rc.Op = &replaylog.Command_Input{Input: &replaylog.Input{To: c.Input.To, Channel: c.Input.Channel, Payload: c.Input.Payload}}
	}
	return rc
}

func decodeCommand(rc *replaylog.Command) (engine.Command, error) {
	switch op := rc.Op.(type) {
	case *replaylog.Command_Spawn:
		s := op.Spawn
		return engine.Command{Spawn: &engine.SpawnSpec{ID: s.Id, Kind: s.Kind, Config: s.Config, Priority: s.Priority, Group: s.Group, Fuel: s.Fuel}}, nil
	case *replaylog.Command_Stop:
		return engine.Command{Stop: op.Stop.Id}, nil
	case *replaylog.Command_Join:
		return engine.Command{Join: &engine.Membership{Agent: op.Join.Agent, Channel: op.Join.Channel}}, nil
	case *replaylog.Command_Leave:
		return engine.Command{Leave: &engine.Membership{Agent: op.Leave.Agent, Channel: op.Leave.Channel}}, nil
	case *replaylog.Command_Input:
		return engine.Command{Input: &engine.Input{To: op.Input.To, Channel: op.Input.Channel, Payload: op.Input.Payload}}, nil
	}
	return engine.Command{}, fmt.Errorf("command for %s has no operation", clock.Tick(rc.Tick))
}
