//go:build !wasip1

package lockstep_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
)

// build builds the test agent testdata/name (GOOS=wasip1, c-shared) and
// returns the path of its module.
func build(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", path, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/%s: %v\n%s", name, err, out)
	}
	return path
}

// TestConfig builds testdata/configured, which reads its topology config:
// with lockstep.Config and writes it to its state region "config": an
// agent with a map config sees it as JSON with sorted keys, one with a
// string the string, one without none.
func TestConfig(t *testing.T) {
	guests.CheckConfig(t, build(t, "configured"), "state.write", "log", "wasi")
}

// TestKinds builds testdata/kinds, which writes typed inputs with package
// tensor's helpers and reads an answer holding every kind of value (a
// label tensor, sequences of maps with int64 and string keys, float16,
// int64, int32, uint8 and string tensors) exactly as the model answered it.
func TestKinds(t *testing.T) {
	modeltest.CheckKinds(t, build(t, "kinds"), "wasi", "log")
}
