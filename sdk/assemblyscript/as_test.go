package assemblyscript_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/hosttest"
)

const ticks = 100

// build runs build.sh into a temporary directory with the given extra
// environment and entries (none: the example agent) and returns the
// directory. Without node
// and npm it skips, unless LOCKSTEP_REQUIRE_GUESTS is set.
func build(t *testing.T, env []string, entries ...string) string {
	t.Helper()
	_, errNode := exec.LookPath("node")
	_, errNPM := exec.LookPath("npm")
	if (errNode != nil || errNPM != nil) && os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
		t.Skip("node and npm are not installed (scripts/setup.sh); set LOCKSTEP_REQUIRE_GUESTS to fail instead")
	}
	_, file, _, _ := runtime.Caller(0)
	out := t.TempDir()
	cmd := exec.Command("bash", append([]string{filepath.Join(filepath.Dir(file), "build.sh"), out}, entries...)...)
	cmd.Env = append(os.Environ(), env...)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, msg)
	}
	t.Logf("%s", msg)
	return out
}

// goSum is the Go twin of examples/wasm/asagent: it sums the u64 counts
// published on "counts" and keeps the sum in its state region "gosum".
type goSum struct{ sum uint64 }

func (g *goSum) Init(ctx agent.Context) error { g.sum = 0; return ctx.Join("counts") }
func (g *goSum) Receive(_ agent.Context, m agent.Message) error {
	if m.Channel == "counts" && len(m.Payload) == 8 {
		g.sum += binary.LittleEndian.Uint64(m.Payload)
	}
	return nil
}
func (g *goSum) Step(ctx agent.Context) error {
	return ctx.WriteState("gosum", binary.LittleEndian.AppendUint64(nil, g.sum))
}
func (g *goSum) Shutdown(agent.Context) error { return nil }

func kinds() map[string]host.Factory {
	return map[string]host.Factory{"gosum": func(string, []byte) (agent.Agent, error) { return &goSum{}, nil }}
}

// logs collects log lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Levels() []logrus.Level { return logrus.AllLevels }
func (l *logs) Fire(e *logrus.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, e.Message)
	return nil
}
func (l *logs) find(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r []string
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			r = append(r, x)
		}
	}
	return r
}

func logger(l *logs) *logrus.Logger {
	lg := logrus.New()
	lg.SetOutput(bytes.NewBuffer(nil))
	lg.SetLevel(logrus.DebugLevel)
	if l != nil {
		lg.AddHook(l)
	}
	return lg
}

type run struct {
	digests  [][32]byte
	asSums   []uint64 // asagent's "assum" sum after each tick
	draws    []uint64 // asagent's random draw after each tick
	goSums   []uint64 // goSum's sum after each tick
	counts   []uint64 // the counter's count after each tick
	failures []string
}

// runAgents runs a counter (fed an external input every third tick), the
// AssemblyScript agent and its Go twin for ticks ticks.
func runAgents(t *testing.T, asDir string, workers int, record *bytes.Buffer, l *logs) *run {
	t.Helper()
	gdir, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	opts := host.Options{
		Seed:    7,
		Kinds:   kinds(),
		Workers: workers,
		Logger:  logger(l),
		Modules: []host.Module{
			{Name: "asagent", Path: filepath.Join(asDir, "asagent.wasm"), Grants: []string{"channels", "state.write", "random", "log"}},
			{Name: "counter", Path: filepath.Join(gdir, "counter.wasm"), Grants: []string{"messaging.publish", "state.write"}},
		},
		WASM:   host.WASMConfig{AllowUnsigned: true},
		Record: hosttest.Record(record),
	}
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range []host.AgentSpec{{ID: "c1", Kind: "counter"}, {ID: "as1", Kind: "asagent"}, {ID: "go1", Kind: "gosum"}} {
		if err := h.Spawn(s); err != nil {
			t.Fatal(err)
		}
	}
	r := &run{}
	u64 := func(owner, name string, off int) uint64 {
		b, ok := h.ReadState(owner, name)
		if !ok || len(b) < off+8 {
			t.Fatalf("after %s: %s has no region %q of %d+ bytes (%x)", h.Tick(), owner, name, off+8, b)
		}
		return binary.LittleEndian.Uint64(b[off:])
	}
	for i := range ticks {
		if i%3 == 0 {
			if err := h.Send("c1", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		res, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Events {
			if e.Kind == "failed" || e.Kind == "halted" || e.Kind == "stopped" {
				r.failures = append(r.failures, e.Agent+": "+e.Kind+": "+e.Detail)
			}
		}
		r.digests = append(r.digests, res.Digest)
		r.asSums = append(r.asSums, u64("as1", "assum", 0))
		r.draws = append(r.draws, u64("as1", "assum", 8))
		r.goSums = append(r.goSums, u64("go1", "gosum", 0))
		r.counts = append(r.counts, u64("c1", "count", 0))
	}
	if b, _ := h.ReadState("as1", "assum"); len(b) != 16 {
		t.Fatalf("assum has %d bytes, want 16", len(b))
	}
	return r
}

// TestAssemblyScriptAgent builds examples/wasm/asagent with the SDK, runs
// it next to a C counter and a Go agent doing the same sums, and checks its
// state, its logs, its determinism across worker counts and its replay.
func TestAssemblyScriptAgent(t *testing.T) {
	dir := build(t, nil)
	var l logs
	var rec bytes.Buffer
	want := runAgents(t, dir, 1, &rec, &l)
	if len(want.failures) > 0 {
		t.Fatalf("failures: %v", want.failures)
	}
	// The counter publishes its count every step; both summers joined
	// "counts" in their init (effective from the next tick) and see it one
	// tick later. Independently of either: the sum after tick i is the
	// counts published at ticks 1..i-1.
	var sum uint64
	for i := range ticks {
		if i >= 2 {
			sum += want.counts[i-1]
		}
		if want.asSums[i] != want.goSums[i] {
			t.Fatalf("after t%d: asagent's sum %d, the Go twin's %d", i, want.asSums[i], want.goSums[i])
		}
		if want.asSums[i] != sum {
			t.Fatalf("after t%d: asagent's sum %d, want %d (counts %v)", i, want.asSums[i], sum, want.counts[:i+1])
		}
	}
	if sum == 0 {
		t.Fatal("nothing was summed")
	}
	distinct := map[uint64]bool{}
	for _, d := range want.draws {
		distinct[d] = true
	}
	if len(distinct) < ticks-1 {
		t.Fatalf("%d distinct random draws in %d ticks", len(distinct), ticks)
	}
	if got := l.find("asagent as1 at tick 50: sum "); len(got) != 1 {
		t.Fatalf("log lines at tick 50: %q (all: %q)", got, l.find("asagent"))
	}
	t.Logf("sum after t%d: %d; %s", ticks-1, sum, l.find("asagent as1 at tick 50")[0])

	got := runAgents(t, dir, 4, nil, nil)
	for i := range want.digests {
		if got.digests[i] != want.digests[i] {
			t.Fatalf("4 workers: digest differs at t%d", i)
		}
	}

	gdir, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	res, err := host.Verify(bytes.NewReader(rec.Bytes()), host.ReplayOptions{Kinds: kinds(), Workers: 4, Logger: logger(nil), AllowUnsigned: true, ModuleDirs: []string{dir, gdir}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || !res.Complete || res.Ticks != ticks {
		t.Fatalf("replay: %+v, divergence %v", res, res.Divergence)
	}
}

// TestAssemblyScriptAbort: an AssemblyScript abort (here an out-of-range
// index) goes to the SDK's handler, which traps; the agent fails at that
// tick and is restarted. The default handler, lockstepAbortLog, imports
// lockstep.log, and the failure's reason quotes AssemblyScript's message;
// lockstepAbort imports nothing (the module loads with no grants). At the default log
// level (warning) the log has one line for the failure, with its reason and
// its wasm stack trace.
func TestAssemblyScriptAbort(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	entry := filepath.Join(filepath.Dir(file), "testdata", "aborter.ts")
	for _, c := range []struct {
		handler string
		grants  []string
		says    string // in the failure's reason
		stack   string // in the log line's wasm_stack
	}{
		// lockstepAbort, one instruction, is inlined.
		{"lockstepAbort", nil, "unreachable", `wasm_stack="sdk/assemblyscript/lockstep/agent_step(i32) i32"`},
		{"", []string{"log"}, `its last error log line: "abort: Index out of range at ~lib/array.ts:`, // lockstepAbortLog
			`wasm_stack="sdk/assemblyscript/lockstep/lockstepAbortLog(i32,i32,i32,i32) <- sdk/assemblyscript/lockstep/agent_step(i32) i32"`},
	} {
		t.Run(cmp.Or(c.handler, "default"), func(t *testing.T) {
			var env []string
			if c.handler != "" {
				env = []string{"LOCKSTEP_AS_ABORT=" + c.handler}
			}
			dir := build(t, env, entry)
			var out bytes.Buffer
			warnings := logrus.New()
			warnings.SetOutput(&out)
			warnings.SetLevel(logrus.WarnLevel)
			h, err := host.New(host.Options{
				Logger:  warnings,
				Modules: []host.Module{{Name: "aborter", Path: filepath.Join(dir, "aborter.wasm"), Grants: c.grants}},
				WASM:    host.WASMConfig{AllowUnsigned: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Spawn(host.AgentSpec{ID: "ab", Kind: "aborter"}); err != nil {
				t.Fatal(err)
			}
			events := map[string]int{}
			for range 10 {
				res, err := h.Step()
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range res.Events {
					events[e.Kind]++
					if e.Kind == "failed" && (res.Tick != 5 || !strings.Contains(e.Detail, "unreachable") || !strings.Contains(e.Detail, c.says)) {
						t.Fatalf("failed at %s: %s", res.Tick, e.Detail)
					}
				}
			}
			if events["failed"] != 1 || events["restarted"] != 1 {
				t.Fatalf("events: %v", events)
			}
			t.Logf("log:\n%s", out.String())
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d log lines at warning level, want 1:\n%s", len(lines), out.String())
			}
			for _, s := range []string{"level=warning", `msg="agent \"ab\" failed at t5 in step: agent_step: wasm error: unreachable`,
				strings.ReplaceAll(c.says, `"`, `\"`), "agent=ab", "tick=5", c.stack} {
				if !strings.Contains(lines[0], s) {
					t.Errorf("log line lacks %s:\n%s", s, lines[0])
				}
			}
		})
	}
}
