package wasmagent_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

var modDir string

func TestMain(m *testing.M) {
	dir, err := guests.BuildDir("testdata")
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	modDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func mod(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(modDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadRejectsBadModules(t *testing.T) {
	ctx := context.Background()
	good := mod(t, "good")
	cases := []struct {
		name string
		cfg  wasmagent.Config
		wasm []byte
		want string
	}{
		{"text", wasmagent.Config{}, []byte("hello, I am not a module"), "not a WebAssembly module"},
		{"truncated", wasmagent.Config{}, good[:len(good)/2], "malformed"},
		{"oversized", wasmagent.Config{MaxModuleSize: 100}, good, "over the 100-byte limit"},
		{"no_step", wasmagent.Config{}, mod(t, "no_step"), "missing export agent_step (i32) -> (i32)"},
		{"bad_step_sig", wasmagent.Config{}, mod(t, "bad_step_sig"), "export agent_step has signature (i64) -> (i32), ABI v1 wants (i32) -> (i32)"},
		{"bad_shared_init", wasmagent.Config{}, mod(t, "bad_shared_init"), "export lockstep_shared_init must take and return nothing"},
		{"unknown_import", wasmagent.Config{}, mod(t, "unknown_import"), "imports lockstep.teleport, which the host does not provide"},
		{"env_import", wasmagent.Config{}, mod(t, "env_import"), `unknown module "env"`},
		{"abi2", wasmagent.Config{}, mod(t, "abi2"), "built for agent ABI 2, this host speaks ABI 1"},
		{"no_memory", wasmagent.Config{}, mod(t, "no_memory"), `does not export its memory`},
		{"big_memory", wasmagent.Config{MaxPages: 256}, mod(t, "big_memory"), "does not compile"},
		{"start_loop", wasmagent.Config{}, mod(t, "start_loop"), "cannot be instantiated: start function: wasmagent: fuel exhausted: lockstep_start used the last of the 20000000 fuel of instantiation"},
		{"start_recurse", wasmagent.Config{}, mod(t, "start_recurse"), "cannot be instantiated: start function: wasmagent: call depth limit exceeded"},
		{"start_recurse_interpreted", wasmagent.Config{Engine: wasmagent.EngineInterpreter}, mod(t, "start_recurse"), "cannot be instantiated: start function: wasmagent: call depth limit exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt, err := wasmagent.NewRuntime(ctx, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(ctx)
			_, err = rt.Load(ctx, c.name+".wasm", c.wasm)
			if !errors.Is(err, wasmagent.ErrInvalidModule) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) {
				t.Fatalf("Load = %v\nwant ErrInvalidModule naming %q and saying %q", err, c.name+".wasm", c.want)
			}
			// The runtime keeps working after a rejection.
			if c.cfg.MaxModuleSize != 0 {
				return
			}
			if _, err := rt.Load(ctx, "good.wasm", good); err != nil {
				t.Fatalf("good module after a rejection: %v", err)
			}
		})
	}
}

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// faultRun spawns a faults agent and a good one, feeds the faults agent one
// fault per tick and returns every tick's result.
func faultRun(t *testing.T, workers int) []host.TickResult {
	t.Helper()
	h, err := host.New(host.Options{
		Seed: 9, Workers: workers, Logger: quiet(), Kinds: testkinds.Kinds(),
		Modules: []host.Module{
			{Name: "faults", Path: filepath.Join(modDir, "faults.wasm"), Fuel: 5_000_000, Grants: []string{"messaging.send"}},
			{Name: "good", Path: filepath.Join(modDir, "good.wasm"), Grants: []string{"channels", "messaging.publish"}},
		},
		WASM:   host.WASMConfig{MaxPages: 32, AllowUnsigned: true},
		Groups: []host.Group{{Name: "g", OnFailure: host.Restart, MaxRestarts: 100, Window: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range []host.AgentSpec{{ID: "f", Kind: "faults", Group: "g"}, {ID: "e", Kind: "good"}, {ID: "sink", Kind: "script"}} {
		if err := h.Spawn(s); err != nil {
			t.Fatal(err)
		}
	}
	var out []host.TickResult
	for _, fault := range []string{"", "t", "l", "s", "g", "r", "b", ""} {
		if fault != "" {
			if err := h.Send("f", []byte(fault)); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.Publish("in", []byte("ping")); err != nil && out != nil {
			t.Fatal(err)
		}
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestFaultsAreFailuresOfOneAgent(t *testing.T) {
	res := faultRun(t, 2)
	want := []string{
		"",
		"wasm error: unreachable",
		"fuel exhausted",
		"call depth limit exceeded: agent_receive nested calls deeper than 1000 levels", // before C's shadow stack runs out
		"agent_receive returned 7", // memory.grow failed at the page limit
		"agent_receive returned 3",
		"", // an out-of-bounds pointer is an error code, not a fault
		"",
	}
	for i, r := range res {
		var failed, restarted string
		for _, e := range r.Events {
			switch e.Kind {
			case "failed":
				failed = e.Agent + ": " + e.Detail
			case "restarted":
				restarted = e.Agent
			}
		}
		if want[i] == "" {
			if failed != "" {
				t.Errorf("t%d: unexpected failure %s", i, failed)
			}
			continue
		}
		if !strings.HasPrefix(failed, "f: ") || !strings.Contains(failed, want[i]) || restarted != "f" {
			t.Errorf("t%d: failure %q restarted %q, want f failing with %q and restarted", i, failed, restarted, want[i])
		}
	}
	for i, r := range res {
		for j, id := range r.Agents {
			if id == "e" && r.AgentFuel[j] == 0 {
				t.Errorf("t%d: the good agent used no fuel", i)
			}
		}
	}
	// The same faults give the same digests, with any number of workers.
	again := faultRun(t, 1)
	for i := range res {
		if res[i].Digest != again[i].Digest {
			t.Fatalf("t%d: digest differs between 2 workers and 1", i)
		}
	}
}

// TestWatchdogIsABackstop: with metering off, only the wall-clock watchdog
// stops an endless loop; the host then says the run is not reproducible.
func TestWatchdogIsABackstop(t *testing.T) {
	h, err := host.New(host.Options{
		Logger:  quiet(),
		Modules: []host.Module{{Name: "faults", Path: filepath.Join(modDir, "faults.wasm"), Grants: []string{"messaging.send"}}},
		WASM:    host.WASMConfig{Unmetered: true, Watchdog: 50 * time.Millisecond, AllowUnsigned: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Spawn(host.AgentSpec{ID: "f", Kind: "faults"}); err != nil {
		t.Fatal(err)
	}
	if err := h.Send("f", []byte("l")); err != nil {
		t.Fatal(err)
	}
	r, err := h.Step()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Events) == 0 || !strings.Contains(r.Events[0].Detail, "watchdog fired") {
		t.Fatalf("events = %+v", r.Events)
	}
	if h.Reproducible() {
		t.Fatal("the host still claims the run is reproducible")
	}
}

// TestTrapStackTraces: a trap's error is the trap alone, the same on both
// engines; its wasm stack trace (agent.StackTrace) names the functions from
// the module's name section, which the rewrite keeps.
func TestTrapStackTraces(t *testing.T) {
	ctx := context.Background()
	want := map[string][2]string{
		"t": {"agent_receive: wasm error: unreachable", "agent_receive(i32) i32"},
		"l": {"wasmagent: fuel exhausted: agent_receive used the last", "agent_receive(i32) i32"},
		"s": {"wasmagent: call depth limit exceeded: agent_receive nested calls deeper than 1000 levels", "deep(i32) i32 (30 times)\n... maybe followed by omitted frames"},
	}
	for _, eng := range []string{wasmagent.EngineCompiler, wasmagent.EngineInterpreter} {
		rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{Engine: eng, Fuel: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close(ctx)
		m, err := rt.Load(ctx, "faults", mod(t, "faults"))
		if err != nil {
			t.Fatal(err)
		}
		for fault, w := range want {
			a, err := m.New("f", 1, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			out := engine.NewOutbox(&engine.Agent{ID: "f"}, 0)
			if err := a.Init(out); err != nil {
				t.Fatal(err)
			}
			err = a.Receive(out, agent.Message{Payload: []byte(fault)})
			if err == nil || !strings.HasPrefix(err.Error(), w[0]) || strings.Contains(err.Error(), "\n") || agent.StackTrace(err) != w[1] {
				t.Errorf("%s, fault %q: %v\nstack trace:\n%s\nwant %q and stack trace\n%s", eng, fault, err, agent.StackTrace(err), w[0], w[1])
			}
		}
	}
}
