package modelactor

import (
	"sync"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// work is a model's worker queue: the jobs (runs, and the closing of an
// evicted session) handed to it, done in order by one goroutine at a time,
// which exists while there is work and holds one of the manager's slots
// while it runs a job. So a model's session is used by one goroutine at a
// time, a session closes after the runs handed to it before, and at most
// Config.Workers runs happen at once. The goroutine of a Run call that
// found the worker idle drains it (it would only wait otherwise), so a
// tick for one model costs no more goroutine hand-offs than a call to the
// actor.
type work struct {
	mu      sync.Mutex
	queue   []job
	running bool // a goroutine drains queue
	// scratch is memory the jobs reuse from tick to tick; only the job
	// running touches it.
	scratch scratch
}

// scratch is a model worker's reusable memory for serving one group of
// requests (serve): after the first few ticks, decoding and checking a
// tick's requests allocates nothing.
type scratch struct {
	dec  tensor.Decoder    // the requests' inputs, decoded
	ok   []int             // the requests that passed the checks
	ins  [][]tensor.Tensor // and their inputs
	rows []int64           // the rows of each request of a batch
	// like is the last encoded input that passed the checks, decoded as
	// likeTs (scratch.inputs).
	like   []byte
	likeTs []tensor.Tensor
}

// job is a run to serve (t's group g on sess, at most batch requests to
// a run), or, with close set, a session to close.
type job struct {
	t     *tick
	g     *group
	sess  Session
	batch int
	close func()
}

// do does j.
func (a *manager) do(j *job) {
	if j.close != nil {
		j.close()
		return
	}
	defer j.t.done()
	a.safeServe(j.t, j.g, j.sess, j.batch)
}

// enqueue hands j to e's worker and reports whether the worker needs a
// goroutine: then the caller must have e.work drained (drain, drainAll),
// in its own goroutine or another; a.workers already counts it.
func (a *manager) enqueue(e *entry, j job) bool {
	w := &e.work
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue = append(w.queue, j)
	if w.running {
		return false
	}
	w.running = true
	a.workers.Add(1)
	return true
}

// drainAll drains ws, the first in the calling goroutine until the
// results of its Run are in done (then a goroutine takes over what is
// left: later calls' jobs), the others in goroutines of their own.
func (a *manager) drainAll(ws []*work, done <-chan []tensor.Result) {
	if len(ws) == 0 {
		return
	}
	for _, w := range ws[1:] {
		go a.drain(w, nil)
	}
	a.drain(ws[0], done)
}

// drain does w's jobs until its queue is empty, or until done (if not nil)
// holds results, when it hands the rest to a goroutine of its own.
func (a *manager) drain(w *work, done <-chan []tensor.Result) {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.running = false
			w.queue = w.queue[:0]
			w.mu.Unlock()
			a.workers.Done()
			return
		}
		if len(done) > 0 {
			w.mu.Unlock()
			go a.drain(w, nil)
			return
		}
		// Taken from the front, the rest moved up: a queue holds a job or
		// two, and keeps its memory from tick to tick.
		j := w.queue[0]
		n := copy(w.queue, w.queue[1:])
		w.queue[n] = job{}
		w.queue = w.queue[:n]
		w.mu.Unlock()
		a.slots <- struct{}{}
		a.do(&j)
		<-a.slots
	}
}
