package host_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// Shape of TestWASMScale: -wasm-scale-agents counter agents
// (examples/wasm/counter.c), of which the first scaleMembers listen on
// "counts", where every counter publishes its count each tick.
const (
	scaleMembers = 10
	scaleTicks   = 5
)

// scaleAgents is TestWASMScale's size: 10 000 by default, 1 000 with
// -short; make scale runs it with 100 000.
var scaleAgents = flag.Int("wasm-scale-agents", 0, "agents of TestWASMScale (0: 10 000, or 1 000 with -short)")

type scaleRun struct {
	digests [][32]byte
	counts  [][]byte // the members' state region "count" after the run
}

func runWASMScale(t *testing.T, agents, workers int) scaleRun {
	t.Helper()
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(host.Options{
		Seed: 7, Workers: workers, Logger: quiet(),
		Modules: []host.Module{{Name: "counter", Path: filepath.Join(mods, "counter.wasm"), Grants: []string{"messaging.publish", "state.write"}}},
		WASM:    host.WASMConfig{AllowUnsigned: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	id := func(i int) string { return fmt.Sprintf("c%05d", i) }
	for i := range agents {
		if err := h.Spawn(host.AgentSpec{ID: id(i), Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range scaleMembers {
		if err := h.Join(id(i), "counts"); err != nil {
			t.Fatal(err)
		}
	}
	var run scaleRun
	for range scaleTicks {
		res, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Agents) != agents || len(res.Events) != 0 || res.DeadLetters != 0 {
			t.Fatalf("%d workers, %s: %d agents ran (want %d), %d dead letters, events %v",
				workers, res.Tick, len(res.Agents), agents, res.DeadLetters, res.Events)
		}
		for i, f := range res.AgentFuel {
			if f == 0 {
				t.Fatalf("%d workers, %s: agent %s used no fuel", workers, res.Tick, res.Agents[i])
			}
		}
		run.digests = append(run.digests, res.Digest)
	}
	for i := range scaleMembers {
		c, ok := h.ReadState(id(i), "count")
		if !ok || len(c) != 8 {
			t.Fatalf("%d workers: %s has no count (%x)", workers, id(i), c)
		}
		run.counts = append(run.counts, c)
	}
	return run
}

// TestWASMScale runs many WebAssembly agents of one module (10 000; 1 000
// with -short; make scale: 100 000) for a few ticks, with 1 and 2
// workers: every agent runs every tick, the members of "counts" hear from
// all the others, and the digests are the same. Not timed: the benchmarks
// time ticks (lockstep-bench has a 100 000-agent row).
func TestWASMScale(t *testing.T) {
	agents := *scaleAgents
	switch {
	case agents == 0 && testing.Short():
		agents = 1000
	case agents == 0:
		agents = 10000
	case agents <= scaleMembers:
		t.Fatalf("-wasm-scale-agents %d: give more than the %d members of \"counts\"", agents, scaleMembers)
	}
	one := runWASMScale(t, agents, 1)
	two := runWASMScale(t, agents, 2)
	for i := range one.digests {
		if one.digests[i] != two.digests[i] {
			t.Fatalf("digest of tick %d differs: 1 worker %x, 2 workers %x", i, one.digests[i], two.digests[i])
		}
	}
	for i := range one.counts {
		if !bytes.Equal(one.counts[i], two.counts[i]) {
			t.Fatalf("member %d: count %x with 1 worker, %x with 2", i, one.counts[i], two.counts[i])
		}
		// The joins take effect at tick 0, so a member hears every other
		// counter's publish of ticks 0 to ticks-2, delivered at ticks 1 to
		// ticks-1 and counted before its last step.
		if got, want := binary.LittleEndian.Uint64(one.counts[i]), uint64((scaleTicks-1)*(agents-1)); got != want {
			t.Fatalf("member %d counted %d messages, want %d", i, got, want)
		}
	}
}

// TestWASMImagesAgree runs the WebAssembly demo (C, C++, Go, Rust and
// AssemblyScript agents, with traps and restarts) with agents started from
// their modules' pre-initialised images and with every agent initialised
// afresh (wasm.no_images): every tick's digest is the same. It runs the
// demo's Go agent as built (no image) and built with shared initialisation
// (goagent-shared.wasm: from its image).
func TestWASMImagesAgree(t *testing.T) {
	for _, summer := range []string{"goagent.wasm", "goagent-shared.wasm"} {
		t.Run(summer, func(t *testing.T) { imagesAgree(t, summer) })
	}
}

// imagesAgree is TestWASMImagesAgree with the demo's module summer (its Go
// agents) at path summer in the guests' directory.
func imagesAgree(t *testing.T, summer string) {
	run := func(noImages bool) [][32]byte {
		topo := demoTopology(t)
		for i := range topo.Modules {
			if m := &topo.Modules[i]; m.Name == "summer" {
				m.Path = filepath.Join(filepath.Dir(m.Path), summer)
			}
		}
		topo.WASM.NoImages = noImages
		if testing.Short() {
			topo.Ticks = 60 // past faulty's first traps and restarts
		}
		h, err := topo.Start(host.Options{Workers: 2, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		var digests [][32]byte
		for range topo.Ticks {
			r, err := h.Step()
			if err != nil {
				t.Fatal(err)
			}
			digests = append(digests, r.Digest)
		}
		return digests
	}
	images, afresh := run(false), run(true)
	for i := range images {
		if images[i] != afresh[i] {
			t.Fatalf("digest of t%d differs: from images %x, afresh %x", i, images[i][:8], afresh[i][:8])
		}
	}
}
