package engine_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// fakeInferencer answers "<prefix>:<agent>:<request>@<tick>" and keeps the
// calls it saw: an in-memory stand-in for the model manager, for the
// engine's routing of requests and answers (host tests run the real one).
type fakeInferencer struct {
	prefix string
	calls  []string
}

func (f *fakeInferencer) Infer(t clock.Tick, calls []engine.InferCall) [][]byte {
	out := make([][]byte, len(calls))
	for i, c := range calls {
		f.calls = append(f.calls, fmt.Sprintf("%s/%d %s@%s %s", c.Agent, c.Request, c.Model, c.Version, c.Input))
		out[i] = fmt.Appendf(nil, "%s:%s:%d@%s", f.prefix, c.Agent, c.Request, t)
	}
	return out
}

func infer(model, input string) engine.Action {
	return engine.Action{Kind: engine.ActInfer, Target: model, Version: "1", Payload: []byte(input)}
}

// inferTicks runs two ticks: at t0, a and c (priority 0) and b (priority 5)
// make requests, and c fails; it returns t0's outcome and t1's plan.
func inferTicks(t *testing.T, inf engine.Inferencer) (engine.Ready, engine.Plan) {
	t.Helper()
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if inf != nil {
		e.SetInferencer(inf)
	}
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "a"}})
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "b", Priority: 5}})
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "c"}})
	p := e.Begin() // order: b, a, c
	ready := e.Commit(p, []engine.Report{
		{Actions: []engine.Action{infer("m", "b-x")}},
		{Actions: []engine.Action{infer("m", "a-x"), {Kind: engine.ActSend, Target: "b", Payload: []byte("hi")}, infer("n", "a-y")}},
		{Failed: true, Reason: "boom", Actions: []engine.Action{infer("m", "c-x")}},
	})
	return ready, e.Begin()
}

// TestInference: a tick's requests reach the inferencer once, in canonical
// order with per-agent request numbers; a failed agent's requests are
// dropped; answers arrive at the next tick from agent.ModelSender after the
// agents' messages, and enter the digest.
func TestInference(t *testing.T) {
	f := &fakeInferencer{prefix: "A"}
	ready, next := inferTicks(t, f)
	if want := []string{"b/0 m@1 b-x", "a/0 m@1 a-x", "a/1 n@1 a-y"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
	if ready.Inferences != 3 {
		t.Errorf("Inferences %d, want 3", ready.Inferences)
	}
	got := map[string][]string{}
	for i, a := range next.Agents {
		for _, m := range next.Deliveries[i] {
			got[a.ID] = append(got[a.ID], fmt.Sprintf("%s@%s %s", m.From, m.Sent, m.Payload))
		}
	}
	want := map[string][]string{
		"b": {"a@t0 hi", "@model@t0 A:b:0@t0"},
		"a": {"@model@t0 A:a:0@t0", "@model@t0 A:a:1@t0"},
	}
	for id, w := range want {
		if !slices.Equal(got[id], w) {
			t.Errorf("%s got %q, want %q", id, got[id], w)
		}
	}
	if len(got["c"]) != 0 {
		t.Errorf("failed c got answers: %q", got["c"])
	}
	other, _ := inferTicks(t, &fakeInferencer{prefix: "B"})
	if other.Digest == ready.Digest || !slices.Equal(other.AgentDigests, ready.AgentDigests) {
		t.Errorf("other answers to the same requests must change the tick digest only")
	}
	again, _ := inferTicks(t, &fakeInferencer{prefix: "A"})
	if again.Digest != ready.Digest {
		t.Errorf("the same answers gave another digest")
	}
}

// TestInferenceWithoutInferencer: every request is answered "unavailable"
// with its request number.
func TestInferenceWithoutInferencer(t *testing.T) {
	_, next := inferTicks(t, nil)
	for i, a := range next.Agents {
		if a.ID != "a" {
			continue
		}
		for n, m := range next.Deliveries[i] {
			r, err := tensor.DecodeResult(m.Payload)
			if err != nil || r.Status != tensor.Unavailable || r.Request != uint32(n) || !strings.Contains(r.Error, "no model manager") {
				t.Errorf("answer %d: %+v %v", n, r, err)
			}
		}
		return
	}
	t.Fatal("agent a is not in the plan")
}

// TestOutboxInfer: request numbers count per tick; bad names and inputs over
// the limit are refused and record nothing.
func TestOutboxInfer(t *testing.T) {
	o := engine.NewOutbox(&engine.Agent{ID: "a"}, 8)
	o.Reset(0)
	for want := range uint32(3) {
		if n, err := o.Infer("m", "", []byte("x")); err != nil || n != want {
			t.Fatalf("request %d: %d %v", want, n, err)
		}
	}
	for _, c := range []struct {
		model, version string
		input          []byte
		is             error
		says           string
	}{
		{"m m", "1", nil, agent.ErrInvalidName, `model id "m m"`},
		{"m", "1 0", nil, agent.ErrInvalidName, `model version "1 0"`},
		{"m", "1", make([]byte, 9), agent.ErrTooLarge, "9 bytes, the limit is 8"},
	} {
		if _, err := o.Infer(c.model, c.version, c.input); !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Infer(%q, %q): %v, want %q", c.model, c.version, err, c.says)
		}
	}
	if n := len(o.Report().Actions); n != 3 {
		t.Errorf("%d actions recorded, want 3", n)
	}
	o.Reset(1)
	if n, _ := o.Infer("m", "", nil); n != 0 {
		t.Errorf("the first request of a new tick is number %d", n)
	}
}

// TestInferenceAnswersToRestartedAgents: when a's group restarts it at the
// barrier of the tick it asked in (all-for-one, its sibling failed), the
// answers are dead letters, not messages to the fresh incarnation, which
// numbers its own requests from 0 again.
func TestInferenceAnswersToRestartedAgents(t *testing.T) {
	e, err := engine.New(engine.Config{Groups: []engine.GroupSpec{{Name: "g", Strategy: engine.AllForOne, Directive: engine.Restart, MaxRestarts: 5, Window: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	e.SetInferencer(&fakeInferencer{prefix: "A"})
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "a", Group: "g"}})
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "b", Group: "g"}})
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "c"}})
	p := e.Begin() // a, b, c
	ready := e.Commit(p, []engine.Report{
		{Actions: []engine.Action{infer("m", "a-x")}},
		{Failed: true, Reason: "boom"},
		{Actions: []engine.Action{infer("m", "c-x")}},
	})
	if len(ready.Restart) != 2 || ready.DeadLetters != 1 {
		t.Fatalf("restart %d agents, %d dead letters; want 2 and 1 (a's answer)", len(ready.Restart), ready.DeadLetters)
	}
	next := e.Begin()
	for i, ag := range next.Agents {
		var got []string
		for _, m := range next.Deliveries[i] {
			got = append(got, string(m.Payload))
		}
		want := map[string][]string{"c": {"A:c:0@t0"}}[ag.ID]
		if !slices.Equal(got, want) {
			t.Errorf("%s got %q, want %q", ag.ID, got, want)
		}
	}
}
