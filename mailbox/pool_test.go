package mailbox

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestPoolDefaults(t *testing.T) {
	p := NewPool(0, 0)
	defer p.Close()
	if p.Workers() != 1 {
		t.Errorf("Workers() = %d, want 1", p.Workers())
	}
	if p.Throughput() != DefaultThroughput {
		t.Errorf("Throughput() = %d, want %d", p.Throughput(), DefaultThroughput)
	}
	q := NewPool(3, 7)
	defer q.Close()
	if q.Workers() != 3 || q.Throughput() != 7 {
		t.Errorf("NewPool(3, 7) has %d workers, throughput %d", q.Workers(), q.Throughput())
	}
}

func TestPoolRunsEachFunctionOnce(t *testing.T) {
	const schedulers, each = 8, 2000
	p := NewPool(4, 0)
	defer p.Close()

	var runs [schedulers * each]atomic.Int32
	var done sync.WaitGroup
	done.Add(schedulers * each)
	for s := range schedulers {
		go func() {
			for i := range each {
				p.Schedule(func() {
					runs[s*each+i].Add(1)
					done.Done()
				})
			}
		}()
	}
	done.Wait()
	for i := range runs {
		if n := runs[i].Load(); n != 1 {
			t.Fatalf("function %d ran %d times", i, n)
		}
	}
}

// TestPoolConcurrencyBound holds every function at a gate until as many as
// there are workers are running, then checks that no more ever ran at once.
func TestPoolConcurrencyBound(t *testing.T) {
	const workers, fns = 3, 40
	p := NewPool(workers, 0)
	defer p.Close()

	var running, high atomic.Int32
	entered := make(chan struct{}, fns)
	gate := make(chan struct{})
	var done sync.WaitGroup
	done.Add(fns)
	for range fns {
		p.Schedule(func() {
			n := running.Add(1)
			for {
				h := high.Load()
				if n <= h || high.CompareAndSwap(h, n) {
					break
				}
			}
			entered <- struct{}{}
			<-gate
			running.Add(-1)
			done.Done()
		})
	}
	for range workers {
		recv(t, entered, "a worker to start")
	}
	close(gate)
	done.Wait()
	if h := high.Load(); h != workers {
		t.Errorf("at most %d functions ran at once, want exactly %d", h, workers)
	}
}

// TestPoolScheduleFromWorker schedules from inside the only worker, which
// would deadlock if Schedule waited for a free worker.
func TestPoolScheduleFromWorker(t *testing.T) {
	p := NewPool(1, 0)
	defer p.Close()

	const depth = 1000
	finished := make(chan int, 1)
	var step func(int)
	step = func(i int) {
		if i == depth {
			finished <- i
			return
		}
		p.Schedule(func() { step(i + 1) })
	}
	p.Schedule(func() { step(0) })
	if got := recv(t, finished, "the chain of schedules"); got != depth {
		t.Fatalf("chain ended at %d, want %d", got, depth)
	}
}

// TestPoolCloseDrains checks that Close runs everything queued, including
// what running functions schedule while it waits, and that Schedule panics
// with ErrPoolClosed afterwards.
func TestPoolCloseDrains(t *testing.T) {
	const fns = 100
	p := NewPool(2, 0)
	gate := make(chan struct{})
	var ran atomic.Int32
	for range fns {
		p.Schedule(func() {
			<-gate
			ran.Add(1)
			p.Schedule(func() { ran.Add(1) }) // scheduled during the drain
		})
	}

	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while functions were blocked")
	default:
	}
	close(gate)
	recv(t, closed, "Close to return")
	if got := ran.Load(); got != 2*fns {
		t.Fatalf("%d functions ran before Close returned, want %d", got, 2*fns)
	}

	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, ErrPoolClosed) {
			t.Fatalf("Schedule after Close panicked with %v, want ErrPoolClosed", r)
		}
	}()
	p.Schedule(func() { t.Error("function ran after Close") })
}
