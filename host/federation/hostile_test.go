package federation

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/federation/fedpb"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
	"github.com/lockstep-rt/lockstep/internal/wire"
)

var testToken = []byte("the hostile tests' shared token!!")

// fakes are each coordinator's fake members, stopped (hanging up) before
// it closes. Tests of this file do not run in parallel.
var fakes = map[*Coordinator][]*fake{}

func quietLog() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// fake is a hand-driven member: a real protoactor remote endpoint that
// sends whatever a test crafts and hands the test what it receives.
type fake struct {
	ep      *endpoint
	pid     *actor.PID
	coord   *actor.PID
	got     chan proto.Message
	name    string
	session uint64
	// reply, if set before the fake joins, answers the requests it gets.
	reply func(proto.Message) proto.Message
}

// newFake starts a fake member of c's run: an actor of the coordinator's
// own actor system (one protoactor remote per process: protoactor's
// remote.Start sets gRPC's global logger, a data race when a process
// starts several), so its messages are delivered locally, through the
// same handlers as over the network.
func newFake(t *testing.T, c *Coordinator, name string) *fake {
	t.Helper()
	f := &fake{ep: c.ep, coord: c.pid, got: make(chan proto.Message, 100), name: name}
	fakes[c] = append(fakes[c], f)
	f.pid = c.ep.sys.Root.SpawnPrefix(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(proto.Message); ok {
			if f.reply != nil {
				if r := f.reply(m); r != nil {
					ctx.Respond(r)
				}
			}
			f.got <- m
		}
	}), "fake-"+name)
	return f
}

func (f *fake) send(m proto.Message) { f.ep.sys.Root.RequestWithCustomSender(f.coord, m, f.pid) }

// next is the next message the fake received of type T.
func next[T proto.Message](t *testing.T, f *fake) T {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-f.got:
			if v, ok := m.(T); ok {
				return v
			}
		case <-timeout:
			var zero T
			t.Fatalf("%s received no %T", f.name, zero)
			return zero
		}
	}
}

// join joins with token and, when welcomed, reports ready.
func (f *fake) join(t *testing.T, token []byte) *fedpb.Welcome {
	t.Helper()
	f.send(&fedpb.Join{Member: f.name, Mac: joinMAC(token, f.name), Version: Version})
	w := next[*fedpb.Welcome](t, f)
	if w.Refused == "" {
		f.session = w.Session
		f.send(&fedpb.Ready{Session: w.Session, Mac: memberMAC(token, w.Session, f.name), Member: f.name})
	}
	return w
}

// coordinated is a coordinator with a host of two idle Go agents: "a"
// pinned to the member "fake", "b" to the coordinator.
func coordinated(t *testing.T, timeout time.Duration) (*Coordinator, *host.Host) {
	t.Helper()
	c, err := ListenShared(CoordinatorConfig{Config: Config{Token: testToken, Logger: quietLog(), Timeout: timeout}, Listen: "127.0.0.1:0", Members: 1,
		Placement: map[string]string{"a": "fake", "b": CoordinatorName}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(host.Options{Kinds: testkinds.Kinds(), Federation: c, Logger: quietLog()})
	if err != nil {
		c.Close("setup failed")
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		for _, f := range fakes[c] {
			c.ep.sys.Root.Stop(f.pid)
		}
		delete(fakes, c)
		c.Close("the test is over")
	})
	for _, id := range []string{"a", "b"} {
		if err := h.Spawn(host.AgentSpec{ID: id, Kind: "idle"}); err != nil {
			t.Fatal(err)
		}
	}
	return c, h
}

func start(t *testing.T, c *Coordinator, h *host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(ctx, h.LogHeader(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestJoinRefused: a join without the token, of another protocol version,
// under a reserved or taken name, or past the run's member count is
// refused with the reason and the fix.
func TestJoinRefused(t *testing.T) {
	c, _ := coordinated(t, time.Second)
	cases := []struct {
		name, member string
		join         *fedpb.Join
		want         string
	}{
		{"wrong token", "x", &fedpb.Join{Member: "x", Mac: joinMAC([]byte("another token, also long enough"), "x"), Version: Version}, "not signed with this run's token"},
		{"no mac", "x", &fedpb.Join{Member: "x", Version: Version}, "not signed with this run's token"},
		{"version", "x", &fedpb.Join{Member: "x", Mac: joinMAC(testToken, "x"), Version: "lockstep-federation/0"}, "run the same Lockstep version"},
		{"reserved name", CoordinatorName, &fedpb.Join{Member: CoordinatorName, Mac: joinMAC(testToken, CoordinatorName), Version: Version}, "unique --name"},
	}
	for _, tc := range cases {
		f := newFake(t, c, tc.member)
		f.send(tc.join)
		w := next[*fedpb.Welcome](t, f)
		if !strings.Contains(w.Refused, tc.want) {
			t.Errorf("%s: refused %q, want it to say %q", tc.name, w.Refused, tc.want)
		}
	}
	first := newFake(t, c, "fake")
	first.send(&fedpb.Join{Member: "fake", Mac: joinMAC(testToken, "fake"), Version: Version})
	again := newFake(t, c, "fake")
	if w := again.join(t, testToken); !strings.Contains(w.Refused, "already joined") {
		t.Errorf("a second member named fake: refused %q", w.Refused)
	}
	extra := newFake(t, c, "extra")
	if w := extra.join(t, testToken); !strings.Contains(w.Refused, "has its 1 members already") {
		t.Errorf("a member past the count: refused %q", w.Refused)
	}
}

// TestSilentMember: a member that joined but never reports (hung, or
// partitioned with its connection open) halts the run within the timeout,
// named; the tick is not committed.
func TestSilentMember(t *testing.T) {
	const timeout = 500 * time.Millisecond
	c, h := coordinated(t, timeout)
	f := newFake(t, c, "fake")
	go f.join(t, testToken)
	start(t, c, h)
	began := time.Now()
	_, err := h.Step()
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), "fake sent no reports of t0 within 500ms") {
		t.Fatalf("Step with a silent member: %v", err)
	}
	if took < timeout || took > 10*timeout {
		t.Errorf("the run halted after %v, want about %v", took, timeout)
	}
	if h.Tick() != 0 {
		t.Errorf("the host is at %s, want t0: the aborted tick must not commit", h.Tick())
	}
}

// TestCraftedReports: a member's reports are checked: of another session
// or without the token they are ignored; for an agent not placed on it,
// corrupt, or too few, the run halts naming the member and the reason.
func TestCraftedReports(t *testing.T) {
	good := func(slot int) []byte { return wire.AppendReport(nil, slot, &engine.Report{Digest: 7}) }
	cases := []struct {
		name    string
		reports func(f *fake, tick *fedpb.Tick) []*fedpb.Reports
		want    string
	}{
		{"another agent's slot", func(f *fake, tk *fedpb.Tick) []*fedpb.Reports {
			return []*fedpb.Reports{{Tick: tk.Tick, Reports: good(1)}}
		}, `member "fake" sent bad reports of t0: a report for slot 1, whose agent is not placed on it`},
		{"corrupt", func(f *fake, tk *fedpb.Tick) []*fedpb.Reports {
			return []*fedpb.Reports{{Tick: tk.Tick, Reports: []byte{0, 0, 1, 2}}}
		}, "corrupt reports: the report at byte 0"},
		{"too few", func(f *fake, tk *fedpb.Tick) []*fedpb.Reports {
			return []*fedpb.Reports{{Tick: tk.Tick}}
		}, "0 reports where 1 agents are placed on it"},
		{"twice", func(f *fake, tk *fedpb.Tick) []*fedpb.Reports {
			return []*fedpb.Reports{{Tick: tk.Tick, Reports: append(good(0), good(0)...)}}
		}, "a report for slot 0 after one for slot 0"},
		{"stale session, then good", func(f *fake, tk *fedpb.Tick) []*fedpb.Reports {
			return []*fedpb.Reports{{Session: f.session + 2, Tick: tk.Tick, Reports: good(0)}, {Tick: tk.Tick, Reports: good(0)}}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, h := coordinated(t, 5*time.Second)
			f := newFake(t, c, "fake")
			go f.join(t, testToken)
			start(t, c, h)
			res := make(chan error, 1)
			go func() { _, err := h.Step(); res <- err }()
			tk := next[*fedpb.Tick](t, f)
			for _, r := range tc.reports(f, tk) {
				if r.Session == 0 {
					r.Session = f.session
				}
				r.Member, r.Mac, r.Digest = f.name, memberMAC(testToken, r.Session, f.name), tk.Digest
				f.send(r)
			}
			err := <-res
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Step: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Step: %v\nwant an error saying %q", err, tc.want)
			}
		})
	}
}

// TestMalformedEnvelope: protoactor's remote indexes a batch's type names
// and looks the types up without checking; a malformed envelope from
// anyone who can connect panics in its reader. The coordinator closes that
// stream and lives on (without the guard, this test's process would die).
func TestMalformedEnvelope(t *testing.T) {
	c, _ := coordinated(t, time.Second)
	conn, err := grpc.NewClient(c.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, batch := range []*remote.MessageBatch{
		{Targets: []*actor.PID{c.pid}, Envelopes: []*remote.MessageEnvelope{{TypeId: 7}}},                             // no type names
		{Targets: []*actor.PID{c.pid}, TypeNames: []string{"no.such.Type"}, Envelopes: []*remote.MessageEnvelope{{}}}, // unknown type
		{Targets: []*actor.PID{c.pid}, TypeNames: []string{"x"}, Envelopes: []*remote.MessageEnvelope{{SerializerId: 9}}},
	} {
		stream, err := remote.NewRemotingClient(conn).Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: batch}}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err == nil || !strings.Contains(err.Error(), "malformed message") {
			t.Errorf("the stream of a malformed batch ended with %v, want the coordinator to close it", err)
		}
	}
	// The coordinator still answers a join.
	f := newFake(t, c, "fake")
	if w := f.join(t, []byte("not the token at all, but long")); !strings.Contains(w.Refused, "token") {
		t.Fatalf("after the malformed batches, a join got %+v", w)
	}
}

// TestCraftedImages: a member's snapshot images are checked: unsigned
// ones, and an image of an agent not placed on it (which would replace
// that agent's state in the checkpoint), fail the checkpoint naming the
// member.
func TestCraftedImages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		images func(f *fake) *fedpb.Images
		want   string
	}{
		{"unsigned", func(f *fake) *fedpb.Images {
			return &fedpb.Images{Session: f.session, Images: map[string][]byte{"a": {1}}}
		}, `member "fake": images not signed for this session`},
		{"another process's agent", func(f *fake) *fedpb.Images {
			return &fedpb.Images{Session: f.session, Mac: memberMAC(testToken, f.session, f.name), Images: map[string][]byte{"a": {1}, "b": {2}}}
		}, `member "fake" sent an image of agent "b", which is not placed on it`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, h := coordinated(t, 5*time.Second)
			f := newFake(t, c, "fake")
			f.reply = func(m proto.Message) proto.Message {
				if _, ok := m.(*fedpb.Snapshot); ok {
					return tc.images(f)
				}
				return nil
			}
			go f.join(t, testToken)
			start(t, c, h)
			if _, err := h.Checkpoint(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Checkpoint: %v\nwant an error saying %q", err, tc.want)
			}
		})
	}
}

// TestModelPlacedNowhere: a model pinned to a process that is not a
// member of the run fails Start, naming it.
func TestModelPlacedNowhere(t *testing.T) {
	c, err := ListenShared(CoordinatorConfig{Config: Config{Token: testToken, Logger: quietLog()}, Members: 1,
		ModelPlacement: map[string]string{"flowers": "gpu-node"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(host.Options{Kinds: testkinds.Kinds(), Federation: c, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t, c, "fake")
	t.Cleanup(func() {
		h.Close()
		c.ep.sys.Root.Stop(f.pid)
		c.Close("the test is over")
	})
	f.send(&fedpb.Join{Member: "fake", Mac: joinMAC(testToken, "fake"), Version: Version})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(ctx, h.LogHeader(), nil); err == nil || !strings.Contains(err.Error(), `model "flowers" is placed on "gpu-node", which is not a member of the run`) {
		t.Fatalf("Start: %v", err)
	}
}
