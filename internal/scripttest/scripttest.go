// Package scripttest is the datadriven script driver shared by the
// scheduler tests: package engine runs the scripts on the sequential
// reference scheduler, package actors on the protoactor runtime, over the
// same testdata files, so the golden output is what both must produce.
package scripttest

import (
	"fmt"
	"maps"
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

// NewRuntime starts the scheduler a script drives.
type NewRuntime func(t testing.TB, e *engine.Engine, f engine.Factory, o RunOpts) (Runtime, error)

//
// The script language of the scheduler tests. This Driver is kept
// byte-identical in internal/engine/datadriven_test.go (reference scheduler)
// and actors/actors_test.go (actor Runtime); both run the scripts in
// internal/engine/testdata, and actors.TestDriversInSync checks the copies
// match. Each test passes a NewRuntime, which returns the scheduler to drive.
//
//	groups [seed=N] [workers=N] [max-size=N]
//	name=g [parent=p] [strategy=S] [on_failure=D] [max=N] [window=N]
//	    One supervision group per input line (strategy one-for-one or
//	    all-for-one, on_failure restart, stop or escalate). It starts the run,
//	    so it must be the first command; a script without it starts a run
//	    with no groups at its first command. workers is the actor Runtime's
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

// RunOpts is what the groups command sets besides the groups.
type RunOpts struct {
	Seed    uint64
	Workers int
	MaxSize int
}

// Runtime is the scheduler a script drives.
type Runtime interface {
	Apply(engine.Command) error
	// Step runs one tick. The log lines are formatted by LogLine.
	Step() (engine.Plan, engine.Ready, []string)
	Close()
}

// LogLine formats a log line the way scripts print it.
func LogLine(level agent.Level, id, text string) string {
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

// Driver runs one script.
type Driver struct {
	newRuntime NewRuntime
	opts       RunOpts
	groups     []engine.GroupSpec
	eng        *engine.Engine
	rt         Runtime
	rec        *recorder
	halted     bool
}

// NewDriver returns a driver whose runtimes get workers workers (a script
// may override it) and are started by newRuntime.
func NewDriver(workers int, newRuntime NewRuntime) *Driver {
	return &Driver{opts: RunOpts{Workers: workers}, newRuntime: newRuntime, rec: &recorder{calls: map[string][]string{}}}
}

// Close closes the runtime of the last script.
func (d *Driver) Close() {
	if d.rt != nil {
		d.rt.Close()
	}
}

func (d *Driver) start(t testing.TB) error {
	if d.eng != nil {
		return nil
	}
	e, err := engine.New(engine.Config{Seed: d.opts.Seed, Groups: d.groups})
	if err != nil {
		return err
	}
	rt, err := d.newRuntime(t, e, d.rec.factory, d.opts)
	if err != nil {
		return err
	}
	d.eng, d.rt = e, rt
	return nil
}

// Run runs one datadriven command; pass it to datadriven.RunTest.
func (d *Driver) Run(t *testing.T, td *datadriven.TestData) string {
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

func (d *Driver) apply(cmds []engine.Command) string {
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

func (d *Driver) cmdGroups(t *testing.T, td *datadriven.TestData) string {
	if d.eng != nil {
		td.Fatalf(t, "groups must come before every other command")
	}
	td.MaybeScanArgs(t, "seed", &d.opts.Seed)
	td.MaybeScanArgs(t, "workers", &d.opts.Workers)
	td.MaybeScanArgs(t, "max-size", &d.opts.MaxSize)
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

func (d *Driver) cmdSpawn(t *testing.T, td *datadriven.TestData) string {
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

func (d *Driver) tick(n int) string {
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
