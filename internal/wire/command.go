// Package wire encodes what crosses a process boundary of a run: engine
// commands as replay log records, and agents' reports in a compact binary
// form for a federation's tick batches (package host/federation).
package wire

import (
	"fmt"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// EncodeCommand is c, applied before tick t, as the replay log and a
// federation's tick batches carry it.
func EncodeCommand(t uint64, c engine.Command) *replaylog.Command {
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

// DecodeCommand is the engine command rc carries.
func DecodeCommand(rc *replaylog.Command) (engine.Command, error) {
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
