// Package observe publishes a read-only view of a running host for
// dashboards and scrapers: a JSON snapshot and Prometheus metrics over HTTP.
//
// The host's driver goroutine calls Observer.Publish after every tick, at
// the barrier (from the onTick callback of host.Run). Publish only reads the
// tick's result and the host's metrics, copies what it keeps into a fresh
// Snapshot and swaps it in atomically; HTTP handlers read the latest
// snapshot and never touch the host. So serving, scraping, attaching or
// detaching a reader never blocks a tick and never changes a digest.
//
//	obs := observe.New("my-run", h)
//	srv, _ := server.Serve(listener, obs.Handler(), server.Limits{})
//	defer srv.Shutdown(ctx)
//	h.Run(ctx, 1000, nil, obs.Publish)
//
// Package host/observe/server serves it with a cap on connections and
// read, write and idle timeouts, so clients cannot exhaust the process's
// file descriptors; agenthost run --observe and cmd/agentui both use it.
//
// Endpoints (GET only; anything else is 404 or 405):
//
//   - /snapshot: the latest Snapshot as JSON;
//   - /metrics: Prometheus text format, from the observer's own registry
//     (see Handler for the metric names);
//   - /healthz: "ok".
package observe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/modelactor"
)

// MaxEvents is how many of the most recent events a Snapshot keeps.
const MaxEvents = 100

// rateWindow is how many publishes the ticks/second figure spans.
const rateWindow = 64

// Snapshot is what the host looked like at its last barrier. Every field is
// a copy: a Snapshot never changes once published.
type Snapshot struct {
	// Run is the run's name (the topology's).
	Run string `json:"run"`
	// Tick is the last tick run; meaningless while Counts.Ticks is 0.
	Tick uint64 `json:"tick"`
	// Digest is the chained digest after Tick, in hex ("" before any tick).
	Digest string `json:"digest"`
	// Agents ran at Tick, in canonical order.
	Agents []Agent `json:"agents"`
	// Counts are totals over every tick published.
	Counts Counts `json:"counts"`
	// Events are the last MaxEvents events, oldest first.
	Events []Event `json:"events"`
	// Models are the model manager's metrics (none when the run declares
	// no models).
	Models []modelactor.Metrics `json:"models,omitempty"`
	// TicksPerSecond is the wall-clock rate over the last publishes; it is
	// informational and never part of a run.
	TicksPerSecond float64 `json:"ticks_per_second"`
	// Reproducible is false once the run stopped being reproducible (see
	// host.Host.Reproducible).
	Reproducible bool `json:"reproducible"`
	// Published is the wall time of the publish (informational).
	Published time.Time `json:"published"`
}

// Agent is one agent's part of a tick.
type Agent struct {
	ID string `json:"id"`
	// Digest is the agent's report digest for the tick.
	Digest Hex64 `json:"digest"`
	// Fuel is the fuel it used (WebAssembly agents; 0 for Go agents).
	Fuel uint64 `json:"fuel"`
}

// Counts are cumulative counts over a run.
type Counts struct {
	Ticks       uint64 `json:"ticks"`
	Failures    uint64 `json:"failures"`
	Restarts    uint64 `json:"restarts"`
	DeadLetters uint64 `json:"dead_letters"`
	Inferences  uint64 `json:"inferences"`
}

// Event is a supervision or routing event and the tick it happened at.
type Event struct {
	Tick uint64 `json:"tick"`
	// Kind is one of failed, restarted, stopped, escalated, dead-letter,
	// halted.
	Kind   string `json:"kind"`
	Agent  string `json:"agent"`
	Detail string `json:"detail,omitempty"`
}

// Hex64 is a 64-bit digest that reads and writes as 16 hex digits in JSON.
type Hex64 uint64

// String is the digest in hex.
func (x Hex64) String() string { return fmt.Sprintf("%016x", uint64(x)) }

// MarshalJSON writes the digest as a hex string.
func (x Hex64) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, `"%016x"`, uint64(x)), nil }

// UnmarshalJSON reads a hex string.
func (x *Hex64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("observe: digest: %w", err)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return fmt.Errorf("observe: digest %q: %w", s, err)
	}
	*x = Hex64(v)
	return nil
}

// Observer keeps the latest Snapshot of a host and serves it.
type Observer struct {
	h    *host.Host
	snap atomic.Pointer[Snapshot]

	// mu serialises Publish (normally called by one goroutine anyway).
	mu     sync.Mutex
	counts Counts
	events []Event // ring of the last MaxEvents
	next   int     // where the ring's next event goes once it is full
	times  []time.Time
	last   time.Time

	reg      *prometheus.Registry
	duration prometheus.Histogram
}

// New makes an observer of h for a run called name. Call it from the
// goroutine that drives h, before the run (it reads h.Reproducible). h may
// be nil (a snapshot then has no models and is reproducible).
func New(name string, h *host.Host) *Observer {
	o := &Observer{h: h, reg: prometheus.NewRegistry()}
	o.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "lockstep_tick_duration_seconds",
		Help:    "Wall time between consecutive published ticks (informational; never part of a run).",
		Buckets: prometheus.ExponentialBuckets(1e-5, 4, 12), // 10µs .. ~42s
	})
	o.reg.MustRegister(o.duration, collector{o})
	o.snap.Store(&Snapshot{Run: name, Agents: []Agent{}, Events: []Event{}, Reproducible: h == nil || h.Reproducible(), Published: time.Now()})
	return o
}

// Snapshot returns the latest snapshot. It never blocks Publish; callers
// must not modify it.
func (o *Observer) Snapshot() *Snapshot { return o.snap.Load() }

// Publish records the result of a tick; call it after every tick, from the
// goroutine that drives the host (host.Run's onTick). It reads r and the
// host's model metrics and changes nothing of the run.
func (o *Observer) Publish(r host.TickResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	if !o.last.IsZero() {
		o.duration.Observe(now.Sub(o.last).Seconds())
	}
	o.last = now
	if len(o.times) == rateWindow {
		copy(o.times, o.times[1:])
		o.times = o.times[:rateWindow-1]
	}
	o.times = append(o.times, now)

	o.counts.Ticks++
	o.counts.DeadLetters += r.DeadLetters
	o.counts.Inferences += uint64(r.Inferences)
	for _, e := range r.Events {
		switch e.Kind {
		case "failed":
			o.counts.Failures++
		case "restarted":
			o.counts.Restarts++
		}
		o.addEvent(Event{Tick: uint64(r.Tick), Kind: e.Kind, Agent: e.Agent, Detail: e.Detail})
	}

	prev := o.snap.Load()
	s := &Snapshot{
		Run: prev.Run, Tick: uint64(r.Tick), Digest: r.DigestHex(), Counts: o.counts,
		Events: o.recentEvents(), Reproducible: true, Published: now,
	}
	s.Agents = make([]Agent, len(r.Agents))
	for i, id := range r.Agents {
		s.Agents[i].ID = id
		if i < len(r.AgentDigests) {
			s.Agents[i].Digest = Hex64(r.AgentDigests[i])
		}
		if i < len(r.AgentFuel) {
			s.Agents[i].Fuel = r.AgentFuel[i]
		}
	}
	if n := len(o.times); n > 1 {
		if d := o.times[n-1].Sub(o.times[0]).Seconds(); d > 0 {
			s.TicksPerSecond = float64(n-1) / d
		}
	}
	if o.h != nil {
		s.Reproducible = o.h.Reproducible()
		if m := o.h.Models(); m != nil {
			s.Models = m.Metrics() // a fresh slice of copies
		}
	}
	o.snap.Store(s)
}

func (o *Observer) addEvent(e Event) {
	if len(o.events) < MaxEvents {
		o.events = append(o.events, e)
		return
	}
	o.events[o.next] = e
	o.next = (o.next + 1) % MaxEvents
}

// recentEvents copies the ring, oldest first.
func (o *Observer) recentEvents() []Event {
	out := make([]Event, 0, len(o.events))
	out = append(out, o.events[o.next:]...)
	return append(out, o.events[:o.next]...)
}

// Handler serves the observer, read-only:
//
//   - GET /snapshot: the latest Snapshot as JSON;
//   - GET /metrics: Prometheus text format: lockstep_ticks_total,
//     lockstep_tick (last tick), lockstep_tick_duration_seconds (histogram
//     of wall time between publishes), lockstep_agents,
//     lockstep_failures_total, lockstep_restarts_total,
//     lockstep_dead_letters_total, lockstep_inferences_total,
//     lockstep_reproducible, and per model (labels model, version)
//     lockstep_model_requests_total, lockstep_model_runs_total,
//     lockstep_model_errors_total, lockstep_model_batched_total,
//     lockstep_model_loaded, lockstep_model_run_seconds_total;
//   - GET /healthz: "ok".
//
// Other paths are 404, other methods 405.
func (o *Observer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /snapshot", o.serveSnapshot)
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func (o *Observer) serveSnapshot(w http.ResponseWriter, _ *http.Request) {
	b, err := json.Marshal(o.snap.Load())
	if err != nil {
		http.Error(w, "observe: encoding the snapshot: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// collector turns the latest snapshot into metrics at scrape time, so that
// /metrics and /snapshot always agree.
type collector struct{ o *Observer }

var (
	ticksDesc       = prometheus.NewDesc("lockstep_ticks_total", "Ticks run.", nil, nil)
	tickDesc        = prometheus.NewDesc("lockstep_tick", "The last tick run.", nil, nil)
	agentsDesc      = prometheus.NewDesc("lockstep_agents", "Agents that ran at the last tick.", nil, nil)
	failuresDesc    = prometheus.NewDesc("lockstep_failures_total", "Agent failures.", nil, nil)
	restartsDesc    = prometheus.NewDesc("lockstep_restarts_total", "Agent restarts.", nil, nil)
	deadDesc        = prometheus.NewDesc("lockstep_dead_letters_total", "Messages to unknown or stopped agents.", nil, nil)
	inferencesDesc  = prometheus.NewDesc("lockstep_inferences_total", "Inference requests agents made.", nil, nil)
	reproducibleDsc = prometheus.NewDesc("lockstep_reproducible", "1 while the run is reproducible, else 0.", nil, nil)
	modelLabels     = []string{"model", "version"}
	mRequestsDesc   = prometheus.NewDesc("lockstep_model_requests_total", "Inference requests per model version.", modelLabels, nil)
	mRunsDesc       = prometheus.NewDesc("lockstep_model_runs_total", "ONNX Runtime runs per model version (a batch is one run).", modelLabels, nil)
	mErrorsDesc     = prometheus.NewDesc("lockstep_model_errors_total", "Requests answered with an error per model version.", modelLabels, nil)
	mBatchedDesc    = prometheus.NewDesc("lockstep_model_batched_total", "Requests served by a batched run per model version.", modelLabels, nil)
	mLoadedDesc     = prometheus.NewDesc("lockstep_model_loaded", "1 when the model version is loaded, else 0.", modelLabels, nil)
	mRunSecondsDesc = prometheus.NewDesc("lockstep_model_run_seconds_total", "Wall time spent in ONNX Runtime runs per model version.", modelLabels, nil)
)

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ticksDesc, tickDesc, agentsDesc, failuresDesc, restartsDesc, deadDesc, inferencesDesc,
		reproducibleDsc, mRequestsDesc, mRunsDesc, mErrorsDesc, mBatchedDesc, mLoadedDesc, mRunSecondsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.o.snap.Load()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(ticksDesc, float64(s.Counts.Ticks))
	gauge(tickDesc, float64(s.Tick))
	gauge(agentsDesc, float64(len(s.Agents)))
	counter(failuresDesc, float64(s.Counts.Failures))
	counter(restartsDesc, float64(s.Counts.Restarts))
	counter(deadDesc, float64(s.Counts.DeadLetters))
	counter(inferencesDesc, float64(s.Counts.Inferences))
	gauge(reproducibleDsc, b2f(s.Reproducible))
	for _, m := range s.Models {
		counter(mRequestsDesc, float64(m.Requests), m.ID, m.Version)
		counter(mRunsDesc, float64(m.Runs), m.ID, m.Version)
		counter(mErrorsDesc, float64(m.Errors), m.ID, m.Version)
		counter(mBatchedDesc, float64(m.Batched), m.ID, m.Version)
		gauge(mLoadedDesc, b2f(m.Loaded), m.ID, m.Version)
		counter(mRunSecondsDesc, m.RunTime.Seconds(), m.ID, m.Version)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
