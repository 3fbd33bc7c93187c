package host

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// Checkpoint is the whole state of a run at a tick boundary: the engine's
// (tick, digest chain, agents, memberships, supervision counters and
// windows, state regions, deliveries pending for the next tick) with every
// agent instance's own snapshot inside it (a WebAssembly agent's linear
// memory and mutable globals; a Go agent's agent.Snapshotter bytes).
// Resume continues a run from it with the digests the run would have had.
// See RATIONALE.md, "Why checkpoints hold instance snapshots".
type Checkpoint struct {
	// Tick is the next tick the run will run.
	Tick clock.Tick
	// Digest is the chained digest before Tick.
	Digest [32]byte
	// ConfigDigest identifies the run's config (seed, groups, modules by
	// digest, quotas...): a checkpoint resumes only the run it was taken
	// of.
	ConfigDigest [32]byte
	// Engine is the engine's snapshot, agent snapshots included.
	Engine []byte
	// Extra is the caller's own state (the daemon's idempotency keys), kept
	// with the checkpoint and its checksum.
	Extra []byte
}

// ErrNoSnapshot is wrapped by Checkpoint's error when an agent cannot be
// snapshotted: a Go agent that does not implement agent.Snapshotter.
var ErrNoSnapshot = errors.New("host: agent cannot be checkpointed")

// Checkpoint captures the run between ticks. Call it from the goroutine
// that steps the host, not during a tick.
func (h *Host) Checkpoint() (*Checkpoint, error) {
	if h.closed {
		return nil, actors.ErrClosed
	}
	if h.halted != nil {
		return nil, h.halted
	}
	image := h.snapshotAgent
	if h.opts.Federation != nil {
		rs, ok := h.opts.Federation.(RemoteSnapshots)
		if !ok {
			return nil, errors.New("host: this federated run cannot be checkpointed: its Federation does not implement host.RemoteSnapshots, so the members' agents have no images")
		}
		remote, err := rs.Images()
		if err != nil {
			return nil, fmt.Errorf("host: checkpoint of %s: %w", h.Tick(), err)
		}
		image = func(a *engine.Agent) ([]byte, error) {
			if b, ok := remote[a.ID]; ok {
				return b, nil
			}
			return h.snapshotAgent(a)
		}
	}
	eng, err := h.eng.Snapshot(image)
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Tick: h.Tick(), Digest: h.last.Digest, ConfigDigest: h.configDigest(), Engine: eng}, nil
}

// snapshotAgent is an agent's snapshot. The engine asks only for agents
// that have run since their spawn or restart (the others start with Init
// at their next tick, as in the uninterrupted run), so their instance is
// the one the factory made last.
func (h *Host) snapshotAgent(a *engine.Agent) (b []byte, err error) {
	h.instMu.Lock()
	in, ok := h.instances[a.ID]
	h.instMu.Unlock()
	if !ok || in.incarnation != a.Incarnation {
		return nil, nil
	}
	s, ok := in.agent.(agent.Snapshotter)
	if !ok {
		return nil, fmt.Errorf("%w: agent %q of kind %q is a Go agent that does not implement agent.Snapshotter; implement Snapshot and Restore for it, or run without checkpoints", ErrNoSnapshot, a.ID, a.Kind)
	}
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("host: snapshot of agent %q (kind %q): panic: %v", a.ID, a.Kind, p)
		}
	}()
	b, err = s.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("host: snapshot of agent %q (kind %q): %w", a.ID, a.Kind, err)
	}
	if b == nil {
		b = []byte{} // no state, but restored, not made anew with Init
	}
	return b, nil
}

// RemoteSnapshots is implemented by a Federation (Options.Federation)
// whose members hold some agents' instances: Checkpoint asks it for their
// images (package host/federation).
type RemoteSnapshots interface {
	// Images returns, by agent id, the images of the instances the members
	// hold, as of the last barrier.
	Images() (map[string][]byte, error)
}

// Images returns, by agent id, the snapshot images of every agent instance
// this host holds, as of the last barrier (an agent that has not run since
// its spawn or restart has none): on a federation member, its share of a
// checkpoint. Call it between ticks.
func (h *Host) Images() (map[string][]byte, error) {
	h.instMu.Lock()
	ids := slices.Sorted(maps.Keys(h.instances))
	h.instMu.Unlock()
	out := map[string][]byte{}
	for _, id := range ids {
		a := h.eng.Lookup(id)
		if a == nil || !a.Alive() {
			continue
		}
		b, err := h.snapshotAgent(a)
		if err != nil {
			return nil, err
		}
		if b != nil {
			out[id] = b
		}
	}
	return out, nil
}

// SnapshotAgent is the snapshot of agent id's instance as of the last
// barrier (for a WebAssembly agent: wasmagent.DecodeSnapshot reads its
// linear memory and globals). Call it between ticks.
func (h *Host) SnapshotAgent(id string) ([]byte, error) {
	a := h.eng.Lookup(id)
	if a == nil || !a.Alive() {
		return nil, fmt.Errorf("host: no agent %q is running", id)
	}
	h.instMu.Lock()
	in, ok := h.instances[id]
	h.instMu.Unlock()
	if !ok || in.incarnation != a.Incarnation {
		return nil, fmt.Errorf("host: agent %q has not run since it was (re)started: it has no instance yet", id)
	}
	return h.snapshotAgent(a)
}

// CanCheckpoint says whether an agent spawned as spec could be
// checkpointed: WebAssembly agents can (their modules were checked at
// start), a Go agent if its kind implements agent.Snapshotter.
func (h *Host) CanCheckpoint(spec AgentSpec) error {
	if f := h.opts.Kinds[spec.Kind]; f != nil && h.modules[spec.Kind] == nil {
		return goSnapshotter(spec.Kind, f, spec.ID, spec.Config)
	}
	return nil
}

// goSnapshotter makes an agent of a Go kind and says whether it
// implements agent.Snapshotter.
func goSnapshotter(kind string, f Factory, id string, config []byte) error {
	a, err := f(id, config)
	if err != nil {
		return fmt.Errorf("host: kind %q: %w", kind, err)
	}
	if _, ok := a.(agent.Snapshotter); !ok {
		return fmt.Errorf("%w: kind %q is a Go agent that does not implement agent.Snapshotter (Snapshot and Restore); implement them, or turn checkpoints off", ErrNoSnapshot, kind)
	}
	return nil
}

// CheckSnapshottable says which of the run's WebAssembly modules cannot be
// checkpointed (one that changes tables or drops segments at run time:
// state a snapshot does not hold).
func (h *Host) CheckSnapshottable() error {
	for _, name := range slices.Sorted(maps.Keys(h.modules)) {
		if err := h.modules[name].Snapshottable(); err != nil {
			return fmt.Errorf("%w: %w; run it without checkpoints", ErrNoSnapshot, err)
		}
	}
	return nil
}

// forget drops the instances of the agents a tick stopped.
func (h *Host) forget(out actors.Outcome) {
	if len(out.Plan.Stopped) == 0 && len(out.Ready.Stop) == 0 {
		return
	}
	h.instMu.Lock()
	defer h.instMu.Unlock()
	for _, a := range out.Plan.Stopped {
		delete(h.instances, a.ID)
	}
	for _, a := range out.Ready.Stop {
		delete(h.instances, a.ID)
	}
}

// Resume starts a host from a checkpoint of a run started with the same
// options. The agents come back from their snapshots, without Init; the
// next Step runs cp.Tick.
func Resume(opts Options, cp *Checkpoint) (*Host, error) {
	if cp == nil {
		return nil, errors.New("host: Resume: nil checkpoint")
	}
	return start(opts, cp)
}

// configDigest identifies the run's recorded config.
func (h *Host) configDigest() [32]byte {
	cfg, _ := json.Marshal(recordedConfig(h.opts, h.opts.Modules))
	return engineConfigDigest(cfg)
}

// LogHeader is the header of the run's replay log.
func (h *Host) LogHeader() *replaylog.Header {
	cfg, _ := json.Marshal(recordedConfig(h.opts, h.opts.Modules))
	digest := engineConfigDigest(cfg)
	return &replaylog.Header{
		Seed: h.opts.Seed, ConfigDigest: digest[:], Topology: cfg, TopologyFormat: "json",
		CreatedBy: h.opts.CreatedBy, Workers: uint32(max(h.opts.Workers, 1)),
		ModuleDigests: h.moduleDigests(), AbiVersion: h.abiVersion(), UnsignedAllowed: h.opts.WASM.AllowUnsigned,
		Actions: h.opts.RecordActions,
	}
}

// RecordTo makes w the replay log the following records go to, at a tick
// boundary: how a run kept in segments (the daemon) moves on to a new
// segment (newSegment: inference output numbering restarts, see
// replaylog.Segment), or goes on writing the segment it replayed to its
// end. The caller flushes and closes the writer it replaces. w may be nil:
// recording stops.
func (h *Host) RecordTo(w *replaylog.Writer, newSegment bool) {
	h.rec = w
	h.inf.recording = w != nil
	if newSegment {
		h.inf.restart()
	} else {
		h.inf.continueAfterReplay()
	}
	h.recordErr = nil
}

// StartSegment checks that a log segment read for replay continues the
// run where it is, and restarts inference output numbering for it.
func (h *Host) StartSegment(seg *replaylog.Segment) error {
	if d := h.segmentStarts(seg); d != nil {
		return errors.New(d.String())
	}
	return nil
}

// The checkpoint file: magic, then a little-endian uint64 length and that
// many bytes of gzip-compressed body, then the SHA-256 of everything
// before it. The body is: tick, digest, config digest, then the engine
// snapshot and the extra bytes, each as a uint64 length and its bytes.
const (
	checkpointMagic = "LSCKPT1\n"
	// MaxCheckpointSize bounds what ReadCheckpoint decompresses.
	MaxCheckpointSize = 16 << 30
)

// WriteCheckpoint writes cp to w, compressed and checksummed.
func WriteCheckpoint(w io.Writer, cp *Checkpoint) error {
	var body bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&body, gzip.BestSpeed)
	var hdr [8 + 32 + 32]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(cp.Tick))
	copy(hdr[8:40], cp.Digest[:])
	copy(hdr[40:72], cp.ConfigDigest[:])
	zw.Write(hdr[:])
	for _, part := range [][]byte{cp.Engine, cp.Extra} {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(part)))
		zw.Write(n[:])
		zw.Write(part)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("host: compressing the checkpoint: %w", err)
	}
	h := sha256.New()
	out := io.MultiWriter(w, h)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(body.Len()))
	for _, b := range [][]byte{[]byte(checkpointMagic), n[:], body.Bytes()} {
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("host: writing the checkpoint: %w", err)
		}
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("host: writing the checkpoint: %w", err)
	}
	return nil
}

// ErrBadCheckpoint is wrapped by ReadCheckpoint's errors about the
// checkpoint's bytes (rather than reading them).
var ErrBadCheckpoint = errors.New("host: damaged checkpoint")

// ReadCheckpoint reads a checkpoint WriteCheckpoint wrote, checking its
// checksum before decoding anything.
func ReadCheckpoint(r io.Reader) (*Checkpoint, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadCheckpoint, fmt.Sprintf(format, args...))
	}
	h := sha256.New()
	tr := io.TeeReader(r, h)
	var head [len(checkpointMagic) + 8]byte
	if _, err := io.ReadFull(tr, head[:]); err != nil {
		return nil, bad("%d bytes, too short for a checkpoint (%v)", 0, err)
	}
	if string(head[:len(checkpointMagic)]) != checkpointMagic {
		return nil, bad("not a Lockstep checkpoint (starts with %q)", head[:len(checkpointMagic)])
	}
	n := binary.LittleEndian.Uint64(head[len(checkpointMagic):])
	if n > MaxCheckpointSize {
		return nil, bad("its body claims %d bytes, over the %d-byte limit", n, uint64(MaxCheckpointSize))
	}
	var body bytes.Buffer
	if got, err := io.CopyN(&body, tr, int64(n)); err != nil {
		return nil, bad("the file ends after %d of its %d body bytes", got, n)
	}
	var sum [32]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return nil, bad("the file ends before its checksum")
	}
	if !bytes.Equal(sum[:], h.Sum(nil)) {
		return nil, bad("checksum mismatch: the file was damaged after it was written")
	}
	zr, err := gzip.NewReader(&body)
	if err != nil {
		return nil, bad("the body does not decompress: %v", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, MaxCheckpointSize))
	if err != nil {
		return nil, bad("the body does not decompress: %v", err)
	}
	if len(raw) < 72 {
		return nil, bad("the body is %d bytes, too short", len(raw))
	}
	cp := &Checkpoint{Tick: clock.Tick(binary.LittleEndian.Uint64(raw))}
	copy(cp.Digest[:], raw[8:40])
	copy(cp.ConfigDigest[:], raw[40:72])
	raw = raw[72:]
	for _, part := range []*[]byte{&cp.Engine, &cp.Extra} {
		if len(raw) < 8 {
			return nil, bad("the body ends early")
		}
		m := binary.LittleEndian.Uint64(raw)
		raw = raw[8:]
		if m > uint64(len(raw)) {
			return nil, bad("a part claims %d bytes, %d are left", m, len(raw))
		}
		*part, raw = raw[:m], raw[m:]
	}
	return cp, nil
}
