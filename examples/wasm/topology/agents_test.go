// Tests of the example agents of examples/wasm, each run alone in the test
// kit's harness (package sdk/agenttest). A directory of C files cannot
// hold a Go package, so they live with the topology.
package topology_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
)

// built is the directory of the C agents this file tests, built once.
var built struct {
	sync.Once
	dir string
	err error
}

// module returns the path of the example agent name ("counter.wasm"),
// compiled from examples/wasm with clang-14 (internal/guests.BuildDir).
// Without the toolchain it skips, unless LOCKSTEP_REQUIRE_GUESTS is set.
func module(t *testing.T, name string) string {
	t.Helper()
	built.Do(func() {
		src, err := os.MkdirTemp("", "lockstep-examples-")
		if err != nil {
			built.err = err
			return
		}
		defer os.RemoveAll(src)
		for _, c := range []string{"counter.c", "faulty.c"} {
			b, err := os.ReadFile(filepath.Join(guests.Root(), "examples", "wasm", c))
			if err == nil {
				err = os.WriteFile(filepath.Join(src, c), b, 0o644)
			}
			if err != nil {
				built.err = err
				return
			}
		}
		built.dir, built.err = guests.BuildDir(src)
	})
	if built.err != nil {
		if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
			t.Skipf("%v (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead)", built.err)
		}
		t.Fatal(built.err)
	}
	return filepath.Join(built.dir, name)
}

// TestCounter: counter.c counts what it receives, external inputs and
// messages from agents alike, and each step publishes the count on
// "counts" and keeps it in state region "count" (a little-endian u64).
func TestCounter(t *testing.T) {
	h := agenttest.New(t, agenttest.Module{Path: module(t, "counter.wasm"), Grants: []string{"messaging.publish", "state.write"}}, nil)
	h.Input(agenttest.Input{Tick: 1, Payload: []byte("hello")})
	h.Input(agenttest.Input{Tick: 3, From: "pinger", Payload: []byte("ping 1")})
	h.Input(agenttest.Input{Tick: 3, From: "pinger", Payload: []byte("ping 2")})
	h.Run(4)
	h.AssertNoFailures()
	for i, want := range []uint64{0, 1, 1, 3} {
		r := h.At(clock.Tick(i))
		pub := r.Published()
		if len(pub) != 1 || pub[0].Channel != "counts" || binary.LittleEndian.Uint64(pub[0].Payload) != want {
			t.Errorf("%s: published %v, want count %d on counts", r.Tick, pub, want)
		}
		if got := r.State["count"]; len(got) != 8 || binary.LittleEndian.Uint64(got) != want {
			t.Errorf("%s: state region count = %x, want %d", r.Tick, got, want)
		}
		if r.Fuel == 0 {
			t.Errorf("%s: no fuel used", r.Tick)
		}
	}
	if d := h.At(3).Delivered; len(d) != 2 || d[0].From != "pinger" || d[0].Sent != 2 || string(d[1].Payload) != "ping 2" {
		t.Errorf("t3: delivered %+v; want pinger's two pings, sent at t2", d)
	}
}

// TestFaulty: faulty.c traps at the 7th step of every incarnation; the
// failure names the trap and carries the module's stack trace, and the
// restarted instance counts its steps from 0 again.
func TestFaulty(t *testing.T) {
	h := agenttest.Run(t, agenttest.Module{Path: module(t, "faulty.wasm")}, 14)
	failures := h.Failures()
	if len(failures) != 2 || failures[0].Tick != 6 || failures[1].Tick != 13 {
		t.Fatalf("failures at %v; want t6 and t13\n%s", failures, h)
	}
	if f := failures[0]; !strings.Contains(f.Failed, "unreachable") || !strings.Contains(f.Trace, "agent_step") {
		t.Errorf("t6 failed: %q, trace %q; want the trap and agent_step in the trace", f.Failed, f.Trace)
	}
}
