//go:build cgo

package classify_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/examples/classify"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
)

var update = flag.Bool("update", false, "rewrite flowers.onnx from classify.Model()")

// TestModelFile: the committed model is exactly what package onnx writes,
// and the topology declares its digest.
func TestModelFile(t *testing.T) {
	want := classify.Model()
	if *update {
		if err := os.WriteFile("flowers.onnx", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("flowers.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("flowers.onnx is not classify.Model(): run go test ./examples/classify -update")
	}
	topo, err := host.LoadTopology("topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sum := modeltest.SHA256(got); topo.Models[0].SHA256 != sum {
		t.Fatalf("topology.yaml declares sha256 %s, flowers.onnx has %s", topo.Models[0].SHA256, sum)
	}
}

// load reads the topology with its modules from freshly built guests.
func load(t *testing.T) *host.Topology {
	t.Helper()
	modeltest.Library(t)
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	topo, err := host.LoadTopology("topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range topo.Modules {
		topo.Modules[i].Path = filepath.Join(mods, filepath.Base(topo.Modules[i].Path))
	}
	topo.WASM.CacheDir = filepath.Join(os.TempDir(), "lockstep-test-wazero-cache")
	if testing.Short() {
		topo.Ticks = 40
	}
	return topo
}

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(&bytes.Buffer{})
	return l
}

// run runs the topology and returns every tick's digest and the tally.
func run(t *testing.T, topo *host.Topology, workers int, record *bytes.Buffer) ([][32]byte, [3]uint32) {
	t.Helper()
	opts := host.Options{Workers: workers, Logger: quiet()}
	if record != nil {
		opts.Record = record
	}
	h, err := topo.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var digests [][32]byte
	for _, r := range agenttest.Steps(t, h, topo.Ticks) {
		digests = append(digests, r.Digest)
	}
	var tally [3]uint32
	b, ok := h.ReadState("tally", "tally")
	if !ok || len(b) != 12 {
		t.Fatalf("tally's state region: %x %v", b, ok)
	}
	for i := range tally {
		tally[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	m := h.Models().Metrics()[0]
	if want := uint64(4 * topo.Ticks); m.Requests != want || m.Batched != want || m.Runs != uint64(topo.Ticks) || m.Errors != 0 {
		t.Errorf("model metrics %+v: want %d requests, all batched, one run per tick", m, want)
	}
	return digests, tally
}

// TestClassify runs the example: four classifiers' answers all reach the
// tally, and the digests are the same with 1, 2 and 8 workers and on
// replay.
func TestClassify(t *testing.T) {
	topo := load(t)
	var log bytes.Buffer
	want, tally := run(t, topo, 2, &log)
	// Requests of tick t are answered at t+1 and published then; the tally
	// hears them at t+2, and its state after the last tick covers ticks
	// 0..ticks-3 of requests: 4 classifiers x (ticks-2).
	if sum := tally[0] + tally[1] + tally[2]; sum != uint32(4*(topo.Ticks-2)) {
		t.Errorf("tally %v sums to %d, want %d", tally, sum, 4*(topo.Ticks-2))
	}
	for _, workers := range []int{1, 8} {
		got, _ := run(t, topo, workers, nil)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%d workers: digest differs at t%d", workers, i)
			}
		}
	}
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	res, err := host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Workers: 8, Logger: quiet(), AllowUnsigned: true, ModuleDirs: []string{mods, "."}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || res.Ticks != uint64(topo.Ticks) {
		t.Fatalf("replay: %+v, divergence %v", res, res.Divergence)
	}
}

// TestCapability: a classifier granted inference on another model only has
// its infer call denied (a failure at its first step); one granted no
// inference at all is refused at load, naming the import.
func TestCapability(t *testing.T) {
	topo := load(t)
	topo.Modules[0].Grants = []string{"inference:other", "messaging.publish", "log", "random"}
	topo.Ticks = 1
	h, err := topo.Start(host.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Step()
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range r.Events {
		if e.Kind == "failed" && strings.Contains(e.Detail, "agent_step returned -7") {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("want the 3 C classifiers denied at t0: %v", r.Events)
	}

	topo.Modules[0].Grants = []string{"messaging.publish", "log", "random"}
	_, err = topo.Start(host.Options{Logger: quiet()})
	if err == nil || !strings.Contains(err.Error(), "lockstep.infer") || !strings.Contains(err.Error(), "inference") {
		t.Fatalf("want a load error naming lockstep.infer and the inference capability, got %v", err)
	}
}
