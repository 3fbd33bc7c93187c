package assemblyscript_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
)

// TestConfig: testdata/configured.ts reads its topology config: with
// config(), configString() and configInto() and writes it to its state
// region "config": an agent with a map config sees it as JSON with sorted
// keys, one with a string the string, one without none.
func TestConfig(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := build(t, nil, filepath.Join(filepath.Dir(file), "testdata", "configured.ts"))
	guests.CheckConfig(t, filepath.Join(dir, "configured.wasm"), "state.write", "log")
}
