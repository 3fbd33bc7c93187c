package host_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// recorder is a Go agent that keeps every message it receives.
type recorder struct {
	mu  *sync.Mutex
	log *[]string
}

func (r recorder) Init(ctx agent.Context) error {
	if err := ctx.Join("counts"); err != nil {
		return err
	}
	return ctx.Join("floats")
}
func (r recorder) Receive(ctx agent.Context, m agent.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.log = append(*r.log, fmt.Sprintf("%s %s/%s %x", ctx.Tick(), m.From, m.Channel, m.Payload))
	return nil
}
func (recorder) Step(agent.Context) error     { return nil }
func (recorder) Shutdown(agent.Context) error { return nil }

type wasmRun struct {
	digests [][32]byte
	msgs    []string
	events  map[string]int
}

// runWASMDemo runs the default WebAssembly topology plus a recorder.
func runWASMDemo(t *testing.T, workers int, unmetered bool, record *bytes.Buffer) *wasmRun {
	t.Helper()
	topo := demoTopology(t)
	topo.WASM.Unmetered = unmetered
	if testing.Short() {
		topo.Ticks = 60 // still past faulty's first traps at t6 and t13
	}
	var mu sync.Mutex
	run := &wasmRun{events: map[string]int{}}
	kinds := testkinds.Kinds()
	kinds["recorder"] = func(string, []byte) (agent.Agent, error) { return recorder{&mu, &run.msgs}, nil }
	opts := host.Options{Kinds: kinds, Workers: workers, Logger: quiet()}
	if record != nil {
		opts.Record = record
	}
	h, err := topo.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Spawn(host.AgentSpec{ID: "zz-recorder", Kind: "recorder"}); err != nil {
		t.Fatal(err)
	}
	for range topo.Ticks {
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		run.digests = append(run.digests, r.Digest)
		for _, e := range r.Events {
			run.events[e.Kind]++
		}
	}
	return run
}

// TestWASMDeterminism runs C, C++ and Go agents (floats, random, state
// regions, traps and restarts) with 1, 2 and 8 workers under GOMAXPROCS 1
// and 2, and replays the recorded run: every tick's digest is the same.
func TestWASMDeterminism(t *testing.T) {
	var log bytes.Buffer
	want := runWASMDemo(t, 2, false, &log)
	if want.events["failed"] == 0 || want.events["restarted"] == 0 {
		t.Fatalf("the demo should fail and restart: %v", want.events)
	}
	procsList, workersList := []int{1, 2}, []int{1, 2, 8}
	if testing.Short() {
		procsList, workersList = []int{2}, []int{1, 8}
	}
	for _, procs := range procsList {
		for _, workers := range workersList {
			prev := runtime.GOMAXPROCS(procs)
			got := runWASMDemo(t, workers, false, nil)
			runtime.GOMAXPROCS(prev)
			for i := range want.digests {
				if got.digests[i] != want.digests[i] {
					t.Fatalf("GOMAXPROCS %d, %d workers: digest differs at t%d", procs, workers, i)
				}
			}
		}
	}
	kinds := testkinds.Kinds()
	kinds["recorder"] = func(string, []byte) (agent.Agent, error) {
		var mu sync.Mutex
		return recorder{&mu, new([]string)}, nil
	}
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	res, err := host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: kinds, Workers: 8, Logger: quiet(), AllowUnsigned: true, ModuleDirs: []string{mods}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || !res.Complete || res.Ticks != uint64(len(want.digests)) {
		t.Fatalf("replay: %+v, divergence %v", res, res.Divergence)
	}
}

// TestWASMMeteredAndUnmeteredAgree: metering changes fuel accounting, never
// what agents say.
func TestWASMMeteredAndUnmeteredAgree(t *testing.T) {
	metered := runWASMDemo(t, 2, false, nil)
	unmetered := runWASMDemo(t, 2, true, nil)
	if len(metered.msgs) == 0 || len(metered.msgs) != len(unmetered.msgs) {
		t.Fatalf("%d messages metered, %d unmetered", len(metered.msgs), len(unmetered.msgs))
	}
	for i := range metered.msgs {
		if metered.msgs[i] != unmetered.msgs[i] {
			t.Fatalf("message %d differs:\n metered   %s\n unmetered %s", i, metered.msgs[i], unmetered.msgs[i])
		}
	}
}

// TestWASMNaNsAreCanonical checks the bits floaty publishes: every NaN it
// makes (0/0, sqrt(-x), inf-inf, 0*inf, NaN+1, libm's log(-x), f32 0/0) is
// the canonical quiet NaN, whatever the CPU made; a non-NaN result is
// exact.
func TestWASMNaNsAreCanonical(t *testing.T) {
	run := runWASMDemo(t, 1, false, nil)
	seen := 0
	for _, m := range run.msgs {
		var tick uint64
		var payload []byte
		if _, err := fmt.Sscanf(m, "t%d floaty/floats %x", &tick, &payload); err != nil {
			continue
		}
		seen++
		w := func(i int) uint64 { return binary.LittleEndian.Uint64(payload[8*i:]) }
		for i := range 6 {
			if w(i) != 0x7ff8000000000000 {
				t.Fatalf("t%d word %d = %016x, want the canonical f64 NaN", tick, i, w(i))
			}
		}
		if w(6) != 0x7fc00000 {
			t.Fatalf("t%d f32 NaN = %08x, want 7fc00000", tick, w(6))
		}
		// floaty publishes at tick t-1 for x = (t-1)+1 = t.
		if want := math.Float64bits(math.Sqrt(float64(tick) + 1)); w(7) != want {
			t.Fatalf("t%d sqrt = %016x, want %016x", tick, w(7), want)
		}
	}
	if seen < 50 {
		t.Fatalf("saw %d float messages", seen)
	}
}
