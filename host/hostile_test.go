package host_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// The hostile-agent suite: one real module per attack class
// (testdata/hostile/*.c, built with clang-14 against sdk/c), each run
// beside four honest agents. For every class the host keeps running, only
// the hostile agent fails, with the limit named, the honest agents' reports
// are those of a run without it, and the run records and verifies.

var hostile struct {
	once sync.Once
	dir  string
	err  error
}

func hostileDir(t testing.TB) string {
	t.Helper()
	hostile.once.Do(func() { hostile.dir, hostile.err = guests.BuildDir("testdata/hostile") })
	if hostile.err != nil {
		t.Fatal(hostile.err)
	}
	return hostile.dir
}

// hostileClasses: the attack, and what the failure must say ("" when the
// agent is not to fail).
var hostileClasses = []struct{ module, want string }{
	{"bigsend", "quotas.bytes_per_tick"},
	{"biglog", "quotas.log_line_bytes"},
	{"manylogs", "quotas.actions_per_tick"},
	{"regions", "quotas.state_regions"},
	{"statebytes", "quotas.state_bytes"},
	{"channels", "quotas.channels"},
	{"fanout", "quotas.deliveries_per_tick"},
	{"burner", "fuel for this tick"},
	{"reads", "fuel for this tick"},
	{"initloop", "fuel of instantiation"},
	{"grow", "agent_step returned 7"},
	{"lastwords", "unreachable"},
	{"recurse", "call depth limit exceeded: agent_step nested calls deeper than 1000 levels"},
	{"deadletters", ""},
}

var honestIDs = []string{"h1a", "h1b", "h2a", "h2b"}

// hostileTopology writes a topology of the honest agents and the given
// hostile ones (each an agent of its module's name) into a new directory.
func hostileTopology(t *testing.T, ticks int, modules ...string) string {
	return engineTopology(t, "", ticks, modules...)
}

// engineTopology is hostileTopology on wazero's engine ("": its choice).
func engineTopology(t *testing.T, engine string, ticks int, modules ...string) string {
	t.Helper()
	dir := hostileDir(t)
	var b strings.Builder
	fmt.Fprintf(&b, "name: hostile\nseed: 7\nticks: %d\n", ticks)
	fmt.Fprintf(&b, "wasm: {allow_unsigned: true, engine: %q}\nquotas: {deliveries_per_tick: 2000}\n", engine)
	b.WriteString("groups:\n  - {name: hostile, on_failure: restart, max_restarts: 1000, window: 1000}\nmodules:\n")
	grants := "[messaging.send, messaging.publish, channels, state.write, state.read, log]"
	fmt.Fprintf(&b, "  - {name: honest, path: %s, grants: %s}\n", filepath.Join(dir, "honest.wasm"), grants)
	for _, m := range modules {
		fmt.Fprintf(&b, "  - {name: %s, path: %s, grants: %s}\n", m, filepath.Join(dir, m+".wasm"), grants)
	}
	b.WriteString("agents:\n")
	for _, id := range honestIDs {
		fmt.Fprintf(&b, "  - {id: %s, kind: honest, channels: [news]}\n", id)
	}
	for _, m := range modules {
		fmt.Fprintf(&b, "  - {id: %s, kind: %s, group: hostile}\n", m, m)
	}
	path := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hostileRun is what a run of a hostile topology showed.
type hostileRun struct {
	digests  [][32]byte
	honest   []map[string]uint64 // per tick: honest agent -> report digest
	failures map[string][]string // agent -> failure reasons
	events   []host.Event
	peakHeap uint64 // live heap after each tick, the largest
	log      []byte
}

func runHostile(t *testing.T, path string, measure bool) *hostileRun {
	t.Helper()
	topo, err := host.LoadTopology(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec bytes.Buffer
	h, err := topo.Start(host.Options{Kinds: testkinds.Kinds(), Workers: 2, Logger: quiet(), Record: &rec})
	if err != nil {
		t.Fatal(err)
	}
	run := &hostileRun{failures: map[string][]string{}}
	for range topo.Ticks {
		r, err := h.Step()
		if err != nil {
			t.Fatalf("%s: the host stopped: %v", h.Tick(), err)
		}
		digests := map[string]uint64{}
		for i, id := range r.Agents {
			if strings.HasPrefix(id, "h") && len(id) == 3 {
				digests[id] = r.AgentDigests[i]
			}
		}
		run.honest = append(run.honest, digests)
		run.digests = append(run.digests, r.Digest)
		for _, e := range r.Events {
			run.events = append(run.events, e)
			if e.Kind == "failed" {
				run.failures[e.Agent] = append(run.failures[e.Agent], e.Detail)
			}
		}
		if measure {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			run.peakHeap = max(run.peakHeap, ms.HeapAlloc)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	run.log = rec.Bytes()
	res, err := host.Verify(bytes.NewReader(run.log), host.ReplayOptions{
		Kinds: testkinds.Kinds(), Logger: quiet(), AllowUnsigned: true, ModuleDirs: []string{hostileDir(t)},
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !res.Identical() || !res.Complete || res.Ticks != uint64(topo.Ticks) {
		t.Fatalf("verify: %d ticks, complete %v, divergence %v, corrupt %v", res.Ticks, res.Complete, res.Divergence, res.Corrupt)
	}
	return run
}

func TestHostileAgents(t *testing.T) {
	const ticks = 7
	base := runHostile(t, hostileTopology(t, ticks), false)
	if len(base.failures) > 0 {
		t.Fatalf("honest agents failed: %v", base.failures)
	}
	for _, c := range hostileClasses {
		t.Run(c.module, func(t *testing.T) {
			run := runHostile(t, hostileTopology(t, ticks, c.module), false)
			for id, reasons := range run.failures {
				if id != c.module {
					t.Errorf("%s failed too: %q", id, reasons)
				}
			}
			reasons := run.failures[c.module]
			switch {
			case c.want == "" && len(reasons) > 0:
				t.Errorf("%s failed: %q", c.module, reasons)
			case c.want != "" && len(reasons) == 0:
				t.Errorf("%s never failed", c.module)
			}
			if len(reasons) > 0 {
				t.Logf("%d failures, the first: %s", len(reasons), reasons[0])
			}
			for _, r := range reasons {
				if !strings.Contains(r, c.want) {
					t.Errorf("%s failed with %q, want it to name %q", c.module, r, c.want)
				}
				if len(r) > engine.MaxEventDetail {
					t.Errorf("a failure's reason has %d bytes, over %d", len(r), engine.MaxEventDetail)
				}
			}
			for i := range base.honest {
				for _, id := range honestIDs {
					if run.honest[i][id] != base.honest[i][id] {
						t.Fatalf("t%d: honest agent %s reported %016x, %016x without %s", i, id, run.honest[i][id], base.honest[i][id], c.module)
					}
				}
			}
			for _, e := range run.events {
				if len(e.Detail) > engine.MaxEventDetail {
					t.Errorf("event %s of %s has %d bytes of detail", e.Kind, e.Agent, len(e.Detail))
				}
			}
		})
	}
}

// TestRecursionIsTheSameOnBothEngines: an agent recursing deep, and
// without end every fifth tick, gives the same digests on wazero's
// compiler and interpreter, whose own stack limits differ by three orders
// of magnitude and are worded differently: the rewrite's depth limit comes
// first on both.
func TestRecursionIsTheSameOnBothEngines(t *testing.T) {
	compiled := runHostile(t, engineTopology(t, "compiler", 10, "recurse"), false)
	interpreted := runHostile(t, engineTopology(t, "interpreter", 10, "recurse"), false)
	if len(compiled.failures["recurse"]) != 2 {
		t.Fatalf("recurse failed %d times in 10 ticks, want 2: %q", len(compiled.failures["recurse"]), compiled.failures["recurse"])
	}
	for i := range compiled.digests {
		if compiled.digests[i] != interpreted.digests[i] {
			t.Fatalf("t%d: the compiler's digest differs from the interpreter's; failures %q vs %q", i, compiled.failures, interpreted.failures)
		}
	}
}

// TestDeadLettersAreAggregated: a thousand sends to unknown agents in a
// tick are one event, with the count and a digest of the targets.
func TestDeadLettersAreAggregated(t *testing.T) {
	run := runHostile(t, hostileTopology(t, 3, "deadletters"), false)
	var dead []host.Event
	for _, e := range run.events {
		if e.Kind == "dead-letter" {
			dead = append(dead, e)
		}
	}
	if len(dead) != 3 {
		t.Fatalf("%d dead-letter events in 3 ticks, want one a tick: %+v", len(dead), dead)
	}
	for _, e := range dead {
		if e.Agent != "deadletters" || !strings.HasPrefix(e.Detail, "1000 messages to unknown or stopped agents, the first to ghost0 (targets digest ") {
			t.Errorf("dead-letter event %+v", e)
		}
	}
}

// TestHostileTopologyMemoryBound runs every attack at once and checks the
// live heap stays under the bound RATIONALE.md states ("What bounds the
// host's memory?"), computed from the run's limits.
func TestHostileTopologyMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every attack at once")
	}
	var modules []string
	for _, c := range hostileClasses {
		modules = append(modules, c.module)
	}
	run := runHostile(t, hostileTopology(t, 8, modules...), true)
	for _, c := range hostileClasses {
		if c.want != "" && len(run.failures[c.module]) == 0 {
			t.Errorf("%s never failed", c.module)
		}
	}
	agents := uint64(len(modules) + len(honestIDs))
	bound := hostMemoryBaseline + agents*perAgentBound(host.Quotas{DeliveriesPerTick: 2000}.WithDefaults(), 256)
	t.Logf("peak live heap %.1f MiB, bound %.1f MiB for %d agents", float64(run.peakHeap)/(1<<20), float64(bound)/(1<<20), agents)
	if run.peakHeap > bound {
		t.Fatalf("peak live heap %d bytes is over the bound %d", run.peakHeap, bound)
	}
}

// hostMemoryBaseline is what a host holds whatever its agents do: wazero's
// runtime and compiled modules, protoactor, the test binary's own heap.
const hostMemoryBaseline = 64 << 20

// perAgentBound is RATIONALE.md's figure for one WebAssembly agent: its
// linear memory, its call stack, its instance, two ticks of queues (the
// outbox of one tick and its deliveries at the next) and two copies of its
// state (frozen, and written this tick).
func perAgentBound(q host.Quotas, pages uint64) uint64 {
	const (
		actionSize  = 96      // engine.Action, with its slice and string headers
		messageSize = 80      // agent.Message
		instance    = 1 << 20 // a wazero instance and its call engine, well over the 244 KiB measured
	)
	queues := uint64(q.BytesPerTick) + uint64(q.ActionsPerTick)*actionSize + uint64(q.DeliveriesPerTick)*messageSize
	return pages*65536 + wasmagent.StackBound + instance + 2*queues + 2*uint64(q.StateBytes)
}
