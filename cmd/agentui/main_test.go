package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/examples/pipeline"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon"
	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/internal/hosttest"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

const fixed = `{"run":"demo","seq":7,"tick":41}`

// get fetches url (see hosttest.Get).
func get(t *testing.T, url string) (int, string) { return hosttest.Get(t, url) }

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// dashboard serves agentui's handler over api.
func dashboard(t *testing.T, api http.Handler) *httptest.Server {
	t.Helper()
	h, err := newHandler(api)
	if err != nil {
		t.Fatal(err)
	}
	ui := httptest.NewServer(h)
	t.Cleanup(ui.Close)
	return ui
}

// fakeHost answers every view with fixed (ETag "7"), 304 to a matching
// If-None-Match and 400 to ?bad; it records the queries it got.
func fakeHost(queries *[]string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains("/summary /agents /channels /snapshot", r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		*queries = append(*queries, r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("ETag", `"7"`)
		switch {
		case r.URL.Query().Has("bad"):
			http.Error(w, "observe: ?bad: give something else", http.StatusBadRequest)
		case r.Header.Get("If-None-Match") == `"7"`:
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, fixed)
		}
	}))
}

func TestDashboard(t *testing.T) {
	var queries []string
	hostSrv := fakeHost(&queries)
	api, err := newProxy(hostSrv.URL, &http.Client{Timeout: 5 * time.Second}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ui := dashboard(t, api)

	code, body := get(t, ui.URL+"/")
	if code != 200 || !strings.Contains(body, `id="lockstep-dashboard"`) || !strings.Contains(body, "static/app.js") {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	for path, want := range map[string]string{
		"/static/app.js":                         "api/summary",
		"/static/vendor/uplot/uPlot.iife.min.js": "uPlot",
		"/static/vendor/uplot/LICENSE":           "The MIT License",
	} {
		if code, body := get(t, ui.URL+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, no %q", path, code, want)
		}
	}
	for _, v := range views {
		code, body := get(t, ui.URL+"/api/"+v+"?offset=50&q=c1")
		if code != 200 || body != fixed {
			t.Fatalf("GET /api/%s: %d %s", v, code, body)
		}
		if last := queries[len(queries)-1]; last != "/"+v+"?offset=50&q=c1" {
			t.Fatalf("the host got %s for /api/%s", last, v)
		}
	}
	// Conditional requests go through: the host's 304 reaches the page.
	req, _ := http.NewRequest(http.MethodGet, ui.URL+"/api/summary", nil)
	req.Header.Set("If-None-Match", `"7"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != `"7"` {
		t.Fatalf("If-None-Match: %s, ETag %q", resp.Status, resp.Header.Get("ETag"))
	}
	if code, body := get(t, ui.URL+"/api/agents?bad=1"); code != http.StatusBadRequest || !strings.Contains(body, "give something else") {
		t.Fatalf("a bad query: %d %s", code, body)
	}

	// Read-only: nothing to write to, nothing else served.
	resp, err = http.Post(ui.URL+"/api/summary", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /api/summary = %d, want 405", resp.StatusCode)
	}
	for _, path := range []string{"/snapshot", "/api/metrics", "/api/replay"} {
		if code, _ := get(t, ui.URL+path); code != http.StatusNotFound {
			t.Fatalf("GET %s = %d, want 404", path, code)
		}
	}

	hostSrv.Close()
	code, body = get(t, ui.URL+"/api/summary")
	if code != http.StatusBadGateway || !strings.Contains(body, "host "+hostSrv.URL+"/summary unreachable") {
		t.Fatalf("with the host gone: %d %s", code, body)
	}
}

func TestBadHost(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:7070", "ftp://x"} {
		if _, err := newProxy(u, http.DefaultClient, quiet()); err == nil || !strings.Contains(err.Error(), "--host") {
			t.Errorf("newProxy(%q): err = %v", u, err)
		}
	}
}

func TestNotAnObserver(t *testing.T) {
	hostSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>something else</html>")
	}))
	defer hostSrv.Close()
	api, err := newProxy(hostSrv.URL+"/", http.DefaultClient, quiet())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/summary", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "not JSON") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// recordPipeline runs examples/pipeline (Go agents) for ticks ticks,
// recording it into dir, and returns the log's path and each tick's digest.
func recordPipeline(t *testing.T, dir string, ticks int) (string, []string) {
	t.Helper()
	topo, err := host.LoadTopology("../../examples/pipeline/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pipeline.replay")
	return path, record(t, topo, pipeline.Kinds(), path, ticks)
}

// record runs topo with kinds for ticks ticks, recording it to path, and
// returns each tick's digest.
func record(t *testing.T, topo *host.Topology, kinds map[string]host.Factory, path string, ticks int) []string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := topo.Start(host.Options{Kinds: kinds, Logger: quiet(), Record: f})
	if err != nil {
		t.Fatal(err)
	}
	var digests []string
	for range ticks {
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, r.DigestHex())
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	return digests
}

// TestReplay moves a replay back and forth: every tick shows the digest
// the run had there, with the history up to it.
func TestReplay(t *testing.T) {
	const ticks = 40
	path, digests := recordPipeline(t, t.TempDir(), ticks)
	r, err := openReplay(path, host.ReplayOptions{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ui := dashboard(t, r.Handler())
	var st replayState
	decodeGet(t, ui.URL+"/api/replay", &st)
	if st.Ticks != ticks || st.Tick != ticks-1 || st.File != path {
		t.Fatalf("replay state: %+v", st)
	}
	for _, tick := range []int{10, 39, 0, 10} {
		resp, b := seek(t, ui.URL, strconv.Itoa(tick))
		if resp.StatusCode != 200 || json.Unmarshal(b, &st) != nil || st.Tick != uint64(tick) {
			t.Fatalf("seek %d: %s %s", tick, resp.Status, b)
		}
		var s observe.Summary
		decodeGet(t, ui.URL+"/api/summary", &s)
		if s.Tick != uint64(tick) || s.Digest != digests[tick] || len(s.History) != tick+1 || !s.Ended || s.AgentsTotal == 0 {
			t.Fatalf("at tick %d: tick %d digest %s history %d agents %d; want digest %s", tick, s.Tick, s.Digest, len(s.History), s.AgentsTotal, digests[tick])
		}
	}
	for _, bad := range []string{"40", "-1", "x"} {
		resp, b := seek(t, ui.URL, bad)
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("give a tick from 0 to 39")) {
			t.Errorf("seek %s: %s %s", bad, resp.Status, b)
		}
	}
	if _, err := openReplay(filepath.Join(t.TempDir(), "none.replay"), host.ReplayOptions{}, quiet()); err == nil || !strings.Contains(err.Error(), "--replay") {
		t.Fatalf("a missing log: %v", err)
	}
}

// seek asks the replay dashboard at url to move to tick and returns its
// answer (closed) and the answer's body.
func seek(t *testing.T, url, tick string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/api/replay/seek?tick="+tick, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

func decodeGet(t *testing.T, url string, v any) {
	t.Helper()
	code, body := get(t, url)
	if code != 200 || json.Unmarshal([]byte(body), v) != nil {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
}

// TestReplayDataDir moves over the ticks of an agenthost serve data
// directory: from its newest checkpoint at or before the tick.
func TestReplayDataDir(t *testing.T) {
	const ticks = 40
	topo, err := host.ParseTopology("scripted", []byte(`name: scripted
seed: 3
agents:
  - {id: a, kind: script}
  - {id: b, kind: script}
inputs:
  - {tick: 3, to: a, payload: "send b hi"}
  - {tick: 12, to: b, payload: "log hello"}
  - {tick: 27, to: a, payload: "state r abc"}
`))
	if err != nil {
		t.Fatal(err)
	}
	digests := record(t, topo, testkinds.Kinds(), filepath.Join(t.TempDir(), "scripted.replay"), ticks)
	dir := t.TempDir()
	d, err := daemon.Open(daemon.Config{DataDir: dir, Topology: topo, Clock: daemon.Free, CheckpointEvery: 10, KeepLog: true, Ticks: ticks,
		Options: host.Options{Kinds: testkinds.Kinds(), Logger: quiet()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Serve(ctx); err != nil { // returns at tick 40
		t.Fatal(err)
	}
	r, err := openReplay(dir, host.ReplayOptions{Kinds: testkinds.Kinds()}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if st := r.state(); st.Ticks != ticks || st.Tick != ticks-1 || len(st.Checkpoints) == 0 {
		t.Fatalf("replay of %s: %+v", dir, st)
	}
	ui := dashboard(t, r.Handler())
	for _, tick := range []int{25, 5} {
		resp, err := http.Post(ui.URL+"/api/replay/seek?tick="+strconv.Itoa(tick), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var st replayState
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		var s observe.Summary
		decodeGet(t, ui.URL+"/api/summary", &s)
		from := uint64(tick / 10 * 10)
		if err != nil || st.Tick != uint64(tick) || st.From != from || s.Digest != digests[tick] || s.History[0].Tick != from {
			t.Fatalf("seek %d: %v %+v; digest %s (want %s), history from %d (want %d)", tick, err, st, s.Digest, digests[tick], s.History[0].Tick, from)
		}
	}
}
