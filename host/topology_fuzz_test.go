package host_test

import (
	"bytes"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// topologySeeds are the repository's topology files, FuzzParseTopology's
// seeds.
var topologySeeds = []string{
	"../examples/wasm/topology/topology.yaml",
	"../examples/classify/topology.yaml",
	"../examples/pipeline/topology.yaml",
}

// FuzzParseTopology parses arbitrary bytes as a topology file. It must not
// panic; an error must name the file and say something; a topology that
// parses must have been validated (checkTopology) and must mean the same
// written back as YAML; one in 32 must start a host (or fail to, cleanly)
// that runs a tick, with every kind an idle agent. Topologies with modules
// or models are not started: their files would be read from the working
// directory.
func FuzzParseTopology(f *testing.F) {
	for _, p := range topologySeeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if yamls, _ := filepath.Glob("testdata/*/*.yaml"); len(yamls) > 0 {
		for _, p := range yamls {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	// Small documents reach more of the parser per mutation than the
	// commented examples: the example of Topology's documentation, and
	// one of each section.
	for _, doc := range []string{
		"agents: [{id: a, kind: k}]\n",
		`seed: 42
ticks: 500
groups:
  - {name: sensors, strategy: one-for-one, on_failure: restart, max_restarts: 3, window: 100}
agents:
  - {id: s1, kind: sensor, group: sensors, channels: [readings], config: {base: 20}}
inputs:
  - {tick: 10, to: s1, payload: "calibrate"}
models:
  - {id: clf, version: "1", path: clf.onnx, sha256: 3f2a}
inference:
  budgets: {cpu: 268435456}
`,
		"groups: [{name: g, parent: h, strategy: all-for-one, on_failure: escalate}, {name: h, on_failure: stop}]\nagents: [{id: a, kind: k, group: g, priority: -3}]\n",
		"wasm: {max_pages: 64, fuel: 5000000, allow_unsigned: true, watchdog: 1s, trust: [keys]}\nmodules: [{name: m, path: m.wasm, grants: [log], version: ^1.2, max_pages: 2, fuel: 9}]\nagents: [{id: a, kind: m, fuel: 7}]\n",
		"quotas: {actions_per_tick: 8, bytes_per_tick: 64, deliveries_per_tick: 4, log_line_bytes: 16, state_regions: 2, state_bytes: 32, channels: 1}\nmax_message_size: 64\nagents: [{id: a, kind: k, channels: [c], config: \"raw\"}]\ninputs: [{tick: 0, channel: c, payload: x}]\n",
		"agents:\n  - id: a\n    kind: k\n    config: &c {x: [1, 2.5, true, null, ~]}\n  - {id: b, kind: k, config: *c}\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := host.ParseTopology("fuzz.yaml", data)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.yaml") || strings.Contains(strings.ToLower(msg), "panic") {
				t.Fatalf("error %q: it must start with the file's name and not be a panic", msg)
			}
			return
		}
		checkTopology(t, topo)

		// Written back, it parses to the same topology.
		out, err := yaml.Marshal(topo)
		if err != nil {
			t.Fatalf("yaml.Marshal: %v", err)
		}
		again, err := host.ParseTopology("again.yaml", out)
		if err != nil {
			t.Fatalf("written back as\n%s\nit does not parse: %v", out, err)
		}
		if out2, _ := yaml.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("written back as\n%s\nit parses to\n%s", out, out2)
		}

		// Starting a host takes ten times as long as the rest: one input in
		// 32 is started.
		if len(topo.Modules) > 0 || len(topo.Models) > 0 || crc32.ChecksumIEEE(data)%32 != 0 {
			return
		}
		kinds := map[string]host.Factory{}
		for _, a := range topo.Agents {
			kinds[a.Kind] = testkinds.Kinds()["idle"]
		}
		h, err := topo.Start(host.Options{Kinds: kinds, Logger: quiet()})
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(strings.ToLower(msg), "panic") {
				t.Fatalf("Start: error %q", msg)
			}
			return
		}
		defer h.Close()
		if _, err := h.Step(); err != nil && strings.Contains(strings.ToLower(err.Error()), "panic") {
			t.Fatalf("Step: %v", err)
		}
		topo.ResolveModules(t.TempDir())
	})
}

// checkTopology fails t unless topo meets every rule ParseTopology
// promises to check.
func checkTopology(t *testing.T, topo *host.Topology) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("ParseTopology accepted a topology that "+format, args...)
	}
	switch {
	case topo.Ticks < 0 || topo.Ticks > host.MaxTicks:
		fail("runs %d ticks", topo.Ticks)
	case topo.MaxMessageSize < 0 || topo.MaxMessageSize > host.MaxMessageSizeLimit:
		fail("has max_message_size %d", topo.MaxMessageSize)
	case len(topo.Agents) == 0:
		fail("has no agents")
	case topo.WASM.MaxPages > wasmagent.MaxPagesLimit || topo.WASM.Fuel > wasmagent.MaxFuel:
		fail("has wasm %+v", topo.WASM)
	}
	if err := topo.Quotas.Validate(); err != nil {
		fail("has quotas that do not validate: %v", err)
	}
	for i, g := range topo.Groups {
		if g.MaxRestarts < 0 {
			fail("has groups[%d].max_restarts %d", i, g.MaxRestarts)
		}
	}
	for i, m := range topo.Modules {
		if m.Name == "" || m.Path == "" || m.MaxPages > wasmagent.MaxPagesLimit || m.Fuel > wasmagent.MaxFuel {
			fail("has modules[%d] %+v", i, m)
		}
	}
	for i, m := range topo.Models {
		if err := m.Validate(); err != nil {
			fail("has models[%d] that does not validate: %v", i, err)
		}
	}
	ids := map[string]bool{}
	for i, a := range topo.Agents {
		if err := agent.ValidateName("agent id", a.ID); err != nil {
			fail("has agents[%d] with a bad id: %v", i, err)
		}
		if ids[a.ID] {
			fail("has agent id %q twice", a.ID)
		}
		ids[a.ID] = true
		if a.Kind == "" || a.Fuel > wasmagent.MaxFuel {
			fail("has agents[%d] %+v", i, a)
		}
		for _, ch := range a.Channels {
			if err := agent.ValidateName("channel", ch); err != nil {
				fail("has agents[%d] joining a bad channel: %v", i, err)
			}
		}
	}
	limit := topo.MaxMessageSize
	if limit == 0 {
		limit = engine.DefaultMaxMessageSize
	}
	for i, in := range topo.Inputs {
		switch {
		case (in.To == "") == (in.Channel == ""):
			fail("has inputs[%d] with to %q and channel %q", i, in.To, in.Channel)
		case in.To != "" && !ids[in.To]:
			fail("has inputs[%d] to an unknown agent %q", i, in.To)
		case in.Tick > host.MaxTicks:
			fail("has inputs[%d] at tick %d", i, in.Tick)
		case len(in.Payload) > limit:
			fail("has inputs[%d] of %d bytes", i, len(in.Payload))
		}
		if in.Channel != "" {
			if err := agent.ValidateName("channel", in.Channel); err != nil {
				fail("has inputs[%d] to a bad channel: %v", i, err)
			}
		}
	}
}
