package rust_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/tetratelabs/wazero"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/hosttest"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
)

const ticks = 100

// grants are exactly the capabilities rustagent's imports need.
var grants = []string{"channels", "state.write", "random", "log"}

// feed is what the feeder publishes on "counts" at tick t.
func feed(t uint64) uint64 { return 3*t + 1 }

// feeder is a Go agent that publishes feed(tick) on "counts" every step,
// as an 8-byte little-endian u64 (the format of counter.c's counts).
type feeder struct{}

func (feeder) Init(agent.Context) error                   { return nil }
func (feeder) Receive(agent.Context, agent.Message) error { return nil }
func (feeder) Shutdown(agent.Context) error               { return nil }
func (feeder) Step(ctx agent.Context) error {
	return ctx.Publish("counts", binary.LittleEndian.AppendUint64(nil, feed(uint64(ctx.Tick()))))
}

func kinds() map[string]host.Factory {
	return map[string]host.Factory{"feeder": func(string, []byte) (agent.Agent, error) { return feeder{}, nil }}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// build runs build.sh once per process and returns rustagent.wasm's path.
func build(t *testing.T) string {
	t.Helper()
	rustc := os.Getenv("RUSTC")
	if rustc == "" {
		rustc = "/usr/bin/rustc"
	}
	if _, err := os.Stat(rustc); err != nil && os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
		t.Skipf("%s is missing (apt-get install rustc libstd-rust-dev-wasm32; set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead)", rustc)
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "lockstep-rust-")
		if buildErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("bash", filepath.Join(filepath.Dir(file), "build.sh"), buildDir)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("sdk/rust/build.sh: %v\n%s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "rustagent.wasm")
}

func logger(out *bytes.Buffer) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(out)
	return l
}

type result struct {
	digests [][32]byte
	sums    []uint64 // rsum's sum after each tick
	draws   []uint64 // rsum's random draw after each tick
	log     string
}

// run runs the feeder and rustagent for ticks ticks.
func run(t *testing.T, path string, workers int, record *bytes.Buffer) result {
	t.Helper()
	var logs bytes.Buffer
	opts := host.Options{
		Seed:    7,
		Kinds:   kinds(),
		Workers: workers,
		Logger:  logger(&logs),
		Modules: []host.Module{{Name: "rustagent", Path: path, Grants: grants}},
		WASM:    host.WASMConfig{AllowUnsigned: true},
	}
	opts.Record = hosttest.Record(record)
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range []host.AgentSpec{{ID: "feeder", Kind: "feeder"}, {ID: "rust", Kind: "rustagent"}} {
		if err := h.Spawn(s); err != nil {
			t.Fatal(err)
		}
	}
	var res result
	for range ticks {
		r := agenttest.Steps(t, h, 1)[0]
		res.digests = append(res.digests, r.Digest)
		b, ok := h.ReadState("rust", "rsum")
		if !ok || len(b) != 16 {
			t.Fatalf("%s: state region rust/rsum = %x, %v; want 16 bytes", r.Tick, b, ok)
		}
		res.sums = append(res.sums, binary.LittleEndian.Uint64(b))
		res.draws = append(res.draws, binary.LittleEndian.Uint64(b[8:]))
	}
	res.log = logs.String()
	return res
}

// TestRustAgent builds the Rust example with sdk/rust/build.sh and runs it
// against a Go feeder: it sums what the feeder publishes, its runs are the
// same with 1 and 4 workers, and the recorded run replays identically.
func TestRustAgent(t *testing.T) {
	path := build(t)
	var rec bytes.Buffer
	want := run(t, path, 1, &rec)

	// The agent joins "counts" in init at t0, so it is a member from t1; the
	// feeder's publication of tick u reaches it at u+1, before its step. So
	// after tick T its region holds feed(1) + ... + feed(T-1).
	var sum uint64
	for tk := range uint64(ticks) {
		if tk >= 2 {
			sum += feed(tk - 1)
		}
		if want.sums[tk] != sum {
			t.Fatalf("after t%d rsum holds sum %d, want %d", tk, want.sums[tk], sum)
		}
	}
	draws := slices.Clone(want.draws)
	slices.Sort(draws)
	if n := len(slices.Compact(draws)); n < ticks/2 {
		t.Errorf("only %d distinct random draws in %d ticks", n, ticks)
	}
	// It logs every 50th tick, with the sum it writes then.
	for _, tk := range []int{0, 50} {
		line := fmt.Sprintf("rust: sum %d at tick %d", want.sums[tk], tk)
		if !strings.Contains(want.log, line) {
			t.Errorf("log lacks %q:\n%s", line, want.log)
		}
	}
	if n := strings.Count(want.log, " at tick "); n != 2 {
		t.Errorf("%d log lines at info, want 2 (t0, t50):\n%s", n, want.log)
	}

	got := run(t, path, 4, nil)
	for i := range want.digests {
		if got.digests[i] != want.digests[i] {
			t.Fatalf("4 workers: digest differs at t%d", i)
		}
	}
	var logs bytes.Buffer
	res, err := host.Verify(bytes.NewReader(rec.Bytes()), host.ReplayOptions{Kinds: kinds(), Workers: 4, Logger: logger(&logs), AllowUnsigned: true, ModuleDirs: []string{filepath.Dir(path)}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || !res.Complete || res.Ticks != ticks {
		t.Fatalf("replay: %+v, divergence %v", res, res.Divergence)
	}
}

// TestRustAgentImports: the module imports from "lockstep" exactly the host
// functions it calls, so it needs only their capabilities; a host refuses it
// without one of them, naming the import.
func TestRustAgentImports(t *testing.T) {
	path := build(t)
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	m, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var imports []string
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		imports = append(imports, mod+"."+name)
	}
	slices.Sort(imports)
	if want := []string{"lockstep.join", "lockstep.log", "lockstep.random", "lockstep.state_write"}; !slices.Equal(imports, want) {
		t.Errorf("imports %v, want %v", imports, want)
	}
	if n := len(m.ImportedMemories()); n != 0 {
		t.Errorf("%d imported memories", n)
	}

	_, err = host.New(host.Options{
		Logger:  logger(new(bytes.Buffer)),
		Modules: []host.Module{{Name: "rustagent", Path: path, Grants: []string{"channels", "state.write", "log"}}},
		WASM:    host.WASMConfig{AllowUnsigned: true},
	})
	if err == nil || !strings.Contains(err.Error(), "random") {
		t.Fatalf("want a load error naming lockstep.random, got %v", err)
	}
}

// buildTestdata builds sdk/rust/testdata/NAME.rs with build.sh (extra:
// RUSTFLAGS_EXTRA) and returns NAME.wasm's path.
func buildTestdata(t *testing.T, name, extra string) string {
	t.Helper()
	build(t) // skips without rustc
	_, file, _, _ := runtime.Caller(0)
	dir := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(filepath.Dir(file), "build.sh"), dir, filepath.Join(filepath.Dir(file), "testdata", name+".rs"))
	cmd.Env = append(os.Environ(), "RUSTFLAGS_EXTRA="+extra)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh %s: %v\n%s", name, err, out)
	}
	return filepath.Join(dir, name+".wasm")
}

// TestRustPanic: a panic in a Rust agent (testdata/panicker.rs indexes out
// of bounds at t5) goes to the SDK's panic handler, which logs the message
// and its location at error level and traps. The failure's reason quotes
// the message, and at the default log level (warning) the log shows the
// failure with its wasm stack trace, Rust names demangled. Built with
// --cfg lockstep_quiet_panic the handler only traps and the module imports
// nothing.
func TestRustPanic(t *testing.T) {
	for _, c := range []struct {
		name, src, cfg string
		grants         []string
		says           string // in the failure's reason
		frame          string // in the stack trace
	}{
		{"logged", "panicker", "", []string{"log"},
			`(its last error log line: "panicked at 'index out of bounds: the len is 4 but the index is 9', sdk/rust/testdata/panicker.rs:19:9")`, "panicker::Panicker::pick("},
		{"quiet", "panicker", "--cfg lockstep_quiet_panic", nil, "agent_step: wasm error: unreachable", "panicker::Panicker::pick("},
		{"std", "stdpanicker", "--cfg lockstep_std", []string{"log"},
			`(its last error log line: "panicked at 'gave up after 6 steps', sdk/rust/testdata/stdpanicker.rs:18:13")`, "std::panicking::rust_panic_with_hook("},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := buildTestdata(t, c.src, c.cfg)
			var logs bytes.Buffer
			l := logger(&logs)
			l.SetLevel(logrus.WarnLevel)
			h, err := host.New(host.Options{
				Logger:  l,
				Modules: []host.Module{{Name: "panicker", Path: path, Grants: c.grants}},
				WASM:    host.WASMConfig{AllowUnsigned: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Spawn(host.AgentSpec{ID: "p", Kind: "panicker"}); err != nil {
				t.Fatal(err)
			}
			var failures []string
			for range 8 {
				res, err := h.Step()
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range res.Events {
					if e.Kind == "failed" {
						failures = append(failures, fmt.Sprintf("%s %s", res.Tick, e.Detail))
					}
				}
			}
			if len(failures) != 1 || !strings.HasPrefix(failures[0], `t5 agent "p" failed at t5 in step: agent_step: wasm error: unreachable`) || !strings.Contains(failures[0], c.says) {
				t.Fatalf("failures %q, want one at t5 saying %q", failures, c.says)
			}
			out := logs.String()
			t.Logf("log:\n%s", out)
			for _, want := range []string{
				`level=warning msg="agent \"p\" failed at t5 in step: agent_step: wasm error: unreachable`,
				c.says,
				c.frame,
				"<- agent_step(i32) i32",
				"agent=p", "tick=5",
			} {
				if !strings.Contains(out, strings.ReplaceAll(want, `"`, `\"`)) && !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "Recovering") || strings.Contains(out, "level=info") {
				t.Errorf("log at warning level has info lines:\n%s", out)
			}
		})
	}
}
