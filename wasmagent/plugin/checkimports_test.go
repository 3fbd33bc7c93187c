package plugin_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// TestCheckImports: CheckImports refuses what Verify refuses for the same
// declared capabilities (an uncovered import, naming it and its
// capability; an import no capability covers), and accepts what covers
// the imports, before anything is signed.
func TestCheckImports(t *testing.T) {
	key := testKey(t, 7)
	cases := []struct {
		module  []byte
		caps    []string
		capNeed string // "" : accepted
		imp     string
	}{
		{sendLog(), []string{plugin.CapMessagingSend, plugin.CapLog}, "", ""},
		{sendLog(), []string{plugin.CapLog, plugin.CapMessagingSend, plugin.CapStateRead}, "", ""},
		{sendLog(), []string{plugin.CapLog}, plugin.CapMessagingSend, "lockstep.send"},
		{sendLog(), nil, plugin.CapLog, "lockstep.log"},
		{buildModule("lockstep.infer"), []string{"inference:clf"}, "", ""},
		{buildModule("lockstep.infer", "lockstep.tick"), nil, plugin.CapInference, "lockstep.infer"},
		{buildModule("lockstep.tick"), nil, "", ""},
		{buildModule("env.abort"), []string{plugin.CapWASI}, "", "env.abort"},
	}
	for _, c := range cases {
		m := manifest(c.caps...)
		err := plugin.CheckImports(c.module, m)
		_, verr := plugin.Verify(mustSign(t, c.module, m, key), policy(c.caps, key))
		if (err == nil) != (verr == nil) {
			t.Errorf("caps %v: CheckImports = %v, but Verify = %v", c.caps, err, verr)
		}
		if c.capNeed == "" && c.imp == "" {
			if err != nil {
				t.Errorf("caps %v: %v", c.caps, err)
			}
			continue
		}
		var e *plugin.Error
		if !errors.As(err, &e) || !errors.Is(err, plugin.ErrUndeclaredImport) || e.Import != c.imp || e.Capability != c.capNeed || !strings.Contains(err.Error(), `module "pinger"`) {
			t.Errorf("caps %v: CheckImports = %#v, want %s needing %q", c.caps, err, c.imp, c.capNeed)
		}
	}
	if err := plugin.CheckImports([]byte("not wasm"), manifest()); !errors.Is(err, plugin.ErrMalformed) {
		t.Errorf("CheckImports of junk = %v, want ErrMalformed", err)
	}
}
