package host_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// Shape of TestWASMScale: scaleAgents counter agents (examples/wasm/
// counter.c), of which the first scaleMembers listen on "counts", where
// every counter publishes its count each tick.
const (
	scaleAgents  = 10000
	scaleMembers = 10
	scaleTicks   = 5
)

type scaleRun struct {
	digests [][32]byte
	counts  [][]byte // the members' state region "count" after the run
}

func runWASMScale(t *testing.T, workers int) scaleRun {
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
	for i := range scaleAgents {
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
		if len(res.Agents) != scaleAgents || len(res.Events) != 0 || res.DeadLetters != 0 {
			t.Fatalf("%d workers, %s: %d agents ran (want %d), %d dead letters, events %v",
				workers, res.Tick, len(res.Agents), scaleAgents, res.DeadLetters, res.Events)
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

// TestWASMScale runs 10 000 WebAssembly agents of one module for a few
// ticks, with 1 and 2 workers: every agent runs every tick, the members of
// "counts" hear from all the others, and the digests are the same.
func TestWASMScale(t *testing.T) {
	if testing.Short() {
		t.Skip("instantiates 10 000 WebAssembly agents twice (about 3 GB of linear memory each time)")
	}
	one := runWASMScale(t, 1)
	two := runWASMScale(t, 2)
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
		if got, want := binary.LittleEndian.Uint64(one.counts[i]), uint64((scaleTicks-1)*(scaleAgents-1)); got != want {
			t.Fatalf("member %d counted %d messages, want %d", i, got, want)
		}
	}
}
