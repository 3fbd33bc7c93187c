package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/host/daemon/api"
)

// fakeDaemon is an in-memory Agenthost that records what it is asked, for
// the client verbs' tests (the real daemon has tests of its own).
type fakeDaemon struct {
	api.UnimplementedAgenthostServer
	mu      sync.Mutex
	tick    uint64
	paused  bool
	keys    map[string]uint64
	inputs  []*api.InputRequest
	spawns  []*api.SpawnRequest
	subs    []*api.SubscribeRequest
	outputs []*api.Output
	hold    bool // Subscribe waits for the client to cancel after the outputs
}

func (f *fakeDaemon) Input(_ context.Context, r *api.InputRequest) (*api.InputReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.keys[r.IdempotencyKey]; ok && r.IdempotencyKey != "" {
		return &api.InputReply{Tick: t, Duplicate: true}, nil
	}
	f.inputs = append(f.inputs, r)
	f.tick++
	f.keys[r.IdempotencyKey] = f.tick
	return &api.InputReply{Tick: f.tick}, nil
}

func (f *fakeDaemon) Subscribe(r *api.SubscribeRequest, s grpc.ServerStreamingServer[api.Output]) error {
	f.mu.Lock()
	f.subs = append(f.subs, r)
	outs, hold := f.outputs, f.hold
	f.mu.Unlock()
	for _, o := range outs {
		if err := s.Send(o); err != nil {
			return err
		}
	}
	if hold {
		<-s.Context().Done()
	}
	return nil
}

func (f *fakeDaemon) Spawn(_ context.Context, r *api.SpawnRequest) (*api.CommandReply, error) {
	if r.Kind != "counter" {
		return nil, status.Errorf(codes.InvalidArgument, "spawn %s: unknown kind %q", r.Id, r.Kind)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spawns = append(f.spawns, r)
	return &api.CommandReply{Tick: f.tick + 1}, nil
}

func (f *fakeDaemon) Stop(_ context.Context, r *api.StopRequest) (*api.CommandReply, error) {
	if r.Id != "a" {
		return nil, status.Errorf(codes.NotFound, "stop %s: no such agent", r.Id)
	}
	return &api.CommandReply{Tick: 12}, nil
}

func (f *fakeDaemon) status() *api.StatusReply {
	return &api.StatusReply{Tick: f.tick, Digest: "ab12", DurableTick: f.tick, Paused: f.paused, Clock: "paced", Agents: 3,
		Accepting: false, Reason: "the disk is full: free space in /data", Topology: "demo", Inputs: uint64(len(f.inputs)), DataDir: "/data"}
}

func (f *fakeDaemon) Status(context.Context, *api.StatusRequest) (*api.StatusReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status(), nil
}

func (f *fakeDaemon) Pause(context.Context, *api.PauseRequest) (*api.StatusReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = true
	return f.status(), nil
}

func (f *fakeDaemon) Resume(context.Context, *api.ResumeRequest) (*api.StatusReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = false
	return f.status(), nil
}

func (f *fakeDaemon) Step(_ context.Context, r *api.StepRequest) (*api.StatusReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tick += r.Ticks
	return f.status(), nil
}

// serveFake serves a fakeDaemon with the API's access control on the socket
// of a new data directory and on a TCP port of 127.0.0.1.
func serveFake(t *testing.T) (f *fakeDaemon, dataDir, addr string) {
	t.Helper()
	f = &fakeDaemon{tick: 100, keys: map[string]uint64{}}
	dataDir = t.TempDir()
	full, read, err := api.EnsureTokens(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(api.ServerAuth(full, read)...)
	api.RegisterAgenthostServer(srv, f)
	uln, err := net.Listen("unix", filepath.Join(dataDir, api.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(uln)
	go srv.Serve(tln)
	t.Cleanup(srv.Stop)
	return f, dataDir, tln.Addr().String()
}

// agenthostIn runs agenthost with stdin and ctx, returning stdout and
// stderr apart.
func agenthostIn(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	root.SetIn(stdin)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// exitCode is the exit status main gives err.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

func TestClientVerbs(t *testing.T) {
	t.Setenv(api.DataDirEnv, "")
	t.Setenv(api.TokenEnv, "")
	f, dir, _ := serveFake(t)
	payloadFile := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(payloadFile, []byte("from a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string // stdout
	}{
		{[]string{"input", "--to", "a", "--payload", "hello"}, "", "tick 101\n"},
		{[]string{"input", "--channel", "news", "--payload", "@" + payloadFile, "--key", "k1"}, "", "tick 102\n"},
		{[]string{"input", "--channel", "news", "--payload", "-", "--key", "k1"}, "ignored", "tick 102 (duplicate: already applied)\n"},
		{[]string{"input", "--to", "b", "--payload", "-"}, "from stdin", "tick 103\n"},
		{[]string{"spawn", "--id", "c2", "--kind", "counter", "--config", `{"step": 2}`, "--group", "g", "--priority", "-1", "--fuel", "500", "--channel", "x", "--channel", "y,z"}, "", "tick 104\n"},
		{[]string{"stop", "a"}, "", "tick 12\n"},
		{[]string{"pause"}, "", "paused before tick 103\n"},
		{[]string{"step"}, "", "next tick 104, digest ab12\n"},
		{[]string{"step", "10"}, "", "next tick 114, digest ab12\n"},
		{[]string{"resume"}, "", "running from tick 114\n"},
		{[]string{"status"}, "", "topology: demo\ndata dir: /data\nnext tick: 114\ndigest: ab12\ndurable up to tick: 114\nclock: paced, running\nagents: 3\ninputs: 3\nlast checkpoint: none\naccepting changes: no: the disk is full: free space in /data\n"},
		{[]string{"status", "-o", "json"}, "", `{"tick":114,"digest":"ab12","durable_tick":114,"paused":false,"clock":"paced","agents":3,"last_checkpoint":0,"accepting":false,"reason":"the disk is full: free space in /data","topology":"demo","inputs":3,"data_dir":"/data"}` + "\n"},
	} {
		out, errOut, err := agenthostIn(context.Background(), strings.NewReader(tc.stdin), append(tc.args, "--data-dir", dir)...)
		if err != nil || out != tc.want {
			t.Errorf("%s: %v\nstdout %q, want %q\nstderr %q", strings.Join(tc.args, " "), err, out, tc.want, errOut)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := []*api.InputRequest{
		{To: "a", Payload: []byte("hello")},
		{Channel: "news", Payload: []byte("from a file"), IdempotencyKey: "k1"},
		{To: "b", Payload: []byte("from stdin")},
	}
	if len(f.inputs) != len(want) {
		t.Fatalf("inputs %v, want %v", f.inputs, want)
	}
	for i := range want {
		if !proto.Equal(f.inputs[i], want[i]) {
			t.Errorf("input %d: %v, want %v", i, f.inputs[i], want[i])
		}
	}
	wantSpawn := &api.SpawnRequest{Id: "c2", Kind: "counter", Config: []byte(`{"step": 2}`), Group: "g", Priority: -1, Fuel: 500, Channels: []string{"x", "y,z"}}
	if len(f.spawns) != 1 || !proto.Equal(f.spawns[0], wantSpawn) {
		t.Errorf("spawns %v, want %v", f.spawns, wantSpawn)
	}

}

func TestClientErrors(t *testing.T) {
	t.Setenv(api.DataDirEnv, "")
	t.Setenv(api.TokenEnv, "")
	_, dir, addr := serveFake(t)
	empty := t.TempDir()
	tokenCopy := filepath.Join(t.TempDir(), "token")
	readCopy := filepath.Join(t.TempDir(), "token.read")
	for src, dst := range map[string]string{api.TokenFile: tokenCopy, api.ReadTokenFile: readCopy} {
		b, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	loose := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(loose, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string // the whole error, as main prints it after "agenthost: "
	}{
		// Local checks.
		{[]string{"status"}, 1, "which daemon? give --data-dir DIR (or set LOCKSTEP_DATA_DIR) for its socket, or --addr HOST:PORT"},
		{[]string{"input", "--data-dir", dir, "--payload", "x"}, 1, "give --to AGENT or --channel CHANNEL: one of them"},
		{[]string{"input", "--data-dir", dir, "--to", "a", "--channel", "c"}, 1, "give --to AGENT or --channel CHANNEL: one of them"},
		{[]string{"input", "--data-dir", dir, "--to", "a", "--payload", "@" + filepath.Join(empty, "nope")}, 1, "--payload @" + filepath.Join(empty, "nope") + ": open " + filepath.Join(empty, "nope") + ": no such file or directory"},
		{[]string{"spawn", "--data-dir", dir, "--id", "x"}, 1, "give the new agent's --id and --kind"},
		{[]string{"spawn", "--data-dir", dir, "--id", "x", "--kind", "counter", "--config", "{"}, 1, "--config {: not valid JSON"},
		{[]string{"step", "--data-dir", dir, "0"}, 1, `step "0": give a number of ticks from 1 to 1099511627776 (2^40)`},
		{[]string{"status", "--data-dir", dir, "-o", "yaml"}, 1, `-o "yaml": use text or json`},
		{[]string{"status", "--addr", addr, "--token-file", loose}, 1, "--token-file: token file " + loose + " is accessible to group or others (mode 0644): chmod 600 " + loose},
		// The daemon's errors: the status message alone, the code's exit status.
		{[]string{"spawn", "--data-dir", dir, "--id", "x", "--kind", "robot"}, 1, `spawn x: unknown kind "robot"`},
		{[]string{"stop", "--data-dir", dir, "zz"}, 1, "stop zz: no such agent"},
		{[]string{"status", "--data-dir", empty}, 2, "no daemon socket " + filepath.Join(empty, api.SocketFile) + ": is agenthost serve running with --data-dir " + empty + "?"},
		{[]string{"status", "--addr", addr}, 3, "no bearer token: pass --token-file <data-dir>/token or set LOCKSTEP_TOKEN"},
		{[]string{"input", "--addr", addr, "--token-file", readCopy, "--to", "a"}, 3, "the read-only token allows Status and Subscribe only; Input needs the full token in <data-dir>/token"},
	} {
		out, errOut, err := agenthostIn(context.Background(), nil, tc.args...)
		if err == nil || err.Error() != tc.want || exitCode(err) != tc.code {
			t.Errorf("%s: exit %d, %v\nwant exit %d, %s\nstdout %q stderr %q", strings.Join(tc.args, " "), exitCode(err), err, tc.code, tc.want, out, errOut)
		}
	}

	// Tokens over TCP: the read-only one for status, the full one from
	// the environment for input.
	if out, _, err := agenthostIn(context.Background(), nil, "status", "--addr", addr, "--token-file", readCopy, "-o", "json"); err != nil || !strings.Contains(out, `"topology":"demo"`) {
		t.Errorf("status with the read-only token: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(tokenCopy)
	t.Setenv(api.TokenEnv, string(b))
	if out, _, err := agenthostIn(context.Background(), nil, "input", "--addr", addr, "--to", "a"); err != nil || out != "tick 101\n" {
		t.Errorf("input with $%s: %v\n%s", api.TokenEnv, err, out)
	}

	// A daemon gone from its TCP port: exit 2, naming the address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	_, _, err = agenthostIn(context.Background(), nil, "status", "--addr", gone)
	if exitCode(err) != 2 || !strings.HasPrefix(err.Error(), "cannot connect to "+gone+" (connect: connection refused)") {
		t.Errorf("status of a closed port: exit %d, %v", exitCode(err), err)
	}
}

// syncBuffer is a bytes.Buffer for a command running in another
// goroutine; wrote, if set, is signalled after every write.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.wrote != nil {
		select {
		case s.wrote <- struct{}{}:
		default: // one pending signal is enough: the reader rereads the buffer
		}
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSubscribe(t *testing.T) {
	t.Setenv(api.DataDirEnv, "")
	f, dir, _ := serveFake(t)
	f.mu.Lock()
	f.outputs = []*api.Output{
		{Tick: 5, From: "a", Channel: "news", Payload: []byte("hello world")},
		{Tick: 5, From: "b", To: "mail", Payload: []byte{0xff, 0x00, 0x01}, Index: 1},
		{Tick: 6, From: "a", Channel: "news", Payload: []byte("two\nlines")},
	}
	f.mu.Unlock()
	// The data directory can come from the environment.
	t.Setenv(api.DataDirEnv, dir)
	out, errOut, err := agenthostIn(context.Background(), nil, "subscribe", "--channel", "news", "--address", "mail", "--from-tick", "0")
	wantText := "5 a news hello world\n5 b mail 0xff0001\n6 a news 0x74776f0a6c696e6573\n"
	if err != nil || out != wantText || errOut != "agenthost: the daemon ended the stream\n" {
		t.Errorf("subscribe: %v\nstdout %q, want %q\nstderr %q", err, out, wantText, errOut)
	}
	f.mu.Lock()
	from := uint64(0)
	if want := (&api.SubscribeRequest{Channels: []string{"news"}, Addresses: []string{"mail"}, FromTick: &from}); len(f.subs) != 1 || !proto.Equal(f.subs[0], want) {
		t.Errorf("subscribe requests %v, want %v", f.subs, want)
	}

	// -o json, and no --from-tick; interrupted (the context cancelled as
	// SIGINT does) while the daemon holds the stream open: exit 0.
	f.hold = true
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := syncBuffer{wrote: make(chan struct{}, 1)}, syncBuffer{}
	root := newRoot(&stdout, &stderr)
	root.SetArgs([]string{"subscribe", "--data-dir", dir, "-o", "json"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	timeout := time.After(10 * time.Second)
	for strings.Count(stdout.String(), "\n") < 3 {
		select {
		case <-stdout.wrote:
		case err := <-done:
			t.Fatalf("subscribe ended before its outputs: %v: %q %q", err, stdout.String(), stderr.String())
		case <-timeout:
			t.Fatalf("no outputs after 10s: %q %q", stdout.String(), stderr.String())
		}
	}
	cancel()
	if err := <-done; err != nil || stderr.String() != "" {
		t.Fatalf("interrupted subscribe: %v, stderr %q", err, stderr.String())
	}
	var got []outputJSON
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		var o outputJSON
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, o)
	}
	if len(got) != 3 || *got[0].Payload != "hello world" || got[0].Channel != "news" || got[1].Payload != nil || got[1].PayloadHex != "ff0001" || got[1].To != "mail" || got[1].Index != 1 || *got[2].Payload != "two\nlines" {
		t.Errorf("subscribe -o json:\n%s", stdout.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) != 2 || f.subs[1].FromTick != nil || len(f.subs[1].Channels) != 0 {
		t.Errorf("subscribe requests %v: want the second for everything from the next durable tick", f.subs)
	}
}
