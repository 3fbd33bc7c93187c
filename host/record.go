package host

import (
	"crypto/sha256"
	"fmt"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/host/replaylog"
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
