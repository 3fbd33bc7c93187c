//go:build !wasip1

package lockstep_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/host"
)

// TestConfig builds testdata/configured (GOOS=wasip1, c-shared), which
// reads its topology config: with lockstep.Config and writes it to its
// state region "config": an agent with a map config sees it as JSON with
// sorted keys, one with a string the string, one without none.
func TestConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "configured.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", path, "./testdata/configured")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/configured: %v\n%s", err, out)
	}
	topo, err := host.ParseTopology("config.yaml", []byte(fmt.Sprintf(`
seed: 5
wasm: {allow_unsigned: true}
modules:
  - {name: cfg, path: %q, grants: [state.write, log, wasi]}
agents:
  - {id: json, kind: cfg, config: {rate: 3, name: "x"}}
  - {id: text, kind: cfg, config: "hello, config: 3"}
  - {id: none, kind: cfg}
`, path)))
	if err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(new(bytes.Buffer))
	h, err := topo.Start(host.Options{Logger: l})
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
