package federation

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/federation/fedpb"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/wire"
	"github.com/lockstep-rt/lockstep/modelactor"
)

// MemberConfig configures a member.
type MemberConfig struct {
	Config
	// Name is the member's name in the roster, unique in the run.
	Name string
	// Listen is the member's own address for the coordinator's messages
	// (default 127.0.0.1:0; give a routable one on a real network).
	Listen string
	// Replay says where the run's modules are and which keys to trust, as
	// for agenthost verify (ModuleDirs, Trust, AllowUnsigned), and how many
	// workers to run agents on.
	Replay host.ReplayOptions
	// JoinTimeout bounds the wait for the coordinator's welcome, which
	// comes once every member has joined (default DefaultJoinTimeout).
	JoinTimeout time.Duration
}

// DefaultJoinTimeout is MemberConfig.JoinTimeout's default.
const DefaultJoinTimeout = 2 * time.Minute

// Member is one member process's share of a federated run: it implements
// actors.Remote for its replica host.
type Member struct {
	cfg   MemberConfig
	ep    *endpoint
	self  *actor.PID
	coord *actor.PID
	done  chan error
	once  sync.Once

	// Set at Welcome, read-only after.
	session  uint64
	roster   []string
	place    map[string]string
	index    int
	mac      []byte // the member's MAC of the session
	coordMAC []byte // the coordinator's
	h        *host.Host

	// The tick in flight: Begin (on the router's goroutine) sets rt,
	// slots and planSize under mu, which commit reads on the actor's. Only
	// the network orders the two (the coordinator's next Tick answers this
	// member's reports), which the Go memory model does not see. digest
	// and ticks are the actor's; LocalDone reads digest, written before
	// the tick's Step began.
	mu       sync.Mutex
	rt       *actors.RemoteTick
	slots    []int
	planSize int
	digest   [32]byte // the replica's digest after the last committed tick
	step     chan stepResult
	// lastReports is the size of the last tick's encoded reports (LocalDone
	// only).
	lastReports int
	ticks       uint64
	timer       *time.Timer
}

type stepResult struct {
	res host.TickResult
	err error
}

// Join joins the run the coordinator at addr holds and takes part in it
// until the coordinator finishes it (nil), ctx ends, or the run cannot go
// on (an error saying why).
func Join(ctx context.Context, addr string, cfg MemberConfig) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if cfg.Name == "" || cfg.Name == CoordinatorName {
		return fmt.Errorf("federation: the member name %q is not allowed: give each member a unique --name", cfg.Name)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	ep, err := listen(cfg.Listen, &cfg.Config)
	if err != nil {
		return err
	}
	defer ep.close()
	m := &Member{cfg: cfg, ep: ep, coord: actor.NewPID(addr, "federation"), done: make(chan error, 1)}
	m.self, err = ep.sys.Root.SpawnNamed(actor.PropsFromFunc(m.receive), "member")
	if err != nil {
		return fmt.Errorf("federation: spawning the member's actor: %w", err)
	}
	ep.sys.Root.RequestWithCustomSender(m.coord, &fedpb.Join{Member: cfg.Name, Mac: joinMAC(cfg.Token, cfg.Name), Version: Version}, m.self)
	var res error
	select {
	case res = <-m.done:
	case <-ctx.Done():
		res = ctx.Err()
	}
	ep.sys.Root.StopFuture(m.self).Wait() // the actor closes the host
	if errors.Is(res, errFinished) {
		return nil
	}
	return res
}

// finish ends the member's part with err (once).
func (m *Member) finish(err error) {
	m.once.Do(func() {
		if !errors.Is(err, errFinished) {
			m.cfg.Logger.WithField("member", m.cfg.Name).Error(err.Error())
		}
		m.done <- err
	})
}

func (m *Member) receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		ctx.Watch(m.coord)
		wait := cmp.Or(m.cfg.JoinTimeout, DefaultJoinTimeout)
		m.timer = time.AfterFunc(wait, func() {
			m.finish(fmt.Errorf("federation: no welcome from the coordinator at %s within %s: is it running and reachable (with the same TLS settings), and have all its --members joined?", m.coord.Address, wait))
		})
	case *fedpb.Welcome:
		m.welcome(msg)
	case *fedpb.Tick:
		if m.checkCoordinator(msg.Session, msg.Mac) {
			m.armTimer()
			if err := m.tick(msg); err != nil {
				m.fail(err)
			}
		}
	case *fedpb.Infer:
		if m.checkCoordinator(msg.Session, msg.Mac) {
			ctx.Respond(m.infer(msg))
		}
	case *fedpb.Snapshot:
		if m.checkCoordinator(msg.Session, msg.Mac) {
			ctx.Respond(m.images())
		}
	case *fedpb.Finish:
		if m.checkCoordinator(msg.Session, msg.Mac) {
			m.cfg.Logger.WithFields(map[string]any{"member": m.cfg.Name, "ticks": m.ticks}).Infof("federation: the coordinator finished the run: %s", msg.Reason)
			m.finish(errFinished)
		}
	case *actor.Terminated:
		if msg.Who.Equal(m.coord) {
			m.finish(fmt.Errorf("federation: lost the coordinator at %s after %d ticks", m.coord.Address, m.ticks))
		}
	case *actor.Stopping:
		if m.timer != nil {
			m.timer.Stop()
		}
		m.mu.Lock()
		rt := m.rt
		m.mu.Unlock()
		if rt != nil {
			rt.Abort(errFinished) // a tick waiting for reports that will not come
		}
		if m.step != nil {
			<-m.step
		}
		if m.h != nil {
			_ = m.h.Close()
		}
	}
}

// armTimer restarts the member's watchdog: the coordinator's next Tick is
// due within the timeout.
func (m *Member) armTimer() {
	if m.timer != nil {
		m.timer.Stop()
	}
	n := m.ticks
	m.timer = time.AfterFunc(m.cfg.Timeout+m.cfg.Timeout/2, func() {
		m.finish(fmt.Errorf("federation: the coordinator at %s sent nothing for %s after %d ticks: it is down or partitioned", m.coord.Address, m.cfg.Timeout+m.cfg.Timeout/2, n))
	})
}

func (m *Member) checkCoordinator(session uint64, sum []byte) bool {
	if m.session == 0 || session != m.session || !hmac.Equal(sum, m.coordMAC) {
		m.cfg.Logger.WithField("session", session).Warn("federation: a message not from this run's coordinator was refused")
		return false
	}
	return true
}

// fail tells the coordinator why this member cannot go on, and ends it.
func (m *Member) fail(err error) {
	m.tell(&fedpb.Reports{Session: m.session, Mac: m.mac, Member: m.cfg.Name, Tick: m.ticks, Error: err.Error()})
	m.finish(err)
}

// tell sends the coordinator a member's last word and waits (a few
// seconds at most) for its acknowledgement: the process may exit next,
// taking unsent messages with it.
func (m *Member) tell(msg proto.Message) {
	_ = m.ep.sys.Root.RequestFuture(m.coord, msg, min(m.cfg.Timeout, 5*time.Second)).Wait()
}

func (m *Member) welcome(w *fedpb.Welcome) {
	if w.Refused != "" {
		m.finish(fmt.Errorf("federation: the coordinator at %s refused %q: %s", m.coord.Address, m.cfg.Name, w.Refused))
		return
	}
	if m.session != 0 || !hmac.Equal(w.Mac, coordinatorMAC(m.cfg.Token, w.Session)) {
		m.cfg.Logger.Warn("federation: a welcome not from this run's coordinator was refused")
		return
	}
	m.session, m.roster, m.place, m.index = w.Session, w.Roster, w.Placement, slices.Index(w.Roster, m.cfg.Name)
	m.mac, m.coordMAC = memberMAC(m.cfg.Token, m.session, m.cfg.Name), w.Mac
	err := m.build(w)
	ready := &fedpb.Ready{Session: m.session, Mac: m.mac, Member: m.cfg.Name}
	if err != nil {
		ready.Error = err.Error()
		m.tell(ready)
		m.finish(err)
		return
	}
	m.ep.sys.Root.Send(m.coord, ready)
	m.armTimer()
}

func (m *Member) build(w *fedpb.Welcome) error {
	if m.index < 1 {
		return fmt.Errorf("federation: the roster %v does not name this member %q", w.Roster, m.cfg.Name)
	}
	var hdr replaylog.Header
	if err := proto.Unmarshal(w.Header, &hdr); err != nil {
		return fmt.Errorf("federation: the run's header: %w", err)
	}
	var models []string
	for id, name := range w.ModelPlacement {
		if name == m.cfg.Name {
			models = append(models, id)
		}
	}
	slices.Sort(models)
	var cp *host.Checkpoint
	if len(w.Checkpoint) > 0 {
		var err error
		if cp, err = host.ReadCheckpoint(bytes.NewReader(w.Checkpoint)); err != nil {
			return fmt.Errorf("federation: the checkpoint the run resumes from: %w", err)
		}
		m.ticks, m.digest = uint64(cp.Tick), cp.Digest
	}
	h, err := host.NewMember(&hdr, m.cfg.Replay, m, cp, models...)
	if err != nil {
		return err
	}
	m.h = h
	return nil
}

// tick commits the last tick with the coordinator's batch, then starts the
// next.
func (m *Member) tick(msg *fedpb.Tick) error {
	if m.h == nil {
		return errors.New("federation: a tick before the member's host was built")
	}
	next := m.ticks // the tick the member is to begin
	if m.step != nil {
		next++
	}
	if msg.Tick != next {
		return fmt.Errorf("federation: the coordinator sent tick %d, the member is at tick %d", msg.Tick, next)
	}
	if m.step != nil {
		if err := m.commit(msg); err != nil {
			return err
		}
	}
	for _, b := range msg.Commands {
		var rc replaylog.Command
		if err := proto.Unmarshal(b, &rc); err != nil {
			return fmt.Errorf("federation: a command of tick %d: %w", msg.Tick, err)
		}
		if err := m.h.ApplyCommand(&rc); err != nil {
			return fmt.Errorf("federation: the member refuses a command of tick %d the coordinator accepted (diverged): %w", msg.Tick, err)
		}
	}
	m.step = make(chan stepResult, 1)
	go func(ch chan<- stepResult) {
		res, err := m.h.Step()
		ch <- stepResult{res, err}
	}(m.step)
	return nil
}

// commit hands the replica the other processes' reports of the tick in
// flight and waits for its barrier.
func (m *Member) commit(msg *fedpb.Tick) error {
	m.h.SetAnswers(msg.Answers)
	m.mu.Lock()
	rt, slots, size, n := m.rt, m.slots, m.planSize, 0
	m.rt = nil
	m.mu.Unlock()
	err := wire.ReadReports(msg.Reports, size, func(slot int, rep engine.Report) error {
		if _, ok := slices.BinarySearch(slots, slot); !ok || !rt.Fill(slot, rep) {
			return fmt.Errorf("a report for slot %d, which is not another process's or came twice", slot)
		}
		n++
		return nil
	})
	if err == nil && n != len(slots) {
		err = fmt.Errorf("%d reports for %d agents of other processes", n, len(slots))
	}
	if err != nil {
		rt.Abort(err)
		<-m.step
		return fmt.Errorf("federation: the coordinator's batch for %d: %w", msg.Tick, err)
	}
	r := <-m.step
	m.step = nil
	if r.err != nil && !errors.Is(r.err, host.ErrHalted) {
		return r.err
	}
	m.digest, m.ticks = r.res.Digest, m.ticks+1
	if len(msg.Digest) != len(r.res.Digest) || [32]byte(msg.Digest) != r.res.Digest {
		return fmt.Errorf("federation: diverged at %s: the member's digest is %x, the coordinator's %x (different modules or Lockstep versions?)", r.res.Tick, r.res.Digest, msg.Digest)
	}
	return nil
}

// Local implements actors.Remote: the agents placed on this member.
func (m *Member) Local(a *engine.Agent) bool {
	return Place(a.ID, m.roster, m.place) == m.index
}

// Begin implements actors.Remote: the other processes' reports come with
// the coordinator's next Tick.
func (m *Member) Begin(p engine.Plan, slots []int, rt *actors.RemoteTick) {
	m.mu.Lock()
	m.rt, m.slots, m.planSize = rt, slices.Clone(slots), len(p.Agents)
	m.mu.Unlock()
}

// LocalDone implements actors.Remote: it sends this member's reports.
func (m *Member) LocalDone(p engine.Plan, reports []engine.Report) {
	b := make([]byte, 0, m.lastReports) // sent, so not reused: sized as the last tick's
	remote := m.slots                   // ascending: the local slots are the others
	for slot := range p.Agents {
		if len(remote) > 0 && remote[0] == slot {
			remote = remote[1:]
			continue
		}
		b = wire.AppendReport(b, slot, &reports[slot])
	}
	m.lastReports = len(b)
	m.ep.sys.Root.Send(m.coord, &fedpb.Reports{Session: m.session, Mac: m.mac, Member: m.cfg.Name, Tick: uint64(p.Tick), Reports: b, Digest: m.digest[:]})
}

// Committed implements actors.Remote.
func (m *Member) Committed(engine.Plan, *engine.Ready) {}

// infer answers the coordinator's requests of the models this member
// serves.
func (m *Member) infer(msg *fedpb.Infer) *fedpb.Answers {
	a := &fedpb.Answers{Session: m.session, Mac: m.mac}
	if m.h == nil || m.h.Models() == nil {
		a.Error = fmt.Sprintf("member %q serves no models", m.cfg.Name)
		return a
	}
	reqs := make([]modelactor.Request, len(msg.Calls))
	for i, c := range msg.Calls {
		reqs[i] = modelactor.Request{Request: c.Request, Model: c.Model, Version: c.Version, Input: c.Input}
	}
	a.Answers = m.h.Models().RunEncoded(reqs)
	return a
}

// images answers the coordinator's Snapshot with this member's agents'
// images: its agents have run the tick the coordinator just committed, and
// wait for the next.
func (m *Member) images() *fedpb.Images {
	im := &fedpb.Images{Session: m.session, Mac: m.mac}
	if m.h == nil {
		im.Error = "the member has no host"
		return im
	}
	images, err := m.h.Images()
	if err != nil {
		im.Error = err.Error()
		return im
	}
	im.Images = images
	return im
}
