package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
)

// The data directory:
//
//	LOCK                    held by the running daemon
//	agenthost.sock          the API's Unix socket (mode 0600)
//	token, token.read       bearer tokens, made when --listen is used
//	log/seg-000001-t000000000000.replay
//	                        the replay log as segments: index, first tick
//	checkpoints/ckpt-t000000001000.lsc
//	                        checkpoints by tick (always the first tick of a segment)
const (
	lockFile      = "LOCK"
	logDir        = "log"
	checkpointDir = "checkpoints"
)

// segmentFile is one segment of the log.
type segmentFile struct {
	index uint64
	start clock.Tick
	path  string
}

func segmentName(index uint64, start clock.Tick) string {
	return fmt.Sprintf("seg-%06d-t%012d.replay", index, uint64(start))
}

func checkpointName(t clock.Tick) string { return fmt.Sprintf("ckpt-t%012d.lsc", uint64(t)) }

// listSegments returns the log's segments in order. Files that are not
// segments are ignored; a gap in the numbering is an error.
func listSegments(dir string) ([]segmentFile, error) {
	names, err := readDirNames(filepath.Join(dir, logDir))
	if err != nil {
		return nil, err
	}
	var segs []segmentFile
	for _, n := range names {
		var idx, start uint64
		if _, err := fmt.Sscanf(n, "seg-%d-t%d.replay", &idx, &start); err != nil || n != segmentName(idx, clock.Tick(start)) {
			continue
		}
		segs = append(segs, segmentFile{index: idx, start: clock.Tick(start), path: filepath.Join(dir, logDir, n)})
	}
	slices.SortFunc(segs, func(a, b segmentFile) int { return int(a.index) - int(b.index) })
	for i := 1; i < len(segs); i++ {
		if segs[i].index != segs[i-1].index+1 || segs[i].start < segs[i-1].start {
			return nil, fmt.Errorf("the log of %s has %s after %s: a segment is missing or misnamed", dir, filepath.Base(segs[i].path), filepath.Base(segs[i-1].path))
		}
	}
	return segs, nil
}

// listCheckpoints returns the checkpoints' ticks, newest first.
func listCheckpoints(dir string) ([]clock.Tick, error) {
	names, err := readDirNames(filepath.Join(dir, checkpointDir))
	if err != nil {
		return nil, err
	}
	var ticks []clock.Tick
	for _, n := range names {
		s, ok := strings.CutPrefix(n, "ckpt-t")
		if !ok {
			continue
		}
		s, ok = strings.CutSuffix(s, ".lsc")
		t, err := strconv.ParseUint(s, 10, 64)
		if !ok || err != nil || n != checkpointName(clock.Tick(t)) {
			continue
		}
		ticks = append(ticks, clock.Tick(t))
	}
	slices.Sort(ticks)
	slices.Reverse(ticks)
	return ticks, nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// readCheckpoint reads the checkpoint of tick t.
func readCheckpoint(dir string, t clock.Tick) (*host.Checkpoint, error) {
	f, err := os.Open(filepath.Join(dir, checkpointDir, checkpointName(t)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cp, err := host.ReadCheckpoint(f)
	if err != nil {
		return nil, err
	}
	if cp.Tick != t {
		return nil, fmt.Errorf("%w: it holds %s, its name says %s", host.ErrBadCheckpoint, cp.Tick, t)
	}
	return cp, nil
}

// writeFileSync writes a file atomically and durably: a temporary file,
// synced, renamed over the name, and the directory synced.
func writeFileSync(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a directory's entries durable (a no-op where directories
// cannot be synced).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isUnsupported(err) {
		return err
	}
	return nil
}

func isUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || runtime.GOOS == "windows"
}
