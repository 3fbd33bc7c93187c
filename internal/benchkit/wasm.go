package benchkit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// benchGrants lets the benchmark guests use what they import.
var benchGrants = []string{"messaging.send", "messaging.publish", "channels", "state.write", "state.read", "log", "random", "wasi"}

// The WebAssembly benchmark guests, built from internal/benchkit/guests by
// Guests. Each is also the name of its kind in the benchmark hosts.
const (
	// GuestEmpty is empty.c: every hook returns 0.
	GuestEmpty = "empty"
	// GuestWork is work.c: a CPU-bound step (an integer hash loop and a
	// small float kernel), publishing nothing.
	GuestWork = "work"
	// GuestGoWork is gowork/main.go, work.c in Go (sdk/go/lockstep).
	GuestGoWork = "gowork"
	// GuestGoShared is gowork declaring shared initialisation (built with
	// -tags sharedinit): its agents start from the module's image.
	GuestGoShared = "gowork-shared"
	// GuestExtismEmpty is extism_empty.c: empty.c's step as Extism calls
	// exports (no argument), for the Extism go-sdk peer.
	GuestExtismEmpty = "extism_empty"
)

// Sizes of the WebAssembly scenarios.
var (
	// WASMTickAgents are the host sizes of WASMTick with empty agents.
	WASMTickAgents = []int{50, 10000}
	// SpawnAgents is how many agents WASMSpawn and Spawn spawn per
	// iteration (and measure memory over).
	SpawnAgents = 1000
	// ScaleAgents is the size of lockstep-bench's scale rows: spawning,
	// holding and ticking that many empty agents.
	ScaleAgents = 100000
)

// Metric units of the WebAssembly benchmarks.
const (
	UnitFuelPerStep      = "fuel/step"      // fuel one agent step used (metered runs)
	UnitSpawnNsPerAgent  = "spawn-ns/agent" // instantiate + init, net of the first step
	UnitStepNsPerAgent   = "step-ns/agent"  // one steady tick after the spawn, per agent
	UnitCloseNsPerAgent  = "close-ns/agent" // Host.Close: every agent shut down, its memory given back
	UnitHeapBytePerAgent = "heap-B/agent"   // runtime.MemStats.HeapInuse growth per agent
	UnitSysBytePerAgent  = "sys-B/agent"    // runtime.MemStats.Sys growth per agent
	// UnitRSSBytePerAgent is the growth of the process's resident memory
	// per agent (Linux; 0 elsewhere): linear memory wasmagent maps outside
	// the Go heap included, pages never touched excluded.
	UnitRSSBytePerAgent = "rss-B/agent"
	// UnitPSSBytePerAgent is the growth of the process's proportional set
	// size per agent (Linux; RSS where the kernel does not tell it): a
	// page mapped k times counts 1/k, so the pages agents share (a
	// module's memory file, see wasmagent) count once, as the machine
	// holds them.
	UnitPSSBytePerAgent = "pss-B/agent"
)

var guestBuild struct {
	once sync.Once
	dir  string
	err  error
}

// Guests builds the benchmark guests (once per process) and returns the
// directory holding empty.wasm, work.wasm, extism_empty.wasm and
// gowork.wasm and gowork-shared.wasm: the C ones with
// internal/guests.BuildDir (clang-14, wasm32, no libc), the Go ones with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared ($GO, default go).
func Guests() (string, error) {
	g := &guestBuild
	g.once.Do(func() {
		src := filepath.Join(guests.Root(), "internal", "benchkit", "guests")
		g.dir, g.err = guests.BuildDir(src)
		if g.err != nil {
			return
		}
		gobin := os.Getenv("GO")
		if gobin == "" {
			gobin = "go"
		}
		for _, b := range []struct{ guest, tags string }{{GuestGoWork, ""}, {GuestGoShared, "sharedinit"}} {
			guest, tags := b.guest, b.tags
			cmd := exec.Command(gobin, "build", "-buildmode=c-shared", "-trimpath", "-tags", tags,
				"-o", filepath.Join(g.dir, guest+".wasm"), "./internal/benchkit/guests/gowork")
			cmd.Dir = guests.Root()
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				g.err = fmt.Errorf("benchkit: building the Go guest %s: %v\n%s", guest, err, out)
				return
			}
		}
	})
	return g.dir, g.err
}

var codeCache struct {
	once sync.Once
	dir  string
}

// cacheDir is the wazero compilation cache of the benchmark hosts,
// lockstep-bench/wazero in the user's cache directory (a temporary one if
// there is none), so that testing.Benchmark's repeated runs of a body, the
// metered and unmetered variants and later runs compile each module once.
// Compiling is outside the timed regions anyway; the cache saves wall time.
// wazero keys its entries by the module's bytes and its own version. ""
// (no cache) if neither directory can be made.
func cacheDir() string {
	c := &codeCache
	c.once.Do(func() {
		if base, err := os.UserCacheDir(); err == nil {
			dir := filepath.Join(base, "lockstep-bench", "wazero")
			if os.MkdirAll(dir, 0o755) == nil {
				c.dir = dir
				return
			}
		}
		c.dir, _ = os.MkdirTemp("", "lockstep-bench-cache-")
	})
	return c.dir
}

// newWASMHost starts a host with the benchmark kinds plus the guest module.
func newWASMHost(b testingB, guest string, workers int, unmetered bool) *host.Host {
	dir, err := Guests()
	if err != nil {
		b.Fatal(err)
	}
	h, err := host.New(host.Options{
		Seed: 1, Kinds: kinds(), Workers: workers, Logger: quiet(),
		Modules: []host.Module{{Name: guest, Path: filepath.Join(dir, guest+".wasm"), Grants: benchGrants}},
		WASM:    host.WASMConfig{Unmetered: unmetered, CacheDir: cacheDir(), AllowUnsigned: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func spawnN(b testingB, h *host.Host, kind string, n int) {
	for i := range n {
		if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: kind}); err != nil {
			b.Fatal(err)
		}
	}
}

// stepAll runs one tick and fails unless every one of agents agents ran
// without an event (a failure, a restart).
func stepAll(b testingB, h *host.Host, agents int) host.TickResult {
	res, err := h.Step()
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Agents) != agents || len(res.Events) != 0 {
		b.Fatalf("benchkit: %d agents ran at %s (want %d), events %v", len(res.Agents), res.Tick, agents, res.Events)
	}
	return res
}

// WASMTick is Tick with agents agents of a WebAssembly guest (GuestEmpty,
// GuestWork or GuestGoWork), metered unless unmetered. ns/op is the time per
// tick; it also reports ns/agent and, metered, the fuel of one agent's step.
// With one agent it measures the cost of one agent step (the host's tick
// included: compare Tick(b, 1, workers)).
func WASMTick(b *testing.B, guest string, agents, workers int, unmetered bool) {
	h := newWASMHost(b, guest, workers, unmetered)
	defer h.Close()
	spawnN(b, h, guest, agents)
	stepAll(b, h, agents) // spawn: instantiate, init, first step
	res := stepAll(b, h, agents)
	fuel := res.AgentFuel[0]
	b.ReportAllocs()
	for b.Loop() {
		stepAll(b, h, agents)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(agents), UnitNsPerAgent)
	if !unmetered {
		b.ReportMetric(float64(fuel), UnitFuelPerStep)
	}
}

// WASMCall measures one agent_step call of a WebAssembly guest without the
// host: an instance made with wasmagent directly, stepped with a minimal
// agent.Context. ns/op is the time per Step: writing the context into guest
// memory, agent_alloc, agent_step and the fuel bookkeeping. GoCall is its
// baseline.
func WASMCall(b *testing.B, guest string, unmetered bool) {
	dir, err := Guests()
	if err != nil {
		b.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(dir, guest+".wasm"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{Unmetered: unmetered, CacheDir: cacheDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	m, err := rt.Load(ctx, guest, wasm)
	if err != nil {
		b.Fatal(err)
	}
	a, err := m.New("a0", 1, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	callAgent(b, a)
}

// GoCall is WASMCall's baseline: the same calls on a Go idle agent.
func GoCall(b *testing.B) {
	k := kinds()["idle"]
	a, err := k("a0", nil)
	if err != nil {
		b.Fatal(err)
	}
	callAgent(b, a)
}

func callAgent(b *testing.B, a agent.Agent) {
	c := &callCtx{}
	if err := a.Init(c); err != nil {
		b.Fatal(err)
	}
	// Each Step is a tick's: the host takes a metered agent's fuel after
	// it, which starts the next tick's budget.
	metered, _ := a.(agent.Metered)
	b.ReportAllocs()
	for b.Loop() {
		c.tick++
		if err := a.Step(c); err != nil {
			b.Fatal(err)
		}
		if metered != nil {
			metered.TakeFuel()
		}
	}
	b.StopTimer()
	if err := a.Shutdown(c); err != nil {
		b.Fatal(err)
	}
}

// callCtx is the least agent.Context that WASMCall's guests need.
type callCtx struct {
	tick clock.Tick
	rng  *agent.Rand
}

func (c *callCtx) Tick() clock.Tick                             { return c.tick }
func (c *callCtx) Self() string                                 { return "a0" }
func (c *callCtx) Send(string, []byte) error                    { return nil }
func (c *callCtx) Publish(string, []byte) error                 { return nil }
func (c *callCtx) Join(string) error                            { return nil }
func (c *callCtx) Leave(string) error                           { return nil }
func (c *callCtx) Log(agent.Level, string)                      {}
func (c *callCtx) WriteState(string, []byte) error              { return nil }
func (c *callCtx) ReadState(string, string) ([]byte, bool)      { return nil, false }
func (c *callCtx) Infer(string, string, []byte) (uint32, error) { return 0, nil }
func (c *callCtx) Rand() *agent.Rand {
	if c.rng == nil {
		c.rng = &agent.Rand{Rand: rand.New(rand.NewPCG(1, 2))}
	}
	return c.rng
}

// WASMSpawn measures spawning n agents of a WebAssembly guest into a fresh
// host (module already compiled) and running the tick that starts them.
// ns/op is the time of the n spawns and that tick (instantiate, _initialize,
// agent_init and a first step each); it reports per agent that time
// (ns/agent), the next, steady tick (step-ns/agent), the difference, which is
// instantiate + init (spawn-ns/agent), and the memory the n agents hold:
// HeapInuse (heap-B/agent) and Sys (sys-B/agent) growth, each after a GC.
// wazero keeps linear memory on the Go heap, so heap-B/agent counts it. Sys
// grows only when the process needs more memory from the OS than it has
// ever had: run the benchmark alone (go test -bench 'Spawn') for a figure
// that means anything. Spawn is its Go-native baseline.
func WASMSpawn(b *testing.B, guest string, n int) {
	spawnBench(b, n, guest, func() *host.Host { return newWASMHost(b, guest, 1, false) })
}

// Spawn is WASMSpawn's baseline: n Go-native idle agents.
func Spawn(b *testing.B, n int) {
	spawnBench(b, n, "idle", func() *host.Host { return newHost(b, 1, host.Quotas{}) })
}

func spawnBench(b *testing.B, n int, kind string, start func() *host.Host) {
	var steady, closing time.Duration
	var heap, sys, rss, pss float64
	iters := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		h := start()
		before, rss0 := memStats(), resident()
		b.StartTimer()
		spawnN(b, h, kind, n)
		stepAll(b, h, n)
		b.StopTimer()
		t0 := time.Now()
		stepAll(b, h, n)
		steady += time.Since(t0)
		after := memStats()
		rss1 := resident()
		rss += rss1.rss - rss0.rss
		pss += rss1.pss - rss0.pss
		heap += float64(after.HeapInuse) - float64(before.HeapInuse)
		sys = max(sys, float64(after.Sys)-float64(before.Sys))
		iters++
		t1 := time.Now()
		if err := h.Close(); err != nil {
			b.Fatal(err)
		}
		closing += time.Since(t1)
		b.StartTimer()
	}
	agents := float64(iters * n)
	perAgent := float64(b.Elapsed().Nanoseconds()) / agents
	step := float64(steady.Nanoseconds()) / agents
	b.ReportMetric(perAgent, UnitNsPerAgent)
	b.ReportMetric(step, UnitStepNsPerAgent)
	b.ReportMetric(perAgent-step, UnitSpawnNsPerAgent)
	b.ReportMetric(float64(closing.Nanoseconds())/agents, UnitCloseNsPerAgent)
	b.ReportMetric(heap/agents, UnitHeapBytePerAgent)
	b.ReportMetric(sys/float64(n), UnitSysBytePerAgent)
	b.ReportMetric(rss/agents, UnitRSSBytePerAgent)
	b.ReportMetric(pss/agents, UnitPSSBytePerAgent)
}

// residentMemory is what resident measures.
type residentMemory struct{ rss, pss float64 }

// resident is the process's resident memory (/proc/self/statm) and
// proportional set size (/proc/self/smaps_rollup; the resident memory
// where it cannot be read) after the Go runtime has given back to the
// operating system what it can; zero where there is none to read.
func resident() residentMemory {
	debug.FreeOSMemory()
	var m residentMemory
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 2 {
			pages, _ := strconv.ParseFloat(f[1], 64)
			m.rss = pages * float64(os.Getpagesize())
		}
	}
	m.pss = m.rss
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return m
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			if f := strings.Fields(rest); len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					m.pss = kb * 1024
				}
			}
			break
		}
	}
	return m
}

func memStats() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}
