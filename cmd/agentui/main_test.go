package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/internal/hosttest"
)

const fixed = `{"run":"demo","tick":41,"digest":"ab12","agents":[{"id":"a","digest":"00000000000000ff","fuel":3}],` +
	`"counts":{"ticks":42,"failures":1,"restarts":1,"dead_letters":0,"inferences":0},"events":[],"ticks_per_second":10,"reproducible":true}`

// get fetches url (see hosttest.Get).
func get(t *testing.T, url string) (int, string) { return hosttest.Get(t, url) }

func TestDashboard(t *testing.T) {
	hostSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/snapshot" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, fixed)
	}))
	log := logrus.New()
	log.SetOutput(io.Discard)
	h, err := newHandler(hostSrv.URL, &http.Client{Timeout: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	ui := httptest.NewServer(h)
	defer ui.Close()

	code, body := get(t, ui.URL+"/")
	if code != 200 || !strings.Contains(body, `id="lockstep-dashboard"`) || !strings.Contains(body, "api/snapshot") {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	code, body = get(t, ui.URL+"/api/snapshot")
	if code != 200 || body != fixed {
		t.Fatalf("GET /api/snapshot: %d %s", code, body)
	}
	// Read-only: nothing to write to, nothing else served.
	resp, err := http.Post(ui.URL+"/api/snapshot", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /api/snapshot = %d, want 405", resp.StatusCode)
	}
	if code, _ := get(t, ui.URL+"/snapshot"); code != http.StatusNotFound {
		t.Fatalf("GET /snapshot = %d, want 404", code)
	}

	hostSrv.Close()
	code, body = get(t, ui.URL+"/api/snapshot")
	if code != http.StatusBadGateway || !strings.Contains(body, "host "+hostSrv.URL+"/snapshot unreachable") {
		t.Fatalf("with the host gone: %d %s", code, body)
	}
}

func TestBadHost(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:7070", "ftp://x"} {
		if _, err := newHandler(u, http.DefaultClient, logrus.New()); err == nil || !strings.Contains(err.Error(), "--host") {
			t.Errorf("newHandler(%q): err = %v", u, err)
		}
	}
}

func TestNotASnapshot(t *testing.T) {
	hostSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>something else</html>")
	}))
	defer hostSrv.Close()
	h, err := newHandler(hostSrv.URL+"/", http.DefaultClient, logrus.New())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/snapshot", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "not JSON") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
