package rust_test

import (
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
)

// TestConfig: testdata/configured.rs reads its topology config: with
// config_str (no_std) or config_vec (--cfg lockstep_std) and writes it to
// its state region "config": an agent with a map config sees it as JSON
// with sorted keys, one with a string the string, one without none.
func TestConfig(t *testing.T) {
	for _, c := range []struct{ name, cfg string }{{"no_std", ""}, {"std", "--cfg lockstep_std"}} {
		t.Run(c.name, func(t *testing.T) {
			guests.CheckConfig(t, buildTestdata(t, "configured", c.cfg), "state.write", "log")
		})
	}
}

// TestKinds: testdata/kinds.rs writes typed inputs with Tensors and reads
// an answer holding every kind of value (a label tensor, sequences of maps
// with int64 and string keys, float16, int64, int32, uint8 and string
// tensors) exactly as the model answered it.
func TestKinds(t *testing.T) {
	modeltest.CheckKinds(t, buildTestdata(t, "kinds", ""), "log") // the panic handler logs
}
