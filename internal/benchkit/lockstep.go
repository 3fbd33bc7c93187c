package benchkit

import (
	"fmt"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
)

// Tick measures one tick of a host with agents idle agents on workers
// workers: the router begins the tick, releases every agent, each steps and
// reports, and the router commits the barrier. ns/op is the time per tick;
// it also reports ns/agent.
func Tick(b *testing.B, agents, workers int) { TickQuotas(b, agents, workers, host.Quotas{}) }

// TickQuotas is Tick with quotas q (the enforcement rows of lockstep-bench
// compare the defaults with q.Unenforced).
func TickQuotas(b *testing.B, agents, workers int, q host.Quotas) {
	h := newHost(b, workers, q)
	defer h.Close()
	for i := range agents {
		if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "idle"}); err != nil {
			b.Fatal(err)
		}
	}
	step(b, h, 2) // spawn, then one warm tick
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(agents), UnitNsPerAgent)
}

// Route measures routing throughput: agents echo agents in pairs, each
// bouncing k messages of size bytes to its partner, so every tick routes
// agents*k messages (each one sent, digested, routed at the barrier, held by
// the barrier mailbox and delivered). ns/op is the time per tick; it also
// reports msgs/s and ns/msg.
func Route(b *testing.B, agents, k, size, workers int) {
	RouteQuotas(b, agents, k, size, workers, host.Quotas{})
}

// RouteQuotas is Route with quotas q.
func RouteQuotas(b *testing.B, agents, k, size, workers int, q host.Quotas) {
	if agents%2 != 0 {
		b.Fatalf("benchkit: Route needs an even number of agents, got %d", agents)
	}
	h := newHost(b, workers, q)
	defer h.Close()
	for i := range agents {
		cfg := fmt.Sprintf("partner=a%d k=%d size=%d", i^1, k, size)
		if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "bounce", Config: []byte(cfg)}); err != nil {
			b.Fatal(err)
		}
	}
	step(b, h, 2) // Init sends the first k, then one warm tick
	b.ReportAllocs()
	for b.Loop() {
		routeTick(b, h)
	}
	reportRoute(b, agents*k)
}

// routeTick runs one tick of a Route run, in which no message may be lost.
func routeTick(b *testing.B, h *host.Host) {
	res, err := h.Step()
	if err != nil {
		b.Fatal(err)
	}
	if res.DeadLetters != 0 {
		b.Fatalf("benchkit: %d dead letters at %s", res.DeadLetters, res.Tick)
	}
}

// reportRoute reports msgs/s and ns/msg for perTick messages a tick.
func reportRoute(b *testing.B, perTick int) {
	msgs := float64(b.N) * float64(perTick)
	b.ReportMetric(msgs/b.Elapsed().Seconds(), UnitMsgsPerSec)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, UnitNsPerMsg)
}
