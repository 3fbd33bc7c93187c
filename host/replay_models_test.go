//go:build cgo

package host_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
)

// These tests replay real logs of Go agents asking a real MLP through ONNX
// Runtime, and take the model file away or change it. See RATIONALE.md:
// "Why does verify need a deterministic model's file, and never a
// recorded one's?".

// walkModels replays log with the model files under dirs and returns
// the result, the replay host's model metrics after its last tick, and
// the error.
func walkModels(t *testing.T, log []byte, unchecked bool, dirs ...string) (*host.VerifyResult, []modelactor.Metrics, error) {
	t.Helper()
	var metrics []modelactor.Metrics
	res, err := host.Walk(bytes.NewReader(log), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: dirs, UncheckedModels: unchecked,
		Inference: host.InferenceConfig{Library: modeltest.Library(t)}},
		func(rp *host.Replayer, rec *replaylog.Record) bool {
			if rec.GetTick() != nil {
				metrics = rp.Host().Models().Metrics()
			}
			return true
		})
	return res, metrics, err
}

// TestReplayNeedsDeterministicModels: a deterministic model's recorded
// answers are checked by computing them, so a replay without its file, or
// with another file of its name, is refused before anything is replayed,
// with an error naming the model, the file looked for, where, both
// SHA-256s and the fixes; UncheckedModels replays the recorded answers
// with a warning instead.
func TestReplayNeedsDeterministicModels(t *testing.T) {
	model := mlpModel(t, "")
	model.Eager = true
	var log bytes.Buffer
	h, want := askRun(t, []host.Model{model}, "mlp@1", 2, 10, &log)
	h.Close()
	dir := filepath.Dir(model.Path)

	res, metrics, err := walkModels(t, log.Bytes(), false, dir)
	if err != nil || !res.Identical() || res.Digest != want[9].Digest || len(res.Warnings) != 0 {
		t.Fatalf("replay with the model: %+v %v", res, err)
	}
	if len(metrics) != 1 || metrics[0].Loads != 1 || metrics[0].Requests != 50 {
		t.Fatalf("the replay should load the deterministic model once to check its 50 answers: %+v", metrics)
	}

	// Another model under the same name: both sums are named.
	changedDir := t.TempDir()
	other := modeltest.Write(t, changedDir, "mlp", onnx.MLP(4, 8, 3, 10))
	visited := false
	_, err = host.Walk(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: []string{changedDir}},
		func(*host.Replayer, *replaylog.Record) bool { visited = true; return true })
	if !errors.Is(err, host.ErrReplayInput) || visited {
		t.Fatalf("a changed model: %v (visited: %v), want host.ErrReplayInput before anything is replayed", err, visited)
	}
	wantErr(t, "a changed model", err, `model "mlp@1" (deterministic`, "recorded with SHA-256 "+model.SHA256, `"`+other.Path+`" has SHA-256 `+other.SHA256,
		"restore the file the run used", "--module-dir", "--unchecked-models")

	// No file of that name: where it was looked for, and the sum wanted.
	if err := os.Remove(model.Path); err != nil {
		t.Fatal(err)
	}
	_, _, err = walkModels(t, log.Bytes(), false, dir)
	if !errors.Is(err, host.ErrReplayInput) {
		t.Fatalf("a missing model: %v, want host.ErrReplayInput", err)
	}
	wantErr(t, "a missing model", err, `model "mlp@1"`, `"mlp.onnx" is not in `+dir, "the run's file has SHA-256 "+model.SHA256, "--module-dir", "--unchecked-models")
	_, err = host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet()})
	wantErr(t, "no module directory", err, `model "mlp@1"`, `"mlp.onnx" (SHA-256 `+model.SHA256+"): no module directory to look in")

	// Without ONNX Runtime nothing can be checked: the file is not looked
	// for, and a warning says why the answers were not checked.
	res, err = host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: askerKinds(), Logger: quiet(), ModuleDirs: []string{dir},
		Inference: host.InferenceConfig{Library: filepath.Join(dir, "libonnxruntime.so.1")}})
	if err != nil || !res.Identical() || res.Digest != want[9].Digest || len(res.Warnings) != 1 ||
		!strings.Contains(res.Warnings[0], "ONNX Runtime is unavailable") || !strings.Contains(res.Warnings[0], `deterministic model "mlp@1" were replayed without checking them`) {
		t.Fatalf("replay without ONNX Runtime: %+v %v", res, err)
	}

	// Unchecked: the recorded answers, a warning, the model never loaded.
	for _, dirs := range [][]string{{dir}, {changedDir}} {
		res, metrics, err = walkModels(t, log.Bytes(), true, dirs...)
		if err != nil || !res.Identical() || res.Digest != want[9].Digest || len(res.Warnings) != 1 ||
			!strings.Contains(res.Warnings[0], `model "mlp@1": `) || !strings.Contains(res.Warnings[0], model.SHA256) ||
			!strings.HasSuffix(res.Warnings[0], "its recorded answers were replayed without checking them on this machine") {
			t.Fatalf("unchecked replay from %s: %+v %v", dirs, res, err)
		}
		if len(metrics) != 1 || metrics[0].Loads != 0 {
			t.Fatalf("unchecked replay from %s loaded the model: %+v", dirs, metrics)
		}
	}
}

// TestReplayNeverLoadsRecordedModels: a model whose answers are recorded
// (fast mode, CUDA), even declared eager, is neither looked for nor loaded
// on replay: the log replays with its file gone or replaced, without a
// warning.
func TestReplayNeverLoadsRecordedModels(t *testing.T) {
	for _, c := range []struct{ mode, device string }{{mode: modelactor.ModeFast}, {device: modelactor.DeviceCUDA}} {
		model := mlpModel(t, c.mode)
		model.Device, model.Eager = c.device, true
		var log bytes.Buffer
		h, want := askRun(t, []host.Model{model}, "mlp@1", 2, 10, &log)
		if m := h.Models().Metrics(); m[0].Loads != 1 {
			t.Fatalf("%+v: the recording run did not load its eager model: %+v", c, m)
		}
		h.Close()
		dir := filepath.Dir(model.Path)
		if err := os.WriteFile(model.Path, []byte("not the model"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, why := range []string{"replaced", "removed"} {
			res, metrics, err := walkModels(t, log.Bytes(), false, dir)
			if err != nil || !res.Identical() || res.Digest != want[9].Digest || len(res.Warnings) != 0 {
				t.Fatalf("%+v, file %s: %+v %v", c, why, res, err)
			}
			if len(metrics) != 1 || metrics[0].Loads != 0 || metrics[0].Loaded {
				t.Fatalf("%+v, file %s: the replay loaded the recorded model: %+v", c, why, metrics)
			}
			if err := os.Remove(model.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
	}
}
