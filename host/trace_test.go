package host_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/guests"
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

// TestDivergenceActionByAction: a log recorded with its actions, from
// which an input was removed, diverges where the input was delivered, and
// verify says which action differs.
func TestDivergenceActionByAction(t *testing.T) {
	topo := demoTopology(t)
	topo.Ticks = 14
	var buf bytes.Buffer
	h, err := topo.Start(host.Options{Kinds: testkinds.Kinds(), Logger: quiet(), Record: &buf, RecordActions: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 14 {
		if _, err := h.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// The same log without the input to counter at t10.
	rd, err := replaylog.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !rd.Header().Actions {
		t.Fatal("the header does not say the log holds actions")
	}
	var tampered bytes.Buffer
	w, err := replaylog.NewWriter(&tampered, rd.Header())
	if err != nil {
		t.Fatal(err)
	}
	actions := 0
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if in := rec.GetCommand().GetInput(); in != nil && in.To == "counter" && rec.GetCommand().Tick == 10 {
			continue
		}
		if rec.GetActions() != nil {
			actions++
		}
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if actions == 0 {
		t.Fatal("no actions recorded")
	}
	mods, _ := guests.Dir()
	res, err := host.Verify(&tampered, host.ReplayOptions{Kinds: testkinds.Kinds(), Logger: quiet(), AllowUnsigned: true, ModuleDirs: []string{mods}})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Divergence
	want := `its action 1 differs: log publish counts "\x01\x00\x00\x00\x00\x00\x00\x00", replay publish counts "\x00\x00\x00\x00\x00\x00\x00\x00"`
	if d == nil || d.Tick != 10 || d.Agent != "counter" || !strings.Contains(d.What, want) {
		t.Fatalf("divergence %v, want counter's at t10 with %s", d, want)
	}
}
