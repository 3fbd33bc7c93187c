package agenttest

import (
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/lockstep-rt/lockstep/mailbox"
)

// Dispatcher runs protoactor actors with barrier mailboxes (package
// mailbox) on the goroutine of the test that steps it, with no sleeps and
// no worker goroutines: what actors do happens inside the Dispatcher's
// calls (Spawn, Post, Tick, Drain, Stop), in a deterministic order, and the
// test can check the outcome as soon as the call returns.
//
// Mailbox runs wait in one FIFO queue and run one at a time, to
// completion; a message an actor sends to another is delivered when that
// actor's run comes up, within the same call. Messages sent with Send are
// held by the receiver's mailbox until Tick releases their tick: then each
// actor gets its messages of the tick in canonical order (mailbox.Key:
// tick, rank, seq; ties in send order), then a mailbox.EndOfTick.
//
// Dispatcher implements actor.Dispatcher. Runs scheduled from other
// goroutines (an actor outside it replying, say) wait for the next call.
// Supervision is protoactor's: an actor that panics is restarted by its
// parent's strategy (for top-level actors, protoactor's default: restart
// up to 10 times in 10 s of wall-clock time).
type Dispatcher struct {
	sys *actor.ActorSystem

	mu        sync.Mutex
	queue     []func()
	mailboxes []actor.Mailbox // in the order of their actors' spawns
	next      uint64
	running   bool
}

var _ actor.Dispatcher = (*Dispatcher)(nil)

// NewDispatcher returns a dispatcher with an actor system of its own,
// whose protoactor logs are discarded.
func NewDispatcher() *Dispatcher {
	return &Dispatcher{sys: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))}
}

// System is the dispatcher's actor system.
func (d *Dispatcher) System() *actor.ActorSystem { return d.sys }

// Props returns a copy of props whose actors have a barrier mailbox and
// run on d: give it to the actors that spawn children, so that the
// children are stepped too. Spawn does it for the actors it spawns.
func (d *Dispatcher) Props(props *actor.Props) *actor.Props {
	p := *props
	return p.Configure(actor.WithMailbox(d.newMailbox), actor.WithDispatcher(d))
}

// newMailbox is the mailbox producer of d's actors: it remembers every
// mailbox, for Tick.
func (d *Dispatcher) newMailbox() actor.Mailbox {
	mb := mailbox.NewBarrier()
	d.mu.Lock()
	d.mailboxes = append(d.mailboxes, mb)
	d.mu.Unlock()
	return mb
}

// Spawn spawns an actor of props (configured by Props) at the root and
// runs it until it is idle (its Started message delivered).
func (d *Dispatcher) Spawn(props *actor.Props) *actor.PID {
	pid := d.sys.Root.Spawn(d.Props(props))
	d.Drain()
	return pid
}

// SpawnNamed is Spawn with a name.
func (d *Dispatcher) SpawnNamed(props *actor.Props, name string) (*actor.PID, error) {
	pid, err := d.sys.Root.SpawnNamed(d.Props(props), name)
	d.Drain()
	return pid, err
}

// Send sends msg to pid, held by its mailbox until the Tick that releases
// key.Tick (a mailbox.Keyed: the actor receives msg itself). Nothing runs.
func (d *Dispatcher) Send(pid *actor.PID, key mailbox.Key, msg any) {
	d.sys.Root.Send(pid, mailbox.Keyed{Key: key, Message: msg})
}

// Post sends msg to pid as a plain message, delivered without waiting for
// a tick, and runs everything until idle.
func (d *Dispatcher) Post(pid *actor.PID, msg any) {
	d.sys.Root.Send(pid, msg)
	d.Drain()
}

// Stop stops pid (and its children) and runs everything until idle.
func (d *Dispatcher) Stop(pid *actor.PID) {
	d.sys.Root.Stop(pid)
	d.Drain()
}

// Next is the tick the next call of Tick releases (0 at first).
func (d *Dispatcher) Next() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.next
}

// Tick releases the next tick: every actor of d, in spawn order, gets a
// mailbox.EndOfTick for it, which delivers the messages held for that tick
// (and earlier ones) in canonical order and then itself; everything runs
// until idle. Messages sent during the tick for a later tick stay held.
// It returns the tick released.
func (d *Dispatcher) Tick() uint64 {
	d.mu.Lock()
	t := d.next
	d.next++
	mbs := d.mailboxes
	d.mu.Unlock()
	for _, mb := range mbs {
		mb.PostUserMessage(mailbox.EndOfTick{Tick: t})
	}
	d.Drain()
	return t
}

// Drain runs scheduled mailbox runs, in the order they were scheduled,
// until none is left, and returns how many ran. It must not be called
// from an actor.
func (d *Dispatcher) Drain() int {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		panic("agenttest: Dispatcher.Drain (or Spawn, Post, Stop, Tick) called from an actor it runs")
	}
	d.running = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()
	n := 0
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.queue = d.queue[:0]
			d.mu.Unlock()
			return n
		}
		fn := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.mu.Unlock()
		fn()
		n++
	}
}

// Schedule implements actor.Dispatcher: fn runs at the next Drain.
func (d *Dispatcher) Schedule(fn func()) {
	d.mu.Lock()
	d.queue = append(d.queue, fn)
	d.mu.Unlock()
}

// Throughput implements actor.Dispatcher.
func (d *Dispatcher) Throughput() int { return mailbox.DefaultThroughput }

// Close shuts the actor system down. Actors still running are not
// stopped: Stop them first if their Stopping matters.
func (d *Dispatcher) Close() { d.sys.Shutdown() }
