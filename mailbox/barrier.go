package mailbox

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Scheduler states of a barrier mailbox.
const (
	idle int32 = iota
	running
)

// heldMsg is a held message with the key it was posted with and its place
// in post order.
type heldMsg struct {
	key  Key
	post uint64
	msg  any
}

// compareHeld orders held messages by key, then post order. No two held
// messages compare equal, so an unstable sort gives the stable result.
func compareHeld(a, b heldMsg) int {
	switch {
	case a.key.Tick != b.key.Tick:
		return cmp.Compare(a.key.Tick, b.key.Tick)
	case a.key.Rank != b.key.Rank:
		return cmp.Compare(a.key.Rank, b.key.Rank)
	case a.key.Seq != b.key.Seq:
		return cmp.Compare(a.key.Seq, b.key.Seq)
	default:
		return cmp.Compare(a.post, b.post)
	}
}

// barrier is the mailbox returned by NewBarrier.
//
// Posters touch only the fields guarded by mu. The fields marked "run-owned"
// are used by at most one run at a time: runs are serialised by status, and
// its atomic operations order one run before the next.
type barrier struct {
	status atomic.Int32 // idle or running

	mu   sync.Mutex
	sys  fifo[any]
	user fifo[any]
	// nsys and nuser mirror sys.len() and user.len(); they change under mu,
	// and a run reads them without it to see that there is nothing to do.
	nsys, nuser atomic.Int32
	held        []heldMsg // sorted unless unsorted is set
	unsorted    bool      // some held message sorts before one posted earlier
	posts       uint64    // held messages posted so far

	suspended bool      // run-owned
	batch     []heldMsg // run-owned: the release being delivered; spare buffer otherwise

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	processFn  func() // b.process, made once: a method value allocates
}

var _ actor.Mailbox = (*barrier)(nil)

// NewBarrier returns a new barrier mailbox. See the package documentation for
// its contract.
func NewBarrier() actor.Mailbox {
	b := &barrier{}
	b.processFn = b.process
	return b
}

// Barrier returns a new barrier mailbox. It is an actor.MailboxProducer:
// actor.WithMailbox(mailbox.Barrier).
func Barrier() actor.Mailbox { return NewBarrier() }

// PostUserMessage holds message if it implements Held, and queues it
// otherwise.
func (b *barrier) PostUserMessage(message any) {
	if h, ok := actor.UnwrapEnvelopeMessage(message).(Held); ok {
		k := h.BarrierKey()
		b.mu.Lock()
		if n := len(b.held); n > 0 && k.Less(b.held[n-1].key) {
			b.unsorted = true
		}
		b.held = append(b.held, heldMsg{key: k, post: b.posts, msg: message})
		b.posts++
		b.mu.Unlock()
		return
	}
	b.mu.Lock()
	b.user.push(message)
	b.nuser.Add(1)
	b.mu.Unlock()
	b.schedule()
}

// PostSystemMessage queues message ahead of all user messages.
func (b *barrier) PostSystemMessage(message any) {
	b.mu.Lock()
	b.sys.push(message)
	b.nsys.Add(1)
	b.mu.Unlock()
	b.schedule()
}

// RegisterHandlers sets the invoker that receives messages and the dispatcher
// that runs the mailbox. It must be called before the first post.
func (b *barrier) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	b.invoker = invoker
	b.dispatcher = dispatcher
}

// Start does nothing: the barrier mailbox has no middlewares.
func (b *barrier) Start() {}

// UserMessageCount returns the number of queued plain messages plus the
// number of held messages. It is a gauge: messages being delivered are not
// counted, and while a release is being taken, messages held for later ticks
// may be missed for a moment.
func (b *barrier) UserMessageCount() int {
	b.mu.Lock()
	n := b.user.len() + len(b.held)
	b.mu.Unlock()
	return n
}

func (b *barrier) schedule() {
	if b.status.CompareAndSwap(idle, running) {
		b.dispatcher.Schedule(b.processFn)
	}
}

// process is what the dispatcher runs. It delivers messages until there is
// nothing deliverable, goes idle, and checks again so that a message posted
// between the last pop and going idle is not stranded: a poster counts its
// message before it tries to schedule, so either its schedule succeeds or
// the check below sees the count.
func (b *barrier) process() {
	for {
		b.run()
		suspended := b.suspended // run-owned: read it before going idle
		b.status.Store(idle)
		more := b.nsys.Load() > 0 || (!suspended && b.nuser.Load() > 0)
		if !more || !b.status.CompareAndSwap(idle, running) {
			return
		}
	}
}

// run delivers messages until both queues are empty, or the system queue is
// empty and the mailbox is suspended, or a delivery panics.
func (b *barrier) run() {
	var current any // the message being delivered, for EscalateFailure
	defer func() {
		if r := recover(); r != nil {
			// Whatever is left of a release belongs to the failed tick.
			clear(b.batch)
			b.batch = b.batch[:0]
			b.invoker.EscalateFailure(r, current)
		}
	}()

	n, throughput := 0, b.dispatcher.Throughput()
	yield := func() {
		if n++; n > throughput {
			n = 0
			runtime.Gosched()
		}
	}
	for {
		yield()
		if b.nsys.Load() == 0 && (b.suspended || b.nuser.Load() == 0) {
			return // nothing deliverable; process checks again after going idle
		}
		b.mu.Lock()
		if msg, ok := b.sys.pop(); ok {
			b.nsys.Add(-1)
			b.mu.Unlock()
			current = msg
			switch msg.(type) {
			case *actor.SuspendMailbox:
				b.suspended = true
			case *actor.ResumeMailbox:
				b.suspended = false
			default:
				b.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if b.suspended {
			b.mu.Unlock()
			return
		}
		msg, ok := b.user.pop()
		if !ok {
			b.mu.Unlock()
			return
		}
		b.nuser.Add(-1)
		current = msg
		r, isRelease := actor.UnwrapEnvelopeMessage(msg).(Release)
		if !isRelease {
			b.mu.Unlock()
			b.invoker.InvokeUserMessage(msg)
			continue
		}
		// Take the held messages in the same critical section as the
		// release: posted before it, they are its candidates.
		tick, p := releaseTick(r)
		if p != nil {
			b.mu.Unlock()
			panic(p) // held messages untouched
		}
		all, unsorted := b.held, b.unsorted
		b.held, b.unsorted = b.batch[:0], false
		b.mu.Unlock()
		batch := b.take(all, unsorted, tick)
		for i := range batch {
			current = unkeyed(batch[i].msg)
			b.invoker.InvokeUserMessage(current)
			yield()
		}
		clear(b.batch)
		b.batch = b.batch[:0]
		current = msg
		b.invoker.InvokeUserMessage(msg)
	}
}

// unkeyed returns what the held message msg delivers: msg itself, or a
// Keyed's Message, in an envelope like the one the Keyed came in.
func unkeyed(msg any) any {
	env, _ := msg.(*actor.MessageEnvelope)
	inner := msg
	if env != nil {
		inner = env.Message
	}
	var m any
	switch k := inner.(type) {
	case Keyed:
		m = k.Message
	case *Keyed:
		m = k.Message
	default:
		return msg
	}
	if env == nil {
		return m
	}
	return &actor.MessageEnvelope{Header: env.Header, Message: m, Sender: env.Sender}
}

// releaseTick calls r.ReleaseTick, turning a panic into a value so that
// run can let go of the lock before it panics again.
func releaseTick(r Release) (tick uint64, p any) {
	defer func() { p = recover() }()
	return r.ReleaseTick(), nil
}

// take returns the held messages of all (the held list run took from
// under the lock, sorted unless unsorted) with Key.Tick <= tick, in
// canonical order, and puts the others back. The result aliases b.batch.
// Sorting happens outside the lock, so posters are not held up by a
// release.
func (b *barrier) take(all []heldMsg, unsorted bool, tick uint64) []heldMsg {
	if unsorted {
		slices.SortFunc(all, compareHeld)
	}
	cut := len(all)
	if cut > 0 && all[cut-1].key.Tick > tick {
		cut, _ = slices.BinarySearchFunc(all, tick, func(h heldMsg, t uint64) int {
			if h.key.Tick <= t {
				return -1
			}
			return 1
		})
	}
	b.batch = all // run owns it until the release is delivered

	if rest := all[cut:]; len(rest) > 0 {
		// Put the later ticks back in front of anything posted meanwhile:
		// they were posted first, and post order breaks ties.
		b.mu.Lock()
		if len(b.held) > 0 && b.held[0].key.Less(rest[len(rest)-1].key) {
			b.unsorted = true
		}
		b.held = slices.Insert(b.held, 0, rest...)
		b.mu.Unlock()
		clear(rest)
		b.batch = all[:cut]
	}
	return b.batch
}
