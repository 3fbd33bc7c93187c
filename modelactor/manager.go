// Package modelactor is Lockstep's model manager: one protoactor actor per
// host that owns every ONNX Runtime session and serves inference requests
// from Go code and from agents. The actor keeps the registry, loads and
// evicts; the runs themselves happen on workers, one per model at a time
// and at most Config.Workers at once, so a long model does not hold up the
// others (RATIONALE.md: "Why does each model run on a worker of its own?").
// A tick whose models are all loaded goes to their workers straight from
// the caller, without the actor.
//
// Models are declared (id, version, .onnx file, sha256) in Config (the
// registry is fixed for the manager's life, so a replay resolves requests
// as the run did); each is loaded at its first request (or at start when
// Eager), kept under a memory budget per device with least-recently-used
// eviction, and can be unloaded at any time: a later request loads it again.
// The requests of one tick arrive together (Run), in canonical order;
// requests for a model declared batchable (Model.MaxBatch) whose inputs and
// outputs have a symbolic leading (batch) dimension, and whose answers the
// load-time probe found unchanged by batching, are run as one batch and
// split back. Every input reaches ONNX Runtime from a 64-byte-aligned
// buffer (Alignment). Answers come back in request order, whichever model
// finished first.
//
// Deterministic mode (the default) runs each model on the CPU with one
// thread, sequentially: outputs are bit-identical run to run and enter the
// tick digest. Models on CUDA or in fast mode are flagged tensor.Recorded:
// the host records their outputs in the replay log and replay feeds them
// back.
//
// ONNX Runtime needs cgo. A build without cgo has the same API; its models
// fail with ErrUnavailable and every request gets an "unavailable" result.
package modelactor

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/internal/fsutil"
	"github.com/lockstep-rt/lockstep/mailbox"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// Config configures a Manager. The zero value of every field means its
// default.
type Config struct {
	// Models is the registry to start with.
	Models []Model
	// Library is the ONNX Runtime shared library (default DefaultLibrary()).
	Library string
	// Budgets is the memory budget per device ("cpu", "cuda") in bytes; a
	// model counts for the size of its file. Loading past the budget evicts
	// the least recently used models of that device. 0 or absent: no limit.
	Budgets map[string]int64
	// Logger receives load, eviction and fallback messages (default
	// logrus's standard logger).
	Logger *logrus.Logger
	// Backend runs the models (default: ONNX Runtime from Library).
	Backend Backend
	// MaxOutputBytes bounds the outputs of one request, so that a request
	// cannot make the host allocate without limit (many rows for a model
	// with wide outputs); default DefaultMaxOutputBytes. A batched run may
	// have MaxOutputBytes for each request it serves; each request's share
	// is checked after the split.
	MaxOutputBytes int64
	// Workers is how many models may run at the same time (default
	// runtime.NumCPU(), at most MaxWorkers). Each model runs on one worker
	// at a time, its requests in order.
	Workers int
	// NoWarmUp skips the warm-up run of eager models: by default each runs
	// once at start on seeded inputs (not counted in Metrics), so that the
	// first request does not pay for ONNX Runtime's first-run work.
	NoWarmUp bool
}

// DefaultMaxOutputBytes is Config.MaxOutputBytes's default: 64 MiB.
const DefaultMaxOutputBytes = 64 << 20

// MaxWorkers is the largest Config.Workers.
const MaxWorkers = 1024

// MaxModelFileSize is the largest model file the manager reads (ONNX files
// are protobuf messages, which cannot exceed 2 GiB). Only regular files are
// read: a path naming a device or a pipe is a load failure.
const MaxModelFileSize = 2 << 30

// Request is one inference request.
type Request struct {
	// Request is echoed in the result (an agent's request number).
	Request        uint32
	Model, Version string
	// Input is the encoded tensor list (package tensor). When it is nil,
	// Inputs are the tensors, already decoded (checked all the same).
	Input  []byte
	Inputs []tensor.Tensor
}

// Metrics describe one model version. The JSON names are those of
// agenthost's observation snapshot (package host/observe).
type Metrics struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	// Device is where the model runs (after any fallback); Fallback says
	// why it is not the device it asked for.
	Device   string `json:"device"`
	Fallback string `json:"fallback,omitempty"`
	Loaded   bool   `json:"loaded"`
	Bytes    int64  `json:"bytes"` // accounted against the device's budget
	Loads    uint64 `json:"loads"`
	// Evictions counts unloads to make room under the budget.
	Evictions uint64 `json:"evictions"`
	// Hits are requests that found the model loaded, Misses those that had
	// to load it.
	Hits     uint64 `json:"hits"`
	Misses   uint64 `json:"misses"`
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`  // requests answered with an error
	Runs     uint64 `json:"runs"`    // ONNX Runtime runs (a batch is one run)
	Batched  uint64 `json:"batched"` // requests served by a batched run
	// MaxBatch is the most requests one run serves once the model has
	// loaded: Model.MaxBatch, or 0 when batching is off. BatchOff says why
	// a model declared batchable runs its requests alone (the load-time
	// probe found answers that differ in a batch).
	MaxBatch int    `json:"max_batch,omitempty"`
	BatchOff string `json:"batch_off,omitempty"`
	// RunTime is the wall time spent in runs (never visible to agents).
	RunTime time.Duration `json:"run_time_ns"`
}

// Manager is the handle of a running model manager actor.
type Manager struct {
	sys  *actor.ActorSystem
	pid  *actor.PID
	pool *mailbox.Pool
	a    *manager // for draining model workers (pool.go) only
	// mu is held for reading by every call in flight and for writing by
	// Close, so that no call waits for an actor that has stopped.
	mu     sync.RWMutex
	closed bool
}

// ErrClosed is returned by a Manager after Close.
var ErrClosed = errors.New("modelactor: manager is closed")

// Start spawns the model manager actor in sys. It fails on a bad model
// declaration or an eager model that cannot load.
func Start(sys *actor.ActorSystem, cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	if cfg.Backend == nil {
		cfg.Backend = defaultBackend(cfg.Library)
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Workers > MaxWorkers {
		return nil, fmt.Errorf("modelactor: %d workers is over the limit of %d; lower Workers", cfg.Workers, MaxWorkers)
	}
	a := &manager{cfg: cfg, reg: newRegistry(), used: map[string]int64{}, slots: make(chan struct{}, cfg.Workers)}
	for _, m := range cfg.Models {
		if _, err := a.reg.add(m); err != nil {
			return nil, fmt.Errorf("modelactor: %w", err)
		}
	}
	for _, m := range cfg.Models {
		if m.Eager {
			e := a.reg.byKey[modelKey{m.ID, m.Version}]
			if f := a.safeLoad(e); f != nil {
				a.closeAll()
				return nil, fmt.Errorf("modelactor: loading eager model %s: %s", m.Key(), f.msg)
			}
			if !cfg.NoWarmUp {
				a.warmUp(e)
			}
		}
	}
	// A worker of its own: the router blocks on this actor at the barrier,
	// so it must not share the agents' workers; and one long-lived
	// goroutine, rather than protoactor's goroutine per mailbox run, keeps
	// its grown stack and warm caches from call to call. The actor only
	// resolves, loads and hands runs to the models' workers (pool.go).
	pool := mailbox.NewPool(1, 0)
	pid, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return a }, actor.WithDispatcher(pool)), "models")
	if err != nil {
		pool.Close()
		a.closeAll()
		return nil, fmt.Errorf("modelactor: spawning the model manager: %w", err)
	}
	return &Manager{sys: sys, pid: pid, pool: pool, a: a}, nil
}

// call sends msg to the actor and waits for its reply.
func call[T any](m *Manager, msg func(reply chan<- T) any) (T, error) {
	var zero T
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return zero, ErrClosed
	}
	reply := make(chan T, 1)
	m.sys.Root.Send(m.pid, msg(reply))
	return <-reply, nil
}

// runMsg asks the actor to load a tick's models and hand its groups to
// their workers; reply gets the model workers the caller must drain
// (pool.go) for the tick's answers to come.
type runMsg struct {
	t     *tick
	reply chan<- []*work
}

type loadMsg struct {
	id, version string
	unload      bool
	reply       chan<- error
}

type statsMsg struct{ reply chan<- []stats }

// Run answers one tick's requests, in order, with one result each. The
// requests of different models run in parallel; each answer is the same
// whatever ran first.
func (m *Manager) Run(reqs []Request) []tensor.Result {
	return m.run(reqs, nil)
}

// RunEncoded is Run, with each answer in its wire form (as
// tensor.Result.Encode gives it), for callers that deliver answers as
// bytes: the answers of a batched run are encoded straight from its
// outputs into one buffer, without a tensor.Result each. Each answer is
// capped at its own length.
func (m *Manager) RunEncoded(reqs []Request) [][]byte {
	return m.AppendEncoded(nil, reqs)
}

// AppendEncoded is RunEncoded, appending the answers to dst: a caller
// that is done with one tick's slice of answers (not the answers) can
// hand it back for the next.
func (m *Manager) AppendEncoded(dst [][]byte, reqs []Request) [][]byte {
	dst = slices.Grow(dst, len(reqs))
	enc := dst[len(dst) : len(dst)+len(reqs)]
	if res := m.run(reqs, enc); res != nil { // closed: nothing was encoded
		return append(dst, tensor.EncodeAll(res)...)
	}
	return dst[:len(dst)+len(reqs)]
}

// run is Run; with enc (len(reqs)), the answers go there encoded, and the
// results it returns are nil unless the manager is closed.
func (m *Manager) run(reqs []Request, enc [][]byte) []tensor.Result {
	t := m.a.newTick(reqs, enc, time.Now())
	drains, err := m.dispatch(t)
	if err != nil {
		res := make([]tensor.Result, len(reqs))
		for i, q := range reqs {
			res[i] = tensor.Failure(q.Request, tensor.Unavailable, "the model manager is closed")
		}
		return res
	}
	// The workers that were idle are this goroutine's to drain: it would
	// only wait otherwise.
	m.a.drainAll(drains, t.reply)
	res := <-t.reply
	m.a.release(t)
	return res
}

// dispatch hands t's groups to their models' workers: straight from the
// calling goroutine when every model of the tick is loaded, through the
// actor otherwise (it loads, and evicts to make room). It returns the
// workers the caller must drain. See RATIONALE.md: "Why does a tick of
// loaded models skip the actor?".
func (m *Manager) dispatch(t *tick) ([]*work, error) {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	drains, ok := m.a.dispatchLoaded(t)
	m.mu.RUnlock()
	if ok {
		return drains, nil
	}
	return call(m, func(r chan<- []*work) any { return &runMsg{t, r} })
}

// Infer runs one request from Go code and returns the outputs.
func (m *Manager) Infer(model, version string, inputs ...tensor.Tensor) ([]tensor.Tensor, error) {
	r := m.Run([]Request{{Model: model, Version: version, Inputs: inputs}})[0]
	if err := r.Err(); err != nil {
		return nil, err
	}
	return r.Outputs, nil
}

// Load loads a model version now (version "" as in requests).
func (m *Manager) Load(id, version string) error {
	return flat(call(m, func(r chan<- error) any { return &loadMsg{id: id, version: version, reply: r} }))
}

// Unload closes a model version's session; the next request for it loads
// it again. Runs of the model in flight finish first: the session closes
// on the model's worker, after them.
func (m *Manager) Unload(id, version string) error {
	return flat(call(m, func(r chan<- error) any { return &loadMsg{id: id, version: version, unload: true, reply: r} }))
}

// Metrics returns every declared model's metrics, by id and version.
func (m *Manager) Metrics() []Metrics {
	ss := m.stats()
	out := make([]Metrics, len(ss))
	for i, s := range ss {
		out[i] = s.Metrics
	}
	return out
}

// stats returns every declared model's metrics and histograms, by id and
// version (none once the manager is closed).
func (m *Manager) stats() []stats {
	ss, _ := call(m, func(r chan<- []stats) any { return &statsMsg{r} })
	return ss
}

// Close stops the actor and closes every session, after the calls in
// flight; later calls fail with ErrClosed. It is safe to call from any
// goroutine, more than once.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	_ = m.sys.Root.StopFuture(m.pid).Wait()
	m.pool.Close()
}

func flat(err1, err2 error) error {
	if err2 != nil {
		return err2
	}
	return err1
}

// manager is the actor. Its state is touched only by Receive (and by Start
// before the actor exists), except what entry says workers and callers
// touch; callers also read the registry (newTick), which does not change
// once the manager has started.
type manager struct {
	cfg   Config
	reg   *registry
	used  map[string]int64 // bytes loaded per device
	clock atomic.Uint64    // use counter for LRU
	// live guards every entry's sess against the callers that hand runs to
	// loaded models without the actor (dispatchLoaded): the actor sets or
	// clears a session only while holding it, and evict queues the
	// session's Close under it, so no run is queued behind its session's
	// Close.
	live sync.RWMutex
	// slots bounds the runs in progress at once (Config.Workers); workers
	// counts the workers' goroutines (pool.go).
	slots   chan struct{}
	workers sync.WaitGroup
	// spare is a tick whose Run is over, kept for the next (newTick,
	// release): Runs one after another make no tick each.
	spare atomic.Pointer[tick]
}

// entry is one model version. The actor owns its fields but for work (the
// model's worker queue, pool.go), stats, which workers update under mu,
// and lastUse; sess and batch are also read by callers under manager.live
// (dispatchLoaded).
type entry struct {
	model    Model
	key      string // model.Key()
	sess     Session
	device   string // where it runs once loaded
	fallback string
	bytes    int64
	lastUse  atomic.Uint64 // the manager's clock at its last use
	// logged is the last machine-specific failure logged for this model.
	logged string
	// probed: batching was decided at the first load; batch is the most
	// requests one run serves (0: each runs alone), batchOff why batching
	// is off for a model declared batchable.
	probed   bool
	batch    int
	batchOff string

	// mu guards stats, which the actor and the model's worker update.
	mu    sync.Mutex
	stats stats
	work  work

	// joiner joins batched inputs; only the model's worker uses it.
	joiner joiner
}

// count applies f to e's statistics under their lock.
func (e *entry) count(f func(s *stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

// machineFailure is the failure of a request for e that the machine, not
// the request, caused: its text, which enters the tick digest, names no
// path and quotes no error of the machine's; the error itself is logged,
// once while it stays the same. See RATIONALE.md: "Why are failure texts
// path-free?".
func (a *manager) machineFailure(e *entry, status tensor.Status, text string, err error) *failure {
	if msg := err.Error(); msg != e.logged {
		e.logged = msg
		a.cfg.Logger.WithField("model", e.model.Key()).Warnf("modelactor: %v", err)
	}
	return &failure{status, text}
}

// failure is a request's error status and text.
type failure struct {
	status tensor.Status
	msg    string
}

const (
	unknownModel   = tensor.UnknownModel
	unknownVersion = tensor.UnknownVersion
)

// Receive implements actor.Actor.
func (a *manager) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *runMsg:
		a.dispatch(m)
	case *loadMsg:
		m.reply <- a.loadOrUnload(m)
	case *statsMsg:
		m.reply <- a.snapshot()
	case *actor.Stopped:
		a.closeAll()
	}
}

// safeLoad is load, except that a panic of the backend (opening or
// probing a session) becomes a failure instead of the actor's end.
func (a *manager) safeLoad(e *entry) (f *failure) {
	defer func() {
		if p := recover(); p != nil {
			a.cfg.Logger.WithField("model", e.model.Key()).Errorf("modelactor: panic while loading: %v", p)
			f = &failure{tensor.LoadFailed, fmt.Sprintf("model %s: the model manager failed loading it: %v", e.model.Key(), p)}
		}
	}()
	return a.load(e)
}

func (a *manager) loadOrUnload(m *loadMsg) error {
	e, f := a.reg.resolve(m.id, m.version)
	if f == nil && !m.unload {
		f = a.safeLoad(e)
	}
	if f != nil {
		return fmt.Errorf("modelactor: %s", f.msg)
	}
	if m.unload && e.sess != nil {
		a.evict(e, "unloaded")
	}
	return nil
}

// load opens e's session if it is not open, evicting other models of its
// device to stay within the budget.
func (a *manager) load(e *entry) *failure {
	a.touch(e)
	if e.sess != nil {
		return nil
	}
	m := e.model
	file := filepath.Base(m.Path)
	data, err := fsutil.ReadRegular(m.Path, "model "+m.Key(), MaxModelFileSize)
	if err != nil {
		why := "cannot be read (the host's log says why)"
		if errors.Is(err, fs.ErrNotExist) {
			why = "does not exist; check its path"
		}
		return a.machineFailure(e, tensor.LoadFailed, fmt.Sprintf("model %s: its file %s %s", m.Key(), file, why), err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != m.SHA256 {
		return &failure{tensor.LoadFailed, fmt.Sprintf("model %s: %s has sha256 %x, the registry says %s: the file changed or is corrupt; restore it or declare the new sha256", m.Key(), file, sum, m.SHA256)}
	}
	device := m.Device
	if e.fallback != "" {
		device = DeviceCPU // the device failed before: do not try it again
	}
	size := int64(len(data))
	if f := a.makeRoom(device, size, e); f != nil {
		return f
	}
	opts := a.sessionOptions(m, device)
	sess, err := a.cfg.Backend.Open(data, opts)
	if err != nil && errors.Is(err, ErrDevice) && device != DeviceCPU {
		e.fallback = err.Error()
		a.cfg.Logger.WithField("model", m.Key()).Warnf("%v; running on the cpu instead", err)
		device, opts.Device = DeviceCPU, DeviceCPU
		if f := a.makeRoom(device, size, e); f != nil {
			return f
		}
		sess, err = a.cfg.Backend.Open(data, opts)
	}
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return a.machineFailure(e, tensor.Unavailable, fmt.Sprintf("model %s: ONNX Runtime is unavailable on this host (the host's log says why)", m.Key()), err)
		}
		return a.machineFailure(e, tensor.LoadFailed, fmt.Sprintf("model %s (%s) does not load (the host's log says why)", m.Key(), file), err)
	}
	e.device, e.bytes = device, size
	a.used[device] += size
	e.count(func(s *stats) { s.Loads++ })
	if !e.probed {
		e.probed = true
		a.decideBatching(e, sess)
	}
	a.live.Lock()
	e.sess = sess // published with the batching decided
	a.live.Unlock()
	a.cfg.Logger.WithFields(logrus.Fields{"model": m.Key(), "device": device, "bytes": size}).Debug("modelactor: loaded")
	return nil
}

// touch marks e as used now, for the least-recently-used eviction.
func (a *manager) touch(e *entry) {
	e.lastUse.Store(a.clock.Add(1))
}

// sessionOptions are the options m's session opens with on device. The
// session's output bound is the per-request limit times the most requests
// one run may serve; each request's share is checked after the run.
func (a *manager) sessionOptions(m Model, device string) SessionOptions {
	maxOut := a.cfg.MaxOutputBytes
	if n := int64(max(1, m.MaxBatch)); maxOut > math.MaxInt64/n {
		maxOut = math.MaxInt64
	} else {
		maxOut *= n
	}
	return SessionOptions{
		Device: device, Deterministic: m.Mode == ModeDeterministic, MaxOutputBytes: maxOut,
		IntraOpThreads: m.IntraOpThreads, InterOpThreads: m.InterOpThreads,
		GraphOptimization: m.GraphOptimization, CUDADevice: m.CUDADevice, Outputs: m.Outputs,
	}
}

// warmUp runs e's freshly loaded session once on seeded inputs (as the
// batching probe makes them), outside Metrics. A model that cannot run
// them (a type Lockstep does not carry, an input the seeded values do not
// suit) is only logged: its requests say what is wrong.
func (a *manager) warmUp(e *entry) {
	in, why := probeInputs(e.sess, 1, 0)
	if why == "" {
		if _, err := e.sess.Run(in); err != nil {
			why = err.Error()
		}
	}
	if why != "" {
		a.cfg.Logger.WithField("model", e.model.Key()).Warnf("modelactor: the warm-up run on seeded inputs failed: %s; the model stays loaded", why)
	}
}

// makeRoom evicts least recently used models of device until size more
// bytes fit its budget.
func (a *manager) makeRoom(device string, size int64, keep *entry) *failure {
	budget := a.cfg.Budgets[device]
	if budget <= 0 {
		return nil
	}
	if size > budget {
		return &failure{tensor.LoadFailed, fmt.Sprintf("model %s needs %d bytes, over the whole %s budget of %d; raise the budget", keep.model.Key(), size, device, budget)}
	}
	for a.used[device]+size > budget {
		var lru *entry
		for _, e := range a.reg.byKey {
			if e.sess != nil && e.device == device && e != keep && (lru == nil || e.lastUse.Load() < lru.lastUse.Load()) {
				lru = e
			}
		}
		if lru == nil {
			break
		}
		a.evict(lru, "evicted")
		lru.count(func(s *stats) { s.Evictions++ })
	}
	return nil
}

// evict takes e's session out of service at once (its bytes no longer
// count against the budget) and closes it on e's worker, after the runs
// already handed to it: clearing it under a.live waits for the callers
// handing it runs (dispatchLoaded) to have queued them.
func (a *manager) evict(e *entry, why string) {
	sess, key := e.sess, e.key
	a.used[e.device] -= e.bytes
	a.live.Lock()
	e.sess = nil
	drain := a.enqueue(e, job{close: func() {
		if err := sess.Close(); err != nil {
			a.cfg.Logger.WithField("model", key).Warnf("modelactor: closing the session: %v", err)
		}
	}})
	a.live.Unlock()
	if drain {
		go a.drain(&e.work, nil)
	}
	a.cfg.Logger.WithField("model", key).Debug("modelactor: " + why)
}

// closeAll closes every session and waits for the workers to finish.
func (a *manager) closeAll() {
	for _, e := range a.reg.byKey {
		if e.sess != nil {
			a.evict(e, "closed")
		}
	}
	a.workers.Wait()
}

// snapshot returns every model's statistics, by id and version.
func (a *manager) snapshot() []stats {
	var out []stats
	for _, es := range a.reg.byID {
		for _, e := range es {
			e.mu.Lock()
			s := e.stats.clone()
			e.mu.Unlock()
			m := &s.Metrics
			m.ID, m.Version, m.Device, m.Fallback = e.model.ID, e.model.Version, e.device, e.fallback
			if m.Device == "" {
				m.Device = e.model.Device
			}
			m.MaxBatch, m.BatchOff = e.batch, e.batchOff
			m.Loaded = e.sess != nil
			if m.Loaded {
				m.Bytes = e.bytes
			}
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(x, y stats) int {
		return cmp.Or(strings.Compare(x.ID, y.ID), strings.Compare(x.Version, y.Version))
	})
	return out
}
