package wasmagent_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// initFaults is an initialised agent "a" of the faults test module on a
// runtime with cfg, and its context.
func initFaults(t *testing.T, cfg wasmagent.Config) (agent.Agent, *recordCtx) {
	t.Helper()
	a, err := loadTestMod(t, newRuntime(t, cfg), "faults").New("a", 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &recordCtx{id: "a"}
	if err := a.Init(c); err != nil {
		t.Fatal(err)
	}
	return a, c
}

// TestDepthAfterTrap: a call that traps deep in its recursion leaves the
// depth global where it was; the instance's next calls start from 0 again,
// on both engines: a second recursion fails at the same depth with the same
// fuel, and a call that returns returns.
func TestDepthAfterTrap(t *testing.T) {
	for _, engine := range []string{wasmagent.EngineCompiler, wasmagent.EngineInterpreter} {
		t.Run(engine, func(t *testing.T) {
			a, c := initFaults(t, wasmagent.Config{Engine: engine})
			// The first delivery also calls agent_alloc: not counted.
			if err := a.Receive(c, agent.Message{Payload: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			a.(agent.Metered).TakeFuel()
			fuel := make([]uint64, 2)
			for i := range fuel {
				err := a.Receive(c, agent.Message{Payload: []byte("s")})
				if err == nil || !strings.Contains(err.Error(), "nested calls deeper than") {
					t.Fatalf("recursion %d: %v, want the depth limit", i, err)
				}
				fuel[i] = a.(agent.Metered).TakeFuel()
			}
			if fuel[0] != fuel[1] {
				t.Errorf("fuel of the recursions: %d then %d, want the same", fuel[0], fuel[1])
			}
			if err := a.Receive(c, agent.Message{Payload: []byte("r")}); err == nil || !strings.Contains(err.Error(), "returned 3") {
				t.Errorf("a call after the trap: %v, want agent_receive returned 3", err)
			}
		})
	}
}

// TestStepAllocations: once an agent has its scratch block, a step (and
// taking its fuel) allocates nothing on the Go heap: with 100 000 agents
// an allocation per step is 100 000 per tick for the collector.
func TestStepAllocations(t *testing.T) {
	a, c := initFaults(t, wasmagent.Config{})
	step := func() {
		c.tick++
		if err := a.Step(c); err != nil {
			t.Fatal(err)
		}
		a.(agent.Metered).TakeFuel()
	}
	step() // the first step calls agent_alloc
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("a step allocates %v times, want 0", n)
	}
}

// TestMemoryFileInstances runs the same calls on Go agents whose data is
// mapped from their module's memory file and on agents whose data is
// copied, and compares what they did and their snapshots after every
// tick: the same, bit for bit.
func TestMemoryFileInstances(t *testing.T) {
	var mods [2]*wasmagent.Module
	var mapped *wasmagent.Runtime
	for i := range mods {
		rt := newRuntime(t, wasmagent.Config{})
		if i == 1 {
			wasmagent.NoMemoryFiles(rt)
		} else {
			mapped = rt
		}
		mods[i] = loadGuest(t, rt, "goagent")
	}
	var drivers [2]*driver
	for i, m := range mods {
		a, err := m.New("a", 7, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		drivers[i] = newDriver(a, 7)
		drivers[i].init(t)
	}
	if n := wasmagent.MemoryFilesMapped(mapped); n == 0 {
		t.Skip("no memory file was mapped (not Linux, or memfd refused): nothing to compare")
	}
	for tick := clock.Tick(1); tick <= 5; tick++ {
		got, want := drivers[0].tick(tick), drivers[1].tick(tick)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("tick %d: mapped %+v, copied %+v", tick, got, want)
		}
		if !bytes.Equal(snapshot(t, drivers[0].a), snapshot(t, drivers[1].a)) {
			t.Fatalf("tick %d: the snapshots differ", tick)
		}
	}
	for _, d := range drivers {
		if err := d.a.Shutdown(d.out); err != nil {
			t.Fatal(err)
		}
	}
	if n := wasmagent.MemoryFilesMapped(mapped); n != 0 {
		t.Errorf("%d memories still mapped after the agent shut down", n)
	}
}
