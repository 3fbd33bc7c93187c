package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

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
	removeTemporaries(d.cfg.DataDir, d.log)
	segs, err := listSegments(d.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if len(segs) == 0 {
		return d.start()
	}
	cp, from, err := d.pickCheckpoint(segs)
	if err != nil {
		return err
	}
	h, err := d.cfg.Topology.Resume(d.cfg.Options, cp)
	if err != nil {
		return err
	}
	if err := d.federate(h, cp); err != nil {
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
	// The topology's inputs of the next tick are applied as it starts, and
	// recorded then, marked: those the log holds are not scheduled again.
	skip := 0
	for _, c := range d.tail {
		if c.Scheduled {
			skip++
		}
	}
	d.cfg.Topology.Schedule(h, h.Tick(), skip)
	d.tail = nil
	d.log.WithFields(map[string]any{"tick": uint64(h.Tick()), "checkpoint": checkpointTick(cp)}).Info("daemon: resumed")
	return nil
}

// start starts a new run. Its first segment, with the spawns and joins of
// the topology's agents, is written under a temporary name, synced and
// renamed: a crash leaves either no run or one with all its agents.
func (d *Daemon) start() error {
	h, err := d.cfg.Topology.Resume(d.cfg.Options, nil)
	if err != nil {
		return err
	}
	if err := d.federate(h, nil); err != nil {
		return err
	}
	d.h = h
	if err := d.startSegment(1, ".tmp"); err != nil {
		h.Close()
		return err
	}
	final := strings.TrimSuffix(d.seg.path, ".tmp")
	if err := d.cfg.Topology.SpawnAgents(h); err != nil {
		return d.abandon(err)
	}
	if err := d.seg.w.Flush(); err != nil {
		return d.abandon(err)
	}
	if err := d.seg.f.Sync(); err != nil {
		return d.abandon(err)
	}
	if err := os.Rename(d.seg.path, final); err != nil {
		return d.abandon(err)
	}
	d.seg.path = final
	if err := syncDir(filepath.Dir(final)); err != nil {
		return d.abandon(err)
	}
	d.setDurable(position{seg: 1, off: d.seg.w.Offset(), tick: 0})
	d.cfg.Topology.Schedule(h, 0, 0)
	return nil
}

// federate calls Config.Federate, if set; on failure it closes h.
func (d *Daemon) federate(h *host.Host, cp *host.Checkpoint) error {
	if d.cfg.Federate == nil {
		return nil
	}
	if err := d.cfg.Federate(h, cp); err != nil {
		h.Close()
		return err
	}
	return nil
}

// abandon gives up a new run: its first segment is removed.
func (d *Daemon) abandon(err error) error {
	d.h.RecordTo(nil, false) // no End record into a run that never was
	d.h.Close()
	d.seg.f.Close()
	os.Remove(d.seg.path)
	return err
}

// removeTemporaries removes what a crash left of files being written
// (checkpoints, a first segment).
func removeTemporaries(dir string, log *logrus.Logger) {
	for _, sub := range []string{logDir, checkpointDir} {
		names, _ := readDirNames(filepath.Join(dir, sub))
		for _, n := range names {
			if strings.HasSuffix(n, ".tmp") {
				p := filepath.Join(dir, sub, n)
				log.Warnf("daemon: removing %s, left by a crash while it was written", p)
				os.Remove(p)
			}
		}
	}
}

// tornTail reports whether err, met reading the file at path, is the end
// of a file a crash cut short: a record (or header) the file ends inside,
// or zero bytes to its end (blocks allocated but never written). Anything
// else (a flipped bit, an I/O error, a newer format) is damage that is not
// cut away, so that nothing acknowledged is lost by resuming.
func tornTail(path string, err error) bool {
	var ce *replaylog.CorruptError
	if !errors.As(err, &ce) {
		return false
	}
	if ce.Torn {
		return true
	}
	f, ferr := os.Open(path)
	if ferr != nil {
		return false
	}
	defer f.Close()
	rest, ferr := io.ReadAll(io.NewSectionReader(f, ce.Offset, 1<<62))
	return ferr == nil && len(rest) > 0 && !slices.ContainsFunc(rest, func(b byte) bool { return b != 0 })
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
		if last && s.index > 1 && tornTail(s.path, err) {
			// A crash while the segment's header was written: it holds
			// nothing yet.
			return -1, nil
		}
		return 0, fmt.Errorf("daemon: %s: %w (the log is damaged, not cut short by a crash: restore the file from a backup; nothing was changed)", s.path, err)
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
			if last && tornTail(s.path, err) {
				d.log.WithError(err).Warnf("daemon: the log ends in a record a crash cut short; cutting %s back to byte %d", s.path, good)
				return good, nil
			}
			return 0, fmt.Errorf("daemon: %s: %w (the log is damaged, not cut short by a crash: restore the file from a backup; nothing was changed)", s.path, err)
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
		return d.startSegment(s.index, "")
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

// startSegment starts segment index at the host's tick, in its file (with
// suffix: under a temporary name).
func (d *Daemon) startSegment(index uint64, suffix string) error {
	t := d.h.Tick()
	s := segmentFile{index: index, start: t, path: filepath.Join(d.cfg.DataDir, logDir, segmentName(index, t)) + suffix}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("daemon: new log segment: %w", err)
	}
	hdr := d.h.LogHeader()
	if hdr.CreatedBy == "" {
		hdr.CreatedBy = "agenthost serve"
	}
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
	if err := d.startSegment(old.index+1, ""); err != nil {
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
