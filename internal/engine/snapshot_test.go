package engine_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// snapConfig is the config of the checkpoint tests: groups that restart
// one-for-one with a window that escalates (solo), all-for-one (team, which
// escalates to top), stop (quit), random failures (chat), and external
// outputs.
func snapConfig() engine.Config {
	return engine.Config{
		Seed: 42,
		Groups: []engine.GroupSpec{
			{Name: "solo", Strategy: engine.OneForOne, Directive: engine.Restart, MaxRestarts: 2, Window: 5},
			{Name: "top", Strategy: engine.OneForOne, Directive: engine.Restart, MaxRestarts: 100, Window: 100},
			{Name: "team", Parent: "top", Strategy: engine.AllForOne, Directive: engine.Restart, MaxRestarts: 3, Window: 8},
			{Name: "quit", Strategy: engine.OneForOne, Directive: engine.Stop},
			{Name: "chat", Strategy: engine.OneForOne, Directive: engine.Restart, MaxRestarts: 100, Window: 100},
		},
		External: engine.External{Channels: []string{"ext"}, Addresses: []string{"out"}},
	}
}

// snapTicks is the length of the checkpoint test run.
const snapTicks = 30

// snapSchedule is what is applied before each tick, one command a line:
//
//	spawn id kind group prio [config]
//	stop id / join id ch / leave id ch
//	send id payload... / publish ch payload...
var snapSchedule = map[int][]string{
	0: {
		"spawn w script root 1", "spawn s1 script solo 0", "spawn s2 script solo 0",
		"spawn t1 script team 0", "spawn t2 script team 0", "spawn q1 script quit 0",
		"spawn a0 chatter chat 0 agents=5 channels=3 fail=40000",
		"spawn a1 chatter chat 0 agents=5 channels=3 fail=40000",
		"spawn a2 chatter chat -1 agents=5 channels=3 fail=40000",
		"spawn a3 chatter chat 2 agents=5 channels=3 fail=40000",
		"join s2 ext", "join w news",
	},
	1:  {"send s1 state r one", "send w send out hello", "send t1 pub ext from-t1", "send s1 infer m x1", "publish ch1 hello chatters"},
	2:  {"send s2 read s1 r", "send s1 fail", "send w send s1 count", "publish news pub news loop"},
	3:  {"send s1 fail", "send t1 join room", "send t2 join room", "send s1 state q 1"},
	4:  {"send s1 fail", "send s1 count"},
	5:  {"spawn a4 chatter chat 0 agents=5 channels=3 fail=40000", "send t1 fail", "send t2 pub room hi"},
	6:  {"send t2 fail", "send w send nobody x", "send t2 count"},
	7:  {"send t1 panic", "stop a1"},
	8:  {"send t2 fail", "send t1 infer m y0"},
	9:  {"send q1 fail", "send t1 pub room after"},
	10: {"send s1 state r two", "send s1 infer m x2", "send s1 infer m x3", "send s2 read s1 r"},
	11: {"send s2 read s1 r", "send s1 count"},
	12: {"send t1 infer m y1", "send t2 fail", "send s1 log before", "send s1 infer m x4", "send s1 fail"},
	13: {"spawn late script root 0", "send w pub ext w-on-ext", "send w join ext"},
	14: {"send late send out late", "leave s2 ext", "send late state big 0123456789"},
	15: {"send w pub ext w-again", "send late count", "send s2 read late big"},
	16: {"stop late", "send w send late gone"},
	18: {"spawn x1 script root 0", "stop x1", "publish ext from-outside"},
	19: {"send s2 fail", "send s1 fail", "send w count"},
	20: {"send s1 fail", "send s2 fail"},
	21: {"send s1 fail"},
	22: {"spawn a1b chatter chat 3 agents=5 channels=3 fail=40000", "send t2 count", "send s1 count"},
	24: {"stop s2", "send t1 fail", "send t2 fail"},
	25: {"send t1 fail", "send t2 panic"},
	26: {"send t1 count", "send s1 read w none"},
	28: {"join t1 ext", "send w pub ext last"},
}

func parseSnapCommand(t testing.TB, line string) engine.Command {
	t.Helper()
	f := strings.Fields(line)
	rest := func(i int) []byte { return []byte(strings.Join(f[i:], " ")) }
	switch f[0] {
	case "spawn":
		var prio int32
		fmt.Sscan(f[4], &prio)
		s := &engine.SpawnSpec{ID: f[1], Kind: f[2], Group: f[3], Priority: prio}
		if len(f) > 5 {
			s.Config = rest(5)
		}
		return engine.Command{Spawn: s}
	case "stop":
		return engine.Command{Stop: f[1]}
	case "join":
		return engine.Command{Join: &engine.Membership{Agent: f[1], Channel: f[2]}}
	case "leave":
		return engine.Command{Leave: &engine.Membership{Agent: f[1], Channel: f[2]}}
	case "send":
		return engine.Command{Input: &engine.Input{To: f[1], Payload: rest(2)}}
	case "publish":
		return engine.Command{Input: &engine.Input{Channel: f[1], Payload: rest(2)}}
	}
	t.Fatalf("bad schedule line %q", line)
	return engine.Command{}
}

// answerer is a deterministic, stateless inferencer.
type answerer struct{}

func (answerer) Infer(t clock.Tick, calls []engine.InferCall) [][]byte {
	out := make([][]byte, len(calls))
	for i, c := range calls {
		out[i] = fmt.Appendf(nil, "ans %s/%d %s(%s)@%s", c.Agent, c.Request, c.Model, c.Input, t)
	}
	return out
}

// tracked wraps a testkinds agent and records its Init and Restore calls.
type tracked struct {
	agent.Agent
	id  string
	inc uint32
	run *snapRun
}

func (a *tracked) Init(ctx agent.Context) error {
	a.run.call(fmt.Sprintf("init %s#%d", a.id, a.inc))
	return a.Agent.Init(ctx)
}

func (a *tracked) Snapshot() ([]byte, error) { return a.Agent.(agent.Snapshotter).Snapshot() }

func (a *tracked) Restore(b []byte) error {
	a.run.call(fmt.Sprintf("restore %s#%d", a.id, a.inc))
	return a.Agent.(agent.Snapshotter).Restore(b)
}

// snapRun is one run of the checkpoint test, on the reference scheduler or
// (sys set) the actor runtime.
type snapRun struct {
	e     *engine.Engine
	ref   *engine.Reference
	sys   *actors.System
	mu    sync.Mutex
	calls []string
}

func (r *snapRun) call(c string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *snapRun) factory(a *engine.Agent) (agent.Agent, error) {
	f := testkinds.Kinds()[a.Kind]
	if f == nil {
		return nil, fmt.Errorf("unknown kind %q", a.Kind)
	}
	inner, err := f(a.ID, a.Config)
	if err != nil {
		return nil, err
	}
	return &tracked{Agent: inner, id: a.ID, inc: a.Incarnation, run: r}, nil
}

func newSnapRun(t testing.TB, e *engine.Engine) *snapRun {
	r := &snapRun{e: e}
	e.SetInferencer(answerer{})
	r.ref = engine.NewReference(e, r.factory, 0)
	return r
}

// newActorRun runs e on the actor runtime with workers workers.
func newActorRun(t testing.TB, e *engine.Engine, workers int) *snapRun {
	r := &snapRun{e: e}
	e.SetInferencer(answerer{})
	log := logrus.New()
	log.SetOutput(io.Discard)
	sys, err := actors.Start(actors.Config{Engine: e, Factory: r.factory, Workers: workers, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	r.sys = sys
	return r
}

func (r *snapRun) apply(t testing.TB, k int) {
	t.Helper()
	for _, line := range snapSchedule[k] {
		apply := r.e.Apply
		if r.sys != nil {
			apply = r.sys.Apply
		}
		if err := apply(parseSnapCommand(t, line)); err != nil {
			t.Fatalf("t%d: %s: %v", k, line, err)
		}
	}
}

// step runs a tick and describes everything it did but the plan's spawned
// list (which a restored engine's first plan fills with every agent); the
// Restore calls are counted apart.
func (r *snapRun) step() (desc string, restores int) {
	var p engine.Plan
	var ready engine.Ready
	if r.sys != nil {
		out, err := r.sys.Step()
		if err != nil {
			panic(err)
		}
		p, ready = out.Plan, out.Ready
	} else {
		p, ready = r.ref.Step()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s ran", p.Tick)
	for i, a := range p.Agents {
		fmt.Fprintf(&b, " %s#%d(%x,%d)", a.ID, a.Incarnation, ready.AgentDigests[i], ready.AgentFuel[i])
	}
	b.WriteString("\n")
	for _, c := range p.Commands {
		fmt.Fprintf(&b, "  command %+v\n", describeCommand(c))
	}
	for _, a := range p.Stopped {
		fmt.Fprintf(&b, "  stopped %s\n", a.ID)
	}
	for i, a := range p.Agents {
		for _, l := range [][]agent.Message{p.Inputs[i], p.Deliveries[i]} {
			for _, m := range l {
				fmt.Fprintf(&b, "  %s <- %q on %q %q (%s)\n", a.ID, m.From, m.Channel, m.Payload, m.Sent)
			}
		}
	}
	slices.Sort(r.calls) // the actor runtime makes them in any order
	for _, c := range r.calls {
		if strings.HasPrefix(c, "restore ") {
			restores++
		} else {
			fmt.Fprintf(&b, "  %s\n", c)
		}
	}
	r.calls = r.calls[:0]
	for _, ev := range ready.Events {
		fmt.Fprintf(&b, "  %s %s: %s\n", ev.Kind, ev.Agent, ev.Detail)
	}
	for _, o := range ready.Outputs {
		fmt.Fprintf(&b, "  output %s ch=%q to=%q %q\n", o.From, o.Channel, o.To, o.Payload)
	}
	for _, l := range ready.Logs {
		fmt.Fprintf(&b, "  log %d %s: %s\n", l.Level, l.Agent, l.Text)
	}
	ids := func(l []*engine.Agent) (out []string) {
		for _, a := range l {
			out = append(out, a.ID)
		}
		return out
	}
	fmt.Fprintf(&b, "  restart %v stop %v dead %d inferences %d halted %v\n", ids(ready.Restart), ids(ready.Stop), ready.DeadLetters, ready.Inferences, ready.Halted)
	fmt.Fprintf(&b, "  digest %x\n", ready.Digest)
	return b.String(), restores
}

func describeCommand(c engine.Command) string {
	switch {
	case c.Spawn != nil:
		return fmt.Sprintf("spawn %+v", *c.Spawn)
	case c.Join != nil:
		return fmt.Sprintf("join %+v", *c.Join)
	case c.Leave != nil:
		return fmt.Sprintf("leave %+v", *c.Leave)
	case c.Input != nil:
		return fmt.Sprintf("input %+v", *c.Input)
	}
	return "stop " + c.Stop
}

// runTo returns a run of ticks [0, k); with pending, the commands of tick k
// are applied too.
func runTo(t testing.TB, k int, pending bool) *snapRun {
	t.Helper()
	e, err := engine.New(snapConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := newSnapRun(t, e)
	for i := range k {
		r.apply(t, i)
		r.step()
	}
	if pending {
		r.apply(t, k)
	}
	return r
}

func snapshot(t testing.TB, r *snapRun) []byte {
	t.Helper()
	data, err := r.ref.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSnapshotRestoreDifferential checkpoints the run at every tick, before
// and after that tick's commands are applied, restores each checkpoint into
// a fresh engine and reference scheduler, and requires every following tick
// to be the same as in the uninterrupted run: agents, deliveries, Init
// calls, events, outputs, logs, digests.
func TestSnapshotRestoreDifferential(t *testing.T) {
	full := runTo(t, 0, false)
	var want []string
	kinds := map[engine.EventKind]int{}
	outputs, inferences := 0, 0
	for k := range snapTicks {
		full.apply(t, k)
		d, _ := full.step()
		want = append(want, d)
		if !strings.Contains(d, "halted <nil>") {
			t.Fatalf("the run halted:\n%s", d)
		}
		for _, kind := range []engine.EventKind{engine.EventFailed, engine.EventRestarted, engine.EventStopped, engine.EventEscalated, engine.EventDeadLetter} {
			kinds[kind] += strings.Count(d, "  "+kind.String()+" ")
		}
		outputs += strings.Count(d, "  output ")
		if !strings.Contains(d, "inferences 0") {
			inferences++
		}
	}
	// The script must exercise what checkpoints must carry.
	for kind, n := range kinds {
		if n == 0 {
			t.Errorf("the run has no %s event", kind)
		}
	}
	all := strings.Join(want, "")
	for _, w := range []string{
		`read s1/r = "one" true`, `read s1/r = "two" true`, `read late/big = "0123456789" true`,
		"escalated solo", "escalated team", "ans s1/0", `<- "@model"`, "received ",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("the run never shows %q", w)
		}
	}
	if outputs < 5 || inferences < 3 {
		t.Errorf("%d outputs and %d ticks with inferences; the script needs more", outputs, inferences)
	}

	for k := range snapTicks {
		for _, pending := range []bool{false, true} {
			name := fmt.Sprintf("t%d", k)
			if pending {
				name += "-pending"
			}
			t.Run(name, func(t *testing.T) {
				r := runTo(t, k, pending)
				data := snapshot(t, r)
				if again := snapshot(t, r); !bytes.Equal(again, data) {
					t.Fatal("two snapshots of the same state differ")
				}
				e, err := engine.Restore(snapConfig(), data)
				if err != nil {
					t.Fatal(err)
				}
				if e.Tick() != clock.Tick(k) || e.Digest() != r.e.Digest() {
					t.Fatalf("restored at %s with digest %x, want t%d %x", e.Tick(), e.Digest(), k, r.e.Digest())
				}
				if again, err := e.Snapshot(nil); err != nil || !bytes.Equal(again, data) {
					t.Fatalf("a snapshot of the restored engine differs from the one it was restored from (%v)", err)
				}
				resumed := newSnapRun(t, e)
				if !pending {
					resumed.apply(t, k)
				}
				restores := 0
				for i := k; i < snapTicks; i++ {
					if i > k {
						resumed.apply(t, i)
					}
					got, n := resumed.step()
					restores += n
					if got != want[i] {
						t.Fatalf("resumed from t%d, tick t%d differs:\n got:\n%s want:\n%s", k, i, got, want[i])
					}
				}
				if k > 0 && restores == 0 {
					t.Error("no agent was brought back by Restore")
				}
			})
		}
	}
}

// TestRestoreOnActors resumes checkpoints of the reference run on the actor
// runtime (the router spawns an actor for every restored agent, whose
// runner restores its instance): every following tick is the same as the
// uninterrupted run's.
func TestRestoreOnActors(t *testing.T) {
	full := runTo(t, 0, false)
	var want []string
	for k := range snapTicks {
		full.apply(t, k)
		d, _ := full.step()
		want = append(want, d)
	}
	for _, k := range []int{1, 4, 8, 12, 13, 18, 24} {
		r := runTo(t, k, k%2 == 1)
		e, err := engine.Restore(snapConfig(), snapshot(t, r))
		if err != nil {
			t.Fatal(err)
		}
		resumed := newActorRun(t, e, 4)
		restores := 0
		for i := k; i < snapTicks; i++ {
			if i > k || k%2 == 0 {
				resumed.apply(t, i)
			}
			got, n := resumed.step()
			restores += n
			if got != want[i] {
				t.Fatalf("resumed from t%d on actors, tick t%d differs:\n got:\n%s want:\n%s", k, i, got, want[i])
			}
		}
		if restores == 0 {
			t.Errorf("t%d: no agent was brought back by Restore", k)
		}
	}
}

// TestSnapshotDeterministic: two runs to the same point snapshot to the
// same bytes (no map order leaks into the encoding), and a snapshot only
// reads the engine.
func TestSnapshotDeterministic(t *testing.T) {
	for _, k := range []int{0, 1, 7, 13, 18, snapTicks} {
		a, b := snapshot(t, runTo(t, k, true)), snapshot(t, runTo(t, k, true))
		if !bytes.Equal(a, b) {
			t.Errorf("t%d: two runs snapshot differently", k)
		}
	}
}

// TestRestoredPlan: the first plan of a restored engine lists every live
// agent as spawned (plus the pending spawns, stopped or not), and the
// pending commands.
func TestRestoredPlan(t *testing.T) {
	r := runTo(t, 18, true) // x1 spawned and stopped, pending
	e, err := engine.Restore(snapConfig(), snapshot(t, r))
	if err != nil {
		t.Fatal(err)
	}
	p := e.Begin()
	var spawned, agents []string
	for _, a := range p.Spawned {
		spawned = append(spawned, a.ID)
	}
	for _, a := range p.Agents {
		agents = append(agents, a.ID)
	}
	slices.Sort(agents)
	want := slices.Clone(agents)
	want = append(want, "x1")
	slices.Sort(want)
	got := slices.Clone(spawned)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("spawned %v, want the live agents and x1: %v", spawned, want)
	}
	if len(p.Stopped) != 1 || p.Stopped[0].ID != "x1" || len(p.Commands) != 3 {
		t.Errorf("stopped %v, %d commands", p.Stopped, len(p.Commands))
	}
	if _, err := e.Snapshot(nil); err == nil || !strings.Contains(err.Error(), "a tick is running") {
		t.Errorf("a snapshot during a tick: %v", err)
	}
}

// TestRestoreConfigMismatch: a config other than the snapshot's is refused,
// naming what differs.
func TestRestoreConfigMismatch(t *testing.T) {
	data := snapshot(t, runTo(t, 10, false))
	for _, c := range []struct {
		name   string
		change func(*engine.Config)
		want   string
	}{
		{"seed", func(c *engine.Config) { c.Seed++ }, "another seed"},
		{"quotas", func(c *engine.Config) { c.Quotas.ActionsPerTick = 5 }, "other quotas"},
		{"external", func(c *engine.Config) { c.External.Addresses = nil }, "external"},
		{"missing group", func(c *engine.Config) { c.Groups = c.Groups[1:] }, `group "solo"`},
		{"extra group", func(c *engine.Config) { c.Groups = append(c.Groups, engine.GroupSpec{Name: "new"}) }, `group "new"`},
		{"group spec", func(c *engine.Config) { c.Groups[2].MaxRestarts = 4 }, `group "team" differs`},
		{"group parent", func(c *engine.Config) { c.Groups[2].Parent = "" }, `group "team" differs`},
	} {
		cfg := snapConfig()
		c.change(&cfg)
		_, err := engine.Restore(cfg, data)
		if !errors.Is(err, engine.ErrSnapshotMismatch) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The order of the external names does not matter.
	cfg := snapConfig()
	cfg.External.Channels = []string{"ext"}
	if _, err := engine.Restore(cfg, data); err != nil {
		t.Error(err)
	}
}

// TestRestoreCorrupt: every truncation and every bit flip of a snapshot is
// refused (the checksum); with a flipped bit in each byte and the checksum
// made right again, the decoder itself never panics, and what it accepts
// re-encodes to the same bytes and runs.
func TestRestoreCorrupt(t *testing.T) {
	data := snapshot(t, runTo(t, 14, true))
	for n := range len(data) {
		if _, err := engine.Restore(snapConfig(), data[:n]); !errors.Is(err, engine.ErrBadSnapshot) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	accepted := 0
	for i := range len(data) {
		for bit := range 8 {
			bad := bytes.Clone(data)
			bad[i] ^= 1 << bit
			if _, err := engine.Restore(snapConfig(), bad); !errors.Is(err, engine.ErrBadSnapshot) {
				t.Fatalf("bit %d of byte %d flipped: %v", bit, i, err)
			}
			// One bit of each byte (all would be slow under -race) with
			// the checksum made right.
			if bit == i%8 && i < len(data)-sha256.Size && checkRestore(t, fixSum(bad)) {
				accepted++
			}
		}
	}
	t.Logf("%d of %d flips with a right checksum decode", accepted, len(data)-sha256.Size)
}

// fixSum replaces the checksum at the end of data by the right one.
func fixSum(data []byte) []byte {
	if len(data) < sha256.Size {
		return data
	}
	data = bytes.Clone(data)
	body := data[:len(data)-sha256.Size]
	sum := sha256.Sum256(body)
	copy(data[len(body):], sum[:])
	return data
}

// checkRestore restores data; an accepted snapshot must re-encode to data
// and run two ticks without a panic. It reports whether data was accepted.
func checkRestore(t testing.TB, data []byte) bool {
	t.Helper()
	e, err := engine.Restore(snapConfig(), data)
	if err != nil {
		if !errors.Is(err, engine.ErrBadSnapshot) && !errors.Is(err, engine.ErrSnapshotMismatch) {
			t.Fatalf("error %v wraps neither ErrBadSnapshot nor ErrSnapshotMismatch", err)
		}
		return false
	}
	again, err := e.Snapshot(nil)
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("an accepted snapshot re-encodes differently (%v)", err)
	}
	// Run it with idle agents: the fuzzer's agents' configs would be
	// scripts of any length for the test kinds, and a test of Restore
	// should not run them.
	e.SetInferencer(answerer{})
	ref := engine.NewReference(e, func(*engine.Agent) (agent.Agent, error) { return testkinds.Idle{}, nil }, 0)
	ref.Step()
	ref.Step()
	return true
}

// FuzzEngineRestore restores arbitrary bytes, as they are and with their
// checksum made right (so that the fuzzer reaches the decoder): Restore
// must not panic, must refuse with ErrBadSnapshot or ErrSnapshotMismatch,
// and what it accepts must re-encode identically and run. The seeds are
// real snapshots of the checkpoint test's run.
func FuzzEngineRestore(f *testing.F) {
	for _, k := range []int{0, 1, 5, 12, 14, 18, 25} {
		f.Add(snapshot(f, runTo(f, k, k%2 == 0)))
	}
	f.Add([]byte("LSES\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRestore(t, data)
		checkRestore(t, fixSum(data))
	})
}

// TestRestoreWithoutSnapshotter: an agent whose image cannot be restored
// (its kind's instances are not Snapshotters any more) fails at its first
// tick with a reason naming the kind, and its supervisor restarts it with
// Init. Runner.Snapshot of such an agent is an error naming the kind.
func TestRestoreWithoutSnapshotter(t *testing.T) {
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "a", Kind: "script"}})
	ref := engine.NewReference(e, func(*engine.Agent) (agent.Agent, error) { return &testkinds.Script{}, nil }, 0)
	ref.Step()
	data, err := ref.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e2, err := engine.Restore(engine.Config{}, data)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	ref2 := engine.NewReference(e2, func(*engine.Agent) (agent.Agent, error) {
		return scripted{func(agent.Context) { steps++ }}, nil
	}, 0)
	_, ready := ref2.Step()
	if len(ready.Events) != 2 || ready.Events[0].Kind != engine.EventFailed ||
		!strings.Contains(ready.Events[0].Detail, `in restore: agent kind "script" cannot be restored from a snapshot`) ||
		ready.Events[1].Kind != engine.EventRestarted {
		t.Fatalf("events %+v", ready.Events)
	}
	ref2.Step()
	if steps != 1 {
		t.Errorf("%d steps after the restart, want 1", steps)
	}
	if _, err := ref2.Snapshot(); err == nil || !strings.Contains(err.Error(), `of kind "script" cannot be snapshotted`) {
		t.Errorf("snapshot of a non-Snapshotter: %v", err)
	}
}

// TestSnapshotImageCalls: Snapshot asks for the images of the agents that
// have an instance only, not of those restarted at the last barrier or
// spawned since, and refuses a nil image.
func TestSnapshotImageCalls(t *testing.T) {
	r := runTo(t, 5, true) // t4 restarted s1, s2, a0 and a1; a4 is spawned for t5
	var asked []string
	_, err := r.e.Snapshot(func(a *engine.Agent) ([]byte, error) {
		asked = append(asked, a.ID)
		return []byte{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"w", "t1", "t2", "q1", "a2", "a3"}; !slices.Equal(asked, want) {
		t.Errorf("images asked of %v, want %v", asked, want)
	}
	_, err = r.e.Snapshot(func(a *engine.Agent) ([]byte, error) { return nil, nil })
	if err == nil || !strings.Contains(err.Error(), `agent "w": no image`) {
		t.Errorf("a nil image: %v", err)
	}
	if _, err = r.e.Snapshot(nil); err == nil || !strings.Contains(err.Error(), "no image function") {
		t.Errorf("no image function: %v", err)
	}
}
