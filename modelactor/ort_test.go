//go:build cgo

package modelactor_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
)

// TestMissingLibraryLoadsNothing: a backend naming an ONNX Runtime library
// that does not exist fails with ErrUnavailable and loads nothing, so a
// later backend of the process naming the right one works (one host's
// wrong inference.library must not disable ONNX Runtime for the hosts the
// process starts after it). ONNX Runtime is loaded once per process, so
// the test runs itself again in a process of its own, where it is the
// first to load it.
func TestMissingLibraryLoadsNothing(t *testing.T) {
	lib := modeltest.Library(t)
	const child = "LOCKSTEP_TEST_MISSING_LIBRARY"
	if os.Getenv(child) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingLibraryLoadsNothing$", "-test.v")
		cmd.Env = append(os.Environ(), child+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in a process of its own: %v\n%s", err, out)
		}
		return
	}
	model := onnx.Echo(nil, 1).Encode() // one float32 scalar
	missing := modelactor.ORT{Library: filepath.Join(t.TempDir(), "libonnxruntime.so.1")}
	if _, err := missing.Open(model, modelactor.SessionOptions{}); !errors.Is(err, modelactor.ErrUnavailable) {
		t.Fatalf("a missing library: %v, want ErrUnavailable", err)
	}
	s, err := modelactor.ORT{Library: lib}.Open(model, modelactor.SessionOptions{})
	if err != nil {
		t.Fatalf("the right library after a missing one: %v", err)
	}
	s.Close()
}
