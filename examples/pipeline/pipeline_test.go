package pipeline_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/examples/pipeline"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
)

func f64(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }

func readF64(t *testing.T, p []byte) float64 {
	t.Helper()
	if len(p) != 8 {
		t.Fatalf("payload of %d bytes, want an 8-byte float", len(p))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(p))
}

// newAgent makes an agent of the pipeline's kind with config.
func newAgent(t *testing.T, kind, id, config string) agent.Agent {
	t.Helper()
	a, err := pipeline.Kinds()[kind](id, []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Init(agenttest.NewContext(id, 0)); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSensor: each step publishes the last reading plus a step of the
// random walk drawn from the agent's own random source; with fail_every it
// panics at that step of its incarnation.
func TestSensor(t *testing.T) {
	opts := agenttest.ContextOptions{Seed: 42}
	s := newAgent(t, "sensor", "s1", `{"base": 20, "fail_every": 3}`)
	want := 20.0
	for tick := range clock.Tick(2) {
		ctx := agenttest.NewContextWith("s1", tick, opts)
		if err := s.Step(ctx); err != nil {
			t.Fatal(err)
		}
		// The same context draws the same numbers.
		want += float64(agenttest.NewContextWith("s1", tick, opts).Rand().NormFloat64() * 0.25)
		pub := ctx.Published()
		if len(pub) != 1 || pub[0].Channel != "readings" || readF64(t, pub[0].Payload) != want {
			t.Fatalf("%s: published %v, want %v on readings", tick, pub, want)
		}
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "simulated hardware fault after 3 steps") {
			t.Errorf("third step: panic %v", p)
		}
	}()
	_ = s.Step(agenttest.NewContext("s1", 2))
}

// TestSensorInARun: a run draws the numbers the unit test drew.
func TestSensorInARun(t *testing.T) {
	h := agenttest.New(t, agenttest.Agent{Kind: "sensor", ID: "s1", Factory: pipeline.Kinds()["sensor"]}, &agenttest.Options{Seed: 42})
	s := newAgent(t, "sensor", "s1", "")
	for _, r := range h.Run(5) {
		ctx := agenttest.NewContextWith("s1", r.Tick, agenttest.ContextOptions{Seed: 42})
		_ = s.Step(ctx)
		if got, want := r.Published()[0].Payload, ctx.Published()[0].Payload; string(got) != string(want) {
			t.Fatalf("%s: the run published %x, the unit test %x", r.Tick, got, want)
		}
	}
}

// TestAggregator: it averages the readings of each window of ticks and
// publishes the average at the window's last tick.
func TestAggregator(t *testing.T) {
	a := newAgent(t, "aggregator", "agg", `{"window": 3}`)
	ctx := agenttest.NewContext("agg", 0)
	for tick, readings := range [][]float64{{1, 2}, {3}, {6}, {10}} {
		ctx.Reset(clock.Tick(tick))
		for _, v := range readings {
			if err := a.Receive(ctx, agent.Message{From: "s", Channel: "readings", Payload: f64(v)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Step(ctx); err != nil {
			t.Fatal(err)
		}
		pub := ctx.Published()
		if tick != 2 {
			if len(pub) != 0 {
				t.Errorf("t%d: published %v inside the window", tick, pub)
			}
			continue
		}
		if len(pub) != 1 || pub[0].Channel != "summary" || readF64(t, pub[0].Payload) != 3 {
			t.Errorf("t2: published %v, want the average 3 on summary", pub)
		}
		if logs := ctx.Logs(); len(logs) != 1 || logs[0] != (agenttest.Log{Level: agent.LevelDebug, Text: "average 3.000"}) {
			t.Errorf("t2: logs %v", logs)
		}
	}
	if err := a.Receive(ctx, agent.Message{From: "s", Payload: []byte("x")}); err == nil || !strings.Contains(err.Error(), "reading from s") {
		t.Errorf("a bad reading: %v", err)
	}
	if _, err := pipeline.Kinds()["aggregator"]("agg", []byte(`{"window": 0}`)); err == nil {
		t.Error("window 0 accepted")
	}
}

// TestAggregatorInARun: sensors (stand-ins) publish readings on the
// channel; the summary of each window of two ticks is what they sent.
func TestAggregatorInARun(t *testing.T) {
	h := agenttest.New(t, agenttest.Agent{Kind: "aggregator", Factory: pipeline.Kinds()["aggregator"],
		Config: []byte(`{"window": 2}`), Channels: []string{"readings"}}, nil)
	for tick := clock.Tick(1); tick <= 4; tick++ {
		for i, s := range []string{"sensor-1", "sensor-2"} {
			h.Input(agenttest.Input{Tick: tick, From: s, Channel: "readings", Payload: f64(float64(10*tick) + float64(i))})
		}
	}
	h.Run(5)
	h.AssertNoFailures()
	for _, c := range []struct {
		tick clock.Tick
		avg  float64
	}{{1, 10.5}, {3, 25.5}} { // t1: 10 and 11; t3: 20, 21 (t2), 30, 31
		pub := h.At(c.tick).Published()
		if len(pub) != 1 || readF64(t, pub[0].Payload) != c.avg {
			t.Errorf("%s: published %v, want %v", c.tick, pub, c.avg)
		}
	}
	if n := len(h.At(2).Published()); n != 0 {
		t.Errorf("t2: %d publishes inside the window", n)
	}
}

// TestMonitor: a summary over the threshold sends an alarm to the agent
// to notify; one at or under it does nothing.
func TestMonitor(t *testing.T) {
	m := newAgent(t, "monitor", "mon", `{"threshold": 20.4, "notify": "boss"}`)
	ctx := agenttest.NewContext("mon", 7)
	for _, v := range []float64{20.4, 20.5} {
		if err := m.Receive(ctx, agent.Message{From: "agg", Channel: "summary", Payload: f64(v)}); err != nil {
			t.Fatal(err)
		}
	}
	sent := ctx.Sent()
	if len(sent) != 1 || sent[0].To != "boss" || string(sent[0].Payload) != "agg: average 20.500 over 20.4" {
		t.Errorf("sent %q", sent)
	}
	if err := m.Receive(ctx, agent.Message{From: "agg", Payload: nil}); err == nil {
		t.Error("an empty summary accepted")
	}
}

// TestController: it counts and logs every alarm.
func TestController(t *testing.T) {
	c := newAgent(t, "controller", "controller", "")
	ctx := agenttest.NewContext("controller", 0)
	for _, p := range []string{"hot", "hotter"} {
		if err := c.Receive(ctx, agent.Message{From: "mon", Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	want := []agenttest.Log{{Level: agent.LevelInfo, Text: "alarm 1 from hot"}, {Level: agent.LevelInfo, Text: "alarm 2 from hotter"}}
	if got := ctx.Logs(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("logs %v, want %v", got, want)
	}
}

// TestTopology: the default topology runs cleanly until sensor-3's 120th
// step, which fails and is restarted by its group.
func TestTopology(t *testing.T) {
	topo, err := host.ParseTopology("topology.yaml", pipeline.Topology)
	if err != nil {
		t.Fatal(err)
	}
	h, err := topo.Start(host.Options{Kinds: pipeline.Kinds(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	agenttest.Steps(t, h, 119)
	r, err := h.Step()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Events) != 2 || r.Events[0].Kind != "failed" || r.Events[0].Agent != "sensor-3" || r.Events[1].Kind != "restarted" {
		t.Errorf("t119: events %+v; want sensor-3 failed and restarted", r.Events)
	}
}

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
