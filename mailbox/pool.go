package mailbox

import (
	"errors"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// DefaultThroughput is the throughput NewPool uses when given less than 1:
// a mailbox run yields the processor after this many messages.
const DefaultThroughput = 300

// ErrPoolClosed is the value Schedule panics with after Close.
var ErrPoolClosed = errors.New("mailbox: Schedule called on a closed Pool")

// Pool is an actor.Dispatcher that runs scheduled mailbox runs on a fixed
// number of worker goroutines, taking them from an unbounded FIFO queue.
// Its methods are safe for concurrent use.
type Pool struct {
	workers    int
	throughput int

	mu      sync.Mutex
	wake    sync.Cond // signalled when work arrives or the pool closes
	queue   fifo[func()]
	waiting int  // workers blocked on wake
	active  int  // functions running now
	closing bool // Close was called
	closed  bool // the pool drained after Close; Schedule panics
	done    sync.WaitGroup
}

var _ actor.Dispatcher = (*Pool)(nil)

// NewPool starts a pool of workers goroutines (at least 1) whose mailbox runs
// yield after throughput messages (DefaultThroughput if throughput < 1).
func NewPool(workers, throughput int) *Pool {
	if workers < 1 {
		workers = 1
	}
	if throughput < 1 {
		throughput = DefaultThroughput
	}
	p := &Pool{workers: workers, throughput: throughput}
	p.wake.L = &p.mu
	p.done.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// Schedule queues fn to run on a worker. It never blocks and may be called
// from any goroutine, a worker included. It panics with ErrPoolClosed once
// Close has drained the pool.
func (p *Pool) Schedule(fn func()) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		panic(ErrPoolClosed)
	}
	p.queue.push(fn)
	if p.waiting > 0 {
		p.wake.Signal()
	}
	p.mu.Unlock()
}

// Throughput returns the number of messages a mailbox run processes before
// yielding.
func (p *Pool) Throughput() int { return p.throughput }

// Workers returns the number of worker goroutines.
func (p *Pool) Workers() int { return p.workers }

// Close waits until the queue is empty and no scheduled function is running,
// then stops the workers. Functions scheduled before that moment, including
// by running functions, are run. Close may be called more than once; it must
// not be called from a scheduled function, which would wait for itself.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closing = true
	p.wake.Broadcast()
	p.mu.Unlock()
	p.done.Wait()
}

// maxTake is the most functions a worker takes from the queue at once.
const maxTake = 32

// work runs queued functions. A worker takes several at a time, its share
// of the queue up to maxTake, so that while another goroutine schedules
// many mailbox runs (the router releasing a tick's agents) the two do not
// trade the queue's lock for every one of them.
func (p *Pool) work() {
	defer p.done.Done()
	taken := make([]func(), 0, maxTake)
	p.mu.Lock()
	for {
		n := min(maxTake, (p.queue.len()+p.workers-1)/p.workers)
		if n == 0 {
			if p.closing && p.active == 0 {
				// Nothing queued and nothing running that could queue more.
				p.closed = true
				p.wake.Broadcast()
				p.mu.Unlock()
				return
			}
			p.waiting++
			p.wake.Wait()
			p.waiting--
			continue
		}
		for range n {
			fn, _ := p.queue.pop()
			taken = append(taken, fn)
		}
		p.active += n
		p.mu.Unlock()
		for _, fn := range taken {
			fn()
		}
		clear(taken)
		taken = taken[:0]
		p.mu.Lock()
		p.active -= n
	}
}
