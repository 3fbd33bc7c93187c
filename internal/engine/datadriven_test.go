package engine_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/scripttest"
)

// TestDataDriven runs the scripts in testdata on the sequential reference
// scheduler. actors.TestDataDriven runs the same files on the actor runtime:
// the golden output is what both must produce. The script language is
// documented at the top of the shared driver below; -rewrite regenerates the
// expected output.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		d := scripttest.NewDriver(1, newRuntime)
		defer d.Close()
		datadriven.RunTest(t, path, d.Run)
	})
}

// reference runs scripts on engine.Reference.
type reference struct {
	e   *engine.Engine
	ref *engine.Reference
}

func newRuntime(_ testing.TB, e *engine.Engine, f engine.Factory, o scripttest.RunOpts) (scripttest.Runtime, error) {
	return &reference{e: e, ref: engine.NewReference(e, f, o.MaxSize)}, nil
}

func (r *reference) Apply(c engine.Command) error { return r.e.Apply(c) }

func (r *reference) Step() (engine.Plan, engine.Ready, []string) {
	p, ready := r.ref.Step()
	var logs []string
	for _, l := range ready.Logs {
		logs = append(logs, scripttest.LogLine(l.Level, l.Agent, l.Text))
	}
	return p, ready, logs
}

func (r *reference) Close() {}

// TestCanonicalOrder checks the order the engine runs agents in, and lists
// channel members in, as agents come and go: priority (higher first), then
// spawn rank.
func TestCanonicalOrder(t *testing.T) {
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	type rec struct {
		id   string
		prio int32
		rank int
	}
	var live []rec
	next := 0
	step := func() {
		t.Helper()
		p := e.Begin()
		want := slices.Clone(live)
		slices.SortStableFunc(want, func(a, b rec) int {
			if a.prio != b.prio {
				return int(b.prio - a.prio)
			}
			return a.rank - b.rank
		})
		var got, wantIDs []string
		for _, a := range p.Agents {
			got = append(got, a.ID)
		}
		for _, a := range want {
			wantIDs = append(wantIDs, a.id)
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("%s: agents run in order %v, want %v", p.Tick, got, wantIDs)
		}
		if m := e.Members("all"); !slices.Equal(m, wantIDs) {
			t.Fatalf("%s: members of all are %v, want %v", p.Tick, m, wantIDs)
		}
		e.Commit(p, make([]engine.Report, len(p.Agents)))
	}
	for range 20 {
		for range rng.IntN(6) {
			r := rec{id: fmt.Sprintf("a%d", next), prio: int32(rng.IntN(5) - 2), rank: next}
			next++
			mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: r.id, Priority: r.prio}})
			mustApply(t, e, engine.Command{Join: &engine.Membership{Agent: r.id, Channel: "all"}})
			live = append(live, r)
		}
		for range rng.IntN(3) {
			if len(live) == 0 {
				break
			}
			i := rng.IntN(len(live))
			mustApply(t, e, engine.Command{Stop: live[i].id})
			live = slices.Delete(live, i, i+1)
		}
		step()
	}
	if next < 30 {
		t.Fatalf("only %d agents spawned; the test needs more", next)
	}
}

func mustApply(t *testing.T, e *engine.Engine, c engine.Command) {
	t.Helper()
	if err := e.Apply(c); err != nil {
		t.Fatal(err)
	}
}

// TestNewGroupErrors checks that engine.New refuses a bad supervision tree
// with an error that names the group and says what to fix.
func TestNewGroupErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		groups []engine.GroupSpec
		is     error
		want   []string
	}{
		{"cycle", []engine.GroupSpec{{Name: "ok"}, {Name: "x", Parent: "y"}, {Name: "y", Parent: "x"}},
			engine.ErrBadCommand, []string{`group "x"`, "parent cycle", "child of the root"}},
		{"self parent", []engine.GroupSpec{{Name: "z", Parent: "z"}},
			engine.ErrBadCommand, []string{`group "z"`, "parent cycle"}},
		{"long cycle", []engine.GroupSpec{{Name: "a", Parent: "c"}, {Name: "b", Parent: "a"}, {Name: "c", Parent: "b"}, {Name: "d", Parent: "c"}},
			engine.ErrBadCommand, []string{`group "a"`, "parent cycle"}},
		{"unknown parent", []engine.GroupSpec{{Name: "x", Parent: "nope"}},
			engine.ErrUnknownGroup, []string{`group "x"`, `parent "nope"`, "declare it or leave parent empty"}},
		{"twice", []engine.GroupSpec{{Name: "x"}, {Name: "x"}},
			engine.ErrBadCommand, []string{`group "x"`, "declared twice"}},
		{"root", []engine.GroupSpec{{Name: engine.RootGroup}},
			engine.ErrBadCommand, []string{"name other than"}},
		{"no name", []engine.GroupSpec{{Parent: "x"}},
			engine.ErrBadCommand, []string{"needs a name"}},
		{"strategy", []engine.GroupSpec{{Name: "x", Strategy: 7}},
			engine.ErrBadCommand, []string{`group "x"`, "unknown strategy 7", "one-for-one or all-for-one"}},
		{"directive", []engine.GroupSpec{{Name: "x", Directive: 9}},
			engine.ErrBadCommand, []string{`group "x"`, "unknown directive 9", "restart, stop or escalate"}},
		{"negative", []engine.GroupSpec{{Name: "x", MaxRestarts: -1}},
			engine.ErrBadCommand, []string{`group "x"`, "negative"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := engine.New(engine.Config{Groups: c.groups})
			if err == nil {
				t.Fatalf("engine.New accepted %+v", c.groups)
			}
			if e != nil {
				t.Errorf("engine.New returned an engine with error %v", err)
			}
			if !errors.Is(err, c.is) {
				t.Errorf("error %q does not wrap %q", err, c.is)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// A deep tree in any declaration order is fine.
	_, err := engine.New(engine.Config{Groups: []engine.GroupSpec{
		{Name: "leaf", Parent: "mid"}, {Name: "mid", Parent: "top"}, {Name: "top"}, {Name: "side", Parent: "top"},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEnumText round-trips strategies and directives through their text
// form and checks that a bad name is refused with the choices.
func TestEnumText(t *testing.T) {
	for _, s := range []engine.Strategy{engine.OneForOne, engine.AllForOne} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got engine.Strategy
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("strategy %v: text %q reads back as %v, %v", s, b, got, err)
		}
	}
	for _, d := range []engine.Directive{engine.Restart, engine.Stop, engine.Escalate} {
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got engine.Directive
		if err := got.UnmarshalText(b); err != nil || got != d {
			t.Errorf("directive %v: text %q reads back as %v, %v", d, b, got, err)
		}
	}
	var s engine.Strategy
	err := s.UnmarshalText([]byte("one-for-all"))
	for _, w := range []string{`strategy "one-for-all"`, "one-for-one", "all-for-one"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("strategy error %v does not say %q", err, w)
		}
	}
	var d engine.Directive
	err = d.UnmarshalText([]byte("Restart"))
	for _, w := range []string{`directive "Restart"`, "restart", "stop", "escalate"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("directive error %v does not say %q", err, w)
		}
	}
	if got := engine.Strategy(5).String(); got != "unknown(5)" {
		t.Errorf("Strategy(5) = %q", got)
	}
	if got := engine.Directive(5).String(); got != "unknown(5)" {
		t.Errorf("Directive(5) = %q", got)
	}
}

// TestActionsDigest checks that the digest of a tick's actions changes when
// any field of any action changes, when actions are reordered, added or
// removed, and when bytes move between target and payload.
func TestActionsDigest(t *testing.T) {
	base := func() []engine.Action {
		return []engine.Action{
			{Kind: engine.ActSend, Target: "b", Payload: []byte("hi")},
			{Kind: engine.ActPublish, Target: "news", Payload: []byte("x")},
			{Kind: engine.ActJoin, Target: "news"},
			{Kind: engine.ActLeave, Target: "old"},
			{Kind: engine.ActLog, Payload: []byte("hello"), Level: agent.LevelInfo},
		}
	}
	want := engine.ActionsDigest(base())
	if engine.ActionsDigest(base()) != want {
		t.Fatal("the digest is not a function of the actions")
	}
	if engine.ActionsDigest(nil) != engine.ActionsDigest([]engine.Action{}) {
		t.Error("nil and empty actions digest differently")
	}
	if engine.ActionsDigest(nil) == want {
		t.Error("no actions digest like some")
	}
	changes := map[string]func([]engine.Action) []engine.Action{
		"kind":           func(a []engine.Action) []engine.Action { a[0].Kind = engine.ActPublish; return a },
		"join to leave":  func(a []engine.Action) []engine.Action { a[2].Kind = engine.ActLeave; return a },
		"target":         func(a []engine.Action) []engine.Action { a[0].Target = "c"; return a },
		"payload":        func(a []engine.Action) []engine.Action { a[1].Payload = []byte("y"); return a },
		"empty payload":  func(a []engine.Action) []engine.Action { a[0].Payload = nil; return a },
		"log level":      func(a []engine.Action) []engine.Action { a[4].Level = agent.LevelWarn; return a },
		"log text":       func(a []engine.Action) []engine.Action { a[4].Payload = []byte("hellO"); return a },
		"target/payload": func(a []engine.Action) []engine.Action { a[0].Target, a[0].Payload = "bh", []byte("i"); return a },
		"swap":           func(a []engine.Action) []engine.Action { a[0], a[1] = a[1], a[0]; return a },
		"drop last":      func(a []engine.Action) []engine.Action { return a[:4] },
		"drop first":     func(a []engine.Action) []engine.Action { return a[1:] },
		"duplicate":      func(a []engine.Action) []engine.Action { return append(a, a[4]) },
		"insert": func(a []engine.Action) []engine.Action {
			return slices.Insert(a, 1, engine.Action{Kind: engine.ActSend, Target: "b"})
		},
	}
	seen := map[uint64]string{want: "base"}
	for _, name := range slices.Sorted(maps.Keys(changes)) {
		got := engine.ActionsDigest(changes[name](base()))
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: digest %x equals that of %s", name, got, prev)
		}
		seen[got] = name
	}

	// The runner's report carries the digest of its actions.
	o := engine.NewOutbox(&engine.Agent{ID: "a"}, 0)
	o.Reset(3)
	if err := o.Send("b", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	o.Log(agent.LevelInfo, "hello")
	rep := o.Report()
	if rep.Digest != engine.ActionsDigest(rep.Actions) || len(rep.Actions) != 2 {
		t.Errorf("report digest %x for %d actions, want %x", rep.Digest, len(rep.Actions), engine.ActionsDigest(rep.Actions))
	}
}

// TestOutboxErrors checks that the Context refuses bad names and payloads
// over the limit with errors that name the thing and the fix, and that a
// refused call records nothing.
func TestOutboxErrors(t *testing.T) {
	o := engine.NewOutbox(&engine.Agent{ID: "a"}, 4)
	o.Reset(0)
	big := []byte("12345")
	for _, c := range []struct {
		name string
		err  error
		is   error
		want []string
	}{
		{"send too large", o.Send("b", big), agent.ErrTooLarge, []string{`send to "b"`, "5 bytes", "limit is 4", "raise max_message_size or split the message"}},
		{"publish too large", o.Publish("news", big), agent.ErrTooLarge, []string{`publish to "news"`, "5 bytes", "limit is 4"}},
		{"send bad id", o.Send("b c", nil), agent.ErrInvalidName, []string{`agent id "b c"`, "byte 1", "use letters, digits"}},
		{"send empty id", o.Send("", nil), agent.ErrInvalidName, []string{"empty agent id"}},
		{"publish bad channel", o.Publish("-news", nil), agent.ErrInvalidName, []string{`channel "-news"`, "starting with a letter or digit"}},
		{"join bad channel", o.Join("a!"), agent.ErrInvalidName, []string{`channel "a!"`, `'!'`}},
		{"leave empty channel", o.Leave(""), agent.ErrInvalidName, []string{"empty channel"}},
		{"join long channel", o.Join(strings.Repeat("c", agent.MaxNameLen+1)), agent.ErrInvalidName, []string{"channel", "129 bytes", "at most 128"}},
	} {
		if c.err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !errors.Is(c.err, c.is) {
			t.Errorf("%s: error %q does not wrap %q", c.name, c.err, c.is)
		}
		for _, w := range c.want {
			if !strings.Contains(c.err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, c.err, w)
			}
		}
	}
	if rep := o.Report(); len(rep.Actions) != 0 {
		t.Errorf("refused calls recorded %+v", rep.Actions)
	}
	// At the limit is fine, and the payload is copied.
	p := []byte("1234")
	if err := o.Send("b", p); err != nil {
		t.Fatal(err)
	}
	p[0] = 'x'
	if rep := o.Report(); len(rep.Actions) != 1 || string(rep.Actions[0].Payload) != "1234" {
		t.Errorf("report after a send at the limit: %+v", rep.Actions)
	}
}
