package observe

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lockstep-rt/lockstep/modelactor"
)

// MaxPage is the most agents or channels one /agents or /channels answer
// holds; DefaultPage is its size when the request names none.
const (
	MaxPage     = 500
	DefaultPage = 50
)

// maxMembers is the most members a channel lists in a /channels answer
// (Channel.Members; ChannelPage.Sizes has the full counts).
const maxMembers = 100

// Summary is a Snapshot without its per-agent and per-channel views (the
// answer of /summary): bounded whatever the number of agents.
type Summary struct {
	Snapshot
	// Agents and Channels count the snapshot's agents and channels.
	AgentsTotal   int `json:"agents_total"`
	ChannelsTotal int `json:"channels_total"`
}

// AgentPage is a page of a snapshot's agents (the answer of /agents).
type AgentPage struct {
	Seq  uint64 `json:"seq"`
	Tick uint64 `json:"tick"`
	// Total counts every agent, Matched those the filters kept; Agents are
	// Matched's [Offset, Offset+limit).
	Total   int     `json:"total"`
	Matched int     `json:"matched"`
	Offset  int     `json:"offset"`
	Agents  []Agent `json:"agents"`
}

// ChannelPage is a page of a snapshot's channels (the answer of /channels).
type ChannelPage struct {
	Seq      uint64    `json:"seq"`
	Tick     uint64    `json:"tick"`
	Total    int       `json:"total"`
	Matched  int       `json:"matched"`
	Offset   int       `json:"offset"`
	Channels []Channel `json:"channels"`
	// Sizes are the member counts of Channels (whose Members lists stop
	// at 100).
	Sizes []int `json:"sizes"`
}

// Handler serves the observer, read-only:
//
//   - GET /snapshot: the latest Snapshot as JSON (every agent: prefer the
//     bounded views below at scale);
//   - GET /summary[?after=TICK]: the Snapshot without agents and channels
//     (a Summary), its history only after TICK when given;
//   - GET /agents[?offset=N&limit=N&q=TEXT&state=S&group=G&sort=K]: a page
//     (AgentPage) of the agents whose id contains TEXT, in state S and
//     group G, in canonical order or by K (fuel, fuel_total, messages_in,
//     messages_out or restarts; largest first); limit is at most 500;
//   - GET /channels[?offset=N&limit=N&q=TEXT]: a page (ChannelPage) of
//     the channels whose name contains TEXT;
//   - GET /metrics: Prometheus text format: lockstep_ticks_total,
//     lockstep_tick (last tick), lockstep_tick_duration_seconds (histogram
//     of each tick's work; see Driver), lockstep_agents,
//     lockstep_failures_total, lockstep_restarts_total,
//     lockstep_dead_letters_total, lockstep_messages_delivered_total,
//     lockstep_fuel_total, lockstep_inferences_total,
//     lockstep_reproducible, lockstep_run_ended; per model (labels model,
//     version) the model manager's lockstep_model_* (see
//     modelactor.Manager.Collector: requests, runs, errors, batched,
//     loads, evictions, hits, misses, resident bytes, loaded, and
//     histograms of run latency, batch size and queue time); and the Go
//     runtime's (go_*), the process's (process_*) and go_build_info;
//   - GET /healthz: "ok".
//
// The JSON answers carry the ETag of the publish they show and answer a
// matching If-None-Match with 304 Not Modified. Other paths are 404,
// other methods 405.
func (o *Observer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /snapshot", o.serveJSON(func(s *Snapshot, _ *http.Request) (any, error) { return s, nil }))
	mux.HandleFunc("GET /summary", o.serveJSON(summary))
	mux.HandleFunc("GET /agents", o.serveJSON(agentPage))
	mux.HandleFunc("GET /channels", o.serveJSON(channelPage))
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// serveJSON answers with view of the latest snapshot, or 304 when the
// client has it already.
func (o *Observer) serveJSON(view func(*Snapshot, *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := o.snap.Load()
		etag := fmt.Sprintf(`"%x-%d"`, o.born, s.Seq)
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		v, err := view(s, r)
		if err != nil {
			http.Error(w, "observe: "+err.Error(), http.StatusBadRequest)
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			http.Error(w, "observe: encoding the answer: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(b, '\n'))
	}
}

func summary(s *Snapshot, r *http.Request) (any, error) {
	out := Summary{Snapshot: *s, AgentsTotal: len(s.Agents), ChannelsTotal: len(s.Channels)}
	out.Agents, out.Channels = nil, nil
	if a := r.URL.Query().Get("after"); a != "" {
		after, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("?after=%q: give a tick number", a)
		}
		i, _ := slices.BinarySearchFunc(s.History, after+1, func(t TickStat, tick uint64) int { return cmp.Compare(t.Tick, tick) })
		out.History = s.History[i:]
	}
	return out, nil
}

// agentSorts are the orders /agents?sort= accepts, each largest first.
var agentSorts = map[string]func(a, b *Agent) int{
	"fuel":         func(a, b *Agent) int { return cmp.Compare(b.Fuel, a.Fuel) },
	"fuel_total":   func(a, b *Agent) int { return cmp.Compare(b.FuelTotal, a.FuelTotal) },
	"messages_in":  func(a, b *Agent) int { return cmp.Compare(b.MessagesIn, a.MessagesIn) },
	"messages_out": func(a, b *Agent) int { return cmp.Compare(b.MessagesOut, a.MessagesOut) },
	"restarts":     func(a, b *Agent) int { return cmp.Compare(b.Restarts, a.Restarts) },
}

func agentPage(s *Snapshot, r *http.Request) (any, error) {
	q := r.URL.Query()
	offset, limit, err := pageOf(q.Get("offset"), q.Get("limit"))
	if err != nil {
		return nil, err
	}
	text, state, group := q.Get("q"), q.Get("state"), q.Get("group")
	var matched []*Agent
	for i := range s.Agents {
		a := &s.Agents[i]
		if strings.Contains(a.ID, text) && (state == "" || a.State == state) && (group == "" || a.Group == group) {
			matched = append(matched, a)
		}
	}
	if k := q.Get("sort"); k != "" {
		by, ok := agentSorts[k]
		if !ok {
			return nil, fmt.Errorf("?sort=%q: give one of fuel, fuel_total, messages_in, messages_out, restarts (or none: canonical order)", k)
		}
		slices.SortStableFunc(matched, by)
	}
	page := AgentPage{Seq: s.Seq, Tick: s.AgentsTick, Total: len(s.Agents), Matched: len(matched), Offset: offset, Agents: []Agent{}}
	lo, hi := window(len(matched), offset, limit)
	for _, a := range matched[lo:hi] {
		page.Agents = append(page.Agents, *a)
	}
	return page, nil
}

func channelPage(s *Snapshot, r *http.Request) (any, error) {
	q := r.URL.Query()
	offset, limit, err := pageOf(q.Get("offset"), q.Get("limit"))
	if err != nil {
		return nil, err
	}
	var matched []Channel
	for _, c := range s.Channels {
		if strings.Contains(c.Name, q.Get("q")) {
			matched = append(matched, c)
		}
	}
	page := ChannelPage{Seq: s.Seq, Tick: s.AgentsTick, Total: len(s.Channels), Matched: len(matched), Offset: offset, Channels: []Channel{}, Sizes: []int{}}
	lo, hi := window(len(matched), offset, limit)
	for _, c := range matched[lo:hi] {
		page.Sizes = append(page.Sizes, len(c.Members))
		c.Members = c.Members[:min(len(c.Members), maxMembers)]
		page.Channels = append(page.Channels, c)
	}
	return page, nil
}

// window is the range [lo, hi) of n items that a page at offset of at
// most limit items shows (offset+limit may overflow: it is never added).
func window(n, offset, limit int) (lo, hi int) {
	lo = min(offset, n)
	return lo, lo + min(limit, n-lo)
}

// pageOf parses ?offset= and ?limit=.
func pageOf(offset, limit string) (int, int, error) {
	o, l := 0, DefaultPage
	var err error
	if offset != "" {
		if o, err = strconv.Atoi(offset); err != nil || o < 0 {
			return 0, 0, fmt.Errorf("?offset=%q: give a number from 0", offset)
		}
	}
	if limit != "" {
		if l, err = strconv.Atoi(limit); err != nil || l < 1 || l > MaxPage {
			return 0, 0, fmt.Errorf("?limit=%q: give a number from 1 to %d", limit, MaxPage)
		}
	}
	return o, l, nil
}

// WriteFile writes the latest snapshot to path as JSON (agenthost run
// writes the final one beside its replay log).
func (o *Observer) WriteFile(path string) error {
	b, err := json.MarshalIndent(o.snap.Load(), "", "\t")
	if err != nil {
		return fmt.Errorf("observe: encoding the snapshot for %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("observe: writing the final snapshot: %w", err)
	}
	return nil
}

// ring keeps the last values added to it, at most its size.
type ring[T any] struct {
	items []T
	next  int // where the next value goes once the ring is full
}

// add appends v, overwriting the oldest value once the ring holds size.
func (r *ring[T]) add(v T, size int) {
	if len(r.items) < size {
		r.items = append(r.items, v)
		return
	}
	r.items[r.next] = v
	r.next = (r.next + 1) % size
}

// recent copies the ring, oldest first.
func (r *ring[T]) recent() []T {
	out := make([]T, 0, len(r.items))
	out = append(out, r.items[r.next:]...)
	return append(out, r.items[:r.next]...)
}

// registerRuntime registers the Go runtime's, the process's and the
// build's collectors, and m's (the host's model manager; nil: none).
func registerRuntime(reg *prometheus.Registry, m *modelactor.Manager) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewBuildInfoCollector())
	if m != nil {
		reg.MustRegister(m.Collector())
	}
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
	deliveredDesc   = prometheus.NewDesc("lockstep_messages_delivered_total", "Messages delivered to agents (external inputs included).", nil, nil)
	fuelDesc        = prometheus.NewDesc("lockstep_fuel_total", "Fuel WebAssembly agents used.", nil, nil)
	inferencesDesc  = prometheus.NewDesc("lockstep_inferences_total", "Inference requests agents made.", nil, nil)
	reproducibleDsc = prometheus.NewDesc("lockstep_reproducible", "1 while the run is reproducible, else 0.", nil, nil)
	endedDesc       = prometheus.NewDesc("lockstep_run_ended", "1 once the run is over (the view is final), else 0.", nil, nil)
)

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ticksDesc, tickDesc, agentsDesc, failuresDesc, restartsDesc, deadDesc, deliveredDesc, fuelDesc,
		inferencesDesc, reproducibleDsc, endedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.o.snap.Load()
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(ticksDesc, float64(s.Counts.Ticks))
	gauge(tickDesc, float64(s.Tick))
	ran := 0
	if len(s.History) > 0 {
		ran = s.History[len(s.History)-1].Agents
	}
	gauge(agentsDesc, float64(ran))
	counter(failuresDesc, float64(s.Counts.Failures))
	counter(restartsDesc, float64(s.Counts.Restarts))
	counter(deadDesc, float64(s.Counts.DeadLetters))
	counter(deliveredDesc, float64(s.Counts.Delivered))
	counter(fuelDesc, float64(s.Counts.Fuel))
	counter(inferencesDesc, float64(s.Counts.Inferences))
	gauge(reproducibleDsc, b2f(s.Reproducible))
	gauge(endedDesc, b2f(s.Ended))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
