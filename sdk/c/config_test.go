package c_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// configTopology is a topology of configured agents of a module at path
// (kind cfg, grants state.write): one with a map config (JSON with sorted
// keys), one with a string, one with none; more adds lines to modules: and
// agents:.
func configTopology(t *testing.T, path string, more ...string) *host.Topology {
	t.Helper()
	more = append(more, "", "")
	topo, err := host.ParseTopology("config.yaml", []byte(fmt.Sprintf(`
seed: 5
wasm: {allow_unsigned: true}
modules:
  - {name: cfg, path: %q, grants: [state.write]}
%s
agents:
  - {id: json, kind: cfg, config: {rate: 3, name: "x"}}
  - {id: text, kind: cfg, config: "hello, config: 3"}
  - {id: none, kind: cfg}
%s
`, path, more[0], more[1])))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// TestConfig: an agent reads its topology config: with ls_config_str (and
// its length with ls_config(NULL, 0)) and writes it to its state region
// "config": each sees exactly its own bytes.
func TestConfig(t *testing.T) {
	guests.CheckConfig(t, filepath.Join(modDir, "configured.wasm"), "state.write")
}

// TestConfigBadPointer: asking for the config into a buffer outside memory
// is LS_ERR_OUT_OF_BOUNDS; the agent that returns it fails at that tick and
// is restarted, and the host and the other agents go on.
func TestConfigBadPointer(t *testing.T) {
	topo := configTopology(t, filepath.Join(modDir, "configured.wasm"),
		fmt.Sprintf("  - {name: bad, path: %q}", filepath.Join(modDir, "badconfig.wasm")),
		"  - {id: b, kind: bad, config: {rate: 3}}")
	h, err := topo.Start(host.Options{Logger: warnings(&strings.Builder{})})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var failures []string
	for range 6 {
		res, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Events {
			if e.Kind == "failed" {
				failures = append(failures, fmt.Sprintf("%s: %s", res.Tick, e.Detail))
			}
		}
	}
	want := `t3: agent "b" failed at t3 in step: agent_step returned -3`
	if len(failures) != 1 || failures[0] != want {
		t.Fatalf("failures %q, want one: %q", failures, want)
	}
	for id, want := range guests.ConfigWant {
		if got, ok := h.ReadState(id, "config"); !ok || string(got) != want {
			t.Errorf("%s saw config %q (%v), want %q", id, got, ok, want)
		}
	}
}
