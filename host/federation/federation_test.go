package federation_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/federation"
	"github.com/lockstep-rt/lockstep/internal/benchkit"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

var token = []byte("a test token of 32 bytes, at ...")

func quiet() *logrus.Logger {
	l := logrus.New()
	if os.Getenv("FEDLOG") == "debug" {
		l.SetLevel(logrus.DebugLevel)
	}
	if os.Getenv("FEDLOG") == "" {
		l.SetOutput(io.Discard)
	}
	return l
}

// oneHost runs r on one host and returns every tick's digest; cmds, if
// set, applies commands before each tick.
func oneHost(t *testing.T, r run, ticks int, cmds func(h *host.Host, tick int) error) [][32]byte {
	t.Helper()
	h, err := r.start(host.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var out [][32]byte
	for i := range ticks {
		if cmds != nil {
			if err := cmds(h, i); err != nil {
				t.Fatal(err)
			}
		}
		res, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Digest)
	}
	return out
}

// federated is a coordinator's host with its members running in this
// process (each on its own actor system and TCP port).
type federated struct {
	c       *federation.Coordinator
	h       *host.Host
	log     bytes.Buffer
	procs   map[string]*memberProc
	members chan error // each member process's result
	closed  bool       // close took the members' results
}

// run is how a test starts a run's host (on one host or as coordinator),
// and where its modules are ("" for runs of Go agents of package
// internal/testkinds).
type run struct {
	start func(host.Options) (*host.Host, error)
	mods  []string
	cache string
	// models pins models to members (model id -> member name).
	models map[string]string
	// cp is the checkpoint the run resumes from (nil: from its start).
	cp *host.Checkpoint
}

func wasmRun(topo *host.Topology, mods ...string) run {
	return run{start: topo.Start, mods: mods, cache: topo.WASM.CacheDir}
}

// replayOptions are the options of a member or a verify of r.
func (r run) replayOptions() host.ReplayOptions {
	o := host.ReplayOptions{Kinds: testkinds.Kinds(), Workers: 2, CacheDir: r.cache}
	if len(r.mods) > 0 {
		o.ModuleDirs, o.AllowUnsigned = r.mods, true
	}
	return o
}

// TestMain runs a member process when the test binary is started as one
// (startFederated): each member is a process of its own, as in production,
// with its own protoactor remote.
func TestMain(m *testing.M) {
	benchkit.MemberMain() // a benchmark's member process
	if name := os.Getenv("LOCKSTEP_TEST_MEMBER"); name != "" {
		os.Exit(member(name))
	}
	os.Exit(m.Run())
}

func member(name string) int {
	r := run{mods: filepath.SplitList(os.Getenv("LOCKSTEP_TEST_MODULES")), cache: os.Getenv("LOCKSTEP_TEST_CACHE")}
	timeout, _ := time.ParseDuration(os.Getenv("LOCKSTEP_TEST_TIMEOUT"))
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	replay := r.replayOptions()
	replay.Logger = log
	err := federation.Join(context.Background(), os.Getenv("LOCKSTEP_TEST_COORDINATOR"), federation.MemberConfig{
		Config: federation.Config{Token: token, Logger: log, Timeout: timeout}, Name: name, Replay: replay})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// memberProc is a member process.
type memberProc struct {
	name   string
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

// startFederated starts r's host as a coordinator and a process per member
// name, on 127.0.0.1, and waits until every member is ready.
func startFederated(t *testing.T, r run, members []string, timeout time.Duration) *federated {
	t.Helper()
	f, err := launch(t, r, members, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.tellMembers(t) })
	return f
}

// tellMembers logs, for a failed test that did not close f, how each
// member process ended (with what it wrote on stderr), killing the ones
// still running: why a member went away is in its process.
func (f *federated) tellMembers(t *testing.T) {
	if !t.Failed() || f.closed {
		return
	}
	for _, p := range f.procs {
		_ = p.cmd.Process.Kill()
	}
	for range f.procs {
		select {
		case err := <-f.members:
			t.Logf("member process: %v", err)
		case <-time.After(time.Minute): // a kill ends a process
			t.Log("a member process did not end within a minute of being killed")
			return
		}
	}
}

// launch is startFederated returning the error of Coordinator.Start, after
// which the member processes have ended (their results in f.members).
func launch(t *testing.T, r run, members []string, timeout time.Duration) (*federated, error) {
	t.Helper()
	c, err := federation.ListenShared(federation.CoordinatorConfig{Config: federation.Config{Token: token, Logger: quiet(), Timeout: timeout},
		Listen: "127.0.0.1:0", Members: len(members), ModelPlacement: r.models})
	if err != nil {
		t.Fatal(err)
	}
	f := &federated{c: c, members: make(chan error, len(members)), procs: map[string]*memberProc{}}
	f.h, err = r.start(host.Options{Logger: quiet(), Federation: c, Record: &f.log, Workers: 2})
	if err != nil {
		c.Close("setup failed")
		t.Fatal(err)
	}
	for _, name := range members {
		p := &memberProc{name: name, cmd: exec.Command(os.Args[0], "-test.run=^$")}
		p.cmd.Env = append(os.Environ(), "LOCKSTEP_TEST_MEMBER="+name, "LOCKSTEP_TEST_COORDINATOR="+c.Addr(),
			"LOCKSTEP_TEST_MODULES="+strings.Join(r.mods, string(filepath.ListSeparator)), "LOCKSTEP_TEST_CACHE="+r.cache, "LOCKSTEP_TEST_TIMEOUT="+timeout.String())
		p.cmd.Stderr = &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.procs[name] = p
		go func() {
			err := p.cmd.Wait()
			if err != nil {
				err = fmt.Errorf("member %s: %w: %s", name, err, p.stderr.Bytes())
			}
			f.members <- err
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx, f.h.LogHeader(), r.cp); err != nil {
		f.h.Close()
		c.Close("setup failed")
		return f, err
	}
	return f, nil
}

// close ends the run and returns the members' results.
func (f *federated) close(t *testing.T) []error {
	t.Helper()
	if err := f.h.Close(); err != nil {
		t.Error(err)
	}
	f.c.Close("the test is over")
	f.closed = true
	var errs []error
	for range f.procs {
		errs = append(errs, <-f.members)
	}
	return errs
}

// steps steps f's host through ticks [from, to), each with the one-host
// digest want[i]; at(i), if set, runs before tick i. It returns how many
// inference requests the ticks made.
func (f *federated) steps(t *testing.T, want [][32]byte, from, to int, at func(i int)) (inferences int) {
	t.Helper()
	for i := from; i < to; i++ {
		if at != nil {
			at(i)
		}
		res, err := f.h.Step()
		if err != nil {
			t.Fatal(err)
		}
		if res.Digest != want[i] {
			t.Fatalf("%s: federated digest %x, one host %x", res.Tick, res.Digest, want[i])
		}
		inferences += res.Inferences
	}
	return inferences
}

// done ends the run; every member must exit 0.
func (f *federated) done(t *testing.T) {
	t.Helper()
	for _, err := range f.close(t) {
		if err != nil {
			t.Errorf("member: %v", err)
		}
	}
}

// TestFederatedDigests runs the demo on one host, then on a coordinator
// and two members over real TCP sockets, and compares every tick's digest;
// then verifies the federated run's log on one host.
func TestFederatedDigests(t *testing.T) {
	const ticks = 40
	topo, mods := guests.Demo(t)
	want := oneHost(t, wasmRun(topo, mods), ticks, nil)

	f := startFederated(t, wasmRun(topo, mods), []string{"m2", "m1"}, federation.DefaultTimeout)
	roster := f.c.Roster()
	placed := map[int][]string{}
	for _, a := range topo.Agents {
		i := federation.Place(a.ID, roster, nil)
		placed[i] = append(placed[i], a.ID)
	}
	if len(placed) != 3 {
		t.Fatalf("placement %v over %v leaves a process without agents: the test shows nothing", placed, roster)
	}
	t.Logf("placement over %v: %v", roster, placed)
	f.steps(t, want, 0, ticks, nil)
	f.done(t)
	verify(t, &f.log, wasmRun(topo, mods), ticks, want[ticks-1])
}

// verify replays a federated run's log on one host: identical, ticks long,
// ending with digest last.
func verify(t *testing.T, log io.Reader, r run, ticks int, last [32]byte) {
	t.Helper()
	opts := r.replayOptions()
	opts.Logger = quiet()
	res, err := host.Verify(log, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || res.Ticks != uint64(ticks) || res.Digest != last {
		t.Fatalf("verify of the federated log on one host: %d ticks ending in %x, identical %v (%v %v); want %d ticks ending in %x", res.Ticks, res.Digest, res.Identical(), res.Divergence, res.Corrupt, ticks, last)
	}
}

// TestMemberKilled: a member process is killed (SIGKILL) mid-run. The
// coordinator's next tick fails naming it, well within the timeout (its
// connection ends), nothing of that tick is committed, and the log
// verifies on one host up to the last committed tick.
func TestMemberKilled(t *testing.T) {
	const before = 12
	topo, mods := guests.Demo(t)
	want := oneHost(t, wasmRun(topo, mods), before, nil)
	const timeout = 20 * time.Second
	f := startFederated(t, wasmRun(topo, mods), []string{"m1", "m2"}, timeout)
	f.steps(t, want, 0, before, nil)
	if err := f.procs["m1"].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-f.members; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the killed member's process ended with %v", err)
	}
	delete(f.procs, "m1")
	start := time.Now()
	_, err := f.h.Step()
	took := time.Since(start)
	if err == nil || !errors.Is(err, host.ErrHalted) || !strings.Contains(err.Error(), `member "m1"`) {
		t.Fatalf("the tick after m1 was killed: %v; want the run halted naming m1", err)
	}
	if took >= timeout {
		t.Errorf("the loss was noticed after %v, not before the %v timeout: the closed connection went unseen", took, timeout)
	}
	t.Logf("halted %v after the kill: %v", took.Round(time.Millisecond), err)
	if f.h.Tick() != before {
		t.Fatalf("the host is at %s after the failed tick, want t%d: the tick must not commit", f.h.Tick(), before)
	}
	f.close(t)
	verify(t, &f.log, wasmRun(topo, mods), before, want[before-1])
}

// chatterRun is a run of n chatter agents (seeded random talkers that
// send, publish, join, leave and now and then fail) in a supervision tree,
// with external commands during the run: spawns, stops, inputs.
func chatterRun(n int) run {
	groups := []host.Group{
		{Name: "g0", Strategy: host.OneForOne, OnFailure: host.Restart, MaxRestarts: 1000, Window: 50},
		{Name: "g1", Strategy: host.AllForOne, OnFailure: host.Restart, MaxRestarts: 1000, Window: 20, Parent: "g0"},
	}
	cfg := []byte(fmt.Sprintf("agents=%d channels=%d fail=%d", n, 1+n/10, 2000))
	return run{
		start: func(opts host.Options) (*host.Host, error) {
			opts.Seed, opts.Groups, opts.Kinds = 7, groups, testkinds.Kinds()
			h, err := host.New(opts)
			for i := 0; err == nil && i < n; i++ {
				err = h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "chatter", Config: cfg, Group: groups[i%2].Name, Priority: int32(i % 3)})
			}
			return h, err
		},
	}
}

// commands are the chatter runs' external commands before tick t.
func commands(h *host.Host, t int) error {
	switch t % 7 {
	case 1:
		return h.Send(fmt.Sprintf("a%d", t%50), []byte(fmt.Sprintf("input %d", t)))
	case 3:
		return h.Publish("ch1", []byte("news"))
	case 5:
		if err := h.Stop(fmt.Sprintf("a%d", t)); err != nil {
			return err
		}
		return h.Spawn(host.AgentSpec{ID: fmt.Sprintf("late%d", t), Kind: "chatter", Config: []byte("agents=300 channels=31 fail=0"), Group: "g0"})
	}
	return nil
}

// TestFederatedChatter: 300 chatter agents with failures, restarts,
// membership changes, and spawns, stops and inputs during the run, on one
// host and on a coordinator with one and with three members: every tick's
// digest is the same, and the three-member log verifies on one host.
func TestFederatedChatter(t *testing.T) {
	const ticks = 60
	r := chatterRun(300)
	want := oneHost(t, r, ticks, commands)
	for _, members := range [][]string{{"solo"}, {"x", "y", "z"}} {
		f := startFederated(t, r, members, federation.DefaultTimeout)
		f.steps(t, want, 0, ticks, func(i int) {
			if err := commands(f.h, i); err != nil {
				t.Fatal(err)
			}
		})
		f.done(t)
		verify(t, &f.log, r, ticks, want[ticks-1])
	}
}

// TestFederatedModel runs the classify example (four classifiers ask model
// "flowers" every tick; their answers reach a tally) with the model pinned
// to member m1: every request is answered there, and every tick's digest
// is the one-host run's; the log verifies on one host, which recomputes
// the deterministic model's answers.
func TestFederatedModel(t *testing.T) {
	modeltest.Library(t)
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	classify := filepath.Join(guests.Root(), "examples", "classify")
	topo, err := host.LoadTopology(filepath.Join(classify, "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range topo.Modules {
		topo.Modules[i].Path = filepath.Join(mods, filepath.Base(topo.Modules[i].Path))
	}
	topo.WASM.CacheDir = filepath.Join(os.TempDir(), "lockstep-test-wazero-cache")
	const ticks = 30
	r := wasmRun(topo, mods, classify)
	want := oneHost(t, r, ticks, nil)
	r.models = map[string]string{"flowers": "m1"}
	f := startFederated(t, r, []string{"m1", "m2"}, federation.DefaultTimeout)
	inferences := f.steps(t, want, 0, ticks, nil)
	if m := f.h.Models().Metrics(); len(m) != 1 || m[0].Requests != 0 {
		t.Errorf("the coordinator's model manager ran requests (%+v): the model is pinned to m1", m)
	}
	if inferences < 4*(ticks-1) {
		t.Errorf("%d inferences in %d ticks: the example asks 4 per tick", inferences, ticks)
	}
	f.done(t)
	verify(t, &f.log, r, ticks, want[ticks-1])
}

// TestFederatedCheckpoint takes a checkpoint of the federated demo at tick
// 15 (the members send their agents' images), runs on to 40, then resumes
// a new federation, of one member, from the checkpoint: every tick after
// it has the one-host digest.
func TestFederatedCheckpoint(t *testing.T) {
	const at, ticks = 15, 40
	topo, mods := guests.Demo(t)
	r := wasmRun(topo, mods)
	want := oneHost(t, r, ticks, nil)
	f := startFederated(t, r, []string{"m1", "m2"}, federation.DefaultTimeout)
	var cp *host.Checkpoint
	f.steps(t, want, 0, ticks, func(i int) {
		if i == at {
			var err error
			if cp, err = f.h.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	})
	f.done(t)
	images := 0
	for _, a := range topo.Agents {
		if federation.Place(a.ID, f.c.Roster(), nil) != 0 {
			images++
		}
	}
	if images == 0 {
		t.Fatal("no agent ran on a member: the checkpoint needs no member's images, the test shows nothing")
	}

	r.cp = cp
	r.start = func(opts host.Options) (*host.Host, error) {
		h, err := topo.Resume(opts, cp)
		if err == nil {
			topo.Schedule(h, cp.Tick, 0) // the inputs at 20
		}
		return h, err
	}
	f = startFederated(t, r, []string{"m3"}, federation.DefaultTimeout)
	f.steps(t, want, at, ticks, nil)
	f.done(t)
}

// TestMemberCannotStart: a member without the run's module files cannot
// build its share; the coordinator's Start fails with the member's own
// reason (not merely "disconnected"), and the member exits non-zero.
func TestMemberCannotStart(t *testing.T) {
	topo, _ := guests.Demo(t)
	f, err := launch(t, wasmRun(topo, t.TempDir()), []string{"bare"}, 5*time.Second)
	if err == nil {
		f.close(t)
		t.Fatal("the run started with a member that has no modules")
	}
	if !strings.Contains(err.Error(), `member "bare" could not start the run`) || !strings.Contains(err.Error(), "module") {
		t.Fatalf("Start: %v\nwant the member's reason, naming the module", err)
	}
	t.Log(err)
	if merr := <-f.members; merr == nil {
		t.Fatal("the member exited 0")
	}
}
