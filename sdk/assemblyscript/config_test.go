package assemblyscript_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
)

// TestConfig: testdata/configured.ts reads its topology config: with
// config(), configString() and configInto() and writes it to its state
// region "config": an agent with a map config sees it as JSON with sorted
// keys, one with a string the string, one without none.
func TestConfig(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := build(t, nil, filepath.Join(filepath.Dir(file), "testdata", "configured.ts"))
	topo, err := host.ParseTopology("config.yaml", []byte(fmt.Sprintf(`
seed: 5
wasm: {allow_unsigned: true}
modules:
  - {name: cfg, path: %q, grants: [state.write, log]}
agents:
  - {id: json, kind: cfg, config: {rate: 3, name: "x"}}
  - {id: text, kind: cfg, config: "hello, config: 3"}
  - {id: none, kind: cfg}
`, filepath.Join(dir, "configured.wasm"))))
	if err != nil {
		t.Fatal(err)
	}
	h, err := topo.Start(host.Options{Logger: logger(nil)})
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
}
