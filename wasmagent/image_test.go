package wasmagent_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// imageGuests are example guests of every language, with the stage of
// their module's image and a word of why it stops there.
var imageGuests = []struct {
	name  string
	stage wasmagent.ImageStage
	why   string
	// filed: the image's memory is large enough for a memory file, which
	// agents started from it map.
	filed bool
}{
	{"counter", wasmagent.ImageInitialised, "", false},               // C, freestanding
	{"reader", wasmagent.ImageInitialised, "", false},                // C++
	{"floaty", wasmagent.ImageInitialised, "", false},                // C, wasi-libc reactor: _initialize
	{"asagent", wasmagent.ImageStarted, "host function join", false}, // AssemblyScript: start function; agent_init joins
	{"rustagent", wasmagent.ImageNone, "host function join", false},  // Rust: nothing before agent_init, which joins
	{"goagent", wasmagent.ImageNone, "WASI monotonic clock", false},  // Go's runtime reads clocks and random in _initialize
	// The same with shared initialisation: _initialize is in the image.
	{"goagent-shared", wasmagent.ImageStarted, "host function join", true},
	{"pinger", wasmagent.ImageInitialised, "", false},
}

// TestImagesAreInstances starts agents of every guest language from their
// module's image (its memory file mapped, and copied) and afresh, runs the
// same calls on all three, and compares what they did and their snapshots
// (memory, globals, fuel, WASI clock and random state) after every call:
// the same, bit for bit. An agent's last snapshot, restored into an agent
// started from the image, is the same again.
func TestImagesAreInstances(t *testing.T) {
	ctx := context.Background()
	// From the image, from the image copied (memory files refused), afresh.
	var runtimes [3]*wasmagent.Runtime
	for i := range runtimes {
		rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{NoImages: i == 2})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close(ctx)
		runtimes[i] = rt
	}
	wasmagent.NoMemoryFiles(runtimes[1])
	for _, g := range imageGuests {
		t.Run(g.name, func(t *testing.T) {
			wasm, err := guests.Read(g.name + ".wasm")
			if err != nil {
				t.Fatal(err)
			}
			var mods [3]*wasmagent.Module
			for i, rt := range runtimes {
				if mods[i], err = rt.Load(ctx, g.name, wasm); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range mods[:2] {
				if s, why := m.ImageStage(); s != g.stage || !strings.Contains(why, g.why) {
					t.Fatalf("image stage %s (%q), want %s (saying %q)", s, why, g.stage, g.why)
				}
				if got := wasmagent.HasImageFile(m); got != g.filed {
					t.Fatalf("the image has a memory file: %v, want %v", got, g.filed)
				}
			}
			if s, _ := mods[2].ImageStage(); s != wasmagent.ImageNone {
				t.Fatalf("with NoImages the image stage is %s", s)
			}
			// Two agents of each, with different seeds and configs, spawned
			// at different ticks.
			for k, spawn := range []clock.Tick{0, 7} {
				id, seed, config := fmt.Sprintf("a%d", k), uint64(k+1)*0x9e37, []byte(fmt.Sprintf("cfg %d", k))
				var logs [3]*recordCtx
				var agents [3]agent.Agent
				for i, m := range mods {
					if agents[i], err = m.New(id, seed, 0, config); err != nil {
						t.Fatal(err)
					}
					logs[i] = &recordCtx{id: id, tick: spawn, rng: &agent.Rand{Rand: rand.New(rand.NewPCG(seed, 1))}}
				}
				// Only an agent started from the image is alive: a file mapped
				// in the first runtime is the image's; none in the second.
				if n := wasmagent.MemoryFilesMapped(runtimes[0]); g.filed && n != 1 {
					t.Fatalf("%d memories have a file mapped, want the agent's from the image's file", n)
				}
				if n := wasmagent.MemoryFilesMapped(runtimes[1]); n != 0 {
					t.Fatalf("%d memories have a file mapped with memory files refused", n)
				}
				snapshot := func(a agent.Agent) []byte {
					t.Helper()
					b, err := a.(agent.Snapshotter).Snapshot()
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
				same := func(what string, errs [3]error) {
					t.Helper()
					want := snapshot(agents[2])
					for i, how := range []string{"from the image", "from the image copied"} {
						if fmt.Sprint(errs[i]) != fmt.Sprint(errs[2]) {
							t.Fatalf("agent %s, %s: %s %v, afresh %v", id, what, how, errs[i], errs[2])
						}
						if a, b := logs[i].log.String(), logs[2].log.String(); a != b {
							t.Fatalf("agent %s, %s: %s it did\n%s\nafresh\n%s", id, what, how, a, b)
						}
						if got := snapshot(agents[i]); !bytes.Equal(got, want) {
							t.Fatalf("agent %s, %s: %s, the snapshot differs (%d and %d bytes)", id, what, how, len(got), len(want))
						}
					}
				}
				var errs [3]error
				for i, a := range agents {
					errs[i] = a.Init(logs[i])
				}
				same("Init", errs)
				for range 3 {
					for i, a := range agents {
						logs[i].tick++
						errs[i] = a.Step(logs[i])
						a.(agent.Metered).TakeFuel()
					}
					same(fmt.Sprintf("step at %s", logs[0].tick), errs)
				}
				last := snapshot(agents[2])
				restored, err := mods[0].New(id, seed, 0, config)
				if err != nil {
					t.Fatal(err)
				}
				if err := restored.(agent.Snapshotter).Restore(last); err != nil {
					t.Fatal(err)
				}
				if got := snapshot(restored); !bytes.Equal(got, last) {
					t.Fatalf("agent %s: restored into an agent from the image, its snapshot differs", id)
				}
				for i, a := range append(agents[:], restored) {
					_ = a.Shutdown(logs[min(i, 2)])
				}
			}
		})
	}
}

// recordCtx is an agent.Context that writes down everything an agent does.
type recordCtx struct {
	id   string
	tick clock.Tick
	rng  *agent.Rand
	log  strings.Builder
}

func (c *recordCtx) note(format string, args ...any) {
	fmt.Fprintf(&c.log, "%s "+format+"\n", append([]any{c.tick}, args...)...)
}

func (c *recordCtx) Tick() clock.Tick { return c.tick }
func (c *recordCtx) Self() string     { return c.id }
func (c *recordCtx) Send(to string, p []byte) error {
	c.note("send %s %x", to, p)
	return nil
}
func (c *recordCtx) Publish(ch string, p []byte) error {
	c.note("publish %s %x", ch, p)
	return nil
}
func (c *recordCtx) Join(ch string) error          { c.note("join %s", ch); return nil }
func (c *recordCtx) Leave(ch string) error         { c.note("leave %s", ch); return nil }
func (c *recordCtx) Log(l agent.Level, msg string) { c.note("log %d %s", l, msg) }
func (c *recordCtx) WriteState(n string, p []byte) error {
	c.note("state %s %x", n, p)
	return nil
}
func (c *recordCtx) ReadState(o, n string) ([]byte, bool) {
	c.note("read %s %s", o, n)
	return nil, false
}
func (c *recordCtx) Infer(m, v string, in []byte) (uint32, error) {
	c.note("infer %s %s %x", m, v, in)
	return 0, nil
}
func (c *recordCtx) Rand() *agent.Rand { return c.rng }

// TestOneCallEngine: every ABI export of a guest of every language (and
// _initialize where it has one) is called through the rewrite's dispatch
// function, so that an instance needs one wazero call engine, not one per
// export (BenchmarkWASMSpawn: ~5 KiB of heap and ~6 µs per spawn).
func TestOneCallEngine(t *testing.T) {
	ctx := context.Background()
	rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{Engine: wasmagent.EngineInterpreter, NoImages: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	wz := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter()) // what each guest exports
	defer wz.Close(ctx)
	abi := []string{"agent_alloc", "agent_init", "agent_receive", "agent_shutdown", "agent_step", "lockstep_abi_version"}
	for _, g := range imageGuests {
		wasm, err := guests.Read(g.name + ".wasm")
		if err != nil {
			t.Fatal(err)
		}
		m, err := rt.Load(ctx, g.name, wasm)
		if err != nil {
			t.Fatal(err)
		}
		got := wasmagent.DispatchedExports(m)
		want := abi
		c, err := wz.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.ExportedFunctions()["_initialize"]; ok {
			want = append([]string{"_initialize"}, abi...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: dispatched %v, want %v", g.name, got, want)
		}
	}
}
