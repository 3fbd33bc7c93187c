package actors_test

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/scripttest"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// split is an actors.Remote that runs half the agents (by a hash of their
// id) itself, on a goroutine of its own per tick, as a federation member
// would in another process.
type split struct {
	factory engine.Factory
	maxSize int
	runners map[*engine.Agent]*engine.Runner
	// abortAt, if set, makes the tick abortAt abort instead.
	abortAt *int
}

func (s *split) Local(a *engine.Agent) bool {
	h := fnv.New32a()
	h.Write([]byte(a.ID))
	return h.Sum32()%2 == 0
}

func (s *split) Begin(p engine.Plan, slots []int, rt *actors.RemoteTick) {
	for _, a := range p.Stopped {
		s.drop(a)
	}
	if s.abortAt != nil && int(p.Tick) == *s.abortAt {
		go rt.Abort(errors.New("the test's member is gone"))
		return
	}
	go func() {
		for _, i := range slots {
			a := p.Agents[i]
			r := s.runners[a]
			if r == nil {
				r = engine.NewRunner(a, s.factory, s.maxSize)
				s.runners[a] = r
			}
			rt.Fill(i, r.Tick(p.Tick, p.Inputs[i], p.Deliveries[i]))
		}
	}()
}

func (s *split) drop(a *engine.Agent) {
	if r := s.runners[a]; r != nil {
		r.Shutdown()
		delete(s.runners, a)
	}
}

func (s *split) LocalDone(engine.Plan, []engine.Report) {}

func (s *split) Committed(_ engine.Plan, ready *engine.Ready) {
	for _, a := range ready.Stop {
		s.drop(a)
	}
	for _, a := range ready.Restart {
		s.drop(a) // a fresh runner at its next tick
	}
}

// TestDataDrivenSplit runs the scheduler scripts with half the agents run
// through an actors.Remote: the same golden output as the reference
// scheduler and the plain actor runtime.
func TestDataDrivenSplit(t *testing.T) {
	datadriven.Walk(t, testdata, func(t *testing.T, path string) {
		d := scripttest.NewDriver(2, func(t testing.TB, e *engine.Engine, f engine.Factory, o scripttest.RunOpts) (scripttest.Runtime, error) {
			c := &logCapture{}
			log := logrus.New()
			log.SetOutput(io.Discard)
			log.SetLevel(logrus.DebugLevel)
			log.AddHook(c)
			sys, err := actors.Start(actors.Config{Engine: e, Factory: f, Workers: o.Workers, MaxMessageSize: o.MaxSize, Logger: log,
				Remote: &split{factory: f, maxSize: o.MaxSize, runners: map[*engine.Agent]*engine.Runner{}}})
			if err != nil {
				return nil, err
			}
			return &actorRuntime{t: t, sys: sys, logs: c}, nil
		})
		defer d.Close()
		datadriven.RunTest(t, path, d.Run)
	})
}

// TestRemoteAbort: a tick the Remote aborts commits nothing; Step says why
// (actors.ErrAborted) and so does every later Step.
func TestRemoteAbort(t *testing.T) {
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := func(*engine.Agent) (agent.Agent, error) { return testkinds.Idle{}, nil }
	abortAt := 3
	sys, err := actors.Start(actors.Config{Engine: e, Factory: f, Logger: logrus.New(),
		Remote: &split{factory: f, runners: map[*engine.Agent]*engine.Runner{}, abortAt: &abortAt}})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	for i := range 8 {
		if err := sys.Apply(engine.Command{Spawn: &engine.SpawnSpec{ID: fmt.Sprintf("a%d", i), Kind: "idle"}}); err != nil {
			t.Fatal(err)
		}
	}
	for range abortAt {
		if _, err := sys.Step(); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := sys.Step(); !errors.Is(err, actors.ErrAborted) || err.Error() != "the test's member is gone" {
			t.Fatalf("Step after the abort: %v; want ErrAborted with the Remote's reason", err)
		}
	}
	if e.Tick() != 3 {
		t.Fatalf("the engine is at %s: the aborted tick must not commit", e.Tick())
	}
}
