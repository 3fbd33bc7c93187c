package guests

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	wasmtopo "github.com/lockstep-rt/lockstep/examples/wasm/topology"
	"github.com/lockstep-rt/lockstep/host"
)

// ConfigWant are the configs CheckConfig's agents are given (as topology
// YAML) and what each should see: a map as JSON with sorted keys, a string
// as is, none as nothing.
var ConfigWant = map[string]string{"json": `{"name":"x","rate":3}`, "text": "hello, config: 3", "none": ""}

// CheckConfig runs the module at path (an SDK's test agent that writes the
// config it reads into its state region "config") as three agents with the
// configs of ConfigWant, granted grants, for three ticks, and checks what
// each saw.
func CheckConfig(t testing.TB, path string, grants ...string) {
	t.Helper()
	topo, err := host.ParseTopology("config.yaml", []byte(fmt.Sprintf(`
seed: 5
wasm: {allow_unsigned: true}
modules:
  - {name: cfg, path: %q, grants: [%s]}
agents:
  - {id: json, kind: cfg, config: {rate: 3, name: "x"}}
  - {id: text, kind: cfg, config: "hello, config: 3"}
  - {id: none, kind: cfg}
`, path, strings.Join(grants, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	h := Run(t, topo, 3)
	for id, want := range ConfigWant {
		if got, ok := h.ReadState(id, "config"); !ok || string(got) != want {
			t.Errorf("%s saw config %q (%v), want %q", id, got, ok, want)
		}
	}
}

// Run starts topo with a logger that writes nothing and steps it ticks
// times, failing t at the first tick where an agent fails or the host
// errs. It returns the host, which is closed when t ends.
func Run(t testing.TB, topo *host.Topology, ticks int) *host.Host {
	t.Helper()
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	h, err := topo.Start(host.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for range ticks {
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
	return h
}

// Demo is the default WebAssembly topology (C, C++, Rust, AssemblyScript
// and Go agents; messages, a channel, state reads, a supervised agent that
// traps every 7th step, scheduled inputs) with its modules built from
// source, and the directory they are in; compiled code is cached under
// the temporary directory. Without the toolchains it skips t, unless
// LOCKSTEP_REQUIRE_GUESTS is set.
func Demo(t testing.TB) (*host.Topology, string) {
	t.Helper()
	mods, err := Dir()
	if err != nil {
		if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
			t.Skipf("%v (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead)", err)
		}
		t.Fatal(err)
	}
	topo, err := host.ParseTopology("wasm demo", wasmtopo.Topology)
	if err != nil {
		t.Fatal(err)
	}
	topo.ResolveModules(mods)
	topo.WASM.CacheDir = filepath.Join(os.TempDir(), "lockstep-test-wazero-cache")
	return topo, mods
}
