package rust_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
)

// TestConfig: testdata/configured.rs reads its topology config: with
// config_str (no_std) or config_vec (--cfg lockstep_std) and writes it to
// its state region "config": an agent with a map config sees it as JSON
// with sorted keys, one with a string the string, one without none.
func TestConfig(t *testing.T) {
	for _, c := range []struct{ name, cfg string }{{"no_std", ""}, {"std", "--cfg lockstep_std"}} {
		t.Run(c.name, func(t *testing.T) {
			path := buildTestdata(t, "configured", c.cfg)
			topo, err := host.ParseTopology("config.yaml", []byte(fmt.Sprintf(`
seed: 5
wasm: {allow_unsigned: true}
modules:
  - {name: cfg, path: %q, grants: [state.write, log]}
agents:
  - {id: json, kind: cfg, config: {rate: 3, name: "x"}}
  - {id: text, kind: cfg, config: "hello, config: 3"}
  - {id: none, kind: cfg}
`, path)))
			if err != nil {
				t.Fatal(err)
			}
			h, err := topo.Start(host.Options{Logger: logger(new(bytes.Buffer))})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			for range 3 {
				res, err := h.Step()
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range res.Events {
					if e.Kind == "failed" {
						t.Fatalf("%s: %s", res.Tick, e.Detail)
					}
				}
			}
			for id, want := range map[string]string{"json": `{"name":"x","rate":3}`, "text": "hello, config: 3", "none": ""} {
				if got, ok := h.ReadState(id, "config"); !ok || string(got) != want {
					t.Errorf("%s saw config %q (%v), want %q", id, got, ok, want)
				}
			}
		})
	}
}
