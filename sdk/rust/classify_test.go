//go:build cgo

package rust_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/hosttest"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
)

// labels is a Go agent that keeps every label published on "labels".
type labels struct {
	mu  *sync.Mutex
	got *[]string
}

func (l labels) Init(ctx agent.Context) error { return ctx.Join("labels") }
func (l labels) Receive(ctx agent.Context, m agent.Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.got = append(*l.got, fmt.Sprintf("%s %s %x", ctx.Tick(), m.From, m.Payload))
	return nil
}
func (labels) Step(agent.Context) error     { return nil }
func (labels) Shutdown(agent.Context) error { return nil }

// classify runs the module at path as kind "classifier" (agents c1 and c2)
// with model "flowers" of examples/classify, and returns the digests and
// the labels heard.
func classify(t *testing.T, path string, record *bytes.Buffer) ([][32]byte, []string) {
	t.Helper()
	topo, err := host.LoadTopology(filepath.Join("..", "..", "examples", "classify", "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	topo.Ticks = 40
	topo.Modules = []host.Module{{Name: "classifier", Path: path, Grants: []string{"inference:flowers", "messaging.publish", "log", "random"}}}
	topo.Agents = []host.TopologyAgent{{ID: "c1", Kind: "classifier"}, {ID: "c2", Kind: "classifier"}, {ID: "labels", Kind: "labels"}}
	var mu sync.Mutex
	var got []string
	h, err := topo.Start(host.Options{Logger: logger(new(bytes.Buffer)), Record: hosttest.Record(record), Kinds: map[string]host.Factory{
		"labels": func(string, []byte) (agent.Agent, error) { return labels{&mu, &got}, nil },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var digests [][32]byte
	for _, r := range agenttest.Steps(t, h, topo.Ticks) {
		digests = append(digests, r.Digest)
	}
	return digests, got
}

// TestRustClassifier runs rustclassifier (tensor lists, infer, inference
// results) against the real model: every request is answered and
// published, the run replays identically, and where clang-14 can build
// classifier.c it publishes exactly what the C agent publishes.
func TestRustClassifier(t *testing.T) {
	modeltest.Library(t)
	dir := filepath.Dir(build(t))
	var rec bytes.Buffer
	digests, got := classify(t, filepath.Join(dir, "rustclassifier.wasm"), &rec)
	// Requests of tick u are answered and published at u+1 and heard at
	// u+2 (the listener joins at t0): 2 classifiers x (ticks-2) labels.
	if want := 2 * (len(digests) - 2); len(got) != want {
		t.Fatalf("heard %d labels, want %d: %v", len(got), want, got)
	}
	for _, l := range got {
		if l[len(l)-2:] != "00" && l[len(l)-2:] != "01" && l[len(l)-2:] != "02" {
			t.Fatalf("label %q is not a class 0-2", l)
		}
	}
	res, err := host.Verify(bytes.NewReader(rec.Bytes()), host.ReplayOptions{Kinds: map[string]host.Factory{
		"labels": func(string, []byte) (agent.Agent, error) {
			var mu sync.Mutex
			return labels{&mu, new([]string)}, nil
		},
	}, Workers: 4, Logger: logger(new(bytes.Buffer)), AllowUnsigned: true, ModuleDirs: []string{dir, filepath.Join("..", "..", "examples", "classify")}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || !res.Complete || res.Ticks != uint64(len(digests)) {
		t.Fatalf("replay: %+v, divergence %v", res, res.Divergence)
	}

	clang, err := exec.LookPath("clang-14")
	if err != nil {
		if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") != "" {
			t.Fatal("clang-14 is missing: cannot compare with classifier.c")
		}
		t.Skip("clang-14 is missing: not comparing with classifier.c")
	}
	cwasm := filepath.Join(t.TempDir(), "classifier.wasm")
	root := filepath.Join("..", "..")
	cmd := exec.Command(clang, "--target=wasm32", "-nostdlib", "-O2", "-Wl,--no-entry", "-I"+filepath.Join(root, "sdk", "c"),
		"-o", cwasm, filepath.Join(root, "examples", "wasm", "classifier.c"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building classifier.c: %v\n%s", err, out)
	}
	// The digests differ (each agent's fuel use enters them, and this is
	// other code); what the agents say must not.
	_, cgot := classify(t, cwasm, nil)
	if !slices.Equal(got, cgot) {
		t.Fatalf("labels differ:\n Rust %v\n C    %v", got, cgot)
	}
}
