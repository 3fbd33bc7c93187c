//go:build cgo

package host_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/hosttest"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
)

// asker is a Go agent that asks its model (config: "model@version") about a
// random vector every tick and writes each answer, status and all, to its
// state region "last": so answers shape the digest.
type asker struct{ model, version string }

func (a asker) Init(agent.Context) error { return nil }
func (a asker) Receive(ctx agent.Context, m agent.Message) error {
	if m.From != agent.ModelSender {
		return fmt.Errorf("unexpected message from %q", m.From)
	}
	r, err := tensor.DecodeResult(m.Payload)
	if err != nil {
		return err
	}
	if r.Request != 0 || m.Sent != ctx.Tick()-1 {
		return fmt.Errorf("result %d of %s at %s", r.Request, m.Sent, ctx.Tick())
	}
	return ctx.WriteState("last", m.Payload)
}
func (a asker) Step(ctx agent.Context) error {
	x := make([]float32, 4)
	for i := range x {
		x[i] = float32(ctx.Rand().IntN(2000)-1000) / 500
	}
	_, err := ctx.Infer(a.model, a.version, tensor.EncodeList(tensor.FromFloat32([]int64{1, 4}, x)))
	return err
}
func (asker) Shutdown(agent.Context) error { return nil }

func askerKinds() map[string]host.Factory {
	return map[string]host.Factory{"asker": func(_ string, cfg []byte) (agent.Agent, error) {
		model, version, _ := strings.Cut(string(cfg), "@")
		return asker{model, version}, nil
	}}
}

// askRun runs n askers of model for ticks, recording into log.
func askRun(t *testing.T, models []host.Model, spec string, workers, ticks int, log *bytes.Buffer) (*host.Host, []host.TickResult) {
	t.Helper()
	h, err := host.New(host.Options{Seed: 3, Kinds: askerKinds(), Workers: workers, Logger: quiet(), Record: hosttest.Record(log),
		Models: models, Inference: host.InferenceConfig{Library: modeltest.Library(t)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "asker", Config: []byte(spec)}); err != nil {
			t.Fatal(err)
		}
	}
	return h, agenttest.Steps(t, h, ticks)
}

func mlpModel(t *testing.T, mode string) host.Model {
	m := modeltest.Write(t, t.TempDir(), "mlp", onnx.MLP(4, 8, 3, 9))
	m.Mode = mode
	m.MaxBatch = 8 // batching is opt-in; the tests rely on it
	return m
}

// TestInferenceDeterminism: Go agents inferring every tick give the same
// digests with 1, 2 and 8 workers and on replay, the answers enter the
// digest, and every answer is recorded, identical ones once, so the log
// can replay without the model.
func TestInferenceDeterminism(t *testing.T) {
	model := mlpModel(t, "")
	var log bytes.Buffer
	h, want := askRun(t, []host.Model{model}, "mlp@1", 2, 30, &log)
	if want[5].Inferences != 5 {
		t.Errorf("t5 made %d inferences, want 5", want[5].Inferences)
	}
	last, _ := h.ReadState("a0", "last")
	if r, err := tensor.DecodeResult(last); err != nil || r.Err() != nil || len(r.Outputs) != 1 || r.Flags&tensor.Batched == 0 {
		t.Errorf("a0's last answer: %+v %v", r, err)
	}
	h.Close()
	for _, workers := range []int{1, 8} {
		g, got := askRun(t, []host.Model{model}, "mlp@1", workers, 30, nil)
		g.Close()
		for i := range want {
			if got[i].Digest != want[i].Digest {
				t.Fatalf("%d workers: digest differs at t%d", workers, i)
			}
		}
	}
	if n, _ := countInferenceRecords(t, log.Bytes()); n != 150 {
		t.Errorf("%d inference outputs recorded, want all 150", n)
	}
	res, err := host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: []string{filepath.Dir(model.Path)}})
	if err != nil || !res.Identical() || res.Ticks != 30 || len(res.Warnings) != 0 {
		t.Fatalf("replay: %+v %v", res, err)
	}

	// Another model (other weights) changes the answers, and so the digest
	// of the tick whose requests they answer: inference is in the digest.
	other := modeltest.Write(t, t.TempDir(), "mlp", onnx.MLP(4, 8, 3, 10))
	g, got := askRun(t, []host.Model{other}, "mlp@1", 2, 1, nil)
	g.Close()
	if got[0].AgentDigests[0] != want[0].AgentDigests[0] || got[0].Digest == want[0].Digest {
		t.Errorf("other weights: t0's agents should act the same and its digest differ")
	}

	// A replay whose model computes other bits than the recording (as
	// another CPU's kernels can: here the header is made to name other
	// weights) still verifies from the recorded answers, and says so.
	swapped := craft(t, log.Bytes(), false, func(cfg map[string]any) {
		m := cfg["models"].([]any)[0].(map[string]any)
		m["path"], m["sha256"] = other.Path, other.SHA256
	})
	res, err = host.Verify(bytes.NewReader(swapped), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: []string{filepath.Dir(other.Path)},
		Inference: host.InferenceConfig{Library: modeltest.Library(t)}})
	if err != nil || !res.Identical() || res.Ticks != 30 || len(res.Warnings) != 1 ||
		!strings.Contains(res.Warnings[0], "model mlp@1 gives other bits on this machine (amd64") || !strings.Contains(res.Warnings[0], "for 150 answers, the first a0's request 0 at t0") {
		t.Fatalf("replay with other weights: %+v %v", res, err)
	}

	// Without the model file the log replays from its recorded answers
	// only when asked to (UncheckedModels; TestReplayNeedsDeterministicModels
	// has the refusal), with a warning that they were not checked.
	if err := os.Remove(model.Path); err != nil {
		t.Fatal(err)
	}
	res, err = host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: []string{filepath.Dir(model.Path)}, UncheckedModels: true})
	if err != nil || !res.Identical() || res.Ticks != 30 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `model "mlp@1": "mlp.onnx" is not in`) {
		t.Fatalf("replay without the model file: %+v %v", res, err)
	}
}

// countInferenceRecords counts a log's inference outputs, and those
// recorded in full (not as a reference to an identical one).
func countInferenceRecords(t *testing.T, log []byte) (n, full int) {
	t.Helper()
	rd, err := replaylog.NewReader(bytes.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := rd.Next()
		if err != nil {
			return n, full
		}
		if o := rec.GetInference(); o != nil {
			n++
			if o.SameAs == 0 {
				full++
			}
		}
	}
}

// TestRecordedInference: a model in fast mode or on CUDA (here falling back
// to the CPU, which the log's end record notes) has its outputs recorded,
// and replay feeds them back without running (or even loading) the model.
func TestRecordedInference(t *testing.T) {
	for _, c := range []struct{ mode, device, endSays string }{
		{mode: modelactor.ModeFast},
		{device: modelactor.DeviceCUDA, endSays: "model mlp@1 ran on cpu: modelactor: device unavailable: cuda"},
	} {
		model := mlpModel(t, c.mode)
		model.Device = c.device
		var log bytes.Buffer
		h, want := askRun(t, []host.Model{model}, "mlp@1", 2, 20, &log)
		h.Close()
		if n, _ := countInferenceRecords(t, log.Bytes()); n != 5*20 {
			t.Fatalf("%+v: %d inference outputs recorded, want %d", c, n, 5*20)
		}
		if end := endReason(t, log.Bytes()); !strings.Contains(end, c.endSays) {
			t.Errorf("%+v: the end record says %q, want %q", c, end, c.endSays)
		}
		if err := os.Remove(model.Path); err != nil {
			t.Fatal(err)
		}
		res, err := host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: []string{filepath.Dir(model.Path)}})
		if err != nil || !res.Identical() || res.Ticks != 20 || res.Digest != want[19].Digest {
			t.Fatalf("%+v: replay from recorded outputs, model file gone: %+v %v", c, res, err)
		}
	}
}

func endReason(t *testing.T, log []byte) string {
	t.Helper()
	rd, err := replaylog.NewReader(bytes.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := rd.Next()
		if err != nil {
			t.Fatal("no end record")
		}
		if e := rec.GetEnd(); e != nil {
			return e.Reason
		}
	}
}

// TestInferenceErrors: an unknown model, an unknown version and a run with
// no models at all answer the agent with an error result; the run goes on.
func TestInferenceErrors(t *testing.T) {
	model := mlpModel(t, "")
	for _, c := range []struct {
		models []host.Model
		spec   string
		status tensor.Status
		says   string
	}{
		{[]host.Model{model}, "nope@1", tensor.UnknownModel, `unknown model "nope"`},
		{[]host.Model{model}, "mlp@7", tensor.UnknownVersion, `no version "7"`},
		{nil, "mlp@1", tensor.UnknownModel, "this run declares no models"},
	} {
		h, _ := askRun(t, c.models, c.spec, 1, 3, nil)
		last, _ := h.ReadState("a4", "last")
		h.Close()
		r, err := tensor.DecodeResult(last)
		if err != nil || r.Status != c.status || !strings.Contains(r.Error, c.says) {
			t.Errorf("%s: %+v %v; want %v saying %q", c.spec, r, err, c.status, c.says)
		}
	}
}

// TestModelDeclarationErrors: a bad model in Options or a topology is
// refused with its name (and, in a topology, its line).
func TestModelDeclarationErrors(t *testing.T) {
	_, err := host.New(host.Options{Models: []host.Model{{ID: "m", Version: "1", Path: "m.onnx", SHA256: "xyz"}}})
	if err == nil || !strings.Contains(err.Error(), "model m@1: sha256") {
		t.Errorf("Options: %v", err)
	}
	doc := "agents:\n  - {id: a, kind: asker}\nmodels:\n  - {id: m, version: \"1\", path: m.onnx, sha256: xyz}\n"
	_, err = host.ParseTopology("t.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:4:49: models[0]") {
		t.Errorf("topology: %v", err)
	}
	doc = "agents:\n  - {id: a, kind: asker}\nmodels:\n  - {id: m, version: \"1\", path: m.onnx, sha256: " + strings.Repeat("a", 64) + ", gpu: true}\n"
	if _, err = host.ParseTopology("t.yaml", []byte(doc)); err == nil || !strings.Contains(err.Error(), "gpu") {
		t.Errorf("unknown field: %v", err)
	}
}

// TestRecordedFailures: an answer that depends on the machine (here a model
// file that does not match its sha256: load failed) is recorded, and a
// replay on a machine where the file is right gets the same answers.
func TestRecordedFailures(t *testing.T) {
	model := mlpModel(t, "")
	good, err := os.ReadFile(model.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model.Path, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	h, want := askRun(t, []host.Model{model}, "mlp@1", 1, 5, &log)
	last, _ := h.ReadState("a0", "last")
	h.Close()
	if r, err := tensor.DecodeResult(last); err != nil || r.Status != tensor.LoadFailed {
		t.Fatalf("a0's answer: %+v %v", r, err)
	}
	// Identical answers are recorded once in a tick and the next: the five
	// of a tick are one output and four references.
	if n, full := countInferenceRecords(t, log.Bytes()); n != 5*5 || full >= 5 {
		t.Fatalf("%d answers recorded, %d in full; want %d, fewer than one a tick", n, full, 5*5)
	}
	if err := os.WriteFile(model.Path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: []string{filepath.Dir(model.Path)}})
	if err != nil || !res.Identical() || res.Digest != want[4].Digest {
		t.Fatalf("replay with the file repaired: %+v %v", res, err)
	}

	// A crafted reference to an output the log does not hold (or no
	// longer in the window of the last two ticks) is a divergence named
	// at its tick, not a crash or a silently different answer.
	for _, bogus := range []uint64{1 << 40, 1} {
		crafted := rewriteLog(t, log.Bytes(), nil, func(r *replaylog.Record) {
			if o := r.GetInference(); o != nil && o.Tick == 3 && o.SameAs != 0 {
				o.SameAs = bogus
			}
		})
		res, err = host.Verify(bytes.NewReader(crafted), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: []string{filepath.Dir(model.Path)}})
		if err != nil || res.Divergence == nil || res.Divergence.Tick != 3 || !strings.Contains(res.Divergence.What, fmt.Sprintf("refers to output record %d", bogus)) {
			t.Fatalf("same_as %d: %+v %v", bogus, res, err)
		}
	}
}

// TestDigestsArePathFree: failures that the machine causes (no ONNX
// Runtime, a missing model file) enter the digest with texts that name no
// path: one run from two directories under two HOMEs gives the same
// digests.
func TestDigestsArePathFree(t *testing.T) {
	run := func(home string) []host.TickResult {
		t.Setenv("HOME", home)
		mlp := modeltest.Write(t, home, "mlp", onnx.MLP(4, 8, 3, 9))
		gone := mlp
		gone.ID, gone.Path = "gone", filepath.Join(home, "gone.onnx")
		h, err := host.New(host.Options{Seed: 3, Kinds: askerKinds(), Logger: quiet(), Models: []host.Model{mlp, gone},
			Inference: host.InferenceConfig{Library: filepath.Join(home, "no", "libonnxruntime.so.1")}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		for i, spec := range []string{"mlp@1", "gone@1"} {
			if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "asker", Config: []byte(spec)}); err != nil {
				t.Fatal(err)
			}
		}
		return agenttest.Steps(t, h, 3)
	}
	other := filepath.Join(t.TempDir(), "elsewhere", "deeper")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := run(t.TempDir()), run(other)
	for i := range a {
		if a[i].Digest != b[i].Digest {
			t.Fatalf("t%d: the digest depends on the directory", i)
		}
	}
}
