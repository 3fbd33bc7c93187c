package observe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/internal/hosttest"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// chatterHost starts a host of n chatter agents that send, publish, fail
// (and are restarted) and make dead letters.
func chatterHost(t testing.TB, n, workers int) *host.Host {
	t.Helper()
	h, err := host.New(host.Options{
		Seed: 7, Kinds: testkinds.Kinds(), Workers: workers, Logger: quiet(),
		Groups: []host.Group{{Name: "g", Strategy: host.OneForOne, OnFailure: host.Restart, MaxRestarts: 1000, Window: 10}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	cfg := fmt.Sprintf("agents=%d channels=3 fail=20000", n)
	for i := range n {
		if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "chatter", Config: []byte(cfg), Group: "g", Priority: int32(i % 3)}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// get fetches url (see hosttest.Get).
func get(t *testing.T, url string) (int, string) { return hosttest.Get(t, url) }

func TestSnapshotAndMetrics(t *testing.T) {
	h := chatterHost(t, 12, 2)
	obs := observe.New("chat", h)
	srv := httptest.NewServer(obs.Handler())
	defer srv.Close()

	// Before any tick: an empty snapshot.
	code, body := get(t, srv.URL+"/snapshot")
	var s observe.Snapshot
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil || s.Run != "chat" || s.Counts.Ticks != 0 || s.Digest != "" {
		t.Fatalf("initial snapshot: %d %s", code, body)
	}

	const ticks = 150
	var want observe.Counts
	var events []observe.Event
	var last host.TickResult
	err := h.Run(context.Background(), ticks, obs.Driver(nil), func(r host.TickResult) {
		obs.Publish(r)
		last = r
		want.Ticks++
		want.DeadLetters += r.DeadLetters
		want.Inferences += uint64(r.Inferences)
		want.Delivered = obs.Snapshot().Counts.Delivered // checked against the agents' view below
		for _, e := range r.Events {
			switch e.Kind {
			case "failed":
				want.Failures++
			case "restarted":
				want.Restarts++
			}
			events = append(events, observe.Event{Tick: uint64(r.Tick), Kind: e.Kind, Agent: e.Agent, Detail: e.Detail})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want.Failures == 0 || want.Restarts == 0 || want.DeadLetters == 0 {
		t.Fatalf("the topology should fail, restart and make dead letters: %+v", want)
	}

	code, body = get(t, srv.URL+"/snapshot")
	s = observe.Snapshot{}
	if code != 200 {
		t.Fatalf("/snapshot: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("/snapshot: %v\n%s", err, body)
	}
	var in uint64
	for _, a := range s.Agents {
		in += a.MessagesIn
	}
	if want.Delivered == 0 || in != want.Delivered {
		t.Fatalf("agents received %d messages, the counts say %d delivered", in, want.Delivered)
	}
	want.Fuel = s.Counts.Fuel // Go agents: 0
	if s.Run != "chat" || s.Tick != uint64(last.Tick) || s.Digest != last.DigestHex() || s.Counts != want || !s.Reproducible {
		t.Fatalf("snapshot = run %q tick %d digest %s counts %+v reproducible %v; want tick %d digest %s counts %+v",
			s.Run, s.Tick, s.Digest, s.Counts, s.Reproducible, last.Tick, last.DigestHex(), want)
	}
	if len(s.Agents) != len(last.Agents) {
		t.Fatalf("agents = %d, want %d", len(s.Agents), len(last.Agents))
	}
	for i, a := range s.Agents {
		if a.ID != last.Agents[i] || uint64(a.Digest) != last.AgentDigests[i] || a.Fuel != last.AgentFuel[i] {
			t.Fatalf("agent %d = %+v, want %s %016x %d", i, a, last.Agents[i], last.AgentDigests[i], last.AgentFuel[i])
		}
	}
	if !strings.Contains(body, fmt.Sprintf(`"digest":"%016x"`, last.AgentDigests[0])) {
		t.Fatalf("agent digests are not hex in the JSON:\n%s", body)
	}
	wantEvents := events[max(0, len(events)-observe.MaxEvents):]
	if len(events) <= observe.MaxEvents {
		t.Fatalf("only %d events: the ring is not exercised", len(events))
	}
	if len(s.Events) != len(wantEvents) {
		t.Fatalf("events = %d, want %d", len(s.Events), len(wantEvents))
	}
	for i := range wantEvents {
		if s.Events[i] != wantEvents[i] {
			t.Fatalf("event %d = %+v, want %+v", i, s.Events[i], wantEvents[i])
		}
	}
	if s.Models != nil {
		t.Fatalf("models = %+v, want none", s.Models)
	}

	code, body = get(t, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, line := range []string{
		fmt.Sprintf("lockstep_ticks_total %d", ticks),
		fmt.Sprintf("lockstep_tick %d", last.Tick),
		fmt.Sprintf("lockstep_agents %d", len(last.Agents)),
		fmt.Sprintf("lockstep_failures_total %d", want.Failures),
		fmt.Sprintf("lockstep_restarts_total %d", want.Restarts),
		fmt.Sprintf("lockstep_dead_letters_total %d", want.DeadLetters),
		"lockstep_inferences_total 0",
		"lockstep_reproducible 1",
		fmt.Sprintf("lockstep_tick_duration_seconds_count %d", ticks),
		fmt.Sprintf("lockstep_messages_delivered_total %d", want.Delivered),
		"lockstep_run_ended 0",
		"# TYPE lockstep_ticks_total counter",
		"# TYPE lockstep_tick_duration_seconds histogram",
	} {
		if !containsLine(body, line) {
			t.Errorf("/metrics lacks %q:\n%s", line, body)
		}
	}
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
}

// httptestGet serves one GET of path from obs's handler in memory.
func httptestGet(t *testing.T, obs *observe.Observer, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	obs.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func containsLine(body, line string) bool {
	for l := range strings.Lines(body) {
		if strings.TrimSuffix(l, "\n") == line {
			return true
		}
	}
	return false
}

func TestReadOnly(t *testing.T) {
	srv := httptest.NewServer(observe.New("x", nil).Handler())
	defer srv.Close()
	for _, path := range []string{"/snapshot", "/metrics", "/healthz"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", method, path, resp.StatusCode)
			}
		}
	}
	for _, path := range []string{"/", "/snapshot/x", "/debug/pprof/"} {
		if code, _ := get(t, srv.URL+path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
}

// TestObservingNeverChangesDigests runs one topology twice: once while
// several goroutines fetch /snapshot and /metrics for the whole run, once
// unobserved. Every tick's digest must be the same.
func TestObservingNeverChangesDigests(t *testing.T) {
	const ticks = 200
	run := func(observed bool) []string {
		h := chatterHost(t, 30, 4)
		var obs *observe.Observer
		var wg, ready sync.WaitGroup
		done := make(chan struct{})
		fetched := make(chan int, 4)
		stop := sync.OnceFunc(func() {
			close(done)
			wg.Wait()
			close(fetched)
		})
		if observed {
			obs = observe.New("chat", h)
			srv := httptest.NewServer(obs.Handler())
			defer srv.Close()
			defer stop() // before srv.Close, also when the test fails
			for i := range 4 {
				path := []string{"/snapshot", "/metrics"}[i%2]
				wg.Add(1)
				ready.Add(1)
				go func() {
					defer wg.Done()
					n := 0
					defer func() {
						if n == 0 {
							ready.Done()
						}
						fetched <- n
					}()
					for {
						select {
						case <-done:
							return
						default:
						}
						resp, err := http.Get(srv.URL + path)
						if err != nil {
							t.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							t.Errorf("GET %s: %s", path, resp.Status)
							return
						}
						if n++; n == 1 {
							ready.Done() // this fetcher is running: the run may start
						}
					}
				}()
			}
			ready.Wait()
		}
		var digests []string
		for range ticks {
			r, err := h.Step()
			if err != nil {
				t.Fatal(err)
			}
			if obs != nil {
				obs.Publish(r)
			}
			digests = append(digests, r.DigestHex())
		}
		if observed {
			stop()
			for n := range fetched {
				t.Logf("a fetcher made %d requests during the run", n)
			}
		}
		if obs != nil && obs.Snapshot().Digest != digests[len(digests)-1] {
			t.Fatalf("last snapshot digest %s, want %s", obs.Snapshot().Digest, digests[len(digests)-1])
		}
		return digests
	}
	observed, plain := run(true), run(false)
	for i := range plain {
		if observed[i] != plain[i] {
			t.Fatalf("tick %d: digest %s observed, %s unobserved", i, observed[i], plain[i])
		}
	}
}
