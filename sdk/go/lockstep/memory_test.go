//go:build !wasip1

package lockstep_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// TestOutOfMemoryIsNamed builds testdata/hungry, which allocates 64 KiB of
// garbage a step. At 64 pages (4 MiB) Go's runtime, which takes some 3 MiB
// before the agent allocates anything and first collects at a 4 MiB heap,
// runs out of memory within 20 steps and aborts with a wasm unreachable:
// the failure says so, names max_pages and the fix. At 128 pages the
// collector keeps it within bounds for 200 steps.
func TestOutOfMemoryIsNamed(t *testing.T) {
	path := build(t, "hungry")
	topo := func(pages int) *host.Topology {
		topo, err := host.ParseTopology("hungry.yaml", []byte(fmt.Sprintf(`
seed: 5
wasm: {allow_unsigned: true, max_pages: %d}
modules:
  - {name: hungry, path: %q, grants: [state.write, log, wasi]}
agents:
  - {id: h, kind: hungry}
`, pages, path)))
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	guests.Run(t, topo(128), 200)

	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	h, err := topo(64).Start(host.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	want := []string{"agent_step: wasm error: unreachable: the Go runtime ran out of memory", "max_pages=64 (4 MiB)", "raise the module's max_pages"}
	for range 20 {
		res, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Events {
			if e.Kind != "failed" {
				continue
			}
			for _, w := range want {
				if !strings.Contains(e.Detail, w) {
					t.Fatalf("%s: failure %q does not say %q", res.Tick, e.Detail, w)
				}
			}
			return
		}
	}
	t.Fatal("hungry did not run out of its 64 pages in 20 steps")
}
