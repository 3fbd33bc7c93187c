package agenttest_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/mailbox"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
)

// funcs is an agent made of functions (nil: do nothing).
type funcs struct {
	receive func(agent.Context, agent.Message) error
	step    func(agent.Context) error
}

func (f *funcs) Init(agent.Context) error { return nil }
func (f *funcs) Receive(ctx agent.Context, m agent.Message) error {
	if f.receive == nil {
		return nil
	}
	return f.receive(ctx, m)
}
func (f *funcs) Step(ctx agent.Context) error {
	if f.step == nil {
		return nil
	}
	return f.step(ctx)
}
func (f *funcs) Shutdown(agent.Context) error { return nil }

func factory(f *funcs) host.Factory {
	return func(string, []byte) (agent.Agent, error) { return f, nil }
}

// draws logs three numbers of the agent's random source each step.
func draws(ctx agent.Context) error {
	r := ctx.Rand()
	ctx.Log(agent.LevelInfo, fmt.Sprint(r.Uint64(), r.IntN(1000), r.NormFloat64()))
	return nil
}

// TestContextRandIsTheRunsRand: the fake's random source gives, for a
// seed, agent and tick, the numbers of a run.
func TestContextRandIsTheRunsRand(t *testing.T) {
	h := agenttest.New(t, agenttest.Agent{ID: "dice", Factory: factory(&funcs{step: draws})}, &agenttest.Options{Seed: 42})
	h.Run(4)
	h.AssertNoFailures()
	for _, r := range h.Ticks() {
		ctx := agenttest.NewContextWith("dice", r.Tick, agenttest.ContextOptions{Seed: 42})
		_ = draws(ctx)
		if got, want := ctx.Logs(), r.Logs(); !slices.Equal(got, want) {
			t.Errorf("%s: the context drew %v, the run %v", r.Tick, got, want)
		}
	}
	other := agenttest.NewContextWith("dice", 0, agenttest.ContextOptions{Seed: 43})
	_ = draws(other)
	if slices.Equal(other.Logs(), h.At(0).Logs()) {
		t.Error("another seed drew the same numbers")
	}
}

// TestContextChecksLikeARun: bad names and sizes are refused, quotas are
// enforced (across ticks too), and a tick over a quota is dropped at Reset.
func TestContextChecksLikeARun(t *testing.T) {
	ctx := agenttest.NewContextWith("a", 0, agenttest.ContextOptions{MaxMessageSize: 4, Quotas: host.Quotas{StateRegions: 1, ActionsPerTick: 3}})
	if err := ctx.Send("no good", nil); !errors.Is(err, agent.ErrInvalidName) {
		t.Errorf("send to a bad id: %v", err)
	}
	if err := ctx.Publish("ch", []byte("12345")); !errors.Is(err, agent.ErrTooLarge) {
		t.Errorf("publish of 5 bytes with a limit of 4: %v", err)
	}
	if err := ctx.WriteState("one", []byte("1")); err != nil {
		t.Fatal(err)
	}
	ctx.Reset(1)
	if err := ctx.WriteState("two", []byte("2")); !errors.Is(err, agent.ErrQuota) || !strings.Contains(err.Error(), "state_regions") {
		t.Errorf("a second region with state_regions 1: %v", err)
	}
	if ctx.Violation() == nil {
		t.Error("no violation after going over a quota")
	}
	ctx.Reset(2)
	if ctx.Violation() != nil {
		t.Errorf("violation after Reset: %v", ctx.Violation())
	}
	for i := range 3 {
		if err := ctx.Send("b", nil); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := ctx.WriteState("one", []byte("x")); !errors.Is(err, agent.ErrQuota) {
		t.Errorf("a fourth action with actions_per_tick 3: %v", err)
	}
	ctx.Reset(3)
	if v, _ := ctx.ReadState("a", "one"); string(v) != "1" {
		t.Errorf("region one = %q after a tick over quota; want its old value", v)
	}

	// The run agrees: the second region fails the agent at t1.
	var n int
	h := agenttest.New(t, agenttest.Agent{ID: "a", Factory: factory(&funcs{step: func(ctx agent.Context) error {
		n++
		return ctx.WriteState(fmt.Sprint("r", n), []byte("x"))
	}})}, &agenttest.Options{Quotas: host.Quotas{StateRegions: 1}})
	h.Run(2)
	if f := h.At(1).Failed; !strings.Contains(f, "state_regions") {
		t.Errorf("the run at t1: failed %q; want the state_regions quota", f)
	}
}

// TestContextBarrier: Reset applies the tick's writes, joins and leaves.
func TestContextBarrier(t *testing.T) {
	ctx := agenttest.NewContextWith("a", 5, agenttest.ContextOptions{Channels: []string{"old"}})
	ctx.SetState("b", "r", []byte("theirs"))
	if v, ok := ctx.ReadState("b", "r"); !ok || string(v) != "theirs" {
		t.Errorf("ReadState(b, r) = %q, %v", v, ok)
	}
	_ = ctx.Join("new")
	_ = ctx.Leave("old")
	_ = ctx.WriteState("mine", []byte("v"))
	if got := ctx.Channels(); !slices.Equal(got, []string{"new"}) {
		t.Errorf("channels after join and leave: %v", got)
	}
	if _, ok := ctx.ReadState("a", "mine"); ok {
		t.Error("own write visible before the barrier")
	}
	if ctx.Tick() != 5 || ctx.Self() != "a" {
		t.Errorf("tick %s self %q", ctx.Tick(), ctx.Self())
	}
	ctx.Reset(6)
	if got := ctx.Outbox(); len(got) != 0 {
		t.Errorf("outbox after Reset: %v", got)
	}
	if v, ok := ctx.ReadState("a", "mine"); !ok || string(v) != "v" {
		t.Errorf("own region after the barrier: %q, %v", v, ok)
	}
	if got := ctx.Channels(); !slices.Equal(got, []string{"new"}) {
		t.Errorf("channels after the barrier: %v", got)
	}
	if _, err := ctx.Infer("m", "", []byte("in")); err != nil {
		t.Fatal(err)
	}
	if n, _ := ctx.Infer("m", "2", nil); n != 1 {
		t.Errorf("second request numbered %d", n)
	}
	if got := ctx.Inferences(); len(got) != 2 || got[1].Version != "2" || got[1].Request != 1 {
		t.Errorf("inferences %+v", got)
	}
}

// echo logs every delivery and, if told, fails or panics.
func echo(ctx agent.Context, m agent.Message) error {
	ctx.Log(agent.LevelInfo, fmt.Sprintf("%s from %q on %q sent %s", m.Payload, m.From, m.Channel, m.Sent))
	switch string(m.Payload) {
	case "panic":
		panic("told to")
	case "fail":
		return errors.New("told to")
	}
	return nil
}

// TestHarnessInputs: external inputs, to the agent and to a channel, and
// messages from other agents, sent and published, arrive when scripted,
// external inputs first.
func TestHarnessInputs(t *testing.T) {
	h := agenttest.New(t, agenttest.Agent{Kind: "echo", Factory: factory(&funcs{receive: echo}), Channels: []string{"ch"}}, nil)
	h.Input(agenttest.Input{Tick: 2, From: "peer", Payload: []byte("direct")})
	h.Input(agenttest.Input{Tick: 2, From: "caster", Channel: "ch", Payload: []byte("cast")})
	h.Input(agenttest.Input{Tick: 2, Payload: []byte("outside")})
	h.Input(agenttest.Input{Tick: 1, Channel: "ch", Payload: []byte("to all")})
	h.Run(3)
	h.AssertNoFailures()
	want := [][]string{
		nil,
		{`to all from "" on "ch" sent t1`},
		{`outside from "" on "" sent t2`, `direct from "peer" on "" sent t1`, `cast from "caster" on "ch" sent t1`},
	}
	for i, r := range h.Ticks() {
		var got []string
		for _, l := range r.Logs() {
			got = append(got, l.Text)
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("%s: the agent got %q, want %q", r.Tick, got, want[i])
		}
		if len(r.Delivered) != len(want[i]) || !r.Ran {
			t.Errorf("%s: delivered %v, ran %v", r.Tick, r.Delivered, r.Ran)
		}
	}
	// Inputs may be added as the run goes.
	h.Send(3, []byte("later"))
	if r := h.Step(); len(r.Delivered) != 1 || string(r.Delivered[0].Payload) != "later" {
		t.Errorf("t3 delivered %v", r.Delivered)
	}
}

// TestHarnessFailures: a failure is recorded with its reason and the
// restart; the next instance runs on; a run whose failures escalate halts.
func TestHarnessFailures(t *testing.T) {
	h := agenttest.Run(t, agenttest.Agent{Factory: func(string, []byte) (agent.Agent, error) { return &funcs{receive: echo}, nil }}, 3,
		agenttest.Input{Tick: 1, Payload: []byte("panic")})
	first := h.Instance()
	if got := h.Failures(); len(got) != 1 || got[0].Tick != 1 || !strings.Contains(got[0].Failed, "panic: told to") {
		t.Fatalf("failures %v", got)
	}
	if r := h.At(1); len(r.Events) != 2 || r.Events[1].Kind != "restarted" || len(r.Outbox) != 0 {
		t.Errorf("t1: events %v, outbox %v (a failed tick's is dropped)", r.Events, r.Outbox)
	}
	if !strings.Contains(h.At(1).String(), "failed: agent \"agent\" failed at t1 in receive: panic: told to") {
		t.Errorf("t1 described as\n%s", h.At(1))
	}
	h.Send(3, []byte("fail"))
	h.Run(2) // the restarted agent's instance is made when it next runs
	if h.Instance() == first {
		t.Error("the instance was not replaced by the restart")
	}

	halting := func(tb testing.TB) *agenttest.Harness {
		never := factory(&funcs{step: func(agent.Context) error { return errors.New("never works") }})
		return agenttest.New(tb, agenttest.Agent{Group: "g", Factory: never},
			&agenttest.Options{Groups: []host.Group{{Name: "g", OnFailure: host.Escalate}}})
	}
	// Escalated to the root group, which restarts at most 10 times in 100
	// ticks: the 11th failure halts the run.
	always := halting(t)
	if got := always.Run(20); len(got) != 11 || got[10].Failed == "" {
		t.Errorf("ran %d ticks; want 11, the last failed", len(got))
	}
	if err := always.Halted(); !errors.Is(err, host.ErrHalted) {
		t.Errorf("halted = %v", err)
	}
	if got := fatal(t, func(tb testing.TB) {
		h := halting(tb)
		h.Run(20)
		h.Step()
	}); !strings.Contains(got, "the run halted at t10") {
		t.Errorf("stepping a halted run: %q", got)
	}
}

// fatalTB stands in for a test that fails: it records the message and
// ends the goroutine, as t.Fatalf does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func fatal(t *testing.T, fn func(tb testing.TB)) string {
	tb := &fatalTB{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() { fn(tb) })
	wg.Wait()
	return tb.msg
}

// TestHarnessMisuse: inputs that cannot be delivered fail the test with
// what to do instead.
func TestHarnessMisuse(t *testing.T) {
	sub := agenttest.Agent{Factory: factory(&funcs{})}
	for _, c := range []struct {
		in   agenttest.Input
		want string
	}{
		{agenttest.Input{From: "peer"}, "t1 is the first"},
		{agenttest.Input{Tick: 1, From: "agent"}, "the agent under test itself"},
		{agenttest.Input{Tick: 1, From: "bad id"}, "invalid"},
	} {
		if got := fatal(t, func(tb testing.TB) { agenttest.New(tb, sub, nil).Input(c.in) }); !strings.Contains(got, c.want) {
			t.Errorf("input %+v: %q, want it to say %q", c.in, got, c.want)
		}
	}
	got := fatal(t, func(tb testing.TB) {
		h := agenttest.New(tb, sub, nil)
		h.Run(2)
		h.Input(agenttest.Input{Tick: 2, From: "peer"})
	})
	if !strings.Contains(got, "it is sent at t1, which has run") {
		t.Errorf("a message too late: %q", got)
	}
	if got := fatal(t, func(tb testing.TB) { agenttest.New(tb, agenttest.Agent{}, nil) }); !strings.Contains(got, "needs a Factory") {
		t.Errorf("no factory: %q", got)
	}
}

// TestSteps runs a host the test built.
func TestSteps(t *testing.T) {
	h, err := host.New(host.Options{Kinds: map[string]host.Factory{"idle": factory(&funcs{}),
		"bad": factory(&funcs{step: func(agent.Context) error { return errors.New("bad") }})}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Spawn(host.AgentSpec{ID: "a", Kind: "idle"}); err != nil {
		t.Fatal(err)
	}
	if res := agenttest.Steps(t, h, 3); len(res) != 3 || res[2].Tick != 2 || len(res[2].Agents) != 1 {
		t.Errorf("results %+v", res)
	}
	if err := h.Spawn(host.AgentSpec{ID: "b", Kind: "bad"}); err != nil {
		t.Fatal(err)
	}
	if got := fatal(t, func(tb testing.TB) { agenttest.Steps(tb, h, 1) }); !strings.Contains(got, "unexpected events") {
		t.Errorf("an event: %q", got)
	}
}

// relay is a user's actor: it forwards every string to its next actor for
// the next tick, tagged with its name, and reports what it got per tick.
type relay struct {
	name   string
	next   *actor.PID
	d      *agenttest.Dispatcher
	report func(string)
	got    []string
}

func (r *relay) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case string:
		if m == "boom" {
			panic("boom")
		}
		r.got = append(r.got, m)
		if r.next != nil {
			ctx.Send(r.next, mailbox.Keyed{Key: mailbox.Key{Tick: r.d.Next(), Rank: 0}, Message: r.name + ">" + m})
		}
	case mailbox.EndOfTick:
		r.report(fmt.Sprintf("%s t%d %v", r.name, m.Tick, r.got))
		r.got = nil
	}
}

// TestDispatcher: messages flow between actors tick by tick, each tick in
// canonical order, all on the test's goroutine; plain messages go at once;
// a panic restarts the actor.
func TestDispatcher(t *testing.T) {
	d := agenttest.NewDispatcher()
	defer d.Close()
	var reports []string
	report := func(s string) { reports = append(reports, s) }
	b := d.Spawn(actor.PropsFromProducer(func() actor.Actor { return &relay{name: "b", d: d, report: report} }))
	a := d.Spawn(actor.PropsFromProducer(func() actor.Actor { return &relay{name: "a", next: b, d: d, report: report} }))
	d.Send(a, mailbox.Key{Tick: 0, Rank: 2}, "y")
	d.Send(a, mailbox.Key{Tick: 0, Rank: 1}, "x")
	d.Send(a, mailbox.Key{Tick: 1}, "z")
	if tick := d.Tick(); tick != 0 {
		t.Errorf("released %d", tick)
	}
	// b was spawned first, so it ends t0 first; a's messages of t0 reach b
	// at t1, after a's own end of t0.
	want := []string{"b t0 []", "a t0 [x y]"}
	if !slices.Equal(reports, want) {
		t.Fatalf("after t0: %q, want %q", reports, want)
	}
	reports = nil
	d.Tick()
	want = []string{"b t1 [a>x a>y]", "a t1 [z]"}
	if !slices.Equal(reports, want) {
		t.Fatalf("after t1: %q, want %q", reports, want)
	}
	reports = nil

	d.Post(a, "boom") // a restarts, empty
	d.Post(a, "now")  // delivered at once; forwarded for t2
	d.Tick()
	want = []string{"b t2 [a>z a>now]", "a t2 [now]"}
	if !slices.Equal(reports, want) {
		t.Fatalf("after t2: %q, want %q", reports, want)
	}
	reports = nil
	d.Stop(b)
	d.Tick()
	if want := []string{"a t3 []"}; !slices.Equal(reports, want) {
		t.Errorf("after stopping b: %q, want %q", reports, want)
	}
	if d.Drain() != 0 {
		t.Error("work left after Tick")
	}
}

// TestDispatcherChildren: children spawned with Props are stepped too.
func TestDispatcherChildren(t *testing.T) {
	d := agenttest.NewDispatcher()
	defer d.Close()
	var reports []string
	child := d.Props(actor.PropsFromProducer(func() actor.Actor {
		return &relay{name: "child", d: d, report: func(s string) { reports = append(reports, s) }}
	}))
	var kid *actor.PID
	parent := d.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			kid = ctx.Spawn(child)
		}
	}))
	_ = parent
	d.Send(kid, mailbox.Key{Tick: 0}, "hi")
	d.Tick()
	if want := []string{"child t0 [hi]"}; !slices.Equal(reports, want) {
		t.Errorf("reports %q, want %q", reports, want)
	}
}

var _ clock.Tick // the records' ticks are clock.Ticks
