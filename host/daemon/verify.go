package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// FromStart and Latest are the special values of Verify's from.
const (
	// FromStart replays the log from its first segment (which must start
	// at tick 0: not pruned).
	FromStart = -1
	// Latest starts from the newest checkpoint.
	Latest = -2
)

// Verify replays the run kept in a data directory, segment by segment,
// and compares every tick with its log: from the start (from FromStart),
// from the newest checkpoint (Latest) or from the checkpoint of tick
// from. It needs no daemon and only reads the directory; a daemon may be
// running on it. Errors are Verify's (host.ErrReplayInput for a missing
// module; replaylog.ErrCorrupt for a damaged first header;
// host.ErrBadCheckpoint for a damaged checkpoint); a divergence or a
// damaged tail is in the result. With a checkpoint, Ticks counts the
// ticks replayed after it.
func Verify(dataDir string, opts host.ReplayOptions, from int64) (*host.VerifyResult, error) {
	return Walk(dataDir, opts, from, nil)
}

// Walk is Verify calling visit after every record it replayed, and once
// before the first with a nil record (false stops it): to trace the run or
// look at its state at some tick.
func Walk(dataDir string, opts host.ReplayOptions, from int64, visit func(*host.Replayer, *replaylog.Record) bool) (*host.VerifyResult, error) {
	segs, err := listSegments(dataDir)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%s has no log segments (log/seg-*.replay): is it the data directory of agenthost serve?", dataDir)
	}
	var cp *host.Checkpoint
	at := 0
	switch {
	case from == FromStart:
		if segs[0].start != 0 {
			return nil, fmt.Errorf("the log of %s starts at %s (older segments were pruned): verify from a checkpoint (--from-checkpoint latest), or keep the whole log with serve --keep-log", dataDir, segs[0].start)
		}
	default:
		ticks, err := listCheckpoints(dataDir)
		if err != nil {
			return nil, err
		}
		if len(ticks) == 0 {
			return nil, fmt.Errorf("%s has no checkpoints", dataDir)
		}
		t := ticks[0]
		if from != Latest {
			t = clock.Tick(from)
		}
		if cp, err = readCheckpoint(dataDir, t); err != nil {
			return nil, fmt.Errorf("checkpoint %s of %s: %w (the checkpoints there are of ticks %v)", checkpointName(t), dataDir, err, ticks)
		}
		at = -1
		for i, s := range segs {
			if s.start == t {
				at = i
			}
		}
		if at < 0 {
			return nil, fmt.Errorf("no log segment of %s starts at the checkpoint's %s", dataDir, t)
		}
	}
	var rp *host.Replayer
	defer func() {
		if rp != nil {
			rp.Close()
		}
	}()
	for i, s := range segs[at:] {
		last := at+i == len(segs)-1
		f, err := os.Open(s.path)
		if err != nil {
			return nil, err
		}
		rd, err := replaylog.NewReader(f)
		if err != nil {
			f.Close()
			if rp != nil && last && errors.Is(err, replaylog.ErrCorrupt) {
				res := rp.Result()
				res.Corrupt = fmt.Errorf("%s: %w", s.path, err)
				return res, nil
			}
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		hdr := rd.Header()
		if rp == nil {
			if rp, err = host.NewReplayer(hdr, opts, cp); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", s.path, err)
			}
			if visit != nil && !visit(rp, nil) {
				f.Close()
				return rp.Result(), nil
			}
		} else if first := segs[at]; !bytes.Equal(hdr.ConfigDigest, firstDigest(first.path)) {
			f.Close()
			return nil, fmt.Errorf("%s is of another run than %s (config digests differ)", s.path, first.path)
		}
		if !rp.StartSegment(hdr.Segment) {
			f.Close()
			return rp.Result(), nil
		}
		corrupt := rp.Records(rd, visit)
		f.Close()
		if errors.Is(corrupt, host.ErrReplayInput) {
			return nil, corrupt
		}
		if corrupt != nil && last && tornTail(s.path, corrupt) {
			// A daemon is writing it, or a crash cut it short: a resumed
			// daemon cuts it there too.
			res := rp.Result()
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s ends in a record being written (by a running daemon) or cut short by a crash, at byte %d: every tick before it verified", s.path, corruptOffset(corrupt)))
			return res, nil
		}
		if corrupt != nil {
			res := rp.Result()
			res.Corrupt = fmt.Errorf("%s: %w", s.path, corrupt)
			if !last {
				res.Corrupt = fmt.Errorf("%w (and the segments after it were not verified)", res.Corrupt)
			}
			return res, nil
		}
		if res := rp.Result(); res.Divergence != nil || res.Complete || rp.Stopped() {
			break
		}
	}
	return rp.Result(), nil
}

// firstDigest is the config digest in a segment's header (nil if it does
// not read).
func firstDigest(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	rd, err := replaylog.NewReader(f)
	if err != nil {
		return nil
	}
	return rd.Header().ConfigDigest
}

// Checkpoints lists the ticks of a data directory's checkpoints, newest
// first.
func Checkpoints(dataDir string) ([]clock.Tick, error) { return listCheckpoints(dataDir) }

// Segments lists a data directory's log segment files in order.
func Segments(dataDir string) ([]string, error) {
	segs, err := listSegments(dataDir)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(segs))
	for i, s := range segs {
		paths[i] = s.path
	}
	return paths, nil
}

func corruptOffset(err error) int64 {
	var ce *replaylog.CorruptError
	if errors.As(err, &ce) {
		return ce.Offset
	}
	return -1
}
