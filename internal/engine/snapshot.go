package engine

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
)

// Errors of Restore: every error it returns for bad bytes wraps
// ErrBadSnapshot, and for a config other than the snapshot's,
// ErrSnapshotMismatch.
var (
	ErrBadSnapshot      = errors.New("engine: bad snapshot")
	ErrSnapshotMismatch = errors.New("engine: the snapshot does not match the config")
)

// SnapshotVersion is the version of the format Snapshot writes and Restore
// reads.
const SnapshotVersion = 1

// snapshotMagic starts every engine snapshot.
const snapshotMagic = "LSES"

// Snapshot encodes the whole state of the engine between two ticks (after
// a Commit, before the next Begin), with, for each live agent that has an
// instance, the image of its instance that image returns: the agent's
// agent.Snapshotter bytes (Runner.Snapshot gives them). image is called
// only for those: not for an agent whose incarnation has not run yet
// (spawned since the last Begin, or restarted at the last barrier — its
// runner may still hold the old instance), which starts with Init after a
// restore, nor for an agent of a restored engine that has not run since,
// whose image is kept as it is. image returning nil is an error (the
// agent would start over with Init, and the run would diverge); a nil
// image function is an error only if an image is needed.
//
// The same state gives the same bytes. The config (seed, groups, quotas,
// external outputs) is not in the snapshot, only fingerprints of it that
// Restore checks; neither is the inferencer.
//
// The format (version 1): "LSES", the version (uvarint), then the state in
// uvarints, fixed 64-bit little-endian words and length-prefixed byte
// strings, with every map in key order, and last the SHA-256 of all that
// comes before it.
func (e *Engine) Snapshot(image func(a *Agent) ([]byte, error)) ([]byte, error) {
	if e.running {
		return nil, fmt.Errorf("engine: snapshot at %s: a tick is running; snapshot between a Commit and the next Begin", e.tick)
	}
	agents := e.byRank()
	images := make([][]byte, len(agents))
	size := 256
	for i, a := range agents {
		size += 64 + len(a.ID) + len(a.Kind) + len(a.Config)
		if !a.alive {
			continue
		}
		img := a.image
		if img == nil && !a.fresh {
			if image == nil {
				return nil, fmt.Errorf("engine: snapshot at %s: agent %q has an instance, and no image function was given", e.tick, a.ID)
			}
			var err error
			if img, err = image(a); err != nil {
				return nil, fmt.Errorf("engine: snapshot at %s: agent %q: %w", e.tick, a.ID, err)
			}
			if img == nil {
				return nil, fmt.Errorf("engine: snapshot at %s: agent %q: no image of its instance (it has run since its last start; an empty image is []byte{}, not nil)", e.tick, a.ID)
			}
		}
		images[i] = img
		size += len(img)
		for _, m := range a.inputs {
			size += 16 + len(m.From) + len(m.Channel) + len(m.Payload)
		}
		for _, m := range a.inbox {
			size += 16 + len(m.From) + len(m.Channel) + len(m.Payload)
		}
		size += a.stateBytes
	}

	w := encoder{b: make([]byte, 0, size)}
	w.b = append(w.b, snapshotMagic...)
	w.uvarint(SnapshotVersion)
	w.uvarint(uint64(e.tick))
	w.b = append(w.b, e.digest[:]...)
	w.uvarint(e.nextRank)
	w.u64(seedPrint(e.seed))
	w.u64(quotasPrint(e.quotas))
	w.u64(e.extPrint)
	w.uvarint(e.pendingDead)

	names := slices.Sorted(maps.Keys(e.groups))
	w.uvarint(uint64(len(names)))
	for _, n := range names {
		g := e.groups[n]
		w.str(n)
		w.u64(g.print())
		w.uvarint(uint64(len(g.restarts)))
		for _, t := range g.restarts {
			w.uvarint(uint64(t))
		}
	}

	w.uvarint(uint64(len(agents)))
	for i, a := range agents {
		w.str(a.ID)
		w.str(a.Kind)
		w.bytes(a.Config)
		w.varint(int64(a.Priority))
		w.uvarint(a.Rank)
		w.u64(a.Seed)
		w.uvarint(uint64(a.Incarnation))
		w.uvarint(a.Fuel)
		w.str(a.group.spec.Name)
		w.uvarint(uint64(a.spawnAt))
		var flags byte
		if a.alive {
			flags |= flagAlive
			if images[i] != nil {
				flags |= flagImage
			}
		}
		w.b = append(w.b, flags)
		if !a.alive {
			continue
		}
		channels := slices.Sorted(maps.Keys(a.member))
		w.uvarint(uint64(len(channels)))
		for _, c := range channels {
			w.str(c)
		}
		w.messages(a.inputs)
		w.messages(a.inbox)
		regions := slices.Sorted(maps.Keys(a.state))
		w.uvarint(uint64(len(regions)))
		for _, r := range regions {
			w.str(r)
			w.bytes(a.state[r])
		}
		if images[i] != nil {
			w.bytes(images[i])
		}
	}

	w.uvarint(uint64(len(e.pending)))
	for _, c := range e.pending {
		w.command(c)
	}
	for _, l := range [][]*Agent{e.spawned, e.stopped} {
		w.uvarint(uint64(len(l)))
		for _, a := range l {
			w.str(a.ID)
		}
	}
	sum := sha256.Sum256(w.b)
	return append(w.b, sum[:]...), nil
}

// Agent flags in a snapshot.
const (
	flagAlive = 1 << iota
	flagImage
)

// Command tags in a snapshot.
const (
	tagSpawn = iota + 1
	tagStop
	tagJoin
	tagLeave
	tagInput
)

// byRank returns every agent record, stopped ones too, in spawn rank order.
func (e *Engine) byRank() []*Agent {
	out := slices.Collect(maps.Values(e.agents))
	slices.SortFunc(out, func(a, b *Agent) int { return cmp.Compare(a.Rank, b.Rank) })
	return out
}

// Fingerprints of the config, which a snapshot carries instead of the
// config itself.

func seedPrint(seed uint64) uint64 { return fnvUint64(fnvString(fnvOffset64, "seed\x00"), seed) }

func quotasPrint(q Quotas) uint64 {
	h := fnvString(fnvOffset64, "quotas\x00")
	for _, f := range q.fields() {
		h = fnvUint64(h, uint64(*f.field))
	}
	if q.Unenforced {
		h = fnvByte(h, 1)
	}
	return h
}

func externalPrint(x External) uint64 {
	h := fnvString(fnvOffset64, "external\x00")
	for _, l := range [][]string{x.Channels, x.Addresses} {
		l = slices.Sorted(slices.Values(l))
		h = fnvUint32(h, uint32(len(l)))
		for _, n := range l {
			h = fnvString(fnvUint32(h, uint32(len(n))), n)
		}
	}
	return h
}

// print is the fingerprint of g's place and spec in the tree.
func (g *group) print() uint64 {
	h := fnvString(fnvOffset64, "group\x00")
	parent := ""
	if g.parent != nil {
		parent = g.parent.spec.Name
	}
	h = fnvString(fnvUint32(h, uint32(len(parent))), parent)
	h = fnvByte(fnvByte(h, byte(g.spec.Strategy)), byte(g.spec.Directive))
	h = fnvUint64(h, uint64(g.spec.MaxRestarts))
	return fnvUint64(h, uint64(g.spec.Window))
}

type encoder struct{ b []byte }

func (w *encoder) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *encoder) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *encoder) u64(v uint64)     { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *encoder) str(s string) {
	w.uvarint(uint64(len(s)))
	w.b = append(w.b, s...)
}
func (w *encoder) bytes(p []byte) {
	w.uvarint(uint64(len(p)))
	w.b = append(w.b, p...)
}

func (w *encoder) messages(msgs []agent.Message) {
	w.uvarint(uint64(len(msgs)))
	for _, m := range msgs {
		w.str(m.From)
		w.str(m.Channel)
		w.uvarint(uint64(m.Sent))
		w.bytes(m.Payload)
	}
}

func (w *encoder) command(c Command) {
	switch {
	case c.Spawn != nil:
		s := c.Spawn
		w.b = append(w.b, tagSpawn)
		w.str(s.ID)
		w.str(s.Kind)
		w.bytes(s.Config)
		w.varint(int64(s.Priority))
		w.str(s.Group)
		w.uvarint(s.Fuel)
	case c.Stop != "":
		w.b = append(w.b, tagStop)
		w.str(c.Stop)
	case c.Join != nil || c.Leave != nil:
		m, tag := c.Join, byte(tagJoin)
		if m == nil {
			m, tag = c.Leave, tagLeave
		}
		w.b = append(w.b, tag)
		w.str(m.Agent)
		w.str(m.Channel)
	case c.Input != nil:
		w.b = append(w.b, tagInput)
		w.str(c.Input.To)
		w.str(c.Input.Channel)
		w.bytes(c.Input.Payload)
	}
}

// Restore rebuilds the engine a snapshot was taken of, under cfg, which
// must be the config of the snapshotted engine: its seed, groups, quotas
// and external outputs are checked against the snapshot's fingerprints.
// Set the inferencer again (SetInferencer) before the first tick.
//
// The next Begin lists every live agent in Plan.Spawned, so that the caller
// creates a runner for each, as for a spawn; the runner of an agent that
// had an image restores its instance from it (agent.Snapshotter.Restore)
// instead of calling Init. From there the run goes on exactly as the
// snapshotted one would have.
//
// Bad bytes (truncated, corrupt, crafted) give an error wrapping
// ErrBadSnapshot, never a panic; what Restore allocates is bounded by a
// small multiple of len(data).
func Restore(cfg Config, data []byte) (*Engine, error) {
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	const minLen = len(snapshotMagic) + 1 + sha256.Size
	if len(data) < minLen || string(data[:len(snapshotMagic)]) != snapshotMagic {
		if len(data) >= len(snapshotMagic) && string(data[:len(snapshotMagic)]) == snapshotMagic {
			return nil, fmt.Errorf("%w: %d bytes is too short for a snapshot; it is truncated", ErrBadSnapshot, len(data))
		}
		return nil, fmt.Errorf("%w: it does not start with %q; this is not an engine snapshot", ErrBadSnapshot, snapshotMagic)
	}
	body := data[:len(data)-sha256.Size]
	d := decoder{b: body, off: len(snapshotMagic)}
	if v := d.uvarint(); d.err == nil && v != SnapshotVersion {
		return nil, fmt.Errorf("%w: format version %d; this build reads version %d", ErrBadSnapshot, v, SnapshotVersion)
	}
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], data[len(body):]) {
		return nil, fmt.Errorf("%w: checksum mismatch: the snapshot is corrupt or truncated", ErrBadSnapshot)
	}
	if err := e.restore(&d); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) restore(d *decoder) error {
	e.tick = clock.Tick(d.uvarint())
	copy(e.digest[:], d.take(len(e.digest)))
	e.nextRank = d.uvarint()
	seed, quotas, external := d.u64(), d.u64(), d.u64()
	e.pendingDead = d.uvarint()
	if d.err != nil {
		return d.err
	}
	switch {
	case e.nextRank == 0:
		return d.fail("next spawn rank 0")
	case seed != seedPrint(e.seed):
		return fmt.Errorf("%w: the snapshot was taken with another seed", ErrSnapshotMismatch)
	case quotas != quotasPrint(e.quotas):
		return fmt.Errorf("%w: the snapshot was taken with other quotas", ErrSnapshotMismatch)
	case external != e.extPrint:
		return fmt.Errorf("%w: the snapshot was taken with other external channels or addresses", ErrSnapshotMismatch)
	}

	// Groups: the same tree, and each group's restart record.
	n := d.count("groups", 11)
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		name := d.str()
		print := d.u64()
		restarts := d.ticks()
		if d.err != nil {
			break
		}
		if i > 0 && name <= prev {
			return d.fail("group %q is out of order", name)
		}
		prev = name
		g := e.groups[name]
		if g == nil {
			return fmt.Errorf("%w: the snapshot has supervision group %q, which the config does not declare", ErrSnapshotMismatch, name)
		}
		if g.print() != print {
			return fmt.Errorf("%w: supervision group %q differs from the snapshot's (parent, strategy, on_failure, max_restarts or window)", ErrSnapshotMismatch, name)
		}
		g.restarts = restarts
		seen[name] = true
	}
	if d.err != nil {
		return d.err
	}
	for _, name := range slices.Sorted(maps.Keys(e.groups)) {
		if !seen[name] {
			return fmt.Errorf("%w: the config declares supervision group %q, which the snapshot does not have", ErrSnapshotMismatch, name)
		}
	}

	// Agents, in rank order.
	n = d.count("agents", 20)
	var last uint64
	for i := 0; i < n && d.err == nil; i++ {
		a, err := e.restoreAgent(d, last)
		if err != nil {
			return err
		}
		last = a.Rank
	}
	if d.err != nil {
		return d.err
	}

	// Commands applied since the last barrier, and the agents they spawned
	// and stopped.
	n = d.count("pending commands", 2)
	for i := 0; i < n && d.err == nil; i++ {
		if c, ok := d.command(); ok {
			e.pending = append(e.pending, c)
		}
	}
	for _, l := range []struct {
		what string
		to   *[]*Agent
	}{{"spawned", &e.spawned}, {"stopped", &e.stopped}} {
		n = d.count(l.what+" agents", 2)
		in := map[*Agent]bool{}
		for i := 0; i < n && d.err == nil; i++ {
			id := d.str()
			if d.err != nil {
				break
			}
			a := e.agents[id]
			switch {
			case a == nil:
				return d.fail("%s agent %q has no record", l.what, id)
			case in[a]:
				return d.fail("%s agent %q is listed twice", l.what, id)
			case l.what == "spawned" && len(*l.to) > 0 && a.Rank < (*l.to)[len(*l.to)-1].Rank:
				return d.fail("spawned agent %q is out of order", id)
			case l.what == "stopped" && a.alive:
				return d.fail("stopped agent %q is alive", id)
			}
			in[a] = true
			*l.to = append(*l.to, a)
		}
	}
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return d.fail("%d bytes after the end", len(d.b)-d.off)
	}

	for _, a := range e.byRank() {
		a.group.agents = append(a.group.agents, a)
		if a.alive {
			e.live = append(e.live, a)
			e.restored = append(e.restored, a)
		}
	}
	e.dirty = true
	return nil
}

// restoreAgent decodes one agent record, whose rank must be above last, and
// adds it to e.
func (e *Engine) restoreAgent(d *decoder, last uint64) (*Agent, error) {
	a := &Agent{eng: e}
	a.ID = d.str()
	a.Kind = d.str()
	a.Config = d.bytes()
	prio := d.varint()
	a.Rank = d.uvarint()
	a.Seed = d.u64()
	inc := d.uvarint()
	a.Fuel = d.uvarint()
	group := d.str()
	a.spawnAt = clock.Tick(d.uvarint())
	flags := d.byte()
	if d.err != nil {
		return nil, d.err
	}
	if err := agent.ValidateName("agent id", a.ID); err != nil {
		return nil, d.fail("%v", err)
	}
	switch {
	case e.agents[a.ID] != nil:
		return nil, d.fail("agent %q is listed twice", a.ID)
	case e.extAddresses[a.ID]:
		return nil, fmt.Errorf("%w: agent %q has the id of an external address of the config", ErrSnapshotMismatch, a.ID)
	case prio < -1<<31 || prio > 1<<31-1:
		return nil, d.fail("agent %q: priority %d is out of range", a.ID, prio)
	case inc > 1<<32-1:
		return nil, d.fail("agent %q: incarnation %d is out of range", a.ID, inc)
	case a.Rank <= last || a.Rank >= e.nextRank:
		return nil, d.fail("agent %q: rank %d is out of order (after %d, below %d)", a.ID, a.Rank, last, e.nextRank)
	case a.spawnAt > e.tick:
		return nil, d.fail("agent %q: spawned at %s, after %s", a.ID, a.spawnAt, e.tick)
	case flags > flagAlive|flagImage || flags == flagImage:
		return nil, d.fail("agent %q: bad flags %#x", a.ID, flags)
	case a.Seed != agentSeed(e.seed, a.ID):
		return nil, fmt.Errorf("%w: agent %q: its seed does not derive from the config's seed", ErrSnapshotMismatch, a.ID)
	}
	a.Priority, a.Incarnation = int32(prio), uint32(inc)
	if a.group = e.groups[group]; a.group == nil {
		return nil, fmt.Errorf("%w: agent %q is in supervision group %q, which the config does not declare", ErrSnapshotMismatch, a.ID, group)
	}
	e.agents[a.ID] = a
	if flags&flagAlive == 0 {
		return a, nil
	}
	a.alive = true
	a.member = map[string]bool{}
	n := d.count("channels", 2)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		ch := d.str()
		if d.err != nil {
			break
		}
		if err := agent.ValidateName("channel", ch); err != nil {
			return nil, d.fail("agent %q: %v", a.ID, err)
		}
		if i > 0 && ch <= prev {
			return nil, d.fail("agent %q: channel %q is out of order", a.ID, ch)
		}
		prev = ch
		e.setMember(a, ch, true)
	}
	a.inputs = d.messages()
	a.inbox = d.messages()
	prev = ""
	n = d.count("state regions", 2)
	for i := 0; i < n && d.err == nil; i++ {
		name, v := d.str(), d.bytes()
		if d.err != nil {
			break
		}
		if err := agent.ValidateName("state region", name); err != nil {
			return nil, d.fail("agent %q: %v", a.ID, err)
		}
		if i > 0 && name <= prev {
			return nil, d.fail("agent %q: state region %q is out of order", a.ID, name)
		}
		prev = name
		if a.state == nil {
			a.state = map[string][]byte{}
		}
		a.state[name] = v
		a.stateBytes += len(v)
	}
	if flags&flagImage != 0 {
		if a.image = d.bytes(); a.image == nil && d.err == nil {
			a.image = []byte{}
		}
	} else {
		a.fresh = true // it had no instance: it starts with Init
	}
	return a, d.err
}

// decoder reads a snapshot. Its first error sticks: later reads return
// zero values.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) error {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrBadSnapshot, d.off, fmt.Sprintf(format, args...))
	}
	return d.err
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.left() {
		d.fail("%d bytes needed, %d left: truncated", n, d.left())
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// uvarint reads a uvarint in its shortest form (so that a snapshot has one
// encoding).
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	var buf [binary.MaxVarintLen64]byte
	if n <= 0 || n != len(binary.AppendUvarint(buf[:0], v)) {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1) // zigzag, as binary.AppendVarint
}

// count reads a number of items of at least minSize bytes each, which
// must fit in the bytes left.
func (d *decoder) count(what string, minSize int) int {
	v := d.uvarint()
	if d.err == nil && v > uint64(d.left()/minSize) {
		d.fail("%d %s do not fit in the %d bytes left", v, what, d.left())
		return 0
	}
	return int(v)
}

// bytes reads a length-prefixed byte string, copied (nil when empty).
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err == nil && n > uint64(d.left()) {
		d.fail("a string of %d bytes, %d left: truncated", n, d.left())
		return nil
	}
	if n == 0 {
		return nil
	}
	return bytes.Clone(d.take(int(n)))
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(d.left()) {
		d.fail("a string of %d bytes, %d left: truncated", n, d.left())
		return ""
	}
	return string(d.take(int(n)))
}

func (d *decoder) ticks() []clock.Tick {
	n := d.count("restart ticks", 1)
	if n == 0 {
		return nil
	}
	out := make([]clock.Tick, 0, n)
	for range n {
		out = append(out, clock.Tick(d.uvarint()))
	}
	return out
}

func (d *decoder) messages() []agent.Message {
	n := d.count("messages", 4)
	var out []agent.Message
	for i := 0; i < n && d.err == nil; i++ {
		m := agent.Message{From: d.str(), Channel: d.str(), Sent: clock.Tick(d.uvarint()), Payload: d.bytes()}
		if m.From != "" && m.From != agent.ModelSender && agent.ValidateName("agent id", m.From) != nil {
			d.fail("message from %q", m.From)
		}
		if m.Channel != "" && agent.ValidateName("channel", m.Channel) != nil {
			d.fail("message on channel %q", m.Channel)
		}
		out = append(out, m)
	}
	return out
}

// command reads a command applied since the last barrier.
func (d *decoder) command() (Command, bool) {
	tag := d.byte()
	var c Command
	name := func(kind, s string) {
		if err := agent.ValidateName(kind, s); err != nil && d.err == nil {
			d.fail("pending command: %v", err)
		}
	}
	switch tag {
	case tagSpawn:
		s := &SpawnSpec{ID: d.str(), Kind: d.str(), Config: d.bytes()}
		prio := d.varint()
		s.Group, s.Fuel = d.str(), d.uvarint()
		if prio < -1<<31 || prio > 1<<31-1 {
			d.fail("pending spawn: priority %d is out of range", prio)
		}
		s.Priority = int32(prio)
		name("agent id", s.ID)
		c.Spawn = s
	case tagStop:
		c.Stop = d.str()
		name("agent id", c.Stop)
	case tagJoin, tagLeave:
		m := &Membership{Agent: d.str(), Channel: d.str()}
		name("agent id", m.Agent)
		name("channel", m.Channel)
		if tag == tagJoin {
			c.Join = m
		} else {
			c.Leave = m
		}
	case tagInput:
		in := &Input{To: d.str(), Channel: d.str(), Payload: d.bytes()}
		switch {
		case (in.To == "") == (in.Channel == ""):
			d.fail("pending input with to=%q and channel=%q", in.To, in.Channel)
		case in.To != "":
			name("agent id", in.To)
		default:
			name("channel", in.Channel)
		}
		c.Input = in
	default:
		d.fail("unknown command tag %d", tag)
	}
	return c, d.err == nil
}
