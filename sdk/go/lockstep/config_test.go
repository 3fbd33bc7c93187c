//go:build !wasip1

package lockstep_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
)

// TestConfig builds testdata/configured (GOOS=wasip1, c-shared), which
// reads its topology config: with lockstep.Config and writes it to its
// state region "config": an agent with a map config sees it as JSON with
// sorted keys, one with a string the string, one without none.
func TestConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "configured.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", path, "./testdata/configured")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/configured: %v\n%s", err, out)
	}
	guests.CheckConfig(t, path, "state.write", "log", "wasi")
}
