package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// resume starts the run: fresh on an empty data directory; otherwise from
// the newest good checkpoint (a damaged one is skipped, and the log says
// so) and the log segments after it, replayed to the end of what is on
// disk. The last segment is cut back after its last whole tick (or the
// commands applied after it, which were acknowledged) and written on.
func (d *Daemon) resume() error {
	segs, err := listSegments(d.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if len(segs) == 1 && segs[0].index == 1 && !headerReads(segs[0].path) {
		// A crash while the first header was written: nothing was
		// acknowledged yet.
		d.log.Warnf("daemon: %s has no complete header (a crash as the run started); starting the run afresh", segs[0].path)
		if err := os.Remove(segs[0].path); err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
		segs = nil
	}
	if len(segs) == 0 {
		// A new run: the log exists before the spawns, which it records.
		h, err := d.cfg.Topology.Resume(d.cfg.Options, nil)
		if err != nil {
			return err
		}
		d.h = h
		if err := d.startSegment(1); err != nil {
			h.Close()
			return err
		}
		if err := d.cfg.Topology.SpawnAgents(h); err != nil {
			h.Close()
			return err
		}
		d.unsynced = true
		d.cfg.Topology.Schedule(h, 0)
		return nil
	}
	cp, from, err := d.pickCheckpoint(segs)
	if err != nil {
		return err
	}
	h, err := d.cfg.Topology.Resume(d.cfg.Options, cp)
	if err != nil {
		return err
	}
	d.h = h
	if cp != nil {
		d.lastCheck = cp.Tick
		if err := d.keys.decode(cp.Extra); err != nil {
			h.Close()
			return fmt.Errorf("daemon: checkpoint of %s: %w", cp.Tick, err)
		}
	}
	want := h.LogHeader().ConfigDigest
	for i, s := range segs[from:] {
		last := from+i == len(segs)-1
		end, err := d.replaySegment(s, want, last)
		if err != nil {
			h.Close()
			return err
		}
		if last {
			if err := d.reopen(s, end); err != nil {
				h.Close()
				return err
			}
		}
	}
	// The topology's inputs for the next tick are applied as it starts, and
	// recorded then: if they are the last commands of the log, the crash
	// came after that, and they are in the run already.
	next := h.Tick()
	if sched := d.cfg.Topology.InputsAt(next); len(sched) > 0 && len(d.tail) >= len(sched) && sameInputs(d.tail[len(d.tail)-len(sched):], sched) {
		next++
	}
	d.cfg.Topology.Schedule(h, next)
	d.tail = nil
	d.log.WithFields(map[string]any{"tick": uint64(h.Tick()), "checkpoint": checkpointTick(cp)}).Info("daemon: resumed")
	return nil
}

func checkpointTick(cp *host.Checkpoint) any {
	if cp == nil {
		return "none"
	}
	return uint64(cp.Tick)
}

// pickCheckpoint returns the newest checkpoint that reads and starts a
// segment, with that segment's position; nil and 0 when the run must be
// replayed from its first segment.
func (d *Daemon) pickCheckpoint(segs []segmentFile) (*host.Checkpoint, int, error) {
	ticks, err := listCheckpoints(d.cfg.DataDir)
	if err != nil {
		return nil, 0, fmt.Errorf("daemon: %w", err)
	}
	for _, t := range ticks {
		at := -1
		for i, s := range segs {
			if s.start == t {
				at = i
			}
		}
		if at < 0 {
			d.log.Warnf("daemon: checkpoint of %s has no log segment starting there (pruned or never written); trying an older one", t)
			continue
		}
		cp, err := readCheckpoint(d.cfg.DataDir, t)
		if err != nil {
			d.log.WithError(err).Warnf("daemon: checkpoint %s is damaged; falling back to the one before it", checkpointName(t))
			continue
		}
		return cp, at, nil
	}
	if segs[0].start != 0 {
		return nil, 0, fmt.Errorf("daemon: no usable checkpoint in %s, and the log starts at %s (older segments were pruned): the run cannot be resumed; restore a checkpoint file from a backup, or start afresh in another data directory", d.cfg.DataDir, segs[0].start)
	}
	if len(ticks) > 0 {
		d.log.Warn("daemon: no usable checkpoint: replaying the whole log")
	}
	return nil, 0, nil
}

// replaySegment replays a segment's records on the host and returns the
// offset the segment is good to: after its last tick, and the commands
// after it. A damaged tail is only allowed in the last segment.
func (d *Daemon) replaySegment(s segmentFile, config []byte, last bool) (int64, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return 0, fmt.Errorf("daemon: %w", err)
	}
	defer f.Close()
	rd, err := replaylog.NewReader(f)
	if err != nil {
		if last && errors.Is(err, replaylog.ErrCorrupt) && s.index > 1 {
			// A crash while the segment's header was written: it holds
			// nothing yet.
			return -1, nil
		}
		return 0, fmt.Errorf("daemon: %s: %w", s.path, err)
	}
	hdr := rd.Header()
	if !bytes.Equal(hdr.ConfigDigest, config) {
		return 0, fmt.Errorf("daemon: %s was written by another run (another topology, seed or module): start this topology in a new data directory, or give the topology the run was started with", s.path)
	}
	if hdr.Segment == nil || hdr.Segment.Index != s.index || clock.Tick(hdr.Segment.StartTick) != s.start {
		return 0, fmt.Errorf("daemon: %s: its header does not match its name", s.path)
	}
	h := d.h
	if h.Tick() != s.start {
		return 0, fmt.Errorf("daemon: %s starts at %s but the run is at %s: a segment is missing", s.path, s.start, h.Tick())
	}
	if err := h.StartSegment(hdr.Segment); err != nil {
		return 0, fmt.Errorf("daemon: %s: %w", s.path, err)
	}
	good := rd.Offset()
	var outputs []*replaylog.Output
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return good, nil
		}
		if err != nil {
			if last {
				d.log.WithError(err).Warnf("daemon: the log ends in a damaged record (a crash while it was written); cutting %s back to byte %d", s.path, good)
				return good, nil
			}
			return 0, fmt.Errorf("daemon: %s: %w (a damaged segment before the last: restore it from a backup)", s.path, err)
		}
		switch k := rec.Kind.(type) {
		case *replaylog.Record_End:
			return good, nil // a clean stop: the run goes on after it
		case *replaylog.Record_Command:
			if k.Command.Key != "" {
				d.keys.put(k.Command.Key, clock.Tick(k.Command.Tick))
			}
		}
		ticked, div := h.Replay(rec, &outputs)
		if div != nil {
			return 0, fmt.Errorf("daemon: %s does not replay: %s (were the modules or Lockstep changed since the run started?)", s.path, div)
		}
		switch k := rec.Kind.(type) {
		case *replaylog.Record_Command:
			good = rd.Offset()
			d.tail = append(d.tail, k.Command)
		case *replaylog.Record_Tick:
			if ticked {
				good = rd.Offset()
				d.tail = d.tail[:0]
			}
		}
	}
}

// reopen goes on writing the last segment from offset end (-1: its header
// is damaged, write it again).
func (d *Daemon) reopen(s segmentFile, end int64) error {
	if end < 0 {
		os.Remove(s.path)
		return d.startSegment(s.index)
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if err := f.Truncate(end); err == nil {
		_, err = f.Seek(end, io.SeekStart)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("daemon: cutting %s back to its last whole tick: %w", s.path, err)
	}
	w, err := replaylog.ResumeWriter(f, end)
	if err != nil {
		f.Close()
		return err
	}
	d.seg = &segment{segmentFile: s, f: f, w: w}
	d.h.RecordTo(w, false)
	d.setDurable(position{seg: s.index, off: end, tick: d.h.Tick()})
	return nil
}

// startSegment starts segment index at the host's tick.
func (d *Daemon) startSegment(index uint64) error {
	t := d.h.Tick()
	s := segmentFile{index: index, start: t, path: filepath.Join(d.cfg.DataDir, logDir, segmentName(index, t))}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("daemon: new log segment: %w", err)
	}
	hdr := d.h.LogHeader()
	hdr.CreatedBy = "agenthost serve"
	seg := &replaylog.Segment{Index: index, StartTick: uint64(t)}
	if t > 0 {
		dg := d.h.Last().Digest
		seg.StartDigest = dg[:]
	}
	hdr.Segment = seg
	w, err := replaylog.NewWriter(f, hdr)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.path))
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("daemon: new log segment %s: %w", s.path, err)
	}
	d.seg = &segment{segmentFile: s, f: f, w: w}
	d.h.RecordTo(w, true)
	d.setDurable(position{seg: index, off: w.Offset(), tick: t})
	return nil
}

// rotate ends the current segment (synced) and starts the next at this
// tick boundary.
func (d *Daemon) rotate() error {
	d.syncNow()
	if d.failed != nil {
		return d.failed
	}
	old := d.seg
	if err := d.startSegment(old.index + 1); err != nil {
		return err
	}
	old.f.Close()
	return nil
}

// checkpoint writes the checkpoint of this tick boundary, then prunes.
func (d *Daemon) checkpoint() error {
	cp, err := d.h.Checkpoint()
	if err != nil {
		return fmt.Errorf("checkpoint of %s: %w", d.h.Tick(), err)
	}
	cp.Extra = d.keys.encode()
	path := filepath.Join(d.cfg.DataDir, checkpointDir, checkpointName(cp.Tick))
	if err := writeFileSync(path, func(w io.Writer) error { return host.WriteCheckpoint(w, cp) }); err != nil {
		return fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	d.lastCheck = cp.Tick
	d.prune()
	return nil
}

// prune removes checkpoints past the newest KeepCheckpoints and, unless
// KeepLog, the segments that end before the oldest checkpoint kept.
// Failing to remove a file is only logged.
func (d *Daemon) prune() {
	ticks, err := listCheckpoints(d.cfg.DataDir)
	if err != nil || len(ticks) == 0 {
		return
	}
	for _, t := range ticks[min(len(ticks), d.cfg.KeepCheckpoints):] {
		if err := os.Remove(filepath.Join(d.cfg.DataDir, checkpointDir, checkpointName(t))); err != nil {
			d.log.WithError(err).Warn("daemon: pruning a checkpoint")
		}
	}
	if d.cfg.KeepLog || len(ticks) <= d.cfg.KeepCheckpoints {
		return // the log goes only with a checkpoint
	}
	oldest := ticks[d.cfg.KeepCheckpoints-1]
	segs, err := listSegments(d.cfg.DataDir)
	if err != nil {
		return
	}
	for i := 0; i+1 < len(segs) && segs[i+1].start <= oldest; i++ {
		if err := os.Remove(segs[i].path); err != nil {
			d.log.WithError(err).Warn("daemon: pruning a log segment")
		}
	}
}

// headerReads reports whether a log file's magic and header read.
func headerReads(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = replaylog.NewReader(f)
	return err == nil
}

// sameInputs reports whether recorded commands are the given inputs, in
// order.
func sameInputs(cmds []*replaylog.Command, ins []host.TopologyInput) bool {
	for i, c := range cmds {
		in := c.GetInput()
		if in == nil || in.To != ins[i].To || in.Channel != ins[i].Channel || string(in.Payload) != ins[i].Payload {
			return false
		}
	}
	return true
}
