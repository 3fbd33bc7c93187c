// Package c_test tests the C SDK (lockstep.h) with small agents of its own
// (testdata/*.c), built with clang-14 like the examples.
package c_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/hosttest"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
)

var modDir string

func TestMain(m *testing.M) {
	dir, err := guests.BuildDir("testdata")
	if err != nil {
		if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
			fmt.Fprintf(os.Stderr, "sdk/c: skipping, cannot build the test agents (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead): %v\n", err)
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	modDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// modules are the test agents: each a kind of its name.
func modules() []host.Module {
	return []host.Module{
		{Name: "oob", Path: filepath.Join(modDir, "oob.wasm")},
		{Name: "aborter", Path: filepath.Join(modDir, "aborter.wasm"), Grants: []string{"log"}},
		{Name: "crasher", Path: filepath.Join(modDir, "crasher.wasm"), Grants: []string{"log"}},
	}
}

// warnings is a logger at the daemon's default level, warning, writing to
// out in logrus's text format.
func warnings(out io.Writer) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(out)
	l.SetLevel(logrus.WarnLevel)
	return l
}

type run struct {
	digests  [][32]byte
	failures []string // "tN: detail" of every failed event
	log      string
	err      error // the last Step's
}

// runAgents runs agents (id = kind) for up to ticks ticks on engine,
// stopping at the first error.
func runAgents(t *testing.T, engine string, ticks int, record *bytes.Buffer, kinds ...string) run {
	t.Helper()
	var logs bytes.Buffer
	h, err := host.New(host.Options{
		Seed:    3,
		Logger:  warnings(&logs),
		Modules: modules(),
		WASM:    host.WASMConfig{AllowUnsigned: true, Engine: engine},
		Record:  hosttest.Record(record),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		if err := h.Spawn(host.AgentSpec{ID: k, Kind: k}); err != nil {
			t.Fatal(err)
		}
	}
	var r run
	for range ticks {
		res, err := h.Step()
		r.err = err
		if res.Agents != nil {
			r.digests = append(r.digests, res.Digest)
			for _, e := range res.Events {
				if e.Kind == "failed" {
					r.failures = append(r.failures, fmt.Sprintf("%s: %s", res.Tick, e.Detail))
				}
			}
		}
		if err != nil {
			break
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	r.log = logs.String()
	return r
}

// TestFailuresAreReadable: an out-of-bounds access and an ls_abort each
// fail their agent at t5; at the default log level (warning) the log has
// one line for each failure, naming the agent, tick, phase and reason (for
// ls_abort, its message), with the wasm stack trace of where it happened,
// function names from the module's name section.
func TestFailuresAreReadable(t *testing.T) {
	for _, c := range []struct {
		kind   string
		reason string // the failure's reason, after "agent_step: "
		stack  string
	}{
		{"oob", "wasm error: out of bounds memory access", "read_at(i32) i32 <- ls_agent_step(i32) i32 <- lockstep__agent_step(i32) i32"},
		{"aborter", `wasm error: unreachable (its last error log line: "config: rate is missing")`, "ls_abort() <- check_config(i64) <- ls_agent_step(i32) i32 <- lockstep__agent_step(i32) i32"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			r := runAgents(t, "", 8, nil, c.kind)
			if r.err != nil {
				t.Fatal(r.err)
			}
			want := fmt.Sprintf(`agent %q failed at t5 in step: agent_step: %s`, c.kind, c.reason)
			if len(r.failures) != 1 || r.failures[0] != "t5: "+want {
				t.Fatalf("failures %q, want one: %q", r.failures, want)
			}
			lines := strings.Split(strings.TrimSpace(r.log), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d log lines at warning level, want 1:\n%s", len(lines), r.log)
			}
			for _, s := range []string{"level=warning", fmt.Sprintf("msg=%q", want), "agent=" + c.kind, "tick=5", fmt.Sprintf("wasm_stack=%q", c.stack)} {
				if !strings.Contains(lines[0], s) {
					t.Errorf("log line lacks %s:\n%s", s, lines[0])
				}
			}
		})
	}
}

// TestHaltNamesItsCause: an agent that fails at every step from t5 is
// restarted by the root group 10 times; its 11th failure, at t15, escalates
// past the root and halts the run. The error Step returns, the error line
// of the log and the replay log's end name the agent, the tick and the
// failure. Failure lines are rate limited: the log has 3 of the agent's 11
// failures.
func TestHaltNamesItsCause(t *testing.T) {
	var rec bytes.Buffer
	r := runAgents(t, "", 30, &rec, "crasher")
	if !errors.Is(r.err, host.ErrHalted) || len(r.digests) != 16 {
		t.Fatalf("after %d ticks: %v; want a halt at t15", len(r.digests), r.err)
	}
	cause := `agent "crasher" failed at t15 in step: agent_step: wasm error: unreachable (its last error log line: "crasher: giving up")`
	for _, s := range []string{"the run halted at t15: " + cause, `group "root": more than 10 restarts within 100 ticks`} {
		if !strings.Contains(r.err.Error(), s) {
			t.Errorf("Step's error lacks %q:\n%v", s, r.err)
		}
	}
	failed := 0
	for _, line := range strings.Split(strings.TrimSpace(r.log), "\n") {
		switch {
		case strings.Contains(line, "level=warning") && strings.Contains(line, "event=failed"):
			failed++
		case strings.Contains(line, "level=error") && strings.Contains(line, "event=halted"):
			if !strings.Contains(line, strings.ReplaceAll(cause, `"`, `\"`)) {
				t.Errorf("the halt's log line does not name its cause:\n%s", line)
			}
		default:
			t.Errorf("unexpected log line:\n%s", line)
		}
	}
	if failed != 3 {
		t.Errorf("%d failure lines, want 3 (the rate limit per agent):\n%s", failed, r.log)
	}
	_, records, err := replaylog.ReadFile(writeTemp(t, rec.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	end := records[len(records)-1].GetEnd()
	if end == nil || !strings.Contains(end.Reason, cause) {
		t.Fatalf("the replay log's end %v does not name the cause", end)
	}
}

// TestStackTracesStayOutOfDigests: the same failing run on wazero's
// compiler and interpreter has the same digests, its replay logs are the
// same but for their headers' creation, no event in them holds a stack
// trace (the log lines do), and each verifies on the other engine.
func TestStackTracesStayOutOfDigests(t *testing.T) {
	var recs [2]bytes.Buffer
	var runs [2]run
	engines := []string{"compiler", "interpreter"}
	for i, e := range engines {
		runs[i] = runAgents(t, e, 30, &recs[i], "oob", "aborter", "crasher")
		if !errors.Is(runs[i].err, host.ErrHalted) {
			t.Fatalf("%s: %v, want a halt", e, runs[i].err)
		}
		if !strings.Contains(runs[i].log, `wasm_stack="read_at(i32) i32 <- ls_agent_step(i32) i32 <- lockstep__agent_step(i32) i32"`) {
			t.Fatalf("%s: no stack trace in the log:\n%s", e, runs[i].log)
		}
	}
	if !slices.Equal(runs[0].digests, runs[1].digests) {
		t.Fatal("the compiler's digests differ from the interpreter's")
	}
	if !slices.Equal(runs[0].failures, runs[1].failures) {
		t.Fatalf("failures differ:\n%q\n%q", runs[0].failures, runs[1].failures)
	}
	for i, e := range engines {
		_, records, err := replaylog.ReadFile(writeTemp(t, recs[i].Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		events := 0
		for _, rc := range records {
			for _, ev := range rc.GetTick().GetEvents() {
				events++
				for _, s := range []string{"read_at", "check_config", "ls_abort(", "agent_step(i32) i32", "wasm stack", " <- "} {
					if strings.Contains(ev.Detail, s) {
						t.Errorf("%s: an event of the replay log holds stack trace text %q: %s", e, s, ev.Detail)
					}
				}
			}
		}
		if events == 0 {
			t.Fatalf("%s: no events in the replay log", e)
		}
		res, err := host.Verify(bytes.NewReader(recs[i].Bytes()), host.ReplayOptions{
			Logger: warnings(io.Discard), AllowUnsigned: true, ModuleDirs: []string{modDir}, Engine: engines[1-i],
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Identical() {
			t.Fatalf("the %s's log replayed on the %s: divergence %v", e, engines[1-i], res.Divergence)
		}
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "run.log")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKinds: an agent written with lockstep.h's typed writers asks a model
// whose answer holds every kind of value (a label tensor, sequences of
// maps with int64 and string keys, float16, int64, int32, uint8 and string
// tensors) and reads each exactly as the model answered it.
func TestKinds(t *testing.T) {
	modeltest.CheckKinds(t, filepath.Join(modDir, "kinds.wasm"))
}
