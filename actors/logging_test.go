package actors_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// tracedErr is an error with a stack trace, as a WebAssembly trap has.
type tracedErr struct{ msg, trace string }

func (e tracedErr) Error() string      { return e.msg }
func (e tracedErr) StackTrace() string { return e.trace }

// failer fails its step when it gets the input "fail", with a traced error.
type failer struct{ fail bool }

func (f *failer) Init(agent.Context) error { return nil }
func (f *failer) Receive(_ agent.Context, m agent.Message) error {
	f.fail = string(m.Payload) == "fail"
	return nil
}
func (f *failer) Step(ctx agent.Context) error {
	if f.fail {
		return tracedErr{"wasm error: unreachable", fmt.Sprintf("crash(i32)\nagent_step(i32) i32 at %s", ctx.Self())}
	}
	return nil
}
func (f *failer) Shutdown(agent.Context) error { return nil }

// entries collects log entries.
type entries struct {
	mu  sync.Mutex
	all []*logrus.Entry
}

func (c *entries) Levels() []logrus.Level { return logrus.AllLevels }
func (c *entries) Fire(e *logrus.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, e)
	return nil
}

// take returns the entries so far, formatted "level: message [fields]",
// and forgets them.
func (c *entries) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.all {
		line := e.Level.String() + ": " + e.Message
		if s, ok := e.Data["wasm_stack"]; ok {
			line += fmt.Sprintf(" [wasm_stack=%s]", s)
		}
		if s, ok := e.Data["from"]; ok {
			line += fmt.Sprintf(" [from=%s]", s)
		}
		out = append(out, line)
	}
	c.all = nil
	return out
}

// failers starts a system of n failers (a0, a1, …) in group g, which
// restarts them up to 1000 times in 100 ticks, logging to a logger at level.
func failers(t *testing.T, n int, level logrus.Level) (*actors.System, *entries) {
	t.Helper()
	e, err := engine.New(engine.Config{Groups: []engine.GroupSpec{{Name: "g", MaxRestarts: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	c := &entries{}
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.SetLevel(level)
	log.AddHook(c)
	sys, err := actors.Start(actors.Config{Engine: e, Factory: func(*engine.Agent) (agent.Agent, error) { return &failer{}, nil }, Workers: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	for i := range n {
		if err := sys.Apply(engine.Command{Spawn: &engine.SpawnSpec{ID: fmt.Sprintf("a%d", i), Group: "g"}}); err != nil {
			t.Fatal(err)
		}
	}
	return sys, c
}

// fail makes agents ids fail at the next tick and runs it.
func fail(t *testing.T, sys *actors.System, ids ...string) actors.Outcome {
	t.Helper()
	for _, id := range ids {
		if err := sys.Apply(engine.Command{Input: &engine.Input{To: id, Payload: []byte("fail")}}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := sys.Step()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProtoactorLinesAtDebug: protoactor's own log lines ("[ACTOR]
// Recovering self=…" for every failure) come out at debug level, never at
// info or above; the failure's own line is a warning.
func TestProtoactorLinesAtDebug(t *testing.T) {
	for _, level := range []logrus.Level{logrus.InfoLevel, logrus.DebugLevel} {
		sys, c := failers(t, 1, level)
		fail(t, sys, "a0")
		sys.Close()
		var recovering, warnings int
		for _, l := range c.take() {
			switch {
			case strings.Contains(l, "Recovering"):
				if !strings.HasPrefix(l, "debug: ") || !strings.Contains(l, "[from=protoactor]") {
					t.Errorf("at %s: %s", level, l)
				}
				recovering++
			case strings.HasPrefix(l, "warning: "):
				warnings++
			case strings.Contains(l, "[from=protoactor]") && !strings.HasPrefix(l, "debug: "):
				t.Errorf("at %s, a protoactor line above debug: %s", level, l)
			}
		}
		if want := map[logrus.Level]int{logrus.InfoLevel: 0, logrus.DebugLevel: 1}[level]; recovering != want {
			t.Errorf("at %s: %d recovering lines, want %d", level, recovering, want)
		}
		if warnings != 1 {
			t.Errorf("at %s: %d warnings, want the failure's", level, warnings)
		}
	}
}

// TestFailureLines: a failure is one warning line with its detail and its
// stack trace (which the failed event carries in Trace, not in Detail); a
// restart an info line; at most FailureLinesPerTick failure lines a tick,
// then a count; at most FailureLinesPerAgent lines of one agent within
// FailureLogWindow ticks, then a count in its next line.
func TestFailureLines(t *testing.T) {
	sys, c := failers(t, 12, logrus.InfoLevel)
	if _, err := sys.Step(); err != nil { // t0: spawns
		t.Fatal(err)
	}
	c.take()

	out := fail(t, sys, "a3")
	ev := out.Ready.Events[0]
	if ev.Kind != engine.EventFailed || ev.Trace != "crash(i32)\nagent_step(i32) i32 at a3" || strings.Contains(ev.Detail, "crash") {
		t.Fatalf("event %+v", ev)
	}
	want := []string{
		`warning: agent "a3" failed at t1 in step: wasm error: unreachable [wasm_stack=crash(i32) <- agent_step(i32) i32 at a3]`,
		`info: agent "a3" restarted at t1: a fresh instance starts at the next tick`,
	}
	if got := c.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("t1 logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Every agent at once: 8 lines, then a count; info lines likewise.
	var all []string
	for i := range 12 {
		all = append(all, fmt.Sprintf("a%d", i))
	}
	fail(t, sys, all...)
	got := c.take()
	var warnings, infos []string
	for _, l := range got {
		if strings.HasPrefix(l, "warning: ") {
			warnings = append(warnings, l)
		} else {
			infos = append(infos, l)
		}
	}
	if len(warnings) != actors.FailureLinesPerTick+1 || !strings.HasPrefix(warnings[0], `warning: agent "a0" failed at t2`) ||
		!strings.HasPrefix(warnings[actors.FailureLinesPerTick], "warning: … and 4 more failures at t2") {
		t.Fatalf("t2 warnings:\n%s", strings.Join(warnings, "\n"))
	}
	if len(infos) != actors.FailureLinesPerTick+1 || infos[actors.FailureLinesPerTick] != "info: … and 4 more supervision events at t2" {
		t.Fatalf("t2 infos:\n%s", strings.Join(infos, "\n"))
	}

	// a3 logged twice already: its third line says the next are counted;
	// then nothing until the window ends (t1 + 100).
	fail(t, sys, "a3")
	if got := c.take(); !strings.Contains(got[0], "(its next failures within 100 ticks are counted, not logged)") {
		t.Fatalf("t3: %q", got)
	}
	for range 5 {
		if len(fail(t, sys, "a3").Ready.Events) == 0 {
			t.Fatal("a3 did not fail")
		}
		if got := c.take(); len(got) != 1 || !strings.HasPrefix(got[0], "info: ") {
			t.Fatalf("logged %q, want the restart only", got)
		}
	}
	for tick := 9; tick <= 100; tick++ {
		if _, err := sys.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.take(); len(got) != 0 {
		t.Fatalf("quiet ticks logged %q", got)
	}
	fail(t, sys, "a3")
	if got := c.take(); !strings.Contains(got[0], `failed at t101`) || !strings.Contains(got[0], `(5 earlier failures of "a3" since t4 not logged)`) {
		t.Fatalf("t101: %q", got)
	}
}

// TestHaltIsAnErrorLine: the halt is logged at error level with the text
// of Ready.Halted, which names the failure that caused it; the halted
// event's detail, which enters the digest, keeps its own text.
func TestHaltIsAnErrorLine(t *testing.T) {
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := &entries{}
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.SetLevel(logrus.WarnLevel)
	log.AddHook(c)
	sys, err := actors.Start(actors.Config{Engine: e, Factory: func(*engine.Agent) (agent.Agent, error) { return &failer{}, nil }, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if err := sys.Apply(engine.Command{Spawn: &engine.SpawnSpec{ID: "x"}}); err != nil {
		t.Fatal(err)
	}
	var out actors.Outcome
	for out.Ready.Halted == nil {
		out = fail(t, sys, "x")
	}
	var halt *engine.HaltError
	if !errors.As(out.Ready.Halted, &halt) || halt.Agent != "x" || halt.Tick != 10 {
		t.Fatalf("halted: %#v", out.Ready.Halted)
	}
	want := `engine: the run halted at t10: agent "x" failed at t10 in step: wasm error: unreachable; the failure escalated past the root group (group "root": more than 10 restarts within 100 ticks); the run cannot go on (put the agent in a group whose on_failure is stop, or with a larger max_restarts)`
	if out.Ready.Halted.Error() != want {
		t.Fatalf("halted:\n%v\nwant\n%s", out.Ready.Halted, want)
	}
	got := c.take()
	if last := got[len(got)-1]; last != "error: "+want {
		t.Fatalf("last line %q", last)
	}
	for _, ev := range out.Ready.Events {
		if ev.Kind == engine.EventHalted && ev.Detail != `engine: failure of x escalated past the root group at t10; the run cannot go on (put the agent in a group whose on_failure is stop, or with a larger max_restarts)` {
			t.Fatalf("halted event detail changed: %s", ev.Detail)
		}
	}
}
