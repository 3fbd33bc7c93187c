package assemblyscript_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
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

// TestKinds: testdata/kinds.ts writes typed inputs with Tensors and reads
// an answer holding every kind of value (a label tensor, sequences of maps
// with int64 and string keys, float16, int64, int32, uint8 and string
// tensors) exactly as the model answered it.
func TestKinds(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := build(t, nil, filepath.Join(filepath.Dir(file), "testdata", "kinds.ts"))
	modeltest.CheckKinds(t, filepath.Join(dir, "kinds.wasm"), "log")
}
