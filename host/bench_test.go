package host_test

import (
	"fmt"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// The bodies live in internal/benchkit, shared with cmd/lockstep-bench.
// docs/BENCHMARKS.md has the commands, the targets and the figures.

var benchWorkers = []int{1, 2}

// BenchmarkTick: ns/op is the time per tick of n idle agents.
func BenchmarkTick(b *testing.B) {
	for _, n := range benchkit.TickAgents {
		for _, w := range benchWorkers {
			b.Run(fmt.Sprintf("agents=%d/workers=%d", n, w), func(b *testing.B) { benchkit.Tick(b, n, w) })
		}
	}
}

// BenchmarkRoute: msgs/s is the number of messages routed per second by
// echo agents bouncing messages in pairs.
func BenchmarkRoute(b *testing.B) {
	for _, w := range benchWorkers {
		name := fmt.Sprintf("agents=%d/k=%d/workers=%d", benchkit.RouteAgents, benchkit.RouteMessages, w)
		b.Run(name, func(b *testing.B) {
			benchkit.Route(b, benchkit.RouteAgents, benchkit.RouteMessages, benchkit.RoutePayload, w)
		})
	}
}

// BenchmarkProtoactorOneToOne is the baseline of BenchmarkRoute: raw
// protoactor, one sender to one actor.
func BenchmarkProtoactorOneToOne(b *testing.B) { benchkit.ProtoactorOneToOne(b) }

// BenchmarkProtoactorFanout is the baseline of BenchmarkTick: raw
// protoactor, one message to each of N actors and wait for every reply.
func BenchmarkProtoactorFanout(b *testing.B) {
	for _, n := range benchkit.FanoutActors {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchkit.ProtoactorFanout(b, n) })
	}
}

// BenchmarkProtoactorFanoutCountdown is a stricter baseline of
// BenchmarkTick: the N actors count a WaitGroup down instead of replying.
func BenchmarkProtoactorFanoutCountdown(b *testing.B) {
	for _, n := range benchkit.FanoutActors {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchkit.ProtoactorFanoutCountdown(b, n) })
	}
}
