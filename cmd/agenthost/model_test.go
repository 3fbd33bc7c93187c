package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
)

// flowers is the model of examples/classify, as the tests run from this
// directory.
const flowers = "../../examples/classify/flowers.onnx"

// TestModelInspectGolden: model inspect's text and JSON for the example's
// model.
func TestModelInspectGolden(t *testing.T) {
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"model-inspect.golden", []string{flowers}},
		{"model-inspect-json.golden", []string{"-o", "json", flowers}},
	} {
		out, err := agenthost(t, append([]string{"model", "inspect"}, c.args...)...)
		if err != nil {
			t.Fatalf("model inspect %s: %v\n%s", c.args, err, out)
		}
		golden(t, c.golden, out)
	}
}

// TestModelInspectPyTorchExport: a PyTorch export (fixed dimensions: no
// max_batch hint) under another id and version.
func TestModelInspectPyTorchExport(t *testing.T) {
	deepa := modeltest.HelloDeepa(t).Path
	out, err := agenthost(t, "model", "inspect", "--id", "wake", "--version", "2", deepa)
	if err != nil {
		t.Fatalf("model inspect %s: %v\n%s", deepa, err, out)
	}
	golden(t, "model-inspect-deepa.golden", strings.ReplaceAll(out, filepath.Dir(deepa), "$LOCKSTEP_MODELS_DIR"))
}

// TestModelInspectDeclares: the entry model inspect prints is a topology's
// models: section declaring the file, as examples/classify does, and its
// max_batch hint, uncommented, is a valid declaration too.
func TestModelInspectDeclares(t *testing.T) {
	out, err := agenthost(t, "model", "inspect", "-o", "json", flowers)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r modelReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	example, err := host.LoadTopology("../../examples/classify/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := example.Models[0]
	for i, snippet := range []string{r.Topology, strings.Replace(r.Topology, "# max_batch: 8", "max_batch: 8", 1)} {
		topo, err := host.ParseTopology("pasted.yaml", []byte("name: pasted\nagents: [{id: a, kind: counter}]\n"+snippet))
		if err != nil {
			t.Fatalf("the entry does not parse: %v\n%s", err, snippet)
		}
		got := topo.Models[0]
		if len(topo.Models) != 1 || got.ID != want.ID || got.Version != want.Version || got.SHA256 != want.SHA256 || got.Path != filepath.Base(want.Path) || got.MaxBatch != 8*i {
			t.Fatalf("the entry declares %+v, examples/classify %+v", got, want)
		}
	}
	if !r.Batchable || !strings.Contains(r.Topology, "# max_batch: 8") {
		t.Fatalf("flowers has a symbolic leading dimension: want a max_batch hint\n%s", r.Topology)
	}

	// A name that is not a model id gives one; --id must be one.
	odd := filepath.Join(t.TempDir(), "my model (v2).onnx")
	if err := os.WriteFile(odd, onnx.MLP(2, 3, 1, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = agenthost(t, "model", "inspect", odd)
	if err != nil || !strings.Contains(out, "  - id: my_model_v2\n") || !strings.Contains(out, `path: "my model (v2).onnx"`) {
		t.Fatalf("model inspect of %q: %v\n%s", odd, err, out)
	}
	_, err = agenthost(t, "model", "inspect", "--id", "a b", odd)
	if code(err) != exitUsage || !strings.Contains(err.Error(), "--id") {
		t.Fatalf("--id 'a b': exit %d %v, want 64 naming --id", code(err), err)
	}
}

// TestModelInspectRefuses: a file that is not an ONNX model, or a cut or
// damaged one, exits 2 with the file, the reason and the fix.
func TestModelInspectRefuses(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(flowers)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		says string
	}{
		{"cut.onnx", data[:len(data)/2], "runs past the end of the data around it: the file is cut short"},
		{"notes.onnx", []byte("these are not weights\n"), "not a well-formed ONNX model"},
		{"empty.onnx", nil, "it is empty"},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"text", "json"} {
			out, err := agenthost(t, "model", "inspect", "-o", format, path)
			if code(err) != exitCorrupt || out != "" || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), c.says) ||
				!strings.Contains(err.Error(), "give an .onnx file") {
				t.Errorf("%s -o %s: exit %d %v\n%s", c.name, format, code(err), err, out)
			}
		}
	}
	if _, err := agenthost(t, "model", "inspect", filepath.Join(dir, "absent.onnx")); code(err) != exitFailed || !strings.Contains(err.Error(), "absent.onnx") {
		t.Errorf("a missing file: exit %d %v", code(err), err)
	}
	// A device or a directory is refused before anything is read.
	for _, path := range []string{"/dev/zero", dir} {
		if _, err := agenthost(t, "model", "inspect", path); code(err) != exitFailed || !strings.Contains(err.Error(), "is not a regular file") {
			t.Errorf("%s: exit %d %v", path, code(err), err)
		}
	}
	if _, err := agenthost(t, "model"); code(err) != exitUsage || !strings.Contains(err.Error(), "model inspect FILE.onnx") {
		t.Errorf("model without a subcommand: exit %d %v", code(err), err)
	}
}

// classifyTopology is examples/classify's topology for 5 ticks, with its
// modules from mods and its model (declared with extra, e.g. "mode: fast")
// from the file model.
func classifyTopology(t *testing.T, dir, mods, model, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "classify.yaml")
	topo := fmt.Sprintf(`name: classify
seed: 7
ticks: 5
wasm: {allow_unsigned: true}
modules:
  - {name: classifier, path: %q, grants: [inference:flowers, messaging.publish, log, random]}
  - {name: tally, path: %q, grants: [channels, state.write, log]}
models:
  - {id: flowers, version: "1", path: %q, sha256: %s, eager: true%s}
agents:
  - {id: c1, kind: classifier}
  - {id: c2, kind: classifier}
  - {id: tally, kind: tally}
`, filepath.Join(mods, "classifier.wasm"), filepath.Join(mods, "tally.wasm"), model, modeltest.SHA256(mustRead(t, model)), extra)
	if err := os.WriteFile(path, []byte(topo), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyNamesModels records examples/classify's agents and model and
// verifies the log without the model file, with another file of its name,
// and with a recorded (fast mode, eager) model whose file is gone: a
// deterministic model is named before anything is replayed (exit 3, by
// verify and by the debugging verbs), a recorded one is never needed.
func TestVerifyNamesModels(t *testing.T) {
	lib := modeltest.Library(t)
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "models")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(modelDir, "flowers.onnx")
	if err := os.WriteFile(model, mustRead(t, flowers), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := modeltest.SHA256(mustRead(t, model))
	log := filepath.Join(dir, "det.replay")
	out, err := agenthost(t, "--ort-lib", lib, "run", "--topology", classifyTopology(t, dir, mods, model, ""), "--record", log, "--progress", "never", "--wasm-cache", "")
	if err != nil || !strings.Contains(out, "model flowers@1 on cpu: 10 requests") {
		t.Fatalf("run: %v\n%s", err, out)
	}
	verify := func(args ...string) (string, error) {
		return agenthost(t, append([]string{"--ort-lib", lib, "verify", "--allow-unsigned", "--module-dir", mods}, append(args, log)...)...)
	}
	out, err = verify("--module-dir", modelDir)
	if err != nil || !strings.Contains(out, "identical: 5 ticks") || strings.Contains(out, "warning") {
		t.Fatalf("verify with the model: %v\n%s", err, out)
	}

	out, err = verify()
	if code(err) != exitMissing || strings.Contains(out, "diverged") {
		t.Fatalf("verify without the model: exit %d %v\n%s", code(err), err, out)
	}
	for _, says := range []string{`model "flowers@1" (deterministic`, `"flowers.onnx" is not in ` + mods, "SHA-256 " + sum, "--module-dir", "--unchecked-models"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("verify without the model: %v\nwant it to say %q", err, says)
		}
	}
	other := filepath.Join(dir, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	changed := onnx.MLP(4, 16, 3, 1)
	if err := os.WriteFile(filepath.Join(other, "flowers.onnx"), changed, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = verify("--module-dir", other)
	if code(err) != exitMissing || !strings.Contains(err.Error(), "recorded with SHA-256 "+sum) || !strings.Contains(err.Error(), "has SHA-256 "+modeltest.SHA256(changed)) {
		t.Fatalf("verify with another flowers.onnx: exit %d %v", code(err), err)
	}
	out, err = verify("--unchecked-models", "--module-dir", other)
	if err != nil || !strings.Contains(out, "identical: 5 ticks") || !strings.Contains(out, `warning: model "flowers@1": the run was recorded with SHA-256 `+sum) {
		t.Fatalf("verify --unchecked-models: %v\n%s", err, out)
	}
	for _, verb := range [][]string{{"trace"}, {"state", "--tick", "2"}} {
		out, err = agenthost(t, append(append([]string{"--ort-lib", lib}, verb...), "--allow-unsigned", "--module-dir", mods, log)...)
		if code(err) != exitMissing || !strings.Contains(err.Error(), `model "flowers@1"`) || out != "" {
			t.Errorf("%s without the model: exit %d %v\n%s", verb[0], code(err), err, out)
		}
	}

	// Recorded answers (fast mode), the model eager: its file is neither
	// looked for nor loaded on replay.
	fast := filepath.Join(dir, "fast")
	if err := os.MkdirAll(fast, 0o755); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(fast, "fast.replay")
	out, err = agenthost(t, "--ort-lib", lib, "run", "--topology", classifyTopology(t, fast, mods, model, ", mode: fast"), "--record", log, "--progress", "never", "--wasm-cache", "")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if err := os.Remove(model); err != nil {
		t.Fatal(err)
	}
	out, err = verify()
	if err != nil || !strings.Contains(out, "identical: 5 ticks") || strings.Contains(out, "warning") {
		t.Fatalf("verify of recorded answers without the model: %v\n%s", err, out)
	}
}

// TestModelValues: JSON shapes hold sizes, names and null for unknown
// dimensions, and no shape at all when the model declares none.
func TestModelValues(t *testing.T) {
	got := modelValues([]onnx.Value{
		{Name: "x", Type: "tensor", Elem: "float32", Shape: []onnx.Dim{{Value: -1, Param: "n"}, {Value: 4}, {Value: -1}}, HasShape: true},
		{Name: "p", Type: "sequence", Elem: "map(int64,tensor(float32))"},
	})
	want := []modelValue{
		{Name: "x", Type: "tensor", Elem: "float32", Shape: []any{"n", int64(4), nil}, text: "float32[n,4,?]"},
		{Name: "p", Type: "sequence", Elem: "map(int64,tensor(float32))", text: "sequence(map(int64,tensor(float32)))"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("modelValues = %#v, want %#v", got, want)
	}
	if b, err := json.Marshal(got[0].Shape); err != nil || string(b) != `["n",4,null]` {
		t.Fatalf("x's shape in JSON: %s %v", b, err)
	}
}
