package modelactor_test

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fakeBackend opens sessions that have no inputs, one output with a
// symbolic leading dimension, and either answer one row or panic: a stand-in
// for a misbehaving backend, beside the ONNX Runtime tests.
type fakeBackend struct{ panics bool }

func (f fakeBackend) Open([]byte, modelactor.SessionOptions) (modelactor.Session, error) {
	return fakeSession(f), nil
}

type fakeSession struct{ panics bool }

func (fakeSession) Inputs() []modelactor.TensorInfo { return nil }
func (fakeSession) Outputs() []modelactor.TensorInfo {
	return []modelactor.TensorInfo{{Name: "y", DType: tensor.Float32, Shape: []int64{-1}}}
}
func (s fakeSession) Run([]tensor.Tensor) ([]tensor.Tensor, error) {
	if s.panics {
		panic("backend bug")
	}
	return []tensor.Tensor{tensor.FromFloat32([]int64{1}, []float32{42})}, nil
}
func (fakeSession) Close() error { return nil }

// TestBackendMisbehaves: requests for a model without inputs are not
// batched (there is no row count to split by), and a backend that panics
// gives every request of the tick a failed answer instead of leaving the
// caller waiting; the manager goes on.
func TestBackendMisbehaves(t *testing.T) {
	for _, panics := range []bool{false, true} {
		sys := actor.NewActorSystem()
		model := modeltest.Write(t, t.TempDir(), "noinput", []byte("fake"))
		l := logrus.New()
		l.SetOutput(testWriter{t})
		m, err := modelactor.Start(sys, modelactor.Config{Models: []modelactor.Model{model}, Backend: fakeBackend{panics}, Logger: l})
		if err != nil {
			t.Fatal(err)
		}
		reqs := []modelactor.Request{{Request: 0, Model: "noinput", Input: tensor.EncodeList()}, {Request: 1, Model: "noinput", Input: tensor.EncodeList()}}
		for range 2 {
			for i, r := range m.Run(reqs) {
				switch {
				case panics && (r.Status != tensor.RunFailed || !strings.Contains(r.Error, "backend bug")):
					t.Errorf("panicking backend, request %d: %+v", i, r)
				case !panics && (r.Err() != nil || r.Flags&tensor.Batched != 0 || len(r.Outputs) != 1):
					t.Errorf("request %d: %+v", i, r)
				}
			}
		}
		m.Close()
		sys.Shutdown()
	}
}

// gateBackend opens sessions like fakeBackend's that answer 1 (file "slow")
// or 2 (any other file). A slow session's run says it started and then
// waits for release; a fast one says when it is done. Closing a session
// while it runs is recorded as a bug.
type gateBackend struct {
	slowStarted, fastDone, release chan struct{}
	closedRunning, slowClosed      atomic.Bool
	// opened are the options of every session opened, in order.
	mu     sync.Mutex
	opened []modelactor.SessionOptions
}

func newGateBackend() *gateBackend {
	return &gateBackend{slowStarted: make(chan struct{}, 1), fastDone: make(chan struct{}, 8), release: make(chan struct{})}
}

func (g *gateBackend) Open(data []byte, opts modelactor.SessionOptions) (modelactor.Session, error) {
	g.mu.Lock()
	g.opened = append(g.opened, opts)
	g.mu.Unlock()
	return &gateSession{g: g, slow: string(data) == "slow"}, nil
}

type gateSession struct {
	fakeSession
	g       *gateBackend
	slow    bool
	running atomic.Bool
}

func (s *gateSession) Run([]tensor.Tensor) ([]tensor.Tensor, error) {
	s.running.Store(true)
	defer s.running.Store(false)
	if s.slow {
		s.g.slowStarted <- struct{}{}
		<-s.g.release
		return []tensor.Tensor{tensor.FromFloat32([]int64{1}, []float32{1})}, nil
	}
	defer func() { s.g.fastDone <- struct{}{} }()
	return []tensor.Tensor{tensor.FromFloat32([]int64{1}, []float32{2})}, nil
}

func (s *gateSession) Close() error {
	if s.running.Load() {
		s.g.closedRunning.Store(true)
	}
	if s.slow {
		s.g.slowClosed.Store(true)
	}
	return nil
}

// TestModelsInParallel: in one tick, a fast model's requests complete
// while a slow model's run is still blocked (on a channel the test
// holds), so the fast one is not serialised behind it; the answers still
// come back in request order. Meanwhile the manager goes on answering: a
// second Run for the fast model, Metrics, and an Unload of the slow model,
// whose session closes only after its run.
func TestModelsInParallel(t *testing.T) {
	dir := t.TempDir()
	g := newGateBackend()
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	l := logrus.New()
	l.SetOutput(testWriter{t})
	models := []modelactor.Model{modeltest.Write(t, dir, "slow", []byte("slow")), modeltest.Write(t, dir, "fast", []byte("fast"))}
	m, err := modelactor.Start(sys, modelactor.Config{Models: models, Backend: g, Logger: l, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(g.release)
		}
	}
	defer m.Close()
	defer release() // a failure below must not leave the run blocked
	in := tensor.EncodeList()
	reqs := []modelactor.Request{{Request: 0, Model: "slow", Input: in}, {Request: 1, Model: "fast", Input: in}, {Request: 2, Model: "fast", Input: in}}
	results := make(chan []tensor.Result, 1)
	go func() { results <- m.Run(reqs) }()

	<-g.slowStarted
	watchdog := time.NewTimer(time.Minute)
	defer watchdog.Stop()
	for range 2 { // the tick's two fast requests
		select {
		case <-g.fastDone:
		case <-watchdog.C:
			t.Fatal("the fast model's requests did not complete while the slow model's run was blocked: the models are serialised")
		}
	}
	// The manager answers other calls while the slow run is blocked.
	if r := m.Run(reqs[1:2])[0]; r.Err() != nil {
		t.Fatalf("a second Run for the fast model: %v", r.Err())
	}
	<-g.fastDone
	if err := m.Unload("slow", "1"); err != nil {
		t.Fatal(err)
	}
	if g.slowClosed.Load() {
		t.Error("the slow model's session closed while its run was in flight")
	}
	for _, mt := range m.Metrics() {
		if mt.ID == "slow" && mt.Loaded {
			t.Error("the slow model is still loaded after Unload")
		}
	}
	release()
	res := <-results
	for i, r := range res {
		want := float32(2)
		if reqs[i].Model == "slow" {
			want = 1
		}
		if err := r.Err(); err != nil || r.Request != reqs[i].Request {
			t.Fatalf("result %d: request %d, %v; want request %d", i, r.Request, err, reqs[i].Request)
		}
		if v, err := r.Outputs[0].Float32s(); err != nil || len(v) != 1 || v[0] != want {
			t.Errorf("result %d (%s): %v %v, want [%v]", i, reqs[i].Model, v, err, want)
		}
	}
	m.Close()
	if !g.slowClosed.Load() || g.closedRunning.Load() {
		t.Errorf("after Close: slow session closed %v, a session closed while running %v", g.slowClosed.Load(), g.closedRunning.Load())
	}
}

// TestWarmUpAndSessionOptions: an eager model runs once at start (not
// counted in its metrics) unless NoWarmUp; its session opens with the
// declared session options and, for a model declared batchable, an output
// bound of the per-request limit for each request of a batch.
func TestWarmUpAndSessionOptions(t *testing.T) {
	for _, noWarmUp := range []bool{false, true} {
		g := newGateBackend()
		sys := actor.NewActorSystem()
		model := modeltest.Write(t, t.TempDir(), "fast", []byte("fast"))
		model.Eager, model.MaxBatch, model.Mode = true, 8, modelactor.ModeFast
		model.IntraOpThreads, model.InterOpThreads, model.GraphOptimization = 3, 2, "extended"
		m, err := modelactor.Start(sys, modelactor.Config{Models: []modelactor.Model{model}, Backend: g, Logger: logrus.New(), MaxOutputBytes: 100, NoWarmUp: noWarmUp})
		if err != nil {
			t.Fatal(err)
		}
		runs := len(g.fastDone) // fake sessions have no inputs: no batching probe
		mt := m.Metrics()[0]
		m.Close()
		sys.Shutdown()
		if want := map[bool]int{false: 1, true: 0}[noWarmUp]; runs != want || mt.Runs != 0 || mt.Requests != 0 || mt.Loads != 1 {
			t.Errorf("NoWarmUp %v: %d runs at start (want %d); metrics %+v (no runs or requests counted)", noWarmUp, runs, want, mt)
		}
		want := modelactor.SessionOptions{Device: "cpu", MaxOutputBytes: 800, IntraOpThreads: 3, InterOpThreads: 2, GraphOptimization: "extended"}
		if len(g.opened) != 1 || !reflect.DeepEqual(g.opened[0], want) {
			t.Errorf("sessions opened with %+v, want [%+v]", g.opened, want)
		}
	}
}

// openGateBackend opens sessions like fakeSession's; opening the file
// "blocked" says it started and waits for release. A run of a session
// after its Close is counted as a bug.
type openGateBackend struct {
	opening, release chan struct{}
	runAfterClose    atomic.Int64
}

func (b *openGateBackend) Open(data []byte, _ modelactor.SessionOptions) (modelactor.Session, error) {
	if string(data) == "blocked" {
		b.opening <- struct{}{}
		<-b.release
	}
	return &closeCheckSession{b: b}, nil
}

type closeCheckSession struct {
	fakeSession
	b      *openGateBackend
	closed atomic.Bool
}

func (s *closeCheckSession) Run(in []tensor.Tensor) ([]tensor.Tensor, error) {
	if s.closed.Load() {
		s.b.runAfterClose.Add(1)
	}
	return s.fakeSession.Run(in)
}

func (s *closeCheckSession) Close() error {
	s.closed.Store(true)
	return nil
}

// TestLoadedTickSkipsActor: a tick whose models are all loaded is served
// while the actor is busy loading another model (it does not wait for the
// actor), and ticks of a loaded model running while it is unloaded and
// loaded again never run on a closed session, are all answered, and are
// all counted (hits and misses add up to the requests).
func TestLoadedTickSkipsActor(t *testing.T) {
	dir := t.TempDir()
	b := &openGateBackend{opening: make(chan struct{}, 1), release: make(chan struct{})}
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	l := logrus.New()
	l.SetOutput(testWriter{t})
	fast := modeltest.Write(t, dir, "fast", []byte("fast"))
	fast.Eager = true
	models := []modelactor.Model{fast, modeltest.Write(t, dir, "blocked", []byte("blocked"))}
	m, err := modelactor.Start(sys, modelactor.Config{Models: models, Backend: b, Logger: l, NoWarmUp: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	released := false
	release := func() {
		if !released {
			released = true
			close(b.release)
		}
	}
	defer release() // a failure below must not leave the load blocked
	in := tensor.EncodeList()
	blocked := make(chan []tensor.Result, 1)
	go func() { blocked <- m.Run([]modelactor.Request{{Model: "blocked", Input: in}}) }()
	<-b.opening // the actor is in the blocked model's Open
	fastTick := []modelactor.Request{{Request: 1, Model: "fast", Input: in}, {Request: 2, Model: "fast", Input: in}}
	served := make(chan []byte, 1)
	go func() { served <- m.RunEncoded(fastTick)[1] }()
	watchdog := time.NewTimer(time.Minute)
	defer watchdog.Stop()
	select {
	case p := <-served:
		if st, err := tensor.StatusOf(p); err != nil || st != tensor.OK {
			t.Errorf("the loaded model's answer: status %v, %v", st, err)
		}
	case <-watchdog.C:
		t.Fatal("a tick of a loaded model waited for the actor, busy loading another model")
	}
	release()
	if r := (<-blocked)[0]; r.Err() != nil {
		t.Errorf("the blocked model's answer once loaded: %v", r.Err())
	}

	const callers, ticks = 4, 50
	var wg sync.WaitGroup
	bad := make(chan string, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ticks {
				for i, r := range m.Run(fastTick) {
					if r.Err() != nil || r.Request != fastTick[i].Request {
						bad <- fmt.Sprintf("answer %d: request %d, %v", i, r.Request, r.Err())
						return
					}
				}
			}
		}()
	}
	for range ticks {
		if err := m.Unload("fast", "1"); err != nil {
			t.Fatal(err)
		}
		if err := m.Load("fast", "1"); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(bad)
	for s := range bad {
		t.Error(s)
	}
	mt := m.Metrics()[1] // by id: "blocked", "fast"
	m.Close()
	if n := b.runAfterClose.Load(); n != 0 {
		t.Errorf("%d runs on a session after its Close", n)
	}
	if want := uint64(len(fastTick) * (1 + callers*ticks)); mt.ID != "fast" || mt.Requests != want || mt.Hits+mt.Misses != want || mt.Errors != 0 {
		t.Errorf("metrics %+v: want %d requests, all hits or misses, no errors", mt, want)
	}
}

// BenchmarkManagerOverhead: ns/op is one Manager.Infer call on a session
// that does nothing (fakeBackend): what the manager itself costs a request
// from Go (its tick, group, worker hand-off, clock reads and the copy of
// the outputs), without ONNX Runtime.
func BenchmarkManagerOverhead(b *testing.B) {
	l := logrus.New()
	l.SetOutput(io.Discard)
	sys := actors.NewActorSystem(l) // protoactor's log too
	defer sys.Shutdown()
	model := modeltest.Write(b, b.TempDir(), "noinput", []byte("fake"))
	model.Eager = true
	m, err := modelactor.Start(sys, modelactor.Config{Models: []modelactor.Model{model}, Backend: fakeBackend{}, Logger: l})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Infer(model.ID, model.Version); err != nil {
			b.Fatal(err)
		}
	}
}
