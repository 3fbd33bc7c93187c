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
// module's image and afresh, runs the same calls on both, and compares
// what they did and their snapshots (memory, globals, fuel, WASI clock
// and random state) after every call: the same, bit for bit.
func TestImagesAreInstances(t *testing.T) {
	ctx := context.Background()
	runtimes := map[bool]*wasmagent.Runtime{}
	for _, noImages := range []bool{false, true} {
		rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{NoImages: noImages})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close(ctx)
		runtimes[noImages] = rt
	}
	for _, g := range imageGuests {
		t.Run(g.name, func(t *testing.T) {
			wasm, err := guests.Read(g.name + ".wasm")
			if err != nil {
				t.Fatal(err)
			}
			var mods [2]*wasmagent.Module
			for i, noImages := range []bool{false, true} {
				if mods[i], err = runtimes[noImages].Load(ctx, g.name, wasm); err != nil {
					t.Fatal(err)
				}
			}
			if s, why := mods[0].ImageStage(); s != g.stage || !strings.Contains(why, g.why) {
				t.Fatalf("image stage %s (%q), want %s (saying %q)", s, why, g.stage, g.why)
			}
			if s, _ := mods[1].ImageStage(); s != wasmagent.ImageNone {
				t.Fatalf("with NoImages the image stage is %s", s)
			}
			// Two agents of each, with different seeds and configs, spawned
			// at different ticks.
			for k, spawn := range []clock.Tick{0, 7} {
				id, seed, config := fmt.Sprintf("a%d", k), uint64(k+1)*0x9e37, []byte(fmt.Sprintf("cfg %d", k))
				var logs [2]*recordCtx
				var agents [2]agent.Agent
				for i, m := range mods {
					if agents[i], err = m.New(id, seed, 0, config); err != nil {
						t.Fatal(err)
					}
					logs[i] = &recordCtx{id: id, tick: spawn, rng: &agent.Rand{Rand: rand.New(rand.NewPCG(seed, 1))}}
				}
				if got := wasmagent.HasImageFile(mods[0]); got != g.filed {
					t.Fatalf("the image has a memory file: %v, want %v", got, g.filed)
				}
				// Only an agent started from the image is alive: a file mapped
				// in the image's runtime is the image's.
				if g.filed && wasmagent.MemoryFilesMapped(runtimes[false]) != 1 {
					t.Fatalf("%d memories have a file mapped, want the agent's from the image's file", wasmagent.MemoryFilesMapped(runtimes[false]))
				}
				same := func(what string, errs [2]error) {
					t.Helper()
					if fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) {
						t.Fatalf("agent %s, %s: image %v, afresh %v", id, what, errs[0], errs[1])
					}
					if a, b := logs[0].log.String(), logs[1].log.String(); a != b {
						t.Fatalf("agent %s, %s: from the image it did\n%s\nafresh\n%s", id, what, a, b)
					}
					var snaps [2][]byte
					for i, a := range agents {
						var err error
						if snaps[i], err = a.(agent.Snapshotter).Snapshot(); err != nil {
							t.Fatal(err)
						}
					}
					if !bytes.Equal(snaps[0], snaps[1]) {
						t.Fatalf("agent %s, %s: the snapshots differ (%d and %d bytes)", id, what, len(snaps[0]), len(snaps[1]))
					}
				}
				var errs [2]error
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
				for i, a := range agents {
					errs[i] = a.Shutdown(logs[i])
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
