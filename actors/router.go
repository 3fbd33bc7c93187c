package actors

import (
	"fmt"

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
	releaseMsg struct {
		tick clock.Tick
		slot int
	}
	reportMsg struct {
		tick clock.Tick
		slot int
		rep  engine.Report
	}
)

// Keys of the held batches: external inputs go before routed messages.
const (
	rankInputs = iota
	rankRouted
)

func (m *deliverMsg) BarrierKey() mailbox.Key { return m.key }
func (m *releaseMsg) ReleaseTick() uint64     { return uint64(m.tick) }

// router is the orchestrator actor. It is also the SupervisorStrategy of
// its children, the agent actors.
type router struct {
	cfg  Config
	pool *mailbox.Pool
	ctx  actor.Context

	pids  map[*engine.Agent]*actor.PID
	byPID map[string]*engine.Agent

	running bool
	plan    engine.Plan
	slots   map[*engine.Agent]int // slot of each agent in plan.Agents
	stale   bool                  // slots must be rebuilt
	reports []engine.Report
	done    []bool
	pending int
	reply   chan<- Outcome
	queued  []*applyMsg
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
	case *reportMsg:
		r.record(m.tick, m.slot, m.rep)
	}
}

func (r *router) begin(reply chan<- Outcome) {
	p := r.cfg.Engine.Begin()
	sup := r.ctx.(actor.Supervisor)
	for _, a := range p.Stopped {
		r.remove(sup, a)
	}
	for _, a := range p.Spawned {
		r.spawn(a)
	}
	r.running, r.plan, r.reply = true, p, reply
	r.reports = make([]engine.Report, len(p.Agents))
	r.done = make([]bool, len(p.Agents))
	r.pending = len(p.Agents)
	if r.stale || r.slots == nil {
		r.slots = make(map[*engine.Agent]int, len(p.Agents))
		for i, a := range p.Agents {
			r.slots[a] = i
		}
		r.stale = false
	}
	for i, a := range p.Agents {
		pid := r.pids[a]
		if len(p.Inputs[i]) > 0 {
			r.ctx.Send(pid, &deliverMsg{key: mailbox.Key{Tick: uint64(p.Tick), Rank: rankInputs}, msgs: p.Inputs[i]})
		}
		if len(p.Deliveries[i]) > 0 {
			r.ctx.Send(pid, &deliverMsg{key: mailbox.Key{Tick: uint64(p.Tick), Rank: rankRouted}, msgs: p.Deliveries[i]})
		}
		r.ctx.Send(pid, &releaseMsg{tick: p.Tick, slot: i})
	}
	if r.pending == 0 {
		r.barrier()
	}
}

func (r *router) spawn(a *engine.Agent) {
	cfg := r.cfg
	props := actor.PropsFromProducer(func() actor.Actor {
		return &agentActor{runner: engine.NewRunner(a, cfg.Factory, cfg.MaxMessageSize)}
	}, actor.WithMailbox(mailbox.Barrier), actor.WithDispatcher(r.pool))
	pid, err := r.ctx.SpawnNamed(props, a.ID)
	if err != nil {
		// Names are unique in the engine; a clash means a stale actor.
		panic(fmt.Sprintf("actors: spawning agent %q: %v", a.ID, err))
	}
	r.pids[a] = pid
	r.byPID[pid.Id] = a
	r.stale = true
}

func (r *router) remove(sup actor.Supervisor, a *engine.Agent) {
	if pid := r.pids[a]; pid != nil {
		sup.StopChildren(pid)
		delete(r.byPID, pid.Id)
		delete(r.pids, a)
		r.stale = true
	}
}

func (r *router) record(t clock.Tick, slot int, rep engine.Report) {
	if !r.running || t != r.plan.Tick || slot < 0 || slot >= len(r.done) || r.done[slot] {
		r.cfg.Logger.WithFields(logrus.Fields{"tick": uint64(t), "slot": slot}).Error("actors: stray report ignored")
		return
	}
	r.reports[slot] = rep
	r.done[slot] = true
	r.pending--
	if r.pending == 0 {
		r.barrier()
	}
}

// HandleFailure implements actor.SupervisorStrategy for the agent actors:
// the failure becomes the agent's report for its tick. What happens to the
// agent is decided at the barrier, in canonical order.
func (r *router) HandleFailure(_ *actor.ActorSystem, _ actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, message interface{}) {
	a := r.byPID[child.Id]
	if a == nil {
		return
	}
	var t clock.Tick
	switch m := actor.UnwrapEnvelopeMessage(message).(type) {
	case *deliverMsg:
		t = clock.Tick(m.key.Tick)
	case *releaseMsg:
		t = m.tick
	default:
		t = r.plan.Tick
	}
	text := fmt.Sprint(reason)
	if f, ok := reason.(*engine.Failure); ok {
		text = f.Error()
	}
	slot, ok := r.slots[a]
	if !ok {
		return
	}
	r.record(t, slot, engine.Report{Failed: true, Reason: text})
}

func (r *router) barrier() {
	ready := r.cfg.Engine.Commit(r.plan, r.reports)
	sup := r.ctx.(actor.Supervisor)
	for _, a := range ready.Stop {
		r.remove(sup, a)
	}
	for _, a := range ready.Restart {
		sup.RestartChildren(r.pids[a])
	}
	for _, l := range ready.Logs {
		r.cfg.Logger.WithFields(logrus.Fields{"agent": l.Agent, "tick": uint64(ready.Tick)}).Log(logrus.Level(l.Level), l.Text)
	}
	out := Outcome{Plan: r.plan, Ready: ready}
	r.running, r.reports, r.done = false, nil, nil
	r.reply <- out
	for _, m := range r.queued {
		m.reply <- r.cfg.Engine.Apply(m.cmd)
	}
	r.queued = r.queued[:0]
}

// agentActor runs one incarnation of an agent; a restart builds a new one.
type agentActor struct {
	runner *engine.Runner
}

func (a *agentActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *deliverMsg:
		a.runner.Deliver(clock.Tick(m.key.Tick), m.msgs)
	case *releaseMsg:
		rep := a.runner.Step(m.tick)
		ctx.Send(ctx.Parent(), &reportMsg{tick: m.tick, slot: m.slot, rep: rep})
	case *actor.Stopping, *actor.Restarting:
		a.runner.Shutdown()
	}
}
