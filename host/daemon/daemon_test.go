package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon"
	"github.com/lockstep-rt/lockstep/host/daemon/api"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// inProcess runs a daemon on dir in this process; stop ends it cleanly.
func inProcess(t *testing.T, dir string, every uint64) (api.AgenthostClient, func()) {
	t.Helper()
	return inProcessLog(t, dir, every, quiet())
}

func serveTopology(t *testing.T) *host.Topology {
	t.Helper()
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	topo, err := host.LoadTopology("../../examples/serve/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range topo.Modules {
		topo.Modules[i].Path = filepath.Join(mods, filepath.Base(topo.Modules[i].Path))
	}
	topo.WASM.CacheDir = filepath.Join(os.TempDir(), "lockstep-test-wazero-cache")
	return topo
}

func inProcessLog(t *testing.T, dir string, every uint64, log *logrus.Logger) (api.AgenthostClient, func()) {
	t.Helper()
	return serveConfig(t, daemon.Config{DataDir: dir, Topology: serveTopology(t), Clock: daemon.Manual, CheckpointEvery: every,
		Options: host.Options{Kinds: testkinds.Kinds(), Logger: log}})
}

// serveConfig opens a daemon, serves it, and dials it; stop ends it
// cleanly.
func serveConfig(t *testing.T, cfg daemon.Config) (c api.AgenthostClient, stop func()) {
	t.Helper()
	d, err := daemon.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Serve(ctx) }()
	conn, err := api.Dial(api.DialOptions{DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	return api.NewAgenthostClient(conn), func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestResumeAfterStop(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c, stop := inProcess(t, dir, 5)
	if _, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("hi"), IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Step(ctx, &api.StepRequest{Ticks: 16})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	c, stop = inProcess(t, dir, 5)
	defer stop()
	st2, err := c.Status(ctx, &api.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st2.Tick != st.Tick || st2.Digest != st.Digest {
		t.Fatalf("resumed at %d %s, stopped at %d %s", st2.Tick, st2.Digest, st.Tick, st.Digest)
	}
}

// TestDamagedCheckpointFallsBack: the newest checkpoint damaged, the
// daemon resumes from the one before it (and the log after it), says so,
// and arrives at the same tick and digest.
func TestDamagedCheckpointFallsBack(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c, stop := inProcess(t, dir, 4)
	st, err := c.Step(ctx, &api.StepRequest{Ticks: 10})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	newest := filepath.Join(dir, "checkpoints", "ckpt-t000000000008.lsc")
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(newest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	log := quiet()
	log.SetOutput(&logged)
	c, stop = inProcessLog(t, dir, 4, log)
	defer stop()
	st2, err := c.Status(ctx, &api.StatusRequest{})
	if err != nil || st2.Tick != st.Tick || st2.Digest != st.Digest {
		t.Fatalf("resumed at %v %v, stopped at %v", st2, err, st)
	}
	if !strings.Contains(logged.String(), "ckpt-t000000000008.lsc is damaged; falling back") {
		t.Fatalf("the fallback is not logged:\n%s", logged.String())
	}
}

// TestAnotherTopology: a data directory is refused to another run's
// topology, naming the file and the fix.
func TestAnotherTopology(t *testing.T) {
	dir := t.TempDir()
	c, stop := inProcess(t, dir, 0)
	if _, err := c.Step(context.Background(), &api.StepRequest{Ticks: 2}); err != nil {
		t.Fatal(err)
	}
	stop()
	topo := serveTopology(t)
	topo.Seed++
	_, err := daemon.Open(daemon.Config{DataDir: dir, Topology: topo, Clock: daemon.Manual, Options: host.Options{Kinds: testkinds.Kinds(), Logger: quiet()}})
	if err == nil || !strings.Contains(err.Error(), "written by another run") {
		t.Fatalf("another seed on the data directory: %v", err)
	}
}

// TestSegmentsAndPruning: small segments rotate by size at tick
// boundaries and at every checkpoint; with three checkpoints kept, the
// older checkpoints and the segments before the oldest kept are removed;
// the directory verifies from each kept checkpoint.
func TestSegmentsAndPruning(t *testing.T) {
	dir := t.TempDir()
	c, stop := serveConfig(t, daemon.Config{DataDir: dir, Topology: serveTopology(t), Clock: daemon.Manual, CheckpointEvery: 10,
		SegmentBytes: 1024, Options: host.Options{Kinds: testkinds.Kinds(), Logger: quiet()}})
	st, err := c.Step(context.Background(), &api.StepRequest{Ticks: 55})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	cps, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*.lsc"))
	segs, _ := filepath.Glob(filepath.Join(dir, "log", "*.replay"))
	var names []string
	for _, c := range cps {
		names = append(names, filepath.Base(c))
	}
	if want := []string{"ckpt-t000000000030.lsc", "ckpt-t000000000040.lsc", "ckpt-t000000000050.lsc"}; !slices.Equal(names, want) {
		t.Fatalf("checkpoints %v, want %v", names, want)
	}
	if len(segs) < 4 || !strings.Contains(filepath.Base(segs[0]), "-t000000000030") {
		t.Fatalf("segments %v: want several, the first starting at the oldest kept checkpoint (t30)", segs)
	}
	mods, _ := guests.Dir()
	opts := host.ReplayOptions{Kinds: testkinds.Kinds(), Logger: quiet(), AllowUnsigned: true, ModuleDirs: []string{mods}}
	for _, from := range []int64{30, 40, daemon.Latest} {
		res, err := daemon.Verify(dir, opts, from)
		if err != nil || !res.Identical() || !res.Complete || fmt.Sprintf("%x", res.Digest) != st.Digest {
			t.Fatalf("verify from %d: %+v %v (stopped at %s)", from, res, err, st.Digest)
		}
	}
	if _, err := daemon.Verify(dir, opts, daemon.FromStart); err == nil || !strings.Contains(err.Error(), "pruned") {
		t.Fatalf("verify from the start of a pruned log: %v", err)
	}
}

// goOnly is a Go agent without agent.Snapshotter.
type goOnly struct{}

func (goOnly) Init(agent.Context) error                   { return nil }
func (goOnly) Receive(agent.Context, agent.Message) error { return nil }
func (goOnly) Step(agent.Context) error                   { return nil }
func (goOnly) Shutdown(agent.Context) error               { return nil }

// TestCheckpointsNeedSnapshotters: a topology with a Go kind that cannot
// be snapshotted is refused at start when checkpoints are on, naming the
// kind and the fix, and runs with them off.
func TestCheckpointsNeedSnapshotters(t *testing.T) {
	topo, err := host.ParseTopology("t", []byte("agents:\n  - {id: a, kind: plain}\n"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]host.Factory{"plain": func(string, []byte) (agent.Agent, error) { return goOnly{}, nil }}
	cfg := daemon.Config{DataDir: t.TempDir(), Topology: topo, Clock: daemon.Manual, CheckpointEvery: 10, Options: host.Options{Kinds: kinds, Logger: quiet()}}
	if _, err := daemon.Open(cfg); err == nil || !strings.Contains(err.Error(), `kind "plain" is a Go agent that does not implement agent.Snapshotter`) {
		t.Fatalf("open: %v", err)
	}
	cfg.CheckpointEvery = 0
	d, err := daemon.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Serve(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDamageIsNotCutAway: a flipped byte inside the last segment (not a
// tail a crash cut short) makes the daemon refuse to start, naming the
// file, and changes nothing; a torn tail is cut and the run goes on.
func TestDamageIsNotCutAway(t *testing.T) {
	dir := t.TempDir()
	c, stop := inProcess(t, dir, 0)
	st, err := c.Step(context.Background(), &api.StepRequest{Ticks: 20})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	segs, _ := filepath.Glob(filepath.Join(dir, "log", "*.replay"))
	seg := segs[len(segs)-1]
	good, _ := os.ReadFile(seg)
	bad := bytes.Clone(good)
	bad[len(bad)/3] ^= 0x10
	os.WriteFile(seg, bad, 0o600)
	_, err = daemon.Open(daemon.Config{DataDir: dir, Topology: serveTopology(t), Clock: daemon.Manual, Options: host.Options{Kinds: testkinds.Kinds(), Logger: quiet()}})
	if err == nil || !strings.Contains(err.Error(), "restore the file from a backup; nothing was changed") {
		t.Fatalf("open with a damaged segment: %v", err)
	}
	if after, _ := os.ReadFile(seg); !bytes.Equal(after, bad) {
		t.Fatal("the damaged segment was changed")
	}
	// Cut inside its last tick's record, as a crash would: resumed to the
	// tick before.
	rd, err := replaylog.NewReader(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	var lastTick int64
	for off := rd.Offset(); ; off = rd.Offset() {
		rec, err := rd.Next()
		if err != nil {
			break
		}
		if rec.GetTick() != nil {
			lastTick = off
		}
	}
	os.WriteFile(seg, good[:lastTick+3], 0o600)
	c, stop = inProcess(t, dir, 0)
	defer stop()
	st2, err := c.Status(context.Background(), &api.StatusRequest{})
	if err != nil || st2.Tick != st.Tick-1 {
		t.Fatalf("resumed after a torn tail at %v %v, stopped at %d", st2, err, st.Tick)
	}
}

// TestBatchKeys: a key repeated within one batch is applied once; the
// repeat answers as a duplicate with the first one's tick.
func TestBatchKeys(t *testing.T) {
	c, stop := inProcess(t, t.TempDir(), 0)
	defer stop()
	in := func(key string) *api.InputRequest {
		return &api.InputRequest{To: "counter", Payload: []byte(key), IdempotencyKey: key}
	}
	r, err := c.InputBatch(context.Background(), &api.InputBatchRequest{Inputs: []*api.InputRequest{in("k1"), in("k2"), in("k1")}})
	if err != nil {
		t.Fatal(err)
	}
	if d := []bool{r.Replies[0].Duplicate, r.Replies[1].Duplicate, r.Replies[2].Duplicate}; !slices.Equal(d, []bool{false, false, true}) {
		t.Fatalf("duplicates %v", d)
	}
	st, err := c.Status(context.Background(), &api.StatusRequest{})
	if err != nil || st.Inputs != 2 {
		t.Fatalf("inputs applied: %v %v, want 2", st, err)
	}
	if _, err := c.InputBatch(context.Background(), &api.InputBatchRequest{Inputs: []*api.InputRequest{in("k3"), {To: "nobody"}}}); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "none of the batch was applied") {
		t.Fatalf("a batch with a bad input: %v", err)
	}
}

// TestSpawnNeedsSnapshotter: with checkpoints on, a spawn of a Go kind
// that cannot be checkpointed is refused (the daemon would stop at the
// next checkpoint).
func TestSpawnNeedsSnapshotter(t *testing.T) {
	topo := serveTopology(t)
	kinds := testkinds.Kinds()
	kinds["plain"] = func(string, []byte) (agent.Agent, error) { return goOnly{}, nil }
	c, stop := serveConfig(t, daemon.Config{DataDir: t.TempDir(), Topology: topo, Clock: daemon.Manual, CheckpointEvery: 5, Options: host.Options{Kinds: kinds, Logger: quiet()}})
	defer stop()
	_, err := c.Spawn(context.Background(), &api.SpawnRequest{Id: "p", Kind: "plain"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "agent.Snapshotter") {
		t.Fatalf("spawn: %v", err)
	}
}
