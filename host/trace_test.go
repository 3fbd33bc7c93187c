package host_test

import (
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// TestTracingChangesNothing: the demo's digests with a tracer attached are
// those without one, and the tracer sees every agent of every tick, with
// the faulty agent's failures.
func TestTracingChangesNothing(t *testing.T) {
	const ticks = 20
	topo := demoTopology(t)
	digests := func(trace bool) ([][32]byte, int, int) {
		h, err := topo.Start(host.Options{Kinds: testkinds.Kinds(), Logger: quiet(), Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		seen, failed := 0, 0
		if trace {
			h.Trace(func(tr *host.TickTrace) {
				for _, a := range tr.Agents {
					seen++
					if a.Failed != "" {
						failed++
					}
				}
			})
		}
		var out [][32]byte
		for range ticks {
			r, err := h.Step()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r.Digest)
		}
		return out, seen, failed
	}
	plain, _, _ := digests(false)
	traced, seen, failed := digests(true)
	for i := range plain {
		if plain[i] != traced[i] {
			t.Fatalf("t%d: digest %x with a tracer, %x without", i, traced[i][:6], plain[i][:6])
		}
	}
	if seen != 9*ticks || failed != 2 {
		t.Errorf("the tracer saw %d agent ticks and %d failures, want %d and 2 (faulty at t6 and t13)", seen, failed, 9*ticks)
	}
}
