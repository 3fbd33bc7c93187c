package host_test

import (
	"fmt"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// WebAssembly agents. The bodies live in internal/benchkit, shared with
// cmd/lockstep-bench; the guests are internal/benchkit/guests (empty.c,
// work.c, gowork), built once per process. Every benchmark runs the
// Go-native idle agent beside the guests ("kind=go-idle") as its baseline.
// docs/BENCHMARKS.md has the commands, the targets and the figures.

func meterName(unmetered bool) string {
	if unmetered {
		return "unmetered"
	}
	return "metered"
}

// BenchmarkWASMStep: ns/op is one tick of a host with a single agent, so
// the step of one empty agent plus the host's fixed cost per tick.
func BenchmarkWASMStep(b *testing.B) {
	b.Run("kind=go-idle", func(b *testing.B) { benchkit.Tick(b, 1, 1) })
	for _, u := range []bool{false, true} {
		b.Run("kind=empty/"+meterName(u), func(b *testing.B) { benchkit.WASMTick(b, benchkit.GuestEmpty, 1, 1, u) })
	}
}

// BenchmarkWASMCall: ns/op is one Step call on an agent, without a host.
func BenchmarkWASMCall(b *testing.B) {
	b.Run("kind=go-idle", benchkit.GoCall)
	for _, g := range []string{benchkit.GuestEmpty, benchkit.GuestWork, benchkit.GuestGoWork} {
		for _, u := range []bool{false, true} {
			b.Run("kind="+g+"/"+meterName(u), func(b *testing.B) { benchkit.WASMCall(b, g, u) })
		}
	}
}

// BenchmarkWASMMetering: ns/op is one tick of a host with one CPU-bound
// agent (work.c, or gowork in Go), metered and unmetered: the ratio is the
// cost of fuel metering.
func BenchmarkWASMMetering(b *testing.B) {
	for _, g := range []string{benchkit.GuestWork, benchkit.GuestGoWork} {
		for _, u := range []bool{false, true} {
			b.Run("kind="+g+"/"+meterName(u), func(b *testing.B) { benchkit.WASMTick(b, g, 1, 1, u) })
		}
	}
}

// BenchmarkWASMTick: ns/op is one tick of a host with n empty WebAssembly
// agents, beside n Go-native idle agents.
func BenchmarkWASMTick(b *testing.B) {
	for _, n := range benchkit.WASMTickAgents {
		for _, w := range benchWorkers {
			b.Run(fmt.Sprintf("kind=go-idle/agents=%d/workers=%d", n, w), func(b *testing.B) { benchkit.Tick(b, n, w) })
			b.Run(fmt.Sprintf("kind=empty/agents=%d/workers=%d", n, w), func(b *testing.B) {
				benchkit.WASMTick(b, benchkit.GuestEmpty, n, w, false)
			})
		}
	}
}

// BenchmarkWASMSpawn: ns/op is spawning benchkit.SpawnAgents agents and the
// tick that starts them; spawn-ns/agent is instantiate + init per agent,
// heap-B/agent the memory each idle agent holds.
func BenchmarkWASMSpawn(b *testing.B) {
	n := benchkit.SpawnAgents
	b.Run(fmt.Sprintf("kind=go-idle/agents=%d", n), func(b *testing.B) { benchkit.Spawn(b, n) })
	for _, g := range []string{benchkit.GuestEmpty, benchkit.GuestGoWork, benchkit.GuestGoShared} {
		b.Run(fmt.Sprintf("kind=%s/agents=%d", g, n), func(b *testing.B) { benchkit.WASMSpawn(b, g, n) })
	}
}
