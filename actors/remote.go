package actors

import (
	"errors"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// Remote runs a share of a tick's agents outside this system: in the other
// processes of a federated run (package host/federation). The router runs
// the agents Local accepts on its workers and takes the others' reports
// from the Remote; routing, supervision and digests stay the engine's, in
// canonical order, so that the split changes no result.
type Remote interface {
	// Local reports whether agent a runs in this system. The answer must
	// not change over a's life.
	Local(a *engine.Agent) bool
	// Begin is called as a tick begins, before its local agents run, with
	// the tick's plan and the slots (indexes into p.Agents, ascending) of
	// the agents that are not local. For each such slot the Remote must
	// call t.Fill once, from any goroutine, or call t.Abort.
	Begin(p engine.Plan, slots []int, t *RemoteTick)
	// LocalDone is called once every local agent of the tick has reported,
	// with the tick's reports; only the local slots may be read, and only
	// during the call. It runs on an agent's worker (or the router's, when
	// the tick has no local agent); the barrier waits for it.
	LocalDone(p engine.Plan, reports []engine.Report)
	// Committed is called at the barrier with the tick's outcome, before
	// the next tick begins. Its reports and answers are valid during the
	// call only.
	Committed(p engine.Plan, ready *engine.Ready)
}

// RemoteTick is the handle through which a Remote hands the router the
// reports of one tick's remote agents.
type RemoteTick struct {
	round  *round
	tick   clock.Tick // the round is reused: a late call of an old tick is ignored
	system *actor.ActorSystem
	// aborted is set once: a second Abort is ignored.
	aborted atomic.Bool
}

// Fill records the report of the remote agent at slot. A slot that is not
// remote, out of range, already filled or of another tick is ignored and
// reported false.
func (t *RemoteTick) Fill(slot int, rep engine.Report) bool {
	if slot < 0 || slot >= len(t.round.remote) || !t.round.remote[slot] {
		return false
	}
	ok, last := t.round.report(t.tick, slot, rep)
	if last {
		t.system.Root.Send(t.round.router, &doneMsg{round: t.round})
	}
	return ok
}

// Abort ends the tick without committing it: the router answers the
// tick's Step with err, and the system takes no further tick.
func (t *RemoteTick) Abort(err error) {
	if t.aborted.Swap(true) {
		return
	}
	t.system.Root.Send(t.round.router, &abortMsg{round: t.round, tick: t.tick, err: aborted{err}})
}

// ErrAborted is wrapped by the error of a tick a Remote aborted: nothing
// of the tick was committed, and the run can resume from its log once the
// cause is gone.
var ErrAborted = errors.New("actors: tick aborted")

// aborted is a Remote's abort reason, marked ErrAborted; its text is the
// reason's.
type aborted struct{ error }

func (a aborted) Unwrap() []error { return []error{a.error, ErrAborted} }

// abortMsg ends a round that cannot complete.
type abortMsg struct {
	round *round
	tick  clock.Tick
	err   error
}
