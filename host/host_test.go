package host_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func newHost(t *testing.T, opts host.Options) *host.Host {
	t.Helper()
	if opts.Kinds == nil {
		opts.Kinds = testkinds.Kinds()
	}
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSendArrivesNextTick(t *testing.T) {
	h := newHost(t, host.Options{})
	must(t, h.Spawn(host.AgentSpec{ID: "a", Kind: "script"}))
	must(t, h.Spawn(host.AgentSpec{ID: "b", Kind: "echo"}))
	must(t, h.Send("a", []byte("send b hello")))
	r, err := h.Step() // t0: a receives the input, sends to b
	must(t, err)
	if len(r.Agents) != 2 || r.Agents[0] != "a" {
		t.Fatalf("agents = %v", r.Agents)
	}
	r1, err := h.Step() // t1: b receives, echoes to a
	must(t, err)
	if r1.Digest == r.Digest {
		t.Fatal("digest did not change")
	}
	must(t, h.Send("a", []byte("send nobody x")))
	r2, err := h.Step()
	must(t, err)
	if r2.DeadLetters != 1 || len(r2.Events) != 1 || r2.Events[0].Kind != "dead-letter" {
		t.Fatalf("dead letters = %d, want 1 (events %v)", r2.DeadLetters, r2.Events)
	}
}

func TestBadInput(t *testing.T) {
	h := newHost(t, host.Options{MaxMessageSize: 16})
	must(t, h.Spawn(host.AgentSpec{ID: "a", Kind: "script"}))
	cases := map[string]error{
		"duplicate": h.Spawn(host.AgentSpec{ID: "a", Kind: "script"}),
		"kind":      h.Spawn(host.AgentSpec{ID: "b", Kind: "nope"}),
		"id":        h.Spawn(host.AgentSpec{ID: "b c", Kind: "script"}),
		"target":    h.Send("zz", []byte("x")),
		"channel":   h.Join("a", "bad channel"),
		"size":      h.Send("a", bytes.Repeat([]byte("x"), 17)),
		"stop":      h.Stop("zz"),
	}
	for name, err := range cases {
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "host:") {
			t.Errorf("%s: error %q does not say where it comes from", name, err)
		}
	}
	if _, err := h.Step(); err != nil {
		t.Fatalf("host broken after bad input: %v", err)
	}
}

func TestFailureRestartsAndHalts(t *testing.T) {
	h := newHost(t, host.Options{Groups: []host.Group{{Name: "g", MaxRestarts: 1, Window: 10, OnFailure: host.Restart}}})
	must(t, h.Spawn(host.AgentSpec{ID: "a", Kind: "script", Group: "g"}))
	must(t, h.Send("a", []byte("panic")))
	r, err := h.Step()
	must(t, err)
	if len(r.Events) != 2 || r.Events[0].Kind != "failed" || r.Events[1].Kind != "restarted" {
		t.Fatalf("events = %+v", r.Events)
	}
	// A second failure within the window exhausts g, which escalates to
	// the root; the root restarts the whole group.
	must(t, h.Send("a", []byte("fail")))
	r, err = h.Step()
	must(t, err)
	kinds := ""
	for _, e := range r.Events {
		kinds += e.Kind + " "
	}
	if kinds != "failed escalated restarted " {
		t.Fatalf("events = %+v", r.Events)
	}
	// g restarts, then escalates, every other failure; the root allows 10
	// restarts in 100 ticks and halts at the 11th: failure 22 in all.
	failures := 2
	for err == nil {
		must(t, h.Send("a", []byte("panic")))
		_, err = h.Step()
		failures++
	}
	if !errors.Is(err, host.ErrHalted) || failures != 22 {
		t.Fatalf("after %d failures: err = %v", failures, err)
	}
	if _, err := h.Step(); !errors.Is(err, host.ErrHalted) {
		t.Fatalf("Step after halt = %v", err)
	}
}

func TestStateRegionsFlipAtTheBarrier(t *testing.T) {
	h := newHost(t, host.Options{})
	must(t, h.Spawn(host.AgentSpec{ID: "w", Kind: "script"}))
	must(t, h.Send("w", []byte("state temp 21")))
	_, err := h.Step() // t0: w writes; nobody sees it yet
	must(t, err)
	v, ok := h.ReadState("w", "temp")
	if !ok || string(v) != "21" {
		t.Fatalf("after the barrier: %q %v", v, ok)
	}
	must(t, h.Send("w", []byte("state temp 22")))
	_, err = h.Step()
	must(t, err)
	if v, _ := h.ReadState("w", "temp"); string(v) != "22" {
		t.Fatalf("second write: %q", v)
	}
	if _, ok := h.ReadState("w", "nope"); ok {
		t.Fatal("missing region found")
	}
}

func TestStateReadersSeeThePreviousTick(t *testing.T) {
	var logs bytes.Buffer
	l := logrus.New()
	l.SetOutput(&logs)
	l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	h := newHost(t, host.Options{Logger: l, Workers: 2})
	must(t, h.Spawn(host.AgentSpec{ID: "w", Kind: "script"}))
	must(t, h.Spawn(host.AgentSpec{ID: "r", Kind: "script"}))
	must(t, h.Send("w", []byte("state temp old")))
	_, err := h.Step()
	must(t, err)
	// Same tick: w writes "new" while r reads; r must see "old".
	must(t, h.Send("w", []byte("state temp new")))
	must(t, h.Send("r", []byte("read w temp")))
	_, err = h.Step()
	must(t, err)
	must(t, h.Send("r", []byte("read w temp")))
	_, err = h.Step()
	must(t, err)
	out := logs.String()
	first, second := strings.Index(out, `read w/temp = \"old\" true`), strings.Index(out, `read w/temp = \"new\" true`)
	if first < 0 || second < first {
		t.Fatalf("reads did not see old then new:\n%s", out)
	}
}
