package host_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// scenario is a seeded random topology: chatter agents in a supervision
// tree, with external commands at random ticks.
type scenario struct {
	seed   uint64
	ticks  int
	groups []host.Group
	// cmds[t] are applied before tick t.
	cmds [][]func(target) error
}

// target is what a scenario drives: the host, or the reference scheduler.
type target interface {
	spawn(id, config, group string, prio int32) error
	stop(id string) error
	join(id, ch string) error
	leave(id, ch string) error
	send(to string, p []byte) error
	publish(ch string, p []byte) error
}

func genScenario(seed uint64, agents, ticks int) *scenario {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := &scenario{seed: seed, ticks: ticks, cmds: make([][]func(target) error, ticks)}
	s.groups = []host.Group{
		{Name: "g0", Strategy: host.OneForOne, OnFailure: host.Restart, MaxRestarts: 20, Window: 50},
		{Name: "g1", Strategy: host.AllForOne, OnFailure: host.Restart, MaxRestarts: 3, Window: 20, Parent: "g0"},
		{Name: "g2", Strategy: host.OneForOne, OnFailure: host.Stop},
		{Name: "g3", Strategy: host.OneForOne, OnFailure: host.Escalate, Parent: "g0"},
	}
	channels := 1 + agents/10
	cfg := fmt.Sprintf("agents=%d channels=%d fail=%d", agents, channels, 1500)
	group := func() string { return fmt.Sprintf("g%d", r.IntN(4)) }
	next := 0
	spawn := func(t int) {
		id, g, prio := fmt.Sprintf("a%d", next), group(), int32(r.IntN(3))
		next++
		s.cmds[t] = append(s.cmds[t], func(x target) error { return x.spawn(id, cfg, g, prio) })
	}
	for range agents {
		spawn(0)
	}
	for t := 1; t < ticks; t++ {
		for range r.IntN(4) {
			id, ch := fmt.Sprintf("a%d", r.IntN(next+1)), fmt.Sprintf("ch%d", r.IntN(channels))
			p := []byte(fmt.Sprintf("input %d", r.Uint64()))
			var c func(target) error
			switch r.IntN(10) {
			case 0:
				c = func(x target) error { return x.stop(id) }
			case 1:
				spawn(t)
				continue
			case 2:
				c = func(x target) error { return x.join(id, ch) }
			case 3:
				c = func(x target) error { return x.leave(id, ch) }
			case 4, 5:
				c = func(x target) error { return x.publish(ch, p) }
			default:
				c = func(x target) error { return x.send(id, p) }
			}
			s.cmds[t] = append(s.cmds[t], c)
		}
	}
	return s
}

// trace is what a run shows: per tick, the digest, and the verdict of
// every command.
type trace struct {
	digests [][32]byte
	errs    []string
	halted  clock.Tick
	events  map[string]int // reference runs only
}

func (a *trace) diff(b *trace) string {
	for i := range min(len(a.digests), len(b.digests)) {
		if a.digests[i] != b.digests[i] {
			return fmt.Sprintf("first difference at t%d: %x vs %x", i, a.digests[i][:6], b.digests[i][:6])
		}
	}
	if len(a.digests) != len(b.digests) {
		return fmt.Sprintf("%d ticks vs %d", len(a.digests), len(b.digests))
	}
	for i := range min(len(a.errs), len(b.errs)) {
		if a.errs[i] != b.errs[i] {
			return fmt.Sprintf("command verdict %d: %q vs %q", i, a.errs[i], b.errs[i])
		}
	}
	if len(a.errs) != len(b.errs) || a.halted != b.halted {
		return "command verdicts or halting differ"
	}
	return ""
}

type hostTarget struct{ h *host.Host }

func (x hostTarget) spawn(id, cfg, g string, prio int32) error {
	return x.h.Spawn(host.AgentSpec{ID: id, Kind: "chatter", Config: []byte(cfg), Group: g, Priority: prio})
}
func (x hostTarget) stop(id string) error              { return x.h.Stop(id) }
func (x hostTarget) join(id, ch string) error          { return x.h.Join(id, ch) }
func (x hostTarget) leave(id, ch string) error         { return x.h.Leave(id, ch) }
func (x hostTarget) send(to string, p []byte) error    { return x.h.Send(to, p) }
func (x hostTarget) publish(ch string, p []byte) error { return x.h.Publish(ch, p) }

// verdict keeps the sentinel-level meaning of an error: the host adds a
// prefix the engine lacks.
func verdict(err error) string {
	if err == nil {
		return "ok"
	}
	return "error"
}

func (s *scenario) runHost(t *testing.T, workers int, record *bytes.Buffer) *trace {
	opts := host.Options{Seed: s.seed, Groups: s.groups, Workers: workers, Kinds: testkinds.Kinds(), Logger: quiet()}
	if record != nil {
		opts.Record = record
	}
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tr := &trace{}
	for tick := range s.ticks {
		for _, c := range s.cmds[tick] {
			tr.errs = append(tr.errs, verdict(c(hostTarget{h})))
		}
		res, err := h.Step()
		tr.digests = append(tr.digests, res.Digest)
		if err != nil {
			tr.halted = res.Tick
			break
		}
	}
	return tr
}

type refTarget struct{ e *engine.Engine }

func (x refTarget) spawn(id, cfg, g string, prio int32) error {
	return x.e.Apply(engine.Command{Spawn: &engine.SpawnSpec{ID: id, Kind: "chatter", Config: []byte(cfg), Group: g, Priority: prio}})
}
func (x refTarget) stop(id string) error { return x.e.Apply(engine.Command{Stop: id}) }
func (x refTarget) join(id, ch string) error {
	return x.e.Apply(engine.Command{Join: &engine.Membership{Agent: id, Channel: ch}})
}
func (x refTarget) leave(id, ch string) error {
	return x.e.Apply(engine.Command{Leave: &engine.Membership{Agent: id, Channel: ch}})
}
func (x refTarget) send(to string, p []byte) error {
	return x.e.Apply(engine.Command{Input: &engine.Input{To: to, Payload: p}})
}
func (x refTarget) publish(ch string, p []byte) error {
	return x.e.Apply(engine.Command{Input: &engine.Input{Channel: ch, Payload: p}})
}

// runReference runs the scenario on the naive sequential scheduler.
func (s *scenario) runReference(t *testing.T) *trace {
	groups := make([]engine.GroupSpec, len(s.groups))
	for i, g := range s.groups {
		groups[i] = engine.GroupSpec{Name: g.Name, Parent: g.Parent, Strategy: g.Strategy, Directive: g.OnFailure, MaxRestarts: g.MaxRestarts, Window: clock.Tick(g.Window)}
	}
	e, err := engine.New(engine.Config{Seed: s.seed, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	kinds := testkinds.Kinds()
	ref := engine.NewReference(e, func(a *engine.Agent) (agent.Agent, error) { return kinds[a.Kind](a.ID, a.Config) }, 0)
	tr := &trace{events: map[string]int{}}
	for tick := range s.ticks {
		for _, c := range s.cmds[tick] {
			tr.errs = append(tr.errs, verdict(c(refTarget{e})))
		}
		_, ready := ref.Step()
		for _, ev := range ready.Events {
			tr.events[ev.Kind.String()]++
		}
		tr.digests = append(tr.digests, ready.Digest)
		if ready.Halted != nil {
			tr.halted = ready.Tick
			break
		}
	}
	return tr
}

func scenarioSize() (agents, ticks int) {
	if testing.Short() {
		return 60, 300
	}
	return 300, 1200
}

// TestDeterminismWorkersAndGOMAXPROCS runs one random scenario on the
// reference scheduler and on the actor runtime with 1, 2 and 8 workers under
// GOMAXPROCS 1 and 2: every tick's digest must be identical.
func TestDeterminismWorkersAndGOMAXPROCS(t *testing.T) {
	agents, ticks := scenarioSize()
	for _, seed := range []uint64{1, 2} {
		s := genScenario(seed, agents, ticks)
		want := s.runReference(t)
		events := 0
		for _, e := range want.errs {
			if e != "ok" {
				events++
			}
		}
		t.Logf("seed %d: %d agents, %d ticks run, %d commands (%d refused), halted at %d, events %v", seed, agents, len(want.digests), len(want.errs), events, want.halted, want.events)
		if want.events["failed"] == 0 || want.events["restarted"] == 0 || want.events["stopped"] == 0 || want.events["dead-letter"] == 0 {
			t.Fatalf("the scenario does not exercise failures, restarts, stops and dead letters: %v", want.events)
		}
		for _, procs := range []int{1, 2} {
			for _, workers := range []int{1, 2, 8} {
				prev := runtime.GOMAXPROCS(procs)
				got := s.runHost(t, workers, nil)
				runtime.GOMAXPROCS(prev)
				if d := want.diff(got); d != "" {
					t.Fatalf("seed %d, GOMAXPROCS %d, %d workers vs reference: %s", seed, procs, workers, d)
				}
			}
		}
	}
}

// TestDeterminismLiveVsReplay records a run and verifies the log with a
// different number of workers.
func TestDeterminismLiveVsReplay(t *testing.T) {
	agents, ticks := scenarioSize()
	s := genScenario(3, agents, ticks)
	var log bytes.Buffer
	live := s.runHost(t, 2, &log)
	res, err := host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: testkinds.Kinds(), Workers: 8, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || !res.Complete {
		t.Fatalf("replay: %+v (divergence %v)", res, res.Divergence)
	}
	if res.Ticks != uint64(len(live.digests)) || res.Digest != live.digests[len(live.digests)-1] {
		t.Fatalf("replay verified %d ticks ending %x; live ran %d ending %x", res.Ticks, res.Digest[:6], len(live.digests), live.digests[len(live.digests)-1][:6])
	}
	t.Logf("replayed %d ticks from a %d-byte log", res.Ticks, log.Len())
}
