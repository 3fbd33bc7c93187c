package mailbox

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// nopInvoker discards every message.
type nopInvoker struct{}

func (nopInvoker) InvokeUserMessage(any)   {}
func (nopInvoker) InvokeSystemMessage(any) {}
func (nopInvoker) EscalateFailure(r, _ any) {
	panic(r)
}

// stepDispatcher keeps scheduled runs until step runs them, so that a batch
// of posts is processed by one mailbox run, as it would be under load.
type stepDispatcher struct{ pending []func() }

func (d *stepDispatcher) Schedule(fn func()) { d.pending = append(d.pending, fn) }
func (d *stepDispatcher) Throughput() int    { return DefaultThroughput }
func (d *stepDispatcher) step() {
	for i := 0; i < len(d.pending); i++ { // runs may schedule more
		d.pending[i]()
	}
	clear(d.pending)
	d.pending = d.pending[:0]
}

// BenchmarkBarrierPostRelease posts k messages and a release to one mailbox
// and runs it; ns/msg is the cost per delivered message. The barrier mailbox
// holds and sorts the messages ("sorted": posted in key order; "shuffled":
// in random order); protoactor's default unbounded mailbox, the baseline,
// delivers the same messages in FIFO order.
func BenchmarkBarrierPostRelease(b *testing.B) {
	for _, k := range []int{16, 256} {
		held := make([]any, k)
		shuffled := make([]any, k)
		for i := range k {
			held[i] = testHeld{name: "m", key: Key{Tick: 1, Rank: uint64(i / 4), Seq: uint64(i % 4)}}
		}
		copy(shuffled, held)
		rand.New(rand.NewPCG(1, 2)).Shuffle(k, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		var release any = testRelease{1}

		cases := []struct {
			name string
			mb   func() actor.Mailbox
			msgs []any
		}{
			{"barrier-sorted", NewBarrier, held},
			{"barrier-shuffled", NewBarrier, shuffled},
			{"default-unbounded", actor.Unbounded(), held},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/k=%d", c.name, k), func(b *testing.B) {
				d := &stepDispatcher{}
				mb := c.mb()
				mb.RegisterHandlers(nopInvoker{}, d)
				b.ReportAllocs()
				for b.Loop() {
					for _, m := range c.msgs {
						mb.PostUserMessage(m)
					}
					mb.PostUserMessage(release)
					d.step()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(k+1)), "ns/msg")
			})
		}
	}
}

// BenchmarkPoolSchedule schedules b.N small functions and waits for them to
// run, from one goroutine ("serial") and from GOMAXPROCS goroutines
// ("parallel"). The baseline is protoactor's default dispatcher, which starts
// a goroutine per Schedule.
func BenchmarkPoolSchedule(b *testing.B) {
	workers := runtime.GOMAXPROCS(0)
	dispatchers := []struct {
		name string
		new  func() (actor.Dispatcher, func())
	}{
		{"pool", func() (actor.Dispatcher, func()) {
			p := NewPool(workers, 0)
			return p, p.Close
		}},
		{"goroutine", func() (actor.Dispatcher, func()) {
			return actor.NewDefaultDispatcher(DefaultThroughput), func() {}
		}},
	}
	for _, d := range dispatchers {
		b.Run(d.name+"/serial", func(b *testing.B) {
			disp, closeFn := d.new()
			defer closeFn()
			var n atomic.Int64
			done := make(chan struct{})
			fn := func() {
				if n.Add(1) == int64(b.N) {
					close(done)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				disp.Schedule(fn)
			}
			<-done
		})
		b.Run(d.name+"/parallel", func(b *testing.B) {
			disp, closeFn := d.new()
			defer closeFn()
			var wg sync.WaitGroup
			fn := wg.Done
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					wg.Add(1)
					disp.Schedule(fn)
				}
			})
			wg.Wait()
		})
	}
}

// BenchmarkActorTick runs ticks of an actor system: each tick, every one of
// n actors is sent k messages and a release, and the tick ends when every
// actor has handled its release. ns/msg is the cost per message. The barrier
// case uses Barrier and a Pool of GOMAXPROCS workers; the baseline uses
// protoactor's defaults (unbounded mailbox, a goroutine per mailbox run)
// and delivers the same messages unordered.
func BenchmarkActorTick(b *testing.B) {
	const n, k = 1000, 8
	workers := runtime.GOMAXPROCS(0)
	for _, name := range []string{"barrier-pool", "default"} {
		b.Run(name, func(b *testing.B) {
			system := quietSystem()
			var opts []actor.PropsOption
			if name == "barrier-pool" {
				pool := NewPool(workers, 0)
				defer pool.Close()
				opts = append(opts, actor.WithMailbox(Barrier), actor.WithDispatcher(pool))
			}
			var remaining atomic.Int64
			tickDone := make(chan struct{}, 1)
			receive := func(ctx actor.Context) {
				if _, ok := ctx.Message().(testRelease); ok && remaining.Add(-1) == 0 {
					tickDone <- struct{}{}
				}
			}
			pids := make([]*actor.PID, n)
			for i := range pids {
				pids[i] = system.Root.Spawn(actor.PropsFromFunc(receive, opts...))
			}
			msgs := make([]any, k)
			for i := range msgs {
				msgs[i] = testHeld{name: "m", key: Key{Tick: 1, Rank: uint64(k - i)}}
			}
			var release any = testRelease{1}
			b.ReportAllocs()
			for b.Loop() {
				remaining.Store(n)
				for _, pid := range pids {
					for _, m := range msgs {
						system.Root.Send(pid, m)
					}
					system.Root.Send(pid, release)
				}
				<-tickDone
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*(k+1)), "ns/msg")
			for _, pid := range pids {
				system.Root.Stop(pid)
			}
		})
	}
}
