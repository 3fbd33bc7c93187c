package wasmagent_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// emptyModule is internal/benchkit/guests/empty.c, loaded.
func emptyModule(b *testing.B) *wasmagent.Module {
	dir, err := guests.BuildDir(filepath.Join(guests.Root(), "internal", "benchkit", "guests"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	wasm, err := os.ReadFile(filepath.Join(dir, "empty.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	return load(b, "empty", wasm)
}

// load loads a module into a runtime of its own.
func load(b *testing.B, name string, wasm []byte) *wasmagent.Module {
	ctx := context.Background()
	rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close(ctx) })
	m, err := rt.Load(ctx, name, wasm)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkNew: ns/op is the life of one agent without a host: Module.New
// (from the module's image, if it has one), Init, one Step and Shutdown;
// of empty.c, of examples/wasm/goagent (Go, no image) and of goagent-shared
// (the same with shared initialisation: from its image).
func BenchmarkNew(b *testing.B) {
	b.Run("guest=empty", func(b *testing.B) { life(b, emptyModule(b)) })
	for _, g := range []string{"goagent", "goagent-shared"} {
		b.Run("guest="+g, func(b *testing.B) {
			wasm, err := guests.Read(g + ".wasm")
			if err != nil {
				b.Fatal(err)
			}
			life(b, load(b, g, wasm))
		})
	}
}

func life(b *testing.B, m *wasmagent.Module) {
	c := &recordCtx{id: "a0", rng: &agent.Rand{Rand: rand.New(rand.NewPCG(1, 2))}}
	b.ReportAllocs()
	for b.Loop() {
		a, err := m.New("a0", 1, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Init(c); err != nil {
			b.Fatal(err)
		}
		if err := a.Step(c); err != nil {
			b.Fatal(err)
		}
		if err := a.Shutdown(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStepMany: ns/op is one Step of each of 10 000 agents of
// empty.c in turn, without a host: what a tick costs in wasmagent when
// the agents' state is not in the CPU's caches.
func BenchmarkStepMany(b *testing.B) {
	m := emptyModule(b)
	c := &recordCtx{id: "a0"}
	agents := make([]agent.Agent, 10000)
	for i := range agents {
		a, err := m.New("a0", 1, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Init(c); err != nil {
			b.Fatal(err)
		}
		agents[i] = a
	}
	b.ReportAllocs()
	for b.Loop() {
		c.tick++
		for _, a := range agents {
			if err := a.Step(c); err != nil {
				b.Fatal(err)
			}
			a.(agent.Metered).TakeFuel()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(agents)), "ns/agent")
}
