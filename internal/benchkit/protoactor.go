package benchkit

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
}

type (
	ping      struct{}
	request   struct{ replyTo *actor.PID }
	reply     struct{}
	countdown struct{ wg *sync.WaitGroup }
)

// counter counts pings and signals done at the target.
type counter struct {
	n, target int
	done      chan struct{}
}

func (c *counter) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*ping); ok {
		if c.n++; c.n == c.target {
			c.done <- struct{}{}
		}
	}
}

// ProtoactorOneToOne measures raw protoactor throughput: one sender (the
// root context) sends b.N messages to one actor with the default mailbox and
// dispatcher, and waits until the actor has received them all. It reports
// msgs/s and ns/msg.
func ProtoactorOneToOne(b *testing.B) {
	sys := quietSystem()
	c := &counter{target: b.N, done: make(chan struct{}, 1)}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return c }))
	defer sys.Root.Stop(pid)
	msg := &ping{}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sys.Root.Send(pid, msg)
	}
	<-c.done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), UnitMsgsPerSec)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), UnitNsPerMsg)
}

// collector counts replies and signals done after n of them.
type collector struct {
	n, target int
	done      chan struct{}
}

func (c *collector) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*reply); ok {
		if c.n++; c.n == c.target {
			c.n = 0
			c.done <- struct{}{}
		}
	}
}

// ProtoactorFanout is the naive fan-out a tick would be on raw protoactor:
// each round sends one message to each of n actors (default mailbox and
// dispatcher), each replies to a collector actor, and the round ends when
// all n replies are in. ns/op is the time per round; it also reports
// ns/agent.
func ProtoactorFanout(b *testing.B, n int) {
	sys := quietSystem()
	col := &collector{target: n, done: make(chan struct{}, 1)}
	colPID := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return col }))
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*request); ok {
			ctx.Send(m.replyTo, &reply{})
		}
	})
	pids := make([]*actor.PID, n)
	for i := range pids {
		pids[i] = sys.Root.Spawn(props)
	}
	defer func() {
		for _, pid := range pids {
			sys.Root.Stop(pid)
		}
		sys.Root.Stop(colPID)
	}()
	req := &request{replyTo: colPID}
	round := func() {
		for _, pid := range pids {
			sys.Root.Send(pid, req)
		}
		<-col.done
	}
	round() // warm: every PID caches its process
	b.ReportAllocs()
	for b.Loop() {
		round()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), UnitNsPerAgent)
}

// ProtoactorFanoutCountdown is ProtoactorFanout without reply messages:
// each of the n actors counts a sync.WaitGroup down, and the round ends when
// it reaches zero. It is the cheapest way to learn that n actors have each
// handled a message, a stricter baseline for Tick (whose agents also count
// down instead of sending a report message each).
func ProtoactorFanoutCountdown(b *testing.B, n int) {
	sys := quietSystem()
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*countdown); ok {
			m.wg.Done()
		}
	})
	pids := make([]*actor.PID, n)
	for i := range pids {
		pids[i] = sys.Root.Spawn(props)
	}
	defer func() {
		for _, pid := range pids {
			sys.Root.Stop(pid)
		}
	}()
	var wg sync.WaitGroup
	msg := &countdown{wg: &wg}
	round := func() {
		wg.Add(n)
		for _, pid := range pids {
			sys.Root.Send(pid, msg)
		}
		wg.Wait()
	}
	round()
	b.ReportAllocs()
	for b.Loop() {
		round()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), UnitNsPerAgent)
}
