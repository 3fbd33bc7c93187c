// Package benchkit holds the bodies of Lockstep's benchmarks, so that the
// go test benchmarks (host/bench_test.go) and cmd/lockstep-bench measure
// exactly the same thing:
//
//  1. Tick: a host with n idle agents runs ticks; the figure is the time per
//     tick (and per agent) of the whole barrier round trip.
//  2. Route: pairs of echo agents bounce k messages each, every tick; the
//     figure is routed messages per second.
//  3. ProtoactorOneToOne, ProtoactorFanout and ProtoactorFanoutCountdown:
//     the same shapes on raw protoactor-go with its default mailbox and
//     dispatcher, the baselines the Lockstep figures are compared with.
//  4. WASMTick, WASMCall and WASMSpawn (wasm.go): the same host with
//     WebAssembly agents, the guests of internal/benchkit/guests (empty.c,
//     work.c and gowork, built once per process by Guests), metered or not;
//     their baselines are Tick, GoCall and Spawn with Go-native idle agents,
//     or the same guest unmetered.
//
// Each body takes a *testing.B and reports its own metrics with
// b.ReportMetric; run it under go test -bench or testing.Benchmark.
//
// This package imports protoactor-go directly (only package actors does
// otherwise) because the baselines must not go through Lockstep's code.
package benchkit

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// Metric units reported with b.ReportMetric.
const (
	UnitNsPerAgent = "ns/agent"
	UnitMsgsPerSec = "msgs/s"
	UnitNsPerMsg   = "ns/msg"
)

// Sizes of the standard scenarios.
var (
	// TickAgents are the host sizes of the Tick benchmark.
	TickAgents = []int{50, 1000, 10000}
	// FanoutActors are the sizes of the protoactor fan-out baseline.
	FanoutActors = []int{50, 1000, 10000}
)

// Route's standard shape: RouteAgents echo agents, each bouncing
// RouteMessages messages of RoutePayload bytes.
const (
	RouteAgents   = 100
	RouteMessages = 100
	RoutePayload  = 16
)

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// kinds are the agent kinds of the benchmarks: testkinds' plus bounce.
func kinds() map[string]host.Factory {
	k := testkinds.Kinds()
	k["bounce"] = newBounce
	return k
}

func newHost(b testingB, workers int, q host.Quotas) *host.Host {
	h, err := host.New(host.Options{Seed: 1, Kinds: kinds(), Workers: workers, Logger: quiet(), Quotas: q})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// testingB is the part of *testing.B the helpers use.
type testingB interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func step(b testingB, h *host.Host, n int) {
	for range n {
		if _, err := h.Step(); err != nil {
			b.Fatal(err)
		}
	}
}

// bounce is an echo agent that, at Init, sends k messages to its partner;
// the two then bounce them back and forth, one hop per tick, for ever.
// Config: "partner=ID k=N size=S".
type bounce struct {
	testkinds.Echo
	partner string
	k, size int
}

func newBounce(_ string, config []byte) (agent.Agent, error) {
	a := &bounce{}
	for _, f := range strings.Fields(string(config)) {
		key, val, _ := strings.Cut(f, "=")
		var err error
		switch key {
		case "partner":
			a.partner = val
		case "k":
			a.k, err = strconv.Atoi(val)
		case "size":
			a.size, err = strconv.Atoi(val)
		default:
			err = fmt.Errorf("unknown key %q", key)
		}
		if err != nil {
			return nil, fmt.Errorf("bounce config %q: %w (want \"partner=ID k=N size=S\")", config, err)
		}
	}
	return a, nil
}

// Init sends the k messages.
func (a *bounce) Init(ctx agent.Context) error {
	p := make([]byte, a.size)
	for range a.k {
		if err := ctx.Send(a.partner, p); err != nil {
			return err
		}
	}
	return nil
}
