package actors

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/mailbox"
)

// Messages between the caller, the router and agent actors.
type (
	applyMsg struct {
		cmd   engine.Command
		reply chan<- error
	}
	tickMsg struct{ reply chan<- Outcome }
	// deliverMsg carries messages for one agent at one tick; the barrier
	// mailbox holds it until the tick's release.
	deliverMsg struct {
		key  mailbox.Key
		msgs []agent.Message
	}
	// releaseMsg opens an agent's barrier for a tick; the agent steps and
	// writes its report into the round.
	releaseMsg struct {
		tick  clock.Tick
		slot  int
		round *round
	}
	// doneMsg tells the router that the round's last report is in.
	doneMsg struct{ round *round }
)

// Keys of the held batches: external inputs go before routed messages.
const (
	rankInputs = iota
	rankRouted
)

func (m *deliverMsg) BarrierKey() mailbox.Key { return m.key }
func (m *releaseMsg) ReleaseTick() uint64     { return uint64(m.tick) }

// round collects the reports of the running tick without a message per
// report: each agent actor writes its own slot and counts pending down, and
// the one that brings it to zero sends the router one doneMsg. The atomic
// countdown orders every slot's write before the router reads it. The router
// reuses one round for every tick; between ticks nothing else touches it.
type round struct {
	tick    clock.Tick
	reports []engine.Report
	// reported[slot] is the tick+1 the slot last reported for, so that a
	// second report of one tick (a bug) is ignored, not counted. Ticks only
	// grow, so it needs no reset between ticks.
	reported []atomic.Uint64
	pending  atomic.Int64
	router   *actor.PID
	// With a Remote: remote[slot] marks the slots the Remote fills, local
	// counts the local reports still to come, and localDone runs when it
	// reaches zero, before the round's last report counts.
	remote    []bool
	local     atomic.Int64
	localDone func()
}

// reset starts tick t with n slots.
func (rd *round) reset(t clock.Tick, n int) {
	rd.tick = t
	if cap(rd.reports) < n {
		rd.reports = make([]engine.Report, n)
		rd.reported = make([]atomic.Uint64, n)
	}
	clear(rd.reports) // drop the last tick's actions
	rd.reports = rd.reports[:n]
	rd.reported = rd.reported[:n]
	rd.pending.Store(int64(n))
}

// report records slot's report for tick t. It returns false for a stray
// report, and sets last when it was the last report of the round.
func (rd *round) report(t clock.Tick, slot int, rep engine.Report) (ok, last bool) {
	if t != rd.tick || slot < 0 || slot >= len(rd.reports) || rd.reported[slot].Swap(uint64(t)+1) == uint64(t)+1 {
		return false, false
	}
	rd.reports[slot] = rep
	if rd.localDone != nil && !rd.remote[slot] && rd.local.Add(-1) == 0 {
		rd.localDone()
	}
	return true, rd.pending.Add(-1) == 0
}

// member is the router's record of one agent actor. Its messages are reused
// every tick: by the time the router begins a tick, the agent has handled
// (or, failing, dropped) the last tick's.
type member struct {
	a       *engine.Agent
	pid     *actor.PID
	inputs  deliverMsg
	routed  deliverMsg
	release releaseMsg
}

// router is the orchestrator actor. It is also the SupervisorStrategy of
// its children, the agent actors.
type router struct {
	cfg  Config
	pool *mailbox.Pool
	ctx  actor.Context

	members map[*engine.Agent]*member
	byPID   map[string]*member

	running bool
	plan    engine.Plan
	order   []*member // order[i] runs plan.Agents[i]
	slots   map[*engine.Agent]int
	stale   bool // order and slots must be rebuilt
	round   round
	reply   chan<- Outcome
	queued  []*applyMsg
	events  *eventLog
	// remoteSlots are the plan's slots the Remote runs (with cfg.Remote).
	remoteSlots []int
}

func (r *router) Receive(ctx actor.Context) {
	r.ctx = ctx
	switch m := ctx.Message().(type) {
	case *applyMsg:
		if r.running {
			r.queued = append(r.queued, m)
			return
		}
		m.reply <- r.cfg.Engine.Apply(m.cmd)
	case *tickMsg:
		r.begin(m.reply)
	case *doneMsg:
		if r.running && m.round == &r.round && r.round.pending.Load() == 0 {
			r.barrier()
		}
	case *abortMsg:
		if r.running && m.round == &r.round && m.tick == r.round.tick {
			r.abort(m.err)
		}
	case *actor.Started:
		r.round.router = ctx.Self()
	}
}

func (r *router) begin(reply chan<- Outcome) {
	p := r.cfg.Engine.Begin()
	sup := r.ctx.(actor.Supervisor)
	for _, a := range p.Stopped {
		r.remove(sup, a)
	}
	for _, a := range p.Spawned {
		if a.Alive() && r.local(a) { // spawned and stopped before the tick: never runs
			r.spawn(a)
		}
	}
	r.running, r.plan, r.reply = true, p, reply
	// The set of agents changed: rebuild even when none of the changed
	// agents runs here (with a Remote, spawn and remove may not).
	r.stale = r.stale || len(p.Spawned) > 0 || len(p.Stopped) > 0
	if r.stale || len(r.order) != len(p.Agents) {
		r.order = r.order[:0]
		r.remoteSlots = r.remoteSlots[:0]
		clear(r.slots)
		for i, a := range p.Agents {
			m := r.members[a]
			r.order = append(r.order, m)
			r.slots[a] = i
			if m == nil {
				r.remoteSlots = append(r.remoteSlots, i)
			}
		}
		r.stale = false
	}
	r.round.reset(p.Tick, len(p.Agents))
	if rm := r.cfg.Remote; rm != nil {
		r.beginRemote(rm, p)
	}
	for i, m := range r.order {
		if m == nil {
			continue // a remote agent
		}
		if len(p.Inputs[i]) > 0 {
			m.inputs = deliverMsg{key: mailbox.Key{Tick: uint64(p.Tick), Rank: rankInputs}, msgs: p.Inputs[i]}
			r.ctx.Send(m.pid, &m.inputs)
		}
		if len(p.Deliveries[i]) > 0 {
			m.routed = deliverMsg{key: mailbox.Key{Tick: uint64(p.Tick), Rank: rankRouted}, msgs: p.Deliveries[i]}
			r.ctx.Send(m.pid, &m.routed)
		}
		m.release = releaseMsg{tick: p.Tick, slot: i, round: &r.round}
		r.ctx.Send(m.pid, &m.release)
	}
	if len(p.Agents) == 0 {
		r.barrier()
	}
}

// local reports whether a runs here: always, without a Remote.
func (r *router) local(a *engine.Agent) bool { return r.cfg.Remote == nil || r.cfg.Remote.Local(a) }

// beginRemote hands the tick's remote slots to the Remote. When the tick
// has no local agent, the local share is done at once.
func (r *router) beginRemote(rm Remote, p engine.Plan) {
	rd := &r.round
	rd.remote = slices.Grow(rd.remote[:0], len(p.Agents))[:len(p.Agents)]
	clear(rd.remote)
	for _, i := range r.remoteSlots {
		rd.remote[i] = true
	}
	nLocal := len(p.Agents) - len(r.remoteSlots)
	rd.local.Store(int64(nLocal))
	rd.localDone = func() { rm.LocalDone(p, rd.reports) }
	rm.Begin(p, r.remoteSlots, &RemoteTick{round: rd, tick: p.Tick, system: r.ctx.ActorSystem()})
	if nLocal == 0 {
		rm.LocalDone(p, rd.reports)
	}
}

// abort ends a tick the Remote cannot complete: nothing is committed, and
// the caller's Step gets err.
func (r *router) abort(err error) {
	r.running = false
	r.round.pending.Store(-1) // late reports of the aborted round count for nothing
	r.reply <- Outcome{err: err}
}

func (r *router) spawn(a *engine.Agent) {
	cfg := r.cfg
	props := actor.PropsFromProducer(func() actor.Actor {
		return &agentActor{runner: engine.NewRunner(a, cfg.Factory, cfg.MaxMessageSize), log: cfg.Logger}
	}, actor.WithMailbox(mailbox.Barrier), actor.WithDispatcher(r.pool))
	pid, err := r.ctx.SpawnNamed(props, a.ID)
	if err != nil {
		// Names are unique in the engine; a clash means a stale actor.
		panic(fmt.Sprintf("actors: spawning agent %q: %v", a.ID, err))
	}
	m := &member{a: a, pid: pid}
	r.members[a] = m
	r.byPID[pid.Id] = m
	r.stale = true
}

func (r *router) remove(sup actor.Supervisor, a *engine.Agent) {
	if m := r.members[a]; m != nil {
		sup.StopChildren(m.pid)
		delete(r.byPID, m.pid.Id)
		delete(r.members, a)
		r.stale = true
	}
}

// HandleFailure implements actor.SupervisorStrategy for the agent actors:
// the failure becomes the agent's report for its tick. What happens to the
// agent is decided at the barrier, in canonical order.
func (r *router) HandleFailure(_ *actor.ActorSystem, _ actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, message interface{}) {
	m := r.byPID[child.Id]
	if m == nil {
		return
	}
	var t clock.Tick
	switch msg := actor.UnwrapEnvelopeMessage(message).(type) {
	case *deliverMsg:
		t = clock.Tick(msg.key.Tick)
	case *releaseMsg:
		t = msg.tick
	default:
		t = r.plan.Tick
	}
	text, trace := fmt.Sprint(reason), ""
	if f, ok := reason.(*engine.Failure); ok {
		text, trace = f.Error(), f.Trace
	}
	slot, ok := r.slots[m.a]
	if !ok {
		return
	}
	if !r.running {
		strayReport(r.cfg.Logger, t, slot)
		return
	}
	ok, last := r.round.report(t, slot, engine.Report{Failed: true, Reason: text, Trace: trace})
	if !ok {
		strayReport(r.cfg.Logger, t, slot)
	}
	if last {
		r.barrier()
	}
}

func strayReport(l *logrus.Logger, t clock.Tick, slot int) {
	l.WithFields(logrus.Fields{"tick": uint64(t), "slot": slot}).Error("actors: stray report ignored")
}

func (r *router) barrier() {
	ready := r.cfg.Engine.Commit(r.plan, r.round.reports)
	sup := r.ctx.(actor.Supervisor)
	for _, a := range ready.Stop {
		r.remove(sup, a)
	}
	r.stale = r.stale || len(ready.Stop) > 0
	for _, a := range ready.Restart {
		if m := r.members[a]; m != nil {
			sup.RestartChildren(m.pid)
		}
	}
	if rm := r.cfg.Remote; rm != nil {
		rm.Committed(r.plan, &ready)
	}
	for _, l := range ready.Logs {
		r.cfg.Logger.WithFields(logrus.Fields{"agent": l.Agent, "tick": uint64(ready.Tick)}).Log(logrus.Level(l.Level), l.Text)
	}
	r.events.tick(&ready)
	out := Outcome{Plan: r.plan, Ready: ready}
	r.running = false
	r.reply <- out
	for _, m := range r.queued {
		m.reply <- r.cfg.Engine.Apply(m.cmd)
	}
	clear(r.queued)
	r.queued = r.queued[:0]
}

// agentActor runs one incarnation of an agent; a restart builds a new one.
type agentActor struct {
	runner *engine.Runner
	log    *logrus.Logger
}

func (a *agentActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *deliverMsg:
		a.runner.Deliver(clock.Tick(m.key.Tick), m.msgs)
	case *releaseMsg:
		rep := a.runner.Step(m.tick)
		ok, last := m.round.report(m.tick, m.slot, rep)
		if !ok {
			strayReport(a.log, m.tick, m.slot)
		}
		if last {
			ctx.Send(m.round.router, &doneMsg{round: m.round})
		}
	case *actor.Stopping, *actor.Restarting:
		a.runner.Shutdown()
	}
}
