package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// aborter logs at level, then fails its step.
type aborter struct{ level agent.Level }

func (aborter) Init(agent.Context) error                   { return nil }
func (aborter) Receive(agent.Context, agent.Message) error { return nil }
func (a aborter) Step(ctx agent.Context) error {
	ctx.Log(agent.LevelInfo, "fine so far")
	ctx.Log(a.level, "abort: index 7 out of range")
	ctx.Log(agent.LevelDebug, "unwinding")
	return errors.New("unreachable")
}
func (aborter) Shutdown(agent.Context) error { return nil }

// TestFailureKeepsLastWords: a failed tick's outbox is dropped, but its last
// error or warning log line is kept in the failure's reason (and so in the
// digest); info and debug lines are not.
func TestFailureKeepsLastWords(t *testing.T) {
	for _, c := range []struct {
		level agent.Level
		want  string
	}{
		{agent.LevelError, `unreachable (its last error log line: "abort: index 7 out of range")`},
		{agent.LevelWarn, `unreachable (its last warning log line: "abort: index 7 out of range")`},
		{agent.LevelInfo, "step: unreachable"},
	} {
		e, err := engine.New(engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "a"}})
		ref := engine.NewReference(e, func(*engine.Agent) (agent.Agent, error) { return aborter{c.level}, nil }, 0)
		_, ready := ref.Step()
		if len(ready.Events) == 0 || ready.Events[0].Kind != engine.EventFailed {
			t.Fatalf("level %d: events %+v", c.level, ready.Events)
		}
		detail := ready.Events[0].Detail
		if !strings.HasSuffix(detail, c.want) || (c.level == agent.LevelInfo && strings.Contains(detail, "log line")) {
			t.Errorf("level %d: detail %q, want it to end with %q", c.level, detail, c.want)
		}
	}
}

// traced fails its step with an error that has a stack trace.
type traced struct{ trace string }

func (traced) Init(agent.Context) error                   { return nil }
func (traced) Receive(agent.Context, agent.Message) error { return nil }
func (a traced) Step(agent.Context) error                 { return tracedErr{a.trace} }
func (traced) Shutdown(agent.Context) error               { return nil }

type tracedErr struct{ trace string }

func (tracedErr) Error() string        { return "wasm error: unreachable" }
func (e tracedErr) StackTrace() string { return e.trace }

// TestTraceIsNotDigested: a failure's stack trace (which may differ between
// wazero's engines) is handed on in the failed event's Trace, and enters
// neither the event's detail nor the digest.
func TestTraceIsNotDigested(t *testing.T) {
	var digests [][32]byte
	var details []string
	for _, trace := range []string{"crash(i32)\nagent_step(i32) i32", "$7()\nagent_step(i32) i32"} {
		e, err := engine.New(engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "a"}})
		ref := engine.NewReference(e, func(*engine.Agent) (agent.Agent, error) { return traced{trace}, nil }, 0)
		_, ready := ref.Step()
		if len(ready.Events) == 0 || ready.Events[0].Kind != engine.EventFailed || ready.Events[0].Trace != trace {
			t.Fatalf("events %+v, want a failure with trace %q", ready.Events, trace)
		}
		digests = append(digests, ready.Digest)
		details = append(details, ready.Events[0].Detail)
	}
	if digests[0] != digests[1] || details[0] != details[1] || details[0] != `agent "a" failed at t0 in step: wasm error: unreachable` {
		t.Fatalf("the trace changed the digest or the detail: %x %x %q", digests[0], digests[1], details)
	}
}
