package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon"
	"github.com/lockstep-rt/lockstep/host/daemon/api"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// serveTopology writes the serve example's topology with its modules
// taken from the built guests.
func serveTopology(t *testing.T) string {
	t.Helper()
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../examples/serve/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "../../bin/wasm", mods)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveProc is agenthost serve running as a process of its own.
type serveProc struct {
	cmd  *exec.Cmd
	addr string // the TCP address, with --listen
	out  *strings.Builder
	done chan error
}

// startServe starts agenthost serve and returns once it says it serves
// (its "serving ..." line on stderr): no polling, no sleeping.
func startServe(t *testing.T, topo, dir string, args ...string) *serveProc {
	t.Helper()
	return startServeWith(t, nil, topo, dir, args...)
}

// startServeWith is startServe with a command before agenthost's (such
// as prlimit and its arguments).
func startServeWith(t *testing.T, wrap []string, topo, dir string, args ...string) *serveProc {
	t.Helper()
	argv := append(slices.Clone(wrap), os.Args[0], "serve", "--topology", topo, "--data-dir", dir,
		"--wasm-cache", filepath.Join(os.TempDir(), "lockstep-test-wazero-cache"))
	cmd := exec.Command(argv[0], append(argv[1:], args...)...)
	cmd.Env = append(os.Environ(), "LOCKSTEP_AGENTHOST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, out: &strings.Builder{}, done: make(chan error, 1)}
	sc := bufio.NewScanner(stderr)
	ready := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(p.out, line)
		if rest, ok := strings.CutPrefix(line, "serving "); ok {
			if _, a, ok := strings.Cut(rest, " and "); ok {
				p.addr = a
			}
			ready = true
			break
		}
	}
	if !ready {
		err := cmd.Wait()
		t.Fatalf("agenthost serve did not start: %v\n%s", err, p.out)
	}
	go func() {
		b, _ := io.ReadAll(stderr)
		p.out.Write(b)
		p.done <- cmd.Wait()
	}()
	return p
}

// stop sends SIGTERM and waits: serve exits 0 after the tick in progress.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, p.out)
	}
}

// kill kills it with SIGKILL and waits for it to be gone.
func (p *serveProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func dial(t *testing.T, o api.DialOptions) api.AgenthostClient {
	t.Helper()
	conn, err := api.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return api.NewAgenthostClient(conn)
}

// TestServeAPI drives a real serve process through its gRPC API over the
// Unix socket and over TCP with tokens, stops it with SIGTERM, and
// resumes it.
func TestServeAPI(t *testing.T) {
	topo := serveTopology(t)
	dir := t.TempDir()
	p := startServe(t, topo, dir, "--clock", "manual", "--checkpoint-every", "4", "--listen", "127.0.0.1:0")
	ctx := context.Background()
	c := dial(t, api.DialOptions{DataDir: dir})

	// Subscribe first: the outputs of the ticks to come.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := c.Subscribe(sctx, &api.SubscribeRequest{Channels: []string{"counts"}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("hello"), IdempotencyKey: "a"})
	if err != nil || in.Tick != 0 || in.Duplicate {
		t.Fatalf("input: %v %v", in, err)
	}
	again, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("hello"), IdempotencyKey: "a"})
	if err != nil || again.Tick != 0 || !again.Duplicate {
		t.Fatalf("retried input: %v %v, want a duplicate at tick 0", again, err)
	}
	for _, bad := range []*api.InputRequest{{To: "nobody"}, {Channel: "nowhere"}, {To: "counter", Channel: "counts"}, {To: "counter", Payload: make([]byte, 2<<20)}} {
		_, err := c.Input(ctx, bad)
		if code := status.Code(err); code != codes.NotFound && code != codes.InvalidArgument {
			t.Errorf("input %v: %v, want NotFound or InvalidArgument", bad.To+bad.Channel, err)
		}
	}
	if _, err := c.Resume(ctx, &api.ResumeRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("resume on a manual clock: %v", err)
	}
	st, err := c.Step(ctx, &api.StepRequest{Ticks: 10})
	if err != nil || st.Tick != 10 || st.DurableTick != 10 || st.LastCheckpoint != 8 {
		t.Fatalf("step: %v %v", st, err)
	}
	// counter counted "hello" at tick 0 and publishes the count (1) on
	// the external channel "counts" every tick, as pong does its pings.
	var fromCounter []uint64
	for len(fromCounter) < 10 {
		o, err := sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if o.From == "counter" {
			fromCounter = append(fromCounter, o.Tick)
			if o.Payload[0] != 1 {
				t.Fatalf("counter's count at %d: %x", o.Tick, o.Payload)
			}
		}
	}
	if !slices.Equal(fromCounter, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("counter's outputs at ticks %v", fromCounter)
	}

	// TCP: a token is required; the read-only one reads only.
	if _, err := dial(t, api.DialOptions{Addr: p.addr}).Status(ctx, &api.StatusRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("TCP without a token: %v", err)
	}
	full, read, err := api.EnsureTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	ro := dial(t, api.DialOptions{Addr: p.addr, Token: read})
	if _, err := ro.Status(ctx, &api.StatusRequest{}); err != nil {
		t.Errorf("status with the read-only token: %v", err)
	}
	if _, err := ro.Input(ctx, &api.InputRequest{To: "counter"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("input with the read-only token: %v", err)
	}
	rw := dial(t, api.DialOptions{Addr: p.addr, Token: full})
	if r, err := rw.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("x")}); err != nil || r.Tick != 10 {
		t.Errorf("input with the full token: %v %v", r, err)
	}
	if _, err := rw.Spawn(ctx, &api.SpawnRequest{Id: "c2", Kind: "counter"}); err != nil {
		t.Errorf("spawn: %v", err)
	}
	if _, err := rw.Spawn(ctx, &api.SpawnRequest{Id: "c3", Kind: "nosuchkind"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("spawn of an unknown kind: %v", err)
	}
	st, err = c.Step(ctx, &api.StepRequest{Ticks: 3})
	if err != nil || st.Agents != 9 {
		t.Fatalf("step after spawn: %v %v", st, err)
	}
	if _, err := rw.Stop(ctx, &api.StopRequest{Id: "c2"}); err != nil {
		t.Errorf("stop: %v", err)
	}
	st, err = c.Step(ctx, &api.StepRequest{Ticks: 1})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	p.stop(t)

	// Resumed from its checkpoint and log: the same tick and digest.
	p = startServe(t, topo, dir, "--clock", "manual", "--checkpoint-every", "4")
	defer p.stop(t)
	c = dial(t, api.DialOptions{DataDir: dir})
	st2, err := c.Status(ctx, &api.StatusRequest{})
	if err != nil || st2.Tick != st.Tick || st2.Digest != st.Digest || st2.Agents != 8 {
		t.Fatalf("resumed: %v %v, stopped at %v", st2, err, st)
	}
	if r, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("hello"), IdempotencyKey: "a"}); err != nil || !r.Duplicate {
		t.Errorf("key a after a restart: %v %v, want a duplicate", r, err)
	}
	// A subscriber may start from a tick in the log.
	sub, err = c.Subscribe(ctx, &api.SubscribeRequest{Channels: []string{"counts"}, FromTick: ptr(uint64(12))})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := sub.Recv(); err != nil || o.Tick != 12 {
		t.Fatalf("subscribe from tick 12: %v %v", o, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestServeCrash kills serve with SIGKILL at 20 seeded random points while
// a client sends inputs (retrying each, with its idempotency key, until it
// is acknowledged), restarting it each time. Then (a) every input is in
// the log exactly once, at the tick its acknowledgement named, and (b)
// every tick's digest equals that of an uninterrupted run given the same
// inputs at the same ticks; and the data directory verifies.
func TestServeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("20 process restarts")
	}
	topo := serveTopology(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(2026, 11))
	args := []string{"--clock", "paced", "--pace", "400", "--checkpoint-every", "7", "--keep-log", "--sync", "1ms"}
	type acked struct {
		key  string
		tick uint64
	}
	var acks []acked
	next := 0 // the next input to send
	ctx := context.Background()
	for round := range 20 {
		p := startServe(t, topo, dir, args...)
		conn, err := api.Dial(api.DialOptions{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		c := api.NewAgenthostClient(conn)
		n := 1 + rng.IntN(12)
		inFlight := rng.IntN(2) == 0 // kill while an input is on its way
		for i := 0; i < n; i++ {
			key := fmt.Sprintf("in-%d", next)
			r, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte(key), IdempotencyKey: key})
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, key, err)
			}
			acks = append(acks, acked{key, r.Tick})
			next++
		}
		if inFlight {
			key := fmt.Sprintf("in-%d", next)
			go c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte(key), IdempotencyKey: key}, grpc.WaitForReady(false))
		}
		p.kill()
		conn.Close()
		if inFlight {
			// Unacknowledged: the client sends it again after the restart,
			// with the same key (applied once, whether it made it or not).
			p := startServe(t, topo, dir, args...)
			c := dial(t, api.DialOptions{DataDir: dir})
			key := fmt.Sprintf("in-%d", next)
			r, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte(key), IdempotencyKey: key})
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, acked{key, r.Tick})
			next++
			p.kill()
		}
	}
	p := startServe(t, topo, dir, args...)
	p.stop(t)

	// (a) exactly once, at the acknowledged tick; and the digests.
	segs, err := filepath.Glob(filepath.Join(dir, "log", "seg-*.replay"))
	if err != nil || len(segs) < 2 {
		t.Fatalf("segments: %v %v", segs, err)
	}
	seen := map[string][]uint64{}
	var digests [][]byte
	for _, s := range segs {
		_, recs, err := replaylog.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			switch k := r.Kind.(type) {
			case *replaylog.Record_Command:
				if in := k.Command.GetInput(); in != nil {
					seen[k.Command.Key] = append(seen[k.Command.Key], k.Command.Tick)
				}
			case *replaylog.Record_Tick:
				if k.Tick.Tick != uint64(len(digests)) {
					t.Fatalf("%s: tick %d after %d ticks", s, k.Tick.Tick, len(digests))
				}
				digests = append(digests, k.Tick.Digest)
			}
		}
	}
	for _, a := range acks {
		if got := seen[a.key]; len(got) != 1 || got[0] != a.tick {
			t.Errorf("input %s acknowledged at tick %d is in the log at ticks %v", a.key, a.tick, got)
		}
	}
	if len(seen) != len(acks) {
		t.Errorf("the log has %d inputs, %d were acknowledged", len(seen), len(acks))
	}
	// (b) an uninterrupted run with the same inputs at the same ticks.
	tp, err := host.LoadTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	h, err := tp.Start(host.Options{Kinds: kinds(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	i := 0
	for tick := range digests {
		for ; i < len(acks) && acks[i].tick == uint64(tick); i++ {
			if err := h.Send("counter", []byte(acks[i].key)); err != nil {
				t.Fatal(err)
			}
		}
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Digest[:]) != string(digests[tick]) {
			t.Fatalf("tick %d: the crashed and resumed run has digest %x, the uninterrupted one %x", tick, digests[tick][:8], r.Digest[:8])
		}
	}
	t.Logf("%d ticks, %d inputs, 20 crashes: identical", len(digests), len(acks))
	mods, _ := guests.Dir()
	res, err := daemon.Verify(dir, host.ReplayOptions{Kinds: kinds(), Logger: quietLogger(), AllowUnsigned: true, ModuleDirs: []string{mods}}, daemon.FromStart)
	if err != nil || !res.Identical() || res.Ticks != uint64(len(digests)) {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if _, err := daemon.Verify(dir, host.ReplayOptions{Kinds: kinds(), Logger: quietLogger(), AllowUnsigned: true, ModuleDirs: []string{mods}}, daemon.Latest); err != nil {
		t.Fatal(err)
	}
}

func quietLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// TestServeDiskFull runs serve under a file size limit (RLIMIT_FSIZE, set
// with prlimit: a write past it fails with EFBIG, as on a full disk). An
// input whose record cannot be written is refused, not acknowledged; the
// daemon stops accepting changes and says why; restarted with room, it
// resumes from its log with everything it acknowledged.
func TestServeDiskFull(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not found")
	}
	topo := serveTopology(t)
	dir := t.TempDir()
	args := []string{"--clock", "manual", "--checkpoint-every", "0"}
	p := startServeWith(t, []string{prlimit, "--fsize=200000", "--"}, topo, dir, args...)
	ctx := context.Background()
	c := dial(t, api.DialOptions{DataDir: dir})
	if _, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("a"), IdempotencyKey: "a"}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Step(ctx, &api.StepRequest{Ticks: 5})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Input(ctx, &api.InputRequest{To: "counter", Payload: make([]byte, 300_000), IdempotencyKey: "big"})
	if code := status.Code(err); code != codes.FailedPrecondition || !strings.Contains(err.Error(), "file too large") {
		t.Fatalf("an input the log cannot take: %v, want FailedPrecondition naming the write error", err)
	}
	bad, err := c.Status(ctx, &api.StatusRequest{})
	if err != nil || bad.Accepting || !strings.Contains(bad.Reason, "restart") {
		t.Fatalf("status after the failed write: %v %v", bad, err)
	}
	if _, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("b")}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("input after the failed write: %v", err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err == nil {
		t.Fatalf("serve exited 0 after it could not write its log\n%s", p.out)
	}
	p = startServe(t, topo, dir, args...)
	defer p.stop(t)
	c = dial(t, api.DialOptions{DataDir: dir})
	st2, err := c.Status(ctx, &api.StatusRequest{})
	if err != nil || st2.Tick != st.Tick || st2.Digest != st.Digest || !st2.Accepting {
		t.Fatalf("resumed: %v %v, before the failure %v", st2, err, st)
	}
	if r, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("a"), IdempotencyKey: "a"}); err != nil || !r.Duplicate {
		t.Fatalf("the acknowledged input after the restart: %v %v", r, err)
	}
	if r, err := c.Input(ctx, &api.InputRequest{To: "counter", Payload: []byte("b"), IdempotencyKey: "big"}); err != nil || r.Duplicate {
		t.Fatalf("the refused input is not in the log: %v %v", r, err)
	}
}
