package rust_test

import (
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
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
