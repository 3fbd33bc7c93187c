package actors_test

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/scripttest"
)

// testdata is where the scripts are: the reference scheduler's tests in
// package engine run the same files, so the golden output is what both
// schedulers must produce.
const testdata = "../internal/engine/testdata"

// TestDataDriven runs the scheduler scripts on the actor runtime, with 4
// workers and with 1 (a script's "groups workers=N" overrides both). The
// script language is documented in package internal/scripttest;
// -rewrite regenerates the expected output (it must not change: the
// reference scheduler reads the same files).
func TestDataDriven(t *testing.T) {
	for _, workers := range []int{4, 1} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			datadriven.Walk(t, testdata, func(t *testing.T, path string) {
				d := scripttest.NewDriver(workers, newRuntime)
				defer d.Close()
				datadriven.RunTest(t, path, d.Run)
			})
		})
	}
}

// actorRuntime runs scripts on an actors.System.
type actorRuntime struct {
	t    testing.TB
	sys  *actors.System
	logs *logCapture
}

func newRuntime(t testing.TB, e *engine.Engine, f engine.Factory, o scripttest.RunOpts) (scripttest.Runtime, error) {
	c := &logCapture{}
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.SetLevel(logrus.DebugLevel)
	log.AddHook(c)
	sys, err := actors.Start(actors.Config{Engine: e, Factory: f, Workers: o.Workers, MaxMessageSize: o.MaxSize, Logger: log})
	if err != nil {
		return nil, err
	}
	return &actorRuntime{t: t, sys: sys, logs: c}, nil
}

func (r *actorRuntime) Apply(c engine.Command) error { return r.sys.Apply(c) }

func (r *actorRuntime) Step() (engine.Plan, engine.Ready, []string) {
	out, err := r.sys.Step()
	if err != nil {
		r.t.Fatal(err)
	}
	return out.Plan, out.Ready, r.logs.take()
}

func (r *actorRuntime) Close() { r.sys.Close() }

// logCapture collects what the router logs: agents' log lines (with an
// "agent" field) and the runtime's own complaints ("actors: ..."), which no
// script expects; not the lines of supervision events (an "event" field).
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (c *logCapture) Levels() []logrus.Level { return logrus.AllLevels }

func (c *logCapture) Fire(e *logrus.Entry) error {
	if _, ok := e.Data["event"]; ok {
		return nil // the barrier's lines of supervision events (TestEventLog)
	}
	id, isAgent := e.Data["agent"].(string)
	if !isAgent && !strings.HasPrefix(e.Message, "actors:") {
		return nil // protoactor's own chatter
	}
	if !isAgent {
		id = "runtime"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, scripttest.LogLine(agent.Level(e.Level), id, e.Message))
	return nil
}

func (c *logCapture) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.lines
	c.lines = nil
	return l
}
