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
