package host_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// demoTopology is the default WebAssembly topology (guests.Demo).
func demoTopology(t *testing.T) *host.Topology {
	t.Helper()
	topo, _ := guests.Demo(t)
	return topo
}

// TestCheckpointRoundTrip runs the demo uninterrupted, then again with a
// checkpoint at tick k written to bytes and restored in a fresh host that
// runs on: every tick after k has the uninterrupted run's digest. The
// checkpoints fall before and after faulty's restarts (it traps every 7th
// step) and the scheduled inputs (ticks 10 and 20).
func TestCheckpointRoundTrip(t *testing.T) {
	const ticks = 40
	topo := demoTopology(t)
	opts := host.Options{Kinds: testkinds.Kinds(), Logger: quiet()}
	h, err := topo.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	var want [][32]byte
	for range ticks {
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Digest)
	}
	h.Close()
	for _, k := range []int{1, 7, 8, 15, 21, 33} {
		h, err := topo.Start(opts)
		if err != nil {
			t.Fatal(err)
		}
		for range k {
			if _, err := h.Step(); err != nil {
				t.Fatal(err)
			}
		}
		cp, err := h.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		// Taking a checkpoint changes nothing in the run.
		for i := k; i < min(k+8, ticks); i++ {
			res, err := h.Step()
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != want[i] {
				t.Fatalf("after a checkpoint at t%d, t%d has digest %x, uninterrupted %x", k, i, res.Digest[:6], want[i][:6])
			}
		}
		h.Close()
		var buf bytes.Buffer
		if err := host.WriteCheckpoint(&buf, cp); err != nil {
			t.Fatal(err)
		}
		back, err := host.ReadCheckpoint(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		r, err := topo.Resume(opts, back)
		if err != nil {
			t.Fatal(err)
		}
		topo.Schedule(r, r.Tick(), 0)
		for i := k; i < ticks; i++ {
			res, err := r.Step()
			if err != nil {
				t.Fatalf("checkpoint at t%d: %v", k, err)
			}
			if res.Digest != want[i] {
				t.Fatalf("checkpoint at t%d: t%d digest %x, uninterrupted %x; agents %v", k, i, res.Digest[:6], want[i][:6], res.Agents)
			}
		}
		r.Close()
	}
}

// TestCheckpointDamage: a checkpoint with any byte changed or cut short
// is refused, naming the damage, before anything is decoded.
func TestCheckpointDamage(t *testing.T) {
	topo := demoTopology(t)
	h, err := topo.Start(host.Options{Kinds: testkinds.Kinds(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for range 3 {
		if _, err := h.Step(); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := h.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := host.WriteCheckpoint(&buf, cp); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, i := range []int{0, 9, 20, len(good) / 2, len(good) - 1} {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		if _, err := host.ReadCheckpoint(bytes.NewReader(b)); !errors.Is(err, host.ErrBadCheckpoint) {
			t.Errorf("byte %d flipped: %v, want ErrBadCheckpoint", i, err)
		}
	}
	for _, n := range []int{0, 5, 16, len(good) - 1} {
		if _, err := host.ReadCheckpoint(bytes.NewReader(good[:n])); !errors.Is(err, host.ErrBadCheckpoint) {
			t.Errorf("cut to %d bytes: %v, want ErrBadCheckpoint", n, err)
		}
	}
}
