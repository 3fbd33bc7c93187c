//go:build !wasip1

package lockstep_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// TestReceiveAllocatesOnlyThePayload builds testdata/allocs: two agents
// that each receive the other's 8-byte message every tick and count the
// Go heap allocations of a tick. A Go agent's garbage fills its memory until
// the collector's first run at a 4 MiB heap, so the SDK allocates one object
// a message, its payload: the sender and channel strings of the previous
// message are reused, and what the agent passes to the host (a local array
// to Publish and StateWrite here) stays on its stack.
func TestReceiveAllocatesOnlyThePayload(t *testing.T) {
	topo, err := host.ParseTopology("allocs.yaml", []byte(fmt.Sprintf(`
seed: 5
wasm: {allow_unsigned: true}
modules:
  - {name: allocs, path: %q, grants: [channels, messaging.publish, state.write, log, wasi]}
agents:
  - {id: a, kind: allocs}
  - {id: b, kind: allocs}
`, build(t, "allocs"))))
	if err != nil {
		t.Fatal(err)
	}
	h := guests.Run(t, topo, 6)
	for _, id := range []string{"a", "b"} {
		got, ok := h.ReadState(id, "allocs")
		if !ok || len(got) != 8 {
			t.Fatalf("%s: state region allocs = %x (%v), want 8 bytes", id, got, ok)
		}
		if n := binary.LittleEndian.Uint64(got); n != 1 {
			t.Errorf("%s: %d heap allocations in a tick with one message, want 1", id, n)
		}
	}
}
