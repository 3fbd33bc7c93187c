package mailbox

import (
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// waitLimit bounds every wait in these tests so that a bug fails the test
// instead of hanging it. Nothing waits for time to pass.
const waitLimit = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
}

// collector is an actor that records held messages and, on a release,
// reports what it has seen since the last release.
type collector struct {
	seen    []testHeld
	reports chan<- []testHeld
	stopped chan<- struct{}
}

func (c *collector) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case testHeld:
		if m.name == "bad" {
			panic("bad message")
		}
		c.seen = append(c.seen, m)
	case testRelease:
		c.reports <- c.seen
		c.seen = nil
	case *actor.Stopped:
		if c.stopped != nil {
			close(c.stopped)
		}
	}
}

// TestActorSeesHeldMessagesSorted posts held messages in shuffled order from
// several goroutines to an actor with a barrier mailbox on a pool, and checks
// that each release hands the actor its tick's messages in canonical order.
func TestActorSeesHeldMessagesSorted(t *testing.T) {
	system := quietSystem()
	pool := NewPool(4, 0)
	defer pool.Close()

	reports := make(chan []testHeld, 1)
	stopped := make(chan struct{})
	props := actor.PropsFromProducer(
		func() actor.Actor { return &collector{reports: reports, stopped: stopped} },
		actor.WithMailbox(Barrier), actor.WithDispatcher(pool))
	pid := system.Root.Spawn(props)

	const senders, perSender = 8, 50
	var want [3][]testHeld // by tick
	var batches [senders][]any
	rng := rand.New(rand.NewPCG(1, 2))
	for s := range senders {
		for i := range perSender {
			m := testHeld{name: "m", key: Key{Tick: uint64(1 + i%2), Rank: uint64(rng.IntN(4)), Seq: uint64(s*perSender + i)}}
			want[m.key.Tick] = append(want[m.key.Tick], m)
			var post any = m
			if i%3 == 0 {
				post = &actor.MessageEnvelope{Message: m}
			}
			batches[s] = append(batches[s], post)
		}
		rng.Shuffle(perSender, func(i, j int) { batches[s][i], batches[s][j] = batches[s][j], batches[s][i] })
	}
	for tick := range want {
		slices.SortFunc(want[tick], func(a, b testHeld) int { return a.key.Compare(b.key) })
	}

	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for _, m := range batches[s] {
				system.Root.Send(pid, m)
			}
		})
	}
	wg.Wait()

	for tick := uint64(1); tick <= 2; tick++ {
		system.Root.Send(pid, testRelease{tick})
		got := recv(t, reports, "release report")
		if !slices.Equal(got, want[tick]) {
			t.Fatalf("tick %d: actor saw\n%v\nwant\n%v", tick, got, want[tick])
		}
	}

	system.Root.Stop(pid)
	recv(t, stopped, "actor to stop")
}

// failureRecord is what recordingStrategy saw.
type failureRecord struct {
	reason  any
	message any
}

// recordingStrategy reports every failure and restarts the child.
type recordingStrategy struct{ failures chan<- failureRecord }

func (s recordingStrategy) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, message any) {
	s.failures <- failureRecord{reason: reason, message: message}
	supervisor.RestartChildren(child)
}

// TestPanicOnHeldMessageReachesSupervisor checks that a panic while handling
// a held message reaches the parent's supervisor strategy with that message,
// that the rest of the failed tick is dropped, and that the restarted actor
// still gets the messages held for the next tick.
func TestPanicOnHeldMessageReachesSupervisor(t *testing.T) {
	system := quietSystem()
	pool := NewPool(4, 0)
	defer pool.Close()

	failures := make(chan failureRecord, 1)
	reports := make(chan []testHeld, 2)
	stopped := make(chan struct{})
	children := make(chan *actor.PID, 1)

	childProps := actor.PropsFromProducer(
		func() actor.Actor { return &collector{reports: reports} },
		actor.WithMailbox(Barrier), actor.WithDispatcher(pool))
	parentProps := actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			children <- ctx.Spawn(childProps)
		case *actor.Stopped:
			close(stopped)
		}
	}, actor.WithSupervisor(recordingStrategy{failures}))
	parent := system.Root.Spawn(parentProps)
	child := recv(t, children, "child PID")

	bad := testHeld{name: "bad", key: Key{Tick: 1, Rank: 1}}
	system.Root.Send(child, testHeld{name: "d", key: Key{Tick: 2}})
	system.Root.Send(child, testHeld{name: "c", key: Key{Tick: 1, Rank: 2}})
	system.Root.Send(child, bad)
	system.Root.Send(child, testHeld{name: "a", key: Key{Tick: 1, Rank: 0}})
	system.Root.Send(child, testRelease{1})
	system.Root.Send(child, testRelease{2})

	f := recv(t, failures, "supervisor to see the failure")
	if f.message != bad {
		t.Errorf("supervisor got message %#v, want %#v", f.message, bad)
	}
	if f.reason != "bad message" {
		t.Errorf("supervisor got reason %#v, want %q", f.reason, "bad message")
	}

	// The failed tick's release (with c) was dropped; the restarted actor
	// reports tick 2 only.
	got := recv(t, reports, "report after restart")
	want := []testHeld{{name: "d", key: Key{Tick: 2}}}
	if !slices.Equal(got, want) {
		t.Errorf("restarted actor saw %v, want %v", got, want)
	}

	system.Root.Stop(parent)
	recv(t, stopped, "parent to stop")
	select {
	case r := <-reports:
		t.Errorf("unexpected extra report %v", r)
	default:
	}
}

// countingInvoker records user messages; the barrier mailbox serialises its
// calls.
type countingInvoker struct {
	log      []any
	last     uint64
	finished chan struct{}
}

func (c *countingInvoker) InvokeUserMessage(m any) {
	c.log = append(c.log, m)
	if r, ok := m.(testRelease); ok && r.tick == c.last {
		close(c.finished)
	}
}
func (c *countingInvoker) InvokeSystemMessage(any)  {}
func (c *countingInvoker) EscalateFailure(r, _ any) { panic(r) }

// TestBarrierConcurrentPostsAndReleases posts held messages for the next
// ticks from several goroutines while releases run on a pool, and checks
// that each release delivers exactly its tick's messages, sorted.
func TestBarrierConcurrentPostsAndReleases(t *testing.T) {
	const ticks, senders, perTick = 50, 4, 30
	pool := NewPool(4, 0)
	defer pool.Close()
	inv := &countingInvoker{last: ticks, finished: make(chan struct{})}
	mb := NewBarrier()
	mb.RegisterHandlers(inv, pool)

	post := func(tick uint64) {
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := perTick - 1; i >= 0; i-- { // reverse order: every post is out of order
					mb.PostUserMessage(testHeld{key: Key{Tick: tick, Rank: uint64(i), Seq: uint64(s)}})
				}
			})
		}
		wg.Wait()
	}
	// Messages for tick t are posted while the release of tick t-1 may be
	// running; messages for t+1 are posted too, so later ticks are held
	// across releases.
	post(1)
	for tick := uint64(1); tick <= ticks; tick++ {
		post(tick + 1)
		mb.PostUserMessage(testRelease{tick})
	}
	recv(t, inv.finished, "the last release")

	var batch []testHeld
	tick := uint64(1)
	for _, m := range inv.log {
		switch m := m.(type) {
		case testHeld:
			batch = append(batch, m)
		case testRelease:
			if m.tick != tick {
				t.Fatalf("release %d delivered, want %d", m.tick, tick)
			}
			if len(batch) != senders*perTick {
				t.Fatalf("release %d delivered %d messages, want %d", tick, len(batch), senders*perTick)
			}
			for i, h := range batch {
				if h.key.Tick != tick {
					t.Fatalf("release %d delivered %v", tick, h.key)
				}
				if i > 0 && !batch[i-1].key.Less(h.key) {
					t.Fatalf("release %d: %v delivered before %v", tick, batch[i-1].key, h.key)
				}
			}
			batch, tick = batch[:0], tick+1
		}
	}
	if got, want := mb.UserMessageCount(), senders*perTick; got != want {
		t.Errorf("UserMessageCount = %d, want %d (tick %d still held)", got, want, ticks+1)
	}
}

// plainCounter counts user messages; the barrier mailbox serialises its calls.
type plainCounter struct {
	n, want  int
	finished chan struct{}
}

func (c *plainCounter) InvokeUserMessage(any) {
	if c.n++; c.n == c.want {
		close(c.finished)
	}
}
func (c *plainCounter) InvokeSystemMessage(any)  {}
func (c *plainCounter) EscalateFailure(r, _ any) { panic(r) }

// TestBarrierNoStrandedMessages posts plain messages from several goroutines
// to one mailbox on a pool; a message posted just as a run goes idle must
// still be delivered.
func TestBarrierNoStrandedMessages(t *testing.T) {
	const senders, each = 8, 5000
	pool := NewPool(4, 1)
	defer pool.Close()
	c := &plainCounter{want: senders * each, finished: make(chan struct{})}
	mb := NewBarrier()
	mb.RegisterHandlers(c, pool)
	var msg any = testPlain{"p"}
	for range senders {
		go func() {
			for range each {
				mb.PostUserMessage(msg)
			}
		}()
	}
	recv(t, c.finished, "every message to be delivered")
}
