package wasmagent

import (
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// TestHostImportsHaveCapabilities: package plugin, which decides what a
// module may import, knows every host function, so that a module importing
// one is judged by its capability rather than refused as unknown.
func TestHostImportsHaveCapabilities(t *testing.T) {
	for name := range hostFuncs {
		if _, ok := plugin.ImportCapability(HostModule, name); !ok {
			t.Errorf("plugin.ImportCapability(%q, %q): no capability covers it; add it to plugin's hostImports", HostModule, name)
		}
	}
	if c, ok := plugin.ImportCapability(HostModule, "config"); !ok || c != "" {
		t.Errorf("lockstep.config needs capability %q (%v), want none", c, ok)
	}
}
