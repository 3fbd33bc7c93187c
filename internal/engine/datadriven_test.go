package engine_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// TestDataDriven runs the scripts in testdata on the sequential reference
// scheduler. actors.TestDataDriven runs the same files on the actor runtime:
// the golden output is what both must produce. The script language is
// documented at the top of the shared driver below; -rewrite regenerates the
// expected output.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		d := newDriver(1)
		defer d.close()
		datadriven.RunTest(t, path, d.run)
	})
}

// reference runs scripts on engine.Reference.
type reference struct {
	e   *engine.Engine
	ref *engine.Reference
}

func newRuntime(_ testing.TB, e *engine.Engine, f engine.Factory, o runOpts) (runtime, error) {
	return &reference{e: e, ref: engine.NewReference(e, f, o.maxSize)}, nil
}

func (r *reference) Apply(c engine.Command) error { return r.e.Apply(c) }

func (r *reference) Step() (engine.Plan, engine.Ready, []string) {
	p, ready := r.ref.Step()
	var logs []string
	for _, l := range ready.Logs {
		logs = append(logs, logLine(l.Level, l.Agent, l.Text))
	}
	return p, ready, logs
}

func (r *reference) Close() {}

// BEGIN SHARED DRIVER
//
// The script language of the scheduler tests. This driver is kept
// byte-identical in internal/engine/datadriven_test.go (reference scheduler)
// and actors/actors_test.go (actor runtime); both run the scripts in
// internal/engine/testdata, and actors.TestDriversInSync checks the copies
// match. Each file declares newRuntime, which returns the scheduler to drive.
//
//	groups [seed=N] [workers=N] [max-size=N]
//	name=g [parent=p] [strategy=S] [on_failure=D] [max=N] [window=N]
//	    One supervision group per input line (strategy one-for-one or
//	    all-for-one, on_failure restart, stop or escalate). It starts the run,
//	    so it must be the first command; a script without it starts a run
//	    with no groups at its first command. workers is the actor runtime's
//	    worker count (the reference ignores it); max-size limits payloads.
//	spawn id=a [id=(a,b,...)] [kind=script] [prio=N] [group=g] [config=text]
//	stop a [b ...]
//	join a ch
//	leave a ch
//	send a[,b...] payload...
//	    An external input to each agent. Without a payload on the command
//	    line, every input line is one input.
//	publish ch payload...
//	    An external input to every member of ch (payload as for send).
//	input [to=a] [ch=c] payload...
//	    The raw input command, with any combination of targets.
//	tick [n=N]
//	members ch [ch ...]
//
// A command prints "ok", or "error: ..." for every part the engine refused.
// A tick prints:
//
//	tN ran a b ...              the agents of the tick, in canonical order
//	  spawned a b / stopped c   the plan's spawns and stops
//	  a init #k                 agent calls, per agent in canonical order:
//	  a <- b on ch "p" (tM)     Init of incarnation k, and each delivery
//	                            (from b, or "input"; the channel if published;
//	                            the tick it was sent) in delivery order
//	  failed a: reason          the tick's events, in the engine's order
//	  dead letters N            the tick's dead letter count, if any
//	  log info a: text          log lines, in canonical order
//	  digest 0123abcd           the first 4 bytes of the chained digest
//
// After a tick that halted, tick prints an error and runs nothing, as
// host.Step does (actors.System.Step would wait forever for the failed
// agent that no supervisor restarted or stopped).

// runOpts is what the groups command sets besides the groups.
type runOpts struct {
	seed    uint64
	workers int
	maxSize int
}

// runtime is the scheduler a script drives.
type runtime interface {
	Apply(engine.Command) error
	// Step runs one tick. The log lines are formatted by logLine.
	Step() (engine.Plan, engine.Ready, []string)
	Close()
}

func logLine(level agent.Level, id, text string) string {
	names := map[agent.Level]string{agent.LevelError: "error", agent.LevelWarn: "warn", agent.LevelInfo: "info", agent.LevelDebug: "debug"}
	name, ok := names[level]
	if !ok {
		name = fmt.Sprintf("level(%d)", level)
	}
	return fmt.Sprintf("%s %s: %s", name, id, text)
}

// recorder logs the calls each agent gets. Agents of one tick may run
// concurrently, each on one goroutine at a time, so the log is per agent.
type recorder struct {
	mu    sync.Mutex
	calls map[string][]string
}

func (r *recorder) add(id, call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[id] = append(r.calls[id], call)
}

// take removes and returns id's calls.
func (r *recorder) take(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls[id]
	delete(r.calls, id)
	return c
}

// rest removes and returns every call left, by agent id.
func (r *recorder) rest() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range slices.Sorted(maps.Keys(r.calls)) {
		for _, c := range r.calls[id] {
			out = append(out, id+" "+c)
		}
	}
	clear(r.calls)
	return out
}

// factory makes testkinds agents wrapped in a recording agent.
func (r *recorder) factory(a *engine.Agent) (agent.Agent, error) {
	f := testkinds.Kinds()[a.Kind]
	if f == nil {
		return nil, fmt.Errorf("unknown kind %q", a.Kind)
	}
	inner, err := f(a.ID, a.Config)
	if err != nil {
		return nil, err
	}
	return &recording{id: a.ID, incarnation: a.Incarnation, rec: r, inner: inner}, nil
}

// recording records Init and Receive calls, then passes them on.
type recording struct {
	id          string
	incarnation uint32
	rec         *recorder
	inner       agent.Agent
}

func (a *recording) Init(ctx agent.Context) error {
	a.rec.add(a.id, fmt.Sprintf("init #%d", a.incarnation))
	return a.inner.Init(ctx)
}

func (a *recording) Receive(ctx agent.Context, m agent.Message) error {
	from := m.From
	if from == "" {
		from = "input"
	}
	if m.Channel != "" {
		from += " on " + m.Channel
	}
	a.rec.add(a.id, fmt.Sprintf("<- %s %q (%s)", from, m.Payload, m.Sent))
	return a.inner.Receive(ctx, m)
}

func (a *recording) Step(ctx agent.Context) error     { return a.inner.Step(ctx) }
func (a *recording) Shutdown(ctx agent.Context) error { return a.inner.Shutdown(ctx) }

// driver runs one script.
type driver struct {
	opts   runOpts
	groups []engine.GroupSpec
	eng    *engine.Engine
	rt     runtime
	rec    *recorder
	halted bool
}

func newDriver(workers int) *driver {
	return &driver{opts: runOpts{workers: workers}, rec: &recorder{calls: map[string][]string{}}}
}

func (d *driver) close() {
	if d.rt != nil {
		d.rt.Close()
	}
}

func (d *driver) start(t testing.TB) error {
	if d.eng != nil {
		return nil
	}
	e, err := engine.New(engine.Config{Seed: d.opts.seed, Groups: d.groups})
	if err != nil {
		return err
	}
	rt, err := newRuntime(t, e, d.rec.factory, d.opts)
	if err != nil {
		return err
	}
	d.eng, d.rt = e, rt
	return nil
}

func (d *driver) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd == "groups" {
		return d.cmdGroups(t, td)
	}
	if err := d.start(t); err != nil {
		return "error: " + err.Error()
	}
	switch td.Cmd {
	case "spawn":
		return d.cmdSpawn(t, td)
	case "stop":
		var cmds []engine.Command
		for _, id := range positional(t, td, 0) {
			cmds = append(cmds, engine.Command{Stop: id})
		}
		return d.apply(cmds)
	case "join", "leave":
		args := positional(t, td, 2)
		m := &engine.Membership{Agent: args[0], Channel: args[1]}
		if td.Cmd == "join" {
			return d.apply([]engine.Command{{Join: m}})
		}
		return d.apply([]engine.Command{{Leave: m}})
	case "send", "publish":
		if len(td.CmdArgs) == 0 {
			td.Fatalf(t, "%s needs a target", td.Cmd)
		}
		var cmds []engine.Command
		for _, p := range payloads(t, td, td.CmdArgs[1:]) {
			if td.Cmd == "publish" {
				cmds = append(cmds, engine.Command{Input: &engine.Input{Channel: td.CmdArgs[0].Key, Payload: p}})
				continue
			}
			for _, to := range strings.Split(td.CmdArgs[0].Key, ",") {
				cmds = append(cmds, engine.Command{Input: &engine.Input{To: to, Payload: p}})
			}
		}
		return d.apply(cmds)
	case "input":
		in := &engine.Input{}
		var rest []datadriven.CmdArg
		for _, a := range td.CmdArgs {
			switch a.Key {
			case "to":
				in.To = a.SingleVal(t)
			case "ch":
				in.Channel = a.SingleVal(t)
			default:
				rest = append(rest, a)
			}
		}
		in.Payload = payloads(t, td, rest)[0]
		return d.apply([]engine.Command{{Input: in}})
	case "tick":
		n := 1
		td.MaybeScanArgs(t, "n", &n)
		return d.tick(n)
	case "members":
		var b strings.Builder
		for _, ch := range positional(t, td, 0) {
			m := d.eng.Members(ch)
			if len(m) == 0 {
				m = []string{"(none)"}
			}
			fmt.Fprintf(&b, "%s: %s\n", ch, strings.Join(m, " "))
		}
		return b.String()
	}
	td.Fatalf(t, "unknown command %q", td.Cmd)
	return ""
}

// positional returns the command's arguments, which must be plain words
// (exactly n of them if n > 0).
func positional(t *testing.T, td *datadriven.TestData, n int) []string {
	var out []string
	for _, a := range td.CmdArgs {
		if len(a.Vals) > 0 {
			td.Fatalf(t, "%s takes no key=value arguments", td.Cmd)
		}
		out = append(out, a.Key)
	}
	if n > 0 && len(out) != n || len(out) == 0 {
		td.Fatalf(t, "%s: wrong number of arguments", td.Cmd)
	}
	return out
}

// payloads is the payload on the command line (args), or else one per
// input line.
func payloads(t *testing.T, td *datadriven.TestData, args []datadriven.CmdArg) [][]byte {
	if len(args) > 0 {
		if td.Input != "" {
			td.Fatalf(t, "%s: a payload on the command line and input lines", td.Cmd)
		}
		words := make([]string, len(args))
		for i, a := range args {
			words[i] = a.String()
		}
		return [][]byte{[]byte(strings.Join(words, " "))}
	}
	if td.Input == "" {
		td.Fatalf(t, "%s: no payload", td.Cmd)
	}
	var out [][]byte
	for _, l := range strings.Split(td.Input, "\n") {
		out = append(out, []byte(l))
	}
	return out
}

func (d *driver) apply(cmds []engine.Command) string {
	var b strings.Builder
	for _, c := range cmds {
		if err := d.rt.Apply(c); err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
		}
	}
	if b.Len() == 0 {
		return "ok"
	}
	return b.String()
}

func (d *driver) cmdGroups(t *testing.T, td *datadriven.TestData) string {
	if d.eng != nil {
		td.Fatalf(t, "groups must come before every other command")
	}
	td.MaybeScanArgs(t, "seed", &d.opts.seed)
	td.MaybeScanArgs(t, "workers", &d.opts.workers)
	td.MaybeScanArgs(t, "max-size", &d.opts.maxSize)
	d.groups = nil
	for _, line := range strings.Split(td.Input, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		g, err := parseGroup(line)
		if err != nil {
			return "error: " + err.Error()
		}
		d.groups = append(d.groups, g)
	}
	if err := d.start(t); err != nil {
		d.groups = nil
		return "error: " + err.Error()
	}
	return "ok"
}

func parseGroup(line string) (engine.GroupSpec, error) {
	var g engine.GroupSpec
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return g, fmt.Errorf("group line: %q is not key=value", f)
		}
		var err error
		switch k {
		case "name":
			g.Name = v
		case "parent":
			g.Parent = v
		case "strategy":
			err = g.Strategy.UnmarshalText([]byte(v))
		case "on_failure":
			err = g.Directive.UnmarshalText([]byte(v))
		case "max":
			g.MaxRestarts, err = strconv.Atoi(v)
		case "window":
			var w uint64
			w, err = strconv.ParseUint(v, 10, 64)
			g.Window = clock.Tick(w)
		default:
			err = fmt.Errorf("group line: unknown key %q", k)
		}
		if err != nil {
			return g, err
		}
	}
	return g, nil
}

func (d *driver) cmdSpawn(t *testing.T, td *datadriven.TestData) string {
	spec := engine.SpawnSpec{Kind: "script"}
	var ids []string
	for _, a := range td.CmdArgs {
		switch a.Key {
		case "id":
			for _, v := range a.Vals {
				ids = append(ids, strings.TrimSpace(v))
			}
		case "kind":
			spec.Kind = a.SingleVal(t)
		case "prio":
			var p int32
			a.Scan(t, 0, &p)
			spec.Priority = p
		case "group":
			spec.Group = a.SingleVal(t)
		case "config":
			spec.Config = []byte(a.SingleVal(t))
		default:
			td.Fatalf(t, "spawn: unknown argument %q", a.Key)
		}
	}
	var cmds []engine.Command
	for _, id := range ids {
		s := spec
		s.ID = id
		cmds = append(cmds, engine.Command{Spawn: &s})
	}
	if len(cmds) == 0 {
		td.Fatalf(t, "spawn needs id=")
	}
	return d.apply(cmds)
}

func (d *driver) tick(n int) string {
	var b strings.Builder
	for range n {
		if d.halted {
			b.WriteString("error: the run halted; it cannot tick again\n")
			break
		}
		p, r, logs := d.rt.Step()
		fmt.Fprintf(&b, "%s ran", p.Tick)
		for _, a := range p.Agents {
			b.WriteString(" " + a.ID)
		}
		if len(p.Agents) == 0 {
			b.WriteString(" nothing")
		}
		b.WriteString("\n")
		for _, l := range []struct {
			verb   string
			agents []*engine.Agent
		}{{"spawned", p.Spawned}, {"stopped", p.Stopped}} {
			if len(l.agents) > 0 {
				b.WriteString("  " + l.verb)
				for _, a := range l.agents {
					b.WriteString(" " + a.ID)
				}
				b.WriteString("\n")
			}
		}
		for _, a := range p.Agents {
			for _, c := range d.rec.take(a.ID) {
				fmt.Fprintf(&b, "  %s %s\n", a.ID, c)
			}
		}
		for _, c := range d.rec.rest() {
			fmt.Fprintf(&b, "  unexpected call: %s\n", c)
		}
		if r.Tick != p.Tick {
			fmt.Fprintf(&b, "  unexpected: ready for %s\n", r.Tick)
		}
		for _, ev := range r.Events {
			if ev.Detail == "" {
				fmt.Fprintf(&b, "  %s %s\n", ev.Kind, ev.Agent)
			} else {
				fmt.Fprintf(&b, "  %s %s: %s\n", ev.Kind, ev.Agent, ev.Detail)
			}
		}
		if r.DeadLetters > 0 {
			fmt.Fprintf(&b, "  dead letters %d\n", r.DeadLetters)
		}
		for _, l := range logs {
			fmt.Fprintf(&b, "  log %s\n", l)
		}
		fmt.Fprintf(&b, "  digest %x\n", r.Digest[:4])
		if r.Halted != nil {
			d.halted = true
		}
	}
	return b.String()
}

// END SHARED DRIVER

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
