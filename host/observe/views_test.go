package observe_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// scriptHost starts n script agents s0..s(n-1): the even ones in group
// "g" (which stops a failed agent), the odd ones in the root group.
func scriptHost(t *testing.T, n int) *host.Host {
	t.Helper()
	h, err := host.New(host.Options{
		Seed: 1, Kinds: testkinds.Kinds(), Logger: quiet(),
		Groups: []host.Group{{Name: "g", Strategy: host.OneForOne, OnFailure: host.Stop, MaxRestarts: 5, Window: 10}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for i := range n {
		g := ""
		if i%2 == 0 {
			g = "g"
		}
		if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("s%d", i), Kind: "script", Group: g}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// decode GETs path from h and decodes its JSON into v.
func decode(t *testing.T, h http.Handler, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, rec.Body)
	}
}

// TestViews drives script agents to log, write state, join channels, send
// and fail, and reads every bounded view back.
func TestViews(t *testing.T) {
	const n = 12
	h := scriptHost(t, n)
	obs := observe.New("views", h)
	obs.SetLength(10)
	srv := obs.Handler()
	inputs := map[int][][2]string{
		0: {{"s1", "log hello there"}, {"s3", "state r abcdef"}, {"s5", "join news"}, {"s7", "join news"}, {"s9", "send s11 x"}},
		1: {{"s2", "fail"}, {"s4", "log one"}, {"s4", "log two"}, {"s4", "log three"}, {"s4", "log four"}},
	}
	err := h.Run(context.Background(), 10, obs.Driver(nil), func(r host.TickResult) {
		obs.Publish(r)
		for _, in := range inputs[int(r.Tick)] {
			if err := h.Send(in[0], []byte(in[1])); err != nil {
				t.Fatal(err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	obs.Finish(nil)

	var sum observe.Summary
	decode(t, srv, "/summary", &sum)
	if !sum.Ended || sum.EndReason != "" || sum.Length != 10 || sum.Tick != 9 || sum.AgentsTotal != n || sum.ChannelsTotal != 1 ||
		sum.Agents != nil || sum.Channels != nil || len(sum.History) != 10 || sum.History[9].Tick != 9 || sum.History[9].Agents != n-1 {
		t.Fatalf("summary: %+v", sum)
	}
	// Inputs sent after tick 0's barrier are delivered at tick 1; s9's
	// message to s11 at tick 2.
	if sum.History[1].Delivered != 5 || sum.History[2].Delivered != 6 || sum.History[2].Failures != 1 || sum.History[2].Restarts != 0 {
		t.Fatalf("history: %+v", sum.History[:3])
	}
	decode(t, srv, "/summary?after=7", &sum)
	if len(sum.History) != 2 || sum.History[0].Tick != 8 {
		t.Fatalf("history after 7: %+v", sum.History)
	}
	if got := []observe.Group{sum.Groups[0], sum.Groups[1]}; got[0].Name != "root" || got[0].Running != n/2 || got[1].Name != "g" ||
		got[1].Parent != "root" || got[1].OnFailure != "stop" || got[1].Running != n/2-1 || got[1].Stopped != 1 || len(sum.Groups) != 2 {
		t.Fatalf("groups: %+v", sum.Groups)
	}

	var page observe.AgentPage
	decode(t, srv, "/agents?limit=500", &page)
	by := map[string]observe.Agent{}
	for _, a := range page.Agents {
		by[a.ID] = a
	}
	if page.Total != n || page.Matched != n || len(page.Agents) != n || page.Agents[n-1].ID != "s2" {
		t.Fatalf("agents page (the stopped s2 last): %+v", page)
	}
	if a := by["s1"]; len(a.Logs) != 1 || a.Logs[0] != (observe.LogLine{Tick: 1, Level: "info", Text: "hello there"}) || a.Group != "root" || a.Kind != "script" {
		t.Fatalf("s1: %+v", a)
	}
	if a := by["s4"]; len(a.Logs) != observe.MaxLogLines || a.Logs[0].Text != "two" || a.Logs[2].Text != "four" || a.MessagesIn != 4 {
		t.Fatalf("s4 keeps its last %d log lines: %+v", observe.MaxLogLines, a)
	}
	if a := by["s3"]; a.Regions["r"] != 6 {
		t.Fatalf("s3's region: %+v", a)
	}
	if a, b := by["s9"], by["s11"]; a.MessagesOut != 1 || b.MessagesIn != 1 {
		t.Fatalf("s9 -> s11: %+v %+v", a, b)
	}
	if a := by["s2"]; a.State != observe.StateStopped || a.Group != "g" {
		t.Fatalf("s2 failed in a stopping group: %+v", a)
	}
	decode(t, srv, "/agents?state=stopped", &page)
	if page.Matched != 1 || page.Agents[0].ID != "s2" {
		t.Fatalf("stopped: %+v", page)
	}
	decode(t, srv, "/agents?q=s1&group=root&offset=1&limit=1", &page)
	if page.Matched != 2 || len(page.Agents) != 1 || page.Agents[0].ID != "s11" { // s1, s11
		t.Fatalf("q=s1 group=root page 2: %+v", page)
	}
	decode(t, srv, "/agents?sort=messages_in&limit=1", &page)
	if page.Agents[0].ID != "s4" {
		t.Fatalf("most messages in: %+v", page.Agents)
	}
	var chans observe.ChannelPage
	decode(t, srv, "/channels", &chans)
	if chans.Total != 1 || chans.Channels[0].Name != "news" || !slices.Equal(chans.Channels[0].Members, h.Members("news")) || chans.Sizes[0] != 2 {
		t.Fatalf("channels: %+v (members %v)", chans, h.Members("news"))
	}

	// An offset past the end (even one that overflows offset+limit) is an
	// empty page.
	for _, path := range []string{"/agents?offset=9223372036854775807", "/channels?offset=9223372036854775807&limit=500"} {
		var far struct{ Matched, Offset int }
		decode(t, srv, path, &far)
		if far.Matched == 0 || far.Offset != math.MaxInt {
			t.Errorf("GET %s: %+v", path, far)
		}
	}

	for _, bad := range []string{"/agents?limit=501", "/agents?offset=-1", "/agents?sort=name", "/channels?limit=x", "/summary?after=x"} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, bad, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "give") {
			t.Errorf("GET %s: %d %s", bad, rec.Code, rec.Body)
		}
	}

	// Conditional requests: the same publish is not sent twice.
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/summary", nil))
	etag := rec.Header().Get("ETag")
	req := httptest.NewRequest(http.MethodGet, "/summary", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if etag == "" || rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("If-None-Match %s: %d %q", etag, rec.Code, rec.Body)
	}

	// The final snapshot on disk is the one served.
	path := filepath.Join(t.TempDir(), "final.json")
	if err := obs.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var final observe.Snapshot
	if err := json.Unmarshal(b, &final); err != nil || !final.Ended || final.Digest != obs.Snapshot().Digest || len(final.Agents) != n {
		t.Fatalf("final snapshot: %v %+v", err, final)
	}
	if err := obs.WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir.json")); err == nil || !strings.Contains(err.Error(), "final snapshot") {
		t.Fatalf("WriteFile into a missing directory: %v", err)
	}
}

// observed is an observer, named name, of a chatterHost of n agents on
// workers workers that has run three ticks.
func observed(t *testing.T, name string, n, workers int) *observe.Observer {
	t.Helper()
	h := chatterHost(t, n, workers)
	obs := observe.New(name, h)
	if err := h.Run(context.Background(), 3, obs.Driver(nil), obs.Publish); err != nil {
		t.Fatal(err)
	}
	return obs
}

// TestPayloadBounded: at 10 000 agents the views a dashboard polls stay
// small.
func TestPayloadBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("10 000 agents")
	}
	obs := observed(t, "big", 10000, 2)
	obs.Finish(nil)
	for path, limit := range map[string]int{"/summary": 64 << 10, "/agents?limit=50": 64 << 10, "/channels": 64 << 10, "/snapshot": 16 << 20} {
		rec := httptest.NewRecorder()
		obs.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		t.Logf("GET %s: %d bytes", path, rec.Body.Len())
		if rec.Code != 200 || rec.Body.Len() > limit {
			t.Errorf("GET %s: %d, %d bytes (limit %d)", path, rec.Code, rec.Body.Len(), limit)
		}
	}
}

// hourly is a clock driver that lets a tick start one (fake) hour after
// the last: pacing the observer must not count as work.
type hourly struct{ now *time.Time }

func (d hourly) Wait(context.Context, clock.Tick) error {
	*d.now = d.now.Add(time.Hour)
	return nil
}

// TestTickDurationIsWork: lockstep_tick_duration_seconds measures from the
// clock releasing a tick to its barrier, not the gap between ticks.
func TestTickDurationIsWork(t *testing.T) {
	h := chatterHost(t, 5, 1)
	obs := observe.New("paced", h)
	now := time.Unix(0, 0)
	observe.SetNow(obs, func() time.Time {
		now = now.Add(time.Millisecond) // every reading of the clock takes 1ms
		return now
	})
	const ticks = 5
	if err := h.Run(context.Background(), ticks, obs.Driver(hourly{&now}), obs.Publish); err != nil {
		t.Fatal(err)
	}
	s := obs.Snapshot()
	for _, st := range s.History {
		// Released at +1ms, traced from +2 to +3ms (not work), barrier at +4.
		if st.WorkSeconds != 0.002 {
			t.Fatalf("tick %d: work %vs, want 0.002s", st.Tick, st.WorkSeconds)
		}
	}
	obs.Finish(errors.New("stopped by a signal"))
	if s := obs.Snapshot(); !s.Ended || s.EndReason != "stopped by a signal" || s.Tick != ticks-1 {
		t.Fatalf("finished early: ended %v, reason %q, tick %d", s.Ended, s.EndReason, s.Tick)
	}
	body := httptestGet(t, obs, "/metrics")
	for _, line := range []string{fmt.Sprintf("lockstep_tick_duration_seconds_count %d", ticks), "lockstep_tick_duration_seconds_sum 0.01", "lockstep_run_ended 1"} {
		if !containsLine(body, line) {
			t.Errorf("/metrics lacks %q:\n%s", line, body)
		}
	}
}

// TestMetricsConventions lints /metrics (promtool's rules) and checks the
// runtime collectors are there.
func TestMetricsConventions(t *testing.T) {
	obs := observed(t, "lint", 5, 1)
	body := httptestGet(t, obs, "/metrics")
	lintMetrics(t, body)
	for _, name := range []string{"go_goroutines", "go_build_info", "process_cpu_seconds_total", "lockstep_run_ended"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// BenchmarkObserve is a tick of 10 000 chatter agents, unobserved and
// observed (the tracer, Publish and its view of the agents).
func BenchmarkObserve(b *testing.B) {
	for _, observed := range []bool{false, true} {
		b.Run(fmt.Sprintf("observed=%v", observed), func(b *testing.B) {
			h := chatterHost(b, 10000, 2)
			step := func() {
				if _, err := h.Step(); err != nil {
					b.Fatal(err)
				}
			}
			if observed {
				obs := observe.New("bench", h)
				step = func() {
					r, err := h.Step()
					if err != nil {
						b.Fatal(err)
					}
					obs.Publish(r)
				}
			}
			for b.Loop() {
				step()
			}
		})
	}
}

// dashboardMetrics are the metric names docs/grafana/lockstep.json
// queries (a histogram's _bucket, _sum and _count as its name), those of
// the model manager apart.
func dashboardMetrics(t *testing.T) (run, models []string) {
	t.Helper()
	b, err := os.ReadFile("../../docs/grafana/lockstep.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b(?:lockstep|go|process)_[a-z_]+`).FindAllString(string(b), -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			m = strings.TrimSuffix(m, suffix)
		}
		if seen[m] {
			continue
		}
		seen[m] = true
		if strings.HasPrefix(m, "lockstep_model_") {
			models = append(models, m)
		} else {
			run = append(run, m)
		}
	}
	return run, models
}

// TestDashboardQueriesExist: every metric the Grafana dashboard queries is
// exported (the model manager's: TestModelMetrics).
func TestDashboardQueriesExist(t *testing.T) {
	obs := observed(t, "dash", 5, 1)
	body := httptestGet(t, obs, "/metrics")
	run, models := dashboardMetrics(t)
	if len(run) < 10 || len(models) < 5 {
		t.Fatalf("the dashboard queries only %v and %v", run, models)
	}
	dashboardFinds(t, body, run)
}

// lintMetrics fails t for each problem promtool's linter finds in body, a
// /metrics answer.
func lintMetrics(t *testing.T, body string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("/metrics: %s: %s", p.Metric, p.Text)
	}
}

// dashboardFinds fails t for each of metrics, queried by the Grafana
// dashboard, that body (a /metrics answer) does not declare.
func dashboardFinds(t *testing.T, body string, metrics []string) {
	t.Helper()
	for _, m := range metrics {
		if !strings.Contains(body, "\n# TYPE "+m+" ") {
			t.Errorf("the Grafana dashboard queries %s, which /metrics lacks", m)
		}
	}
}
