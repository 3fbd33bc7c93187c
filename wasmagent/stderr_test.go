package wasmagent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// TestGoAbortIsExplained: a trap that Go's runtime explained on stderr
// ("fatal error: ...") carries that line, on both engines, and an out-of-
// memory abort names the module's max_pages and the fix; the goroutine dump
// that follows is left out, and stderr is the current call's alone.
func TestGoAbortIsExplained(t *testing.T) {
	ctx := context.Background()
	want := map[string]string{
		"m": `agent_receive: wasm error: unreachable: the Go runtime ran out of memory ("fatal error: out of memory"): it needs more than max_pages=64 (4 MiB) of the module; raise the module's max_pages`,
		"d": `agent_receive: wasm error: unreachable: the Go runtime aborted ("fatal error: all goroutines are asleep - deadlock!")`,
	}
	for _, eng := range []string{wasmagent.EngineCompiler, wasmagent.EngineInterpreter} {
		rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{Engine: eng, MaxPages: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close(ctx)
		m, err := rt.Load(ctx, "go_abort", mod(t, "go_abort"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := m.New("g", 1, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := engine.NewOutbox(&engine.Agent{ID: "g"}, 0)
		if err := a.Init(out); err != nil {
			t.Fatal(err)
		}
		// One instance for both: the second call's reason is its own
		// stderr's, not the first's.
		for _, payload := range []string{"m", "d"} {
			err = a.Receive(out, agent.Message{Payload: []byte(payload)})
			if err == nil || !strings.HasPrefix(err.Error(), want[payload]) || strings.Contains(err.Error(), "goroutine 1 [") {
				t.Errorf("%s, %q: %v\nwant %q", eng, payload, err, want[payload])
			}
		}
	}
}
