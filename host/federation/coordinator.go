package federation

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/federation/fedpb"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/wire"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// CoordinatorConfig configures a coordinator.
type CoordinatorConfig struct {
	Config
	// Listen is the address members join ("host:port"; port 0 picks one).
	Listen string
	// Members is how many members the run waits for before its first tick.
	Members int
	// Placement pins agents to processes by name (agent id -> member name,
	// or CoordinatorName); the others are placed by a hash of their id.
	Placement map[string]string
	// ModelPlacement has models served by members (model id -> member
	// name): the member loads the model (say, on its GPU) and answers the
	// requests of every agent; the others run in the coordinator's model
	// manager. The coordinator records every answer, so a log verifies on
	// one host either way.
	ModelPlacement map[string]string
}

// Coordinator is the process of a federated run that holds its host: it
// implements actors.Remote (host.Options.Federation).
type Coordinator struct {
	cfg CoordinatorConfig
	ep  *endpoint
	pid *actor.PID
	// ownEndpoint: Close closes ep (else it outlives the coordinator).
	ownEndpoint bool

	mu     sync.Mutex
	header []byte // the run's marshalled log header, once Start has it
	// checkpoint is the encoded checkpoint the run resumes from (empty:
	// from its start).
	checkpoint []byte
	peers      map[string]*peer
	roster     []string // fixed when every member has joined
	byIndex    []*peer  // roster index -> peer (nil at 0: the coordinator)
	session    uint64
	mac        []byte // the coordinator's MAC of the session
	readyCh    chan error
	nReady     int
	// failed is why the run cannot go on (a member lost between ticks):
	// the next tick aborts with it.
	failed error
	// closing, once Close has begun, hears of each member hanging up.
	closing chan struct{}

	// The tick in progress.
	rt      *actors.RemoteTick
	tick    clock.Tick
	running bool
	nSlots  int
	expect  []int           // reports due per roster index
	waiting map[string]bool // members whose reports are due
	timer   *time.Timer

	// owners[i] is the roster index of the plan's i-th agent, for the
	// agents slice ownersOf (a plan's Agents are shared until they change).
	owners   []int
	ownersOf []*engine.Agent

	// From the last commit: each member's batch of the other processes'
	// reports, the inference answers and the digest.
	batches [][]byte
	answers [][]byte
	digest  [32]byte
	scratch []byte       // the last tick's reports, encoded
	ends    []int        // where each slot's report ends in scratch
	got     []slotReport // a member's reports being checked
}

// slotReport is a report and the slot it is for.
type slotReport struct {
	slot int
	rep  engine.Report
}

// peer is a member as the coordinator knows it.
type peer struct {
	name  string
	pid   *actor.PID
	index int
	ready bool
	lost  bool
}

var (
	_ actors.Remote        = (*Coordinator)(nil)
	_ host.RemoteModels    = (*Coordinator)(nil)
	_ host.RemoteSnapshots = (*Coordinator)(nil)
)

// Listen starts a coordinator: members may join from now on.
func Listen(cfg CoordinatorConfig) (*Coordinator, error) { return listenOn(cfg, nil) }

// listenOn starts a coordinator on ep, which outlives it, or (ep nil) on
// an endpoint of its own at cfg.Listen.
func listenOn(cfg CoordinatorConfig, ep *endpoint) (*Coordinator, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Members < 1 {
		return nil, fmt.Errorf("federation: a coordinator needs at least one member, got %d (--members)", cfg.Members)
	}
	for id, name := range cfg.Placement {
		if name == "" {
			return nil, fmt.Errorf("federation: agent %q is placed on a process with no name", id)
		}
	}
	own := ep == nil
	if own {
		var err error
		if ep, err = listen(cfg.Listen, &cfg.Config); err != nil {
			return nil, err
		}
	}
	c := &Coordinator{cfg: cfg, ep: ep, ownEndpoint: own, peers: map[string]*peer{}, readyCh: make(chan error, 1)}
	pid, err := ep.sys.Root.SpawnNamed(actor.PropsFromFunc(c.receive), "federation")
	if err != nil {
		if own {
			ep.close()
		}
		return nil, fmt.Errorf("federation: spawning the coordinator's actor: %w", err)
	}
	c.pid = pid
	return c, nil
}

// Addr is the address members join.
func (c *Coordinator) Addr() string { return c.ep.address() }

// Start sends every member the run's log header (and the checkpoint the
// run resumes from, if cp is set) once all have joined, and returns when
// each has built its host (or with the first member's error, or ctx's).
// Call it after building the host and before its first tick.
func (c *Coordinator) Start(ctx context.Context, hdr *replaylog.Header, cp *host.Checkpoint) error {
	b, err := proto.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("federation: encoding the run's header: %w", err)
	}
	var cpb bytes.Buffer
	if cp != nil {
		if err := host.WriteCheckpoint(&cpb, cp); err != nil {
			return fmt.Errorf("federation: encoding the checkpoint of %s: %w", cp.Tick, err)
		}
	}
	c.mu.Lock()
	c.header, c.checkpoint = b, cpb.Bytes()
	if cp != nil {
		c.digest = cp.Digest
	}
	c.welcomeIfComplete()
	c.mu.Unlock()
	select {
	case err := <-c.readyCh:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		return fmt.Errorf("federation: %d of %d members joined and were ready (%s) when the wait ended: %w", c.nReady, c.cfg.Members, strings.Join(c.names(), ", "), ctx.Err())
	}
}

func (c *Coordinator) names() []string {
	var n []string
	for name := range c.peers {
		n = append(n, name)
	}
	sort.Strings(n)
	return n
}

// Roster is every process of the run, the coordinator first (nil until
// all members have joined).
func (c *Coordinator) Roster() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.roster)
}

// Close tells every member the run is over (reason says why) and stops
// serving once each has hung up, or after the timeout: a member that does
// not hear of the end notices the coordinator is gone.
func (c *Coordinator) Close(reason string) {
	c.mu.Lock()
	c.closing = make(chan struct{}, len(c.peers))
	waiting := 0
	for _, p := range c.byIndex {
		if p != nil && !p.lost {
			c.ep.sys.Root.Send(p.pid, &fedpb.Finish{Session: c.session, Mac: c.mac, Reason: reason})
			waiting++
		}
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	deadline := time.After(c.cfg.Timeout)
wait:
	for range waiting {
		select {
		case <-c.closing:
		case <-deadline:
			break wait
		}
	}
	_ = c.ep.sys.Root.StopFuture(c.pid).Wait()
	if c.ownEndpoint {
		c.ep.close()
	}
}

func (c *Coordinator) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *fedpb.Join:
		c.join(ctx, m)
	case *fedpb.Ready:
		c.ready(m)
		c.acknowledge(ctx, m.Error)
	case *fedpb.Reports:
		c.reports(m)
		c.acknowledge(ctx, m.Error)
	case *actor.Terminated:
		c.lost(m.Who)
	}
}

func (c *Coordinator) join(ctx actor.Context, m *fedpb.Join) {
	refuse := func(format string, args ...any) {
		reason := fmt.Sprintf(format, args...)
		c.cfg.Logger.WithField("member", m.Member).Warn("federation: join refused: " + reason)
		if ctx.Sender() != nil {
			ctx.Respond(&fedpb.Welcome{Refused: reason})
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !hmac.Equal(m.Mac, joinMAC(c.cfg.Token, m.Member)):
		refuse("the join is not signed with this run's token (check --token-file)")
	case m.Version != Version:
		refuse("protocol %q, the coordinator speaks %q: run the same Lockstep version everywhere", m.Version, Version)
	case ctx.Sender() == nil:
		refuse("no reply address")
	case m.Member == "" || m.Member == CoordinatorName:
		refuse("the member name %q is not allowed: give each member a unique --name", m.Member)
	case c.peers[m.Member] != nil:
		refuse("a member named %q has already joined: give each member a unique --name", m.Member)
	case c.roster != nil || len(c.peers) >= c.cfg.Members:
		refuse("the run has its %d members already (%s)", c.cfg.Members, strings.Join(c.names(), ", "))
	default:
		c.peers[m.Member] = &peer{name: m.Member, pid: ctx.Sender()}
		ctx.Watch(ctx.Sender())
		c.cfg.Logger.WithFields(map[string]any{"member": m.Member, "address": ctx.Sender().Address}).Infof("federation: member joined (%d of %d)", len(c.peers), c.cfg.Members)
		c.welcomeIfComplete()
	}
}

// welcomeIfComplete fixes the roster and welcomes every member once all
// have joined and the header is known. Called with mu held.
func (c *Coordinator) welcomeIfComplete() {
	if c.roster != nil || c.header == nil || len(c.peers) < c.cfg.Members {
		return
	}
	var s [8]byte
	_, _ = rand.Read(s[:])
	c.session = binary.LittleEndian.Uint64(s[:]) | 1
	c.mac = coordinatorMAC(c.cfg.Token, c.session)
	c.roster = append([]string{CoordinatorName}, c.names()...)
	if err := c.checkPlacement(); err != nil {
		c.cfg.Logger.Error(err.Error())
		c.signalReady(err)
		return
	}
	c.byIndex = make([]*peer, len(c.roster))
	for i, name := range c.roster[1:] {
		p := c.peers[name]
		p.index = i + 1
		c.byIndex[p.index] = p
		c.ep.sys.Root.Send(p.pid, &fedpb.Welcome{Session: c.session, Mac: c.mac, Header: c.header, Roster: c.roster, Placement: c.cfg.Placement, ModelPlacement: c.cfg.ModelPlacement, Checkpoint: c.checkpoint})
	}
	c.batches = make([][]byte, len(c.roster))
	c.expect = make([]int, len(c.roster))
}

// checkPlacement checks that every process the placements name is in
// the roster. Called with mu held.
func (c *Coordinator) checkPlacement() error {
	for _, pl := range []struct {
		what string
		m    map[string]string
	}{{"agent", c.cfg.Placement}, {"model", c.cfg.ModelPlacement}} {
		for _, id := range slices.Sorted(maps.Keys(pl.m)) {
			name := pl.m[id]
			if !slices.Contains(c.roster, name) || pl.what == "model" && name == CoordinatorName {
				return fmt.Errorf("federation: %s %q is placed on %q, which is not a member of the run (%s): name a member's --name", pl.what, id, name, strings.Join(c.roster[1:], ", "))
			}
		}
	}
	return nil
}

// member finds the peer a message claims to be from and checks its
// session and MAC. Called with mu held.
func (c *Coordinator) member(name string, session uint64, sum []byte) *peer {
	p := c.peers[name]
	if p == nil || session != c.session || !hmac.Equal(sum, memberMAC(c.cfg.Token, c.session, name)) {
		c.cfg.Logger.WithFields(map[string]any{"member": name, "session": session}).Warn("federation: a message from an unknown member, another session or without the token was refused")
		return nil
	}
	return p
}

func (c *Coordinator) ready(m *fedpb.Ready) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.member(m.Member, m.Session, m.Mac)
	if p == nil || p.ready {
		return
	}
	if m.Error != "" {
		c.signalReady(fmt.Errorf("federation: member %q could not start the run: %s", p.name, m.Error))
		return
	}
	p.ready = true
	c.nReady++
	if c.nReady == c.cfg.Members {
		c.signalReady(nil)
	}
}

// acknowledge answers a member that says it cannot go on (errText set), so
// that it exits knowing its reason arrived.
func (c *Coordinator) acknowledge(ctx actor.Context, errText string) {
	if errText != "" && ctx.Sender() != nil {
		ctx.Respond(&fedpb.Finish{Reason: "noted"})
	}
}

func (c *Coordinator) signalReady(err error) {
	select {
	case c.readyCh <- err:
	default:
	}
}

// lost handles a member whose connection ended.
func (c *Coordinator) lost(who *actor.PID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.peers {
		if p.pid.Equal(who) && !p.lost {
			p.lost = true
			if c.closing != nil {
				c.closing <- struct{}{}
				return
			}
			err := fmt.Errorf("federation: member %q at %s disconnected", p.name, who.Address)
			if !p.ready && c.roster == nil {
				delete(c.peers, p.name) // not yet part of the run: another may take its place
				return
			}
			c.fail(err)
			c.signalReady(err)
			return
		}
	}
}

// fail ends the run with err: the tick in progress, if any, aborts;
// otherwise the next one does. Called with mu held.
func (c *Coordinator) fail(err error) {
	if c.failed == nil {
		c.failed = err
	}
	if c.running {
		c.running = false
		if c.timer != nil {
			c.timer.Stop()
		}
		c.rt.Abort(c.failed)
	}
}

// Local implements actors.Remote: the agents placed on the coordinator.
func (c *Coordinator) Local(a *engine.Agent) bool {
	return Place(a.ID, c.roster, c.cfg.Placement) == 0
}

// ownersFor returns the roster index of each of p's agents. Called with mu
// held.
func (c *Coordinator) ownersFor(p engine.Plan) []int {
	if len(p.Agents) > 0 && len(c.ownersOf) == len(p.Agents) && &c.ownersOf[0] == &p.Agents[0] {
		return c.owners
	}
	c.owners = c.owners[:0]
	for _, a := range p.Agents {
		c.owners = append(c.owners, Place(a.ID, c.roster, c.cfg.Placement))
	}
	c.ownersOf = p.Agents
	return c.owners
}

// Begin implements actors.Remote: it sends every member its Tick.
func (c *Coordinator) Begin(p engine.Plan, slots []int, rt *actors.RemoteTick) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rt, c.tick, c.nSlots = rt, p.Tick, len(p.Agents)
	if c.roster == nil {
		c.failed = errors.New("federation: the run ticked before every member joined (call Coordinator.Start first)")
	}
	if c.failed != nil {
		rt.Abort(c.failed)
		return
	}
	owners := c.ownersFor(p)
	clear(c.expect)
	for _, s := range slots {
		c.expect[owners[s]]++
	}
	commands := make([][]byte, len(p.Commands))
	for i, cmd := range p.Commands {
		commands[i], _ = proto.Marshal(wire.EncodeCommand(uint64(p.Tick), cmd))
	}
	c.waiting = map[string]bool{}
	for _, m := range c.byIndex[1:] {
		c.waiting[m.name] = true
		c.ep.sys.Root.Send(m.pid, &fedpb.Tick{Session: c.session, Mac: c.mac, Tick: uint64(p.Tick), Commands: commands,
			Reports: c.batches[m.index], Answers: c.answers, Digest: c.digest[:]})
		c.batches[m.index] = nil
	}
	c.running = true
	t := p.Tick
	c.timer = time.AfterFunc(c.cfg.Timeout, func() { c.expire(t) })
}

// expire aborts tick t if some member has not reported it.
func (c *Coordinator) expire(t clock.Tick) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running || c.tick != t || len(c.waiting) == 0 {
		return
	}
	var late []string
	for name := range c.waiting {
		late = append(late, name)
	}
	sort.Strings(late)
	c.fail(fmt.Errorf("federation: member(s) %s sent no reports of %s within %s: down, partitioned or too slow (raise --federation-timeout if ticks are that long); the log ends with the last committed tick", strings.Join(late, ", "), t, c.cfg.Timeout))
}

func (c *Coordinator) reports(m *fedpb.Reports) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.member(m.Member, m.Session, m.Mac)
	if p == nil {
		return
	}
	if m.Error != "" {
		c.fail(fmt.Errorf("federation: member %q cannot go on: %s", p.name, m.Error))
		return
	}
	if !c.running || clock.Tick(m.Tick) != c.tick || !c.waiting[p.name] {
		c.cfg.Logger.WithFields(map[string]any{"member": p.name, "tick": m.Tick}).Warn("federation: stale or repeated reports refused")
		return
	}
	if !bytes.Equal(m.Digest, c.digest[:]) {
		c.fail(fmt.Errorf("federation: member %q diverged: its digest before %s is %x, the run's %x (different modules or Lockstep versions?)", p.name, c.tick, m.Digest, c.digest))
		return
	}
	// Every report is checked before any is filled: a bad batch halts the
	// run with none of it in the tick.
	owners, got := c.owners, c.got[:0]
	err := wire.ReadReports(m.Reports, c.nSlots, func(slot int, rep engine.Report) error {
		if owners[slot] != p.index {
			return fmt.Errorf("a report for slot %d, whose agent is not placed on it", slot)
		}
		if len(got) > 0 && slot <= got[len(got)-1].slot {
			return fmt.Errorf("a report for slot %d after one for slot %d (reports come once each, in slot order)", slot, got[len(got)-1].slot)
		}
		got = append(got, slotReport{slot, rep})
		return nil
	})
	c.got = got
	if err == nil && len(got) != c.expect[p.index] {
		err = fmt.Errorf("%d reports where %d agents are placed on it", len(got), c.expect[p.index])
	}
	if err != nil {
		c.fail(fmt.Errorf("federation: member %q sent bad reports of %s: %w", p.name, c.tick, err))
		return
	}
	for _, r := range got {
		c.rt.Fill(r.slot, r.rep)
	}
	clear(c.got)
	delete(c.waiting, p.name)
	if len(c.waiting) == 0 {
		c.running = false
		c.timer.Stop()
	}
}

// LocalDone implements actors.Remote: the coordinator's agents report to
// its own round.
func (c *Coordinator) LocalDone(engine.Plan, []engine.Report) {}

// Committed implements actors.Remote: it prepares each member's share of
// the tick for the next Tick message.
func (c *Coordinator) Committed(p engine.Plan, ready *engine.Ready) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.digest = ready.Digest
	c.answers = make([][]byte, len(ready.Answers))
	for i, a := range ready.Answers {
		c.answers[i] = slices.Clone(a)
	}
	// Every report encoded once; each member's batch is the runs of it
	// between that member's own reports, in one allocation (the batch is
	// sent, so it is not reused).
	owners := c.ownersFor(p)
	all, ends := c.scratch[:0], c.ends[:0]
	for slot := range ready.Reports {
		all = wire.AppendReport(all, slot, &ready.Reports[slot])
		ends = append(ends, len(all))
	}
	c.scratch, c.ends = all, ends
	for _, m := range c.byIndex[1:] {
		b, from := make([]byte, 0, len(all)), 0
		for slot, end := range ends {
			if owners[slot] == m.index {
				start := 0
				if slot > 0 {
					start = ends[slot-1]
				}
				b, from = append(b, all[from:start]...), end
			}
		}
		c.batches[m.index] = append(b, all[from:]...)
	}
}

// Pinned implements host.RemoteModels: models served by members.
func (c *Coordinator) Pinned(model string) bool { return c.cfg.ModelPlacement[model] != "" }

// RunEncoded implements host.RemoteModels: it asks each member serving
// some of reqs' models for their answers, and waits (in the barrier) up to
// the timeout. A member that does not answer gets its requests failed as
// unavailable (recorded like any answer) and halts the run at the next
// tick.
func (c *Coordinator) RunEncoded(reqs []modelactor.Request) [][]byte {
	type ask struct {
		p      *peer
		idx    []int
		future *actor.Future
	}
	c.mu.Lock()
	asks := map[string]*ask{}
	var order []*ask
	for i, r := range reqs {
		name := c.cfg.ModelPlacement[r.Model]
		a := asks[name]
		if a == nil {
			a = &ask{p: c.peers[name]}
			asks[name] = a
			order = append(order, a)
		}
		a.idx = append(a.idx, i)
	}
	tick, session, sum := c.tick, c.session, c.mac
	c.mu.Unlock()
	for _, a := range order {
		calls := make([]*fedpb.InferCall, len(a.idx))
		for j, i := range a.idx {
			r := reqs[i]
			calls[j] = &fedpb.InferCall{Request: r.Request, Model: r.Model, Version: r.Version, Input: r.Input}
		}
		a.future = c.ep.sys.Root.RequestFuture(a.p.pid, &fedpb.Infer{Session: session, Mac: sum, Tick: uint64(tick), Calls: calls}, c.cfg.Timeout)
	}
	out := make([][]byte, len(reqs))
	for _, a := range order {
		var answers [][]byte
		res, err := await[*fedpb.Answers](c, a.p, a.future, "answers")
		if err == nil {
			if answers = res.Answers; len(answers) != len(a.idx) {
				err = fmt.Errorf("%d answers to %d requests", len(answers), len(a.idx))
			}
		}
		for j, i := range a.idx {
			if err != nil {
				out[i] = tensor.Failure(reqs[i].Request, tensor.Unavailable, "model %q is served by member %q: %v", reqs[i].Model, a.p.name, err).Encode()
			} else {
				out[i] = answers[j]
			}
		}
		if err != nil {
			c.mu.Lock()
			c.fail(fmt.Errorf("federation: member %q, which serves model %q, did not answer at %s: %w", a.p.name, reqs[a.idx[0]].Model, tick, err))
			c.mu.Unlock()
		}
	}
	return out
}

// signed is a member's reply to a request: signed for the session, or
// saying why it has no answer.
type signed interface {
	GetSession() uint64
	GetMac() []byte
	GetError() string
}

// await waits for p's reply of type T (what names it) on f.
func await[T signed](c *Coordinator, p *peer, f *actor.Future, what string) (T, error) {
	var zero T
	res, err := f.Result()
	if err != nil {
		return zero, fmt.Errorf("no %s within %s (%w)", what, c.cfg.Timeout, err)
	}
	r, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("a %T instead of %s", res, what)
	}
	c.mu.Lock()
	known := c.member(p.name, r.GetSession(), r.GetMac()) != nil
	c.mu.Unlock()
	switch {
	case !known:
		return zero, fmt.Errorf("%s not signed for this session", what)
	case r.GetError() != "":
		return zero, errors.New(r.GetError())
	}
	return r, nil
}

// Images implements host.RemoteSnapshots: every member's images of its
// agents' instances, for a checkpoint between ticks.
func (c *Coordinator) Images() (map[string][]byte, error) {
	c.mu.Lock()
	if c.failed != nil {
		c.mu.Unlock()
		return nil, c.failed
	}
	type ask struct {
		p      *peer
		future *actor.Future
	}
	var asks []ask
	for _, p := range c.byIndex[1:] {
		asks = append(asks, ask{p, c.ep.sys.Root.RequestFuture(p.pid, &fedpb.Snapshot{Session: c.session, Mac: c.mac, Tick: uint64(c.tick) + 1}, c.cfg.Timeout)})
	}
	c.mu.Unlock()
	out := map[string][]byte{}
	for _, a := range asks {
		im, err := await[*fedpb.Images](c, a.p, a.future, "images")
		if err != nil {
			return nil, fmt.Errorf("federation: member %q: %w", a.p.name, err)
		}
		for id, b := range im.Images {
			// A member speaks for its own agents only: an image of another
			// process's agent would replace that agent's state.
			if Place(id, c.roster, c.cfg.Placement) != a.p.index {
				return nil, fmt.Errorf("federation: member %q sent an image of agent %q, which is not placed on it", a.p.name, id)
			}
			out[id] = b
		}
	}
	return out, nil
}
