// Package daemon is agenthost serve: a long-running host for a topology
// that brokers every input and output of its agents through a gRPC API
// (package api), keeps its replay log on disk as segments, takes
// checkpoints, and resumes after a stop or a crash from its newest good
// checkpoint and the log after it.
//
// One goroutine owns the host: it applies the API's commands at tick
// boundaries, runs ticks, syncs the log and acknowledges what is on disk.
// See RATIONALE.md, "Why the daemon acknowledges only what is on disk".
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon/api"
	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// Clock says when the daemon runs ticks.
type Clock string

// Clocks.
const (
	// Free runs ticks back to back.
	Free Clock = "free"
	// Paced runs Config.Pace ticks per second.
	Paced Clock = "paced"
	// Manual runs ticks only when asked (Step).
	Manual Clock = "manual"
)

// Defaults of Config.
const (
	DefaultKeepCheckpoints = 3
	DefaultSegmentBytes    = 64 << 20
	DefaultDedupKeys       = 1 << 20
)

// Config configures a daemon.
type Config struct {
	// DataDir holds the log, checkpoints, socket and tokens; made (mode
	// 0700) if missing.
	DataDir string
	// Topology is the run. On an existing data directory it must be the
	// one the run was started with.
	Topology *host.Topology
	// Options gives the kinds, logger, workers, ONNX Runtime library and
	// module cache; the rest comes from the topology.
	Options host.Options
	// Clock and Pace (ticks per second, for Paced).
	Clock Clock
	Pace  float64
	// GroupCommit is the longest an acknowledgement waits for the log to
	// be synced with others; 0: the log is synced at every tick boundary
	// that wrote something.
	GroupCommit time.Duration
	// CheckpointEvery takes a checkpoint every that many ticks (0: none).
	CheckpointEvery uint64
	// KeepCheckpoints is how many checkpoints are kept (default 3).
	KeepCheckpoints int
	// SegmentBytes starts a new log segment past this size (default 64
	// MiB); a checkpoint always starts one.
	SegmentBytes int64
	// KeepLog keeps every log segment; otherwise segments before the
	// oldest kept checkpoint are removed.
	KeepLog bool
	// DedupKeys is how many idempotency keys are remembered (default
	// 2^20); a key older than that is applied again.
	DedupKeys int
	// Listen, if set, also serves the API on this TCP address, with
	// bearer tokens from the data directory.
	Listen string
	// Ticks, if set, ends the run when it reaches this tick.
	Ticks uint64
	// Federate, if set, is called with the run's host before its first
	// tick, and before a resumed run replays its log, with the checkpoint
	// it resumed from (nil: from the start): a federation's coordinator
	// (Options.Federation) waits there for its members, and hands them
	// the checkpoint.
	Federate func(*host.Host, *host.Checkpoint) error
}

func (c *Config) validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("daemon: no data directory: give --data-dir")
	case c.Topology == nil:
		return errors.New("daemon: no topology: give --topology")
	case c.Clock != Free && c.Clock != Paced && c.Clock != Manual:
		return fmt.Errorf("daemon: clock %q: give free, paced or manual", c.Clock)
	case c.Clock == Paced && !(c.Pace > 0 && c.Pace <= 1e6):
		return fmt.Errorf("daemon: --pace %g: give 0 < ticks per second <= 1000000", c.Pace)
	case c.GroupCommit < 0 || c.GroupCommit > time.Second:
		return fmt.Errorf("daemon: group commit interval %s: give 0 (sync every tick) up to 1s", c.GroupCommit)
	case c.KeepCheckpoints < 0 || c.SegmentBytes < 0 || c.DedupKeys < 0:
		return errors.New("daemon: keep-checkpoints, segment size and dedup keys must not be negative")
	}
	c.KeepCheckpoints = cmp.Or(c.KeepCheckpoints, DefaultKeepCheckpoints)
	c.SegmentBytes = cmp.Or(c.SegmentBytes, DefaultSegmentBytes)
	c.DedupKeys = cmp.Or(c.DedupKeys, DefaultDedupKeys)
	return nil
}

// Daemon is a running agenthost serve.
type Daemon struct {
	cfg  Config
	log  *logrus.Logger
	h    *host.Host
	lock *os.File
	seg  *segment
	keys *dedup

	reqs chan *request
	// acks wait for the log to be synced; steps for their ticks to run.
	acks, steps []*request
	stepsLeft   uint64
	unsynced    bool
	lastSync    time.Time
	paused      bool
	// failed is why the daemon no longer accepts changes (the log cannot
	// be written, the run halted).
	failed    error
	inputs    uint64
	lastCheck clock.Tick
	// pendingInputs counts the inputs applied for the next tick.
	pendingInputs int
	// tail holds, while resuming, the commands replayed after the last
	// whole tick.
	tail []*replaylog.Command

	mu      sync.Mutex
	status  *api.StatusReply
	durable position
	notify  chan struct{} // closed and replaced when durable moves
	done    chan struct{} // closed when the daemon stops serving

	grpc      *grpc.Server
	listeners []net.Listener
}

// segment is the log segment being written.
type segment struct {
	segmentFile
	f *os.File
	w *replaylog.Writer
}

// position is how far the log is on disk: subscribers read up to it.
type position struct {
	seg  uint64
	off  int64
	tick clock.Tick // ticks before it are on disk
}

// Open opens (or creates) the data directory, resumes the run in it or
// starts it, and listens on its socket (and on cfg.Listen). Serve runs it.
func Open(cfg Config) (*Daemon, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Options.Logger
	if log == nil {
		log = logrus.StandardLogger()
		cfg.Options.Logger = log
	}
	for _, dir := range []string{cfg.DataDir, filepath.Join(cfg.DataDir, logDir), filepath.Join(cfg.DataDir, checkpointDir)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("daemon: data directory: %w", err)
		}
	}
	lock, err := lockDir(filepath.Join(cfg.DataDir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d := &Daemon{cfg: cfg, log: log, lock: lock, keys: newDedup(cfg.DedupKeys), reqs: make(chan *request, 1024),
		notify: make(chan struct{}), done: make(chan struct{}), paused: cfg.Clock == Manual}
	if cfg.CheckpointEvery > 0 {
		if err := cfg.Topology.CheckSnapshots(cfg.Options.Kinds); err != nil {
			d.closeLock()
			return nil, fmt.Errorf("daemon: checkpoints are on (--checkpoint-every): %w", err)
		}
	}
	if err := d.resume(); err != nil {
		d.closeLock()
		return nil, err
	}
	if cfg.CheckpointEvery > 0 {
		if err := d.h.CheckSnapshottable(); err != nil {
			d.h.Close()
			d.seg.f.Close()
			d.closeLock()
			return nil, fmt.Errorf("daemon: checkpoints are on (--checkpoint-every): %w", err)
		}
	}
	d.lastSync = time.Now()
	if err := d.listen(); err != nil {
		d.h.Close()
		d.seg.f.Close()
		d.closeLock()
		return nil, err
	}
	d.publishStatus()
	return d, nil
}

func (d *Daemon) closeLock() {
	if d.lock != nil {
		d.lock.Close()
		if !lockIsFlock {
			os.Remove(d.lock.Name())
		}
	}
}

// Socket is the path of the API's Unix socket.
func (d *Daemon) Socket() string { return filepath.Join(d.cfg.DataDir, api.SocketFile) }

// Addr is the TCP address the API listens on ("" without Config.Listen).
func (d *Daemon) Addr() string {
	if len(d.listeners) < 2 {
		return ""
	}
	return d.listeners[1].Addr().String()
}

// Serve runs the daemon until ctx ends (SIGTERM, SIGINT) or the run
// reaches Config.Ticks: it finishes the tick in progress, acknowledges
// what is on disk, writes the log's End record, syncs it, and returns.
// The error is why the run stopped early (nil after ctx ended).
func (d *Daemon) Serve(ctx context.Context) error {
	for _, ln := range d.listeners {
		go d.grpc.Serve(ln)
	}
	err := d.loop(ctx)
	d.stepsLeft = 0
	d.finishSteps() // the ticks that ran are on disk
	close(d.done)
	stopped := make(chan struct{})
	go func() { d.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		d.grpc.Stop()
	}
	if cerr := d.close(); err == nil {
		err = cerr
	}
	return err
}

// close ends the log and releases the data directory.
func (d *Daemon) close() error {
	err := d.h.Close() // the End record, flushed
	if d.seg != nil {
		if serr := d.seg.f.Sync(); err == nil && d.failed == nil {
			err = serr
		}
		d.seg.f.Close()
	}
	os.Remove(d.Socket())
	d.closeLock()
	if d.failed != nil {
		return d.failed
	}
	return err
}

// loop runs ticks and applies requests: the only goroutine touching the
// host.
func (d *Daemon) loop(ctx context.Context) error {
	var pace <-chan time.Time
	if d.cfg.Clock == Paced {
		t := time.NewTicker(time.Duration(float64(time.Second) / d.cfg.Pace))
		defer t.Stop()
		pace = t.C
	}
	paceDue := false
	syncTimer := time.NewTimer(time.Hour)
	syncTimer.Stop()
	timerSet := false
	for {
		if d.unsynced && d.cfg.GroupCommit > 0 && !timerSet && d.failed == nil {
			syncTimer.Reset(time.Until(d.lastSync.Add(d.cfg.GroupCommit)))
			timerSet = true
		}
		run := d.failed == nil && (d.stepsLeft > 0 || (!d.paused && (d.cfg.Clock == Free || paceDue)))
		if d.cfg.Ticks > 0 && uint64(d.h.Tick()) >= d.cfg.Ticks {
			d.syncNow()
			d.finishSteps()
			return nil
		}
		if !run {
			select {
			case <-ctx.Done():
				d.syncNow()
				return nil
			case r := <-d.reqs:
				d.handle(r)
				d.drain()
				d.publishStatus()
			case <-syncTimer.C:
				timerSet = false
				d.syncNow()
			case <-pace:
				paceDue = true
			}
			d.syncIfDue()
			continue
		}
		d.drain()
		if ctx.Err() != nil {
			d.syncNow()
			return nil
		}
		paceDue = false
		d.tick()
		if timerSet && !d.unsynced {
			syncTimer.Stop()
			timerSet = false
		}
	}
}

// drain handles the requests waiting when it starts, without blocking:
// those that arrive meanwhile wait for the next boundary, so clients cannot
// hold the clock.
func (d *Daemon) drain() {
	n := len(d.reqs)
	for range n {
		d.handle(<-d.reqs)
	}
	d.syncIfDue()
	if n > 0 {
		d.publishStatus()
	}
}

// tick runs one tick, then syncs, checkpoints and rotates as due.
func (d *Daemon) tick() {
	res, err := d.h.Step()
	d.pendingInputs = 0
	if err != nil {
		d.unsynced = true
		if d.h.RecordError() == nil {
			// The run halted, and its log holds everything: what waited
			// for it is acknowledged.
			d.syncNow()
		}
		d.fail(fmt.Errorf("the run stopped at %s: %w", res.Tick, err))
		return
	}
	d.unsynced = true
	if d.stepsLeft > 0 {
		d.stepsLeft--
	}
	due := d.cfg.CheckpointEvery > 0 && uint64(d.h.Tick())%d.cfg.CheckpointEvery == 0
	if due || d.seg.w.Offset() >= d.cfg.SegmentBytes {
		if err := d.rotate(); err != nil {
			d.fail(err)
			return
		}
	}
	if due {
		if err := d.checkpoint(); err != nil {
			// The log is whole: the run goes on, resumable from an older
			// checkpoint and the log.
			d.log.WithError(err).Error("daemon: no checkpoint at this tick")
		}
	}
	d.syncIfDue()
	if d.stepsLeft == 0 {
		d.finishSteps()
	}
	d.publishStatus()
}

// syncIfDue syncs when the policy says so: at once without group commit,
// else once the interval has passed since the last sync.
func (d *Daemon) syncIfDue() {
	if d.unsynced && (d.cfg.GroupCommit == 0 || time.Since(d.lastSync) >= d.cfg.GroupCommit) {
		d.syncNow()
	}
}

// syncNow puts the log on disk and acknowledges what waited for it.
func (d *Daemon) syncNow() {
	if !d.unsynced || d.failed != nil {
		d.lastSync = time.Now()
		return
	}
	if err := d.seg.w.Flush(); err != nil {
		d.fail(fmt.Errorf("%w %s: %w", errWrite, d.seg.path, err))
		return
	}
	if err := d.seg.f.Sync(); err != nil {
		d.fail(fmt.Errorf("%w %s (sync): %w", errWrite, d.seg.path, err))
		return
	}
	d.unsynced = false
	d.lastSync = time.Now()
	// Status and subscribers see what is on disk before any client hears
	// of it.
	d.setDurable(position{seg: d.seg.index, off: d.seg.w.Offset(), tick: d.h.Tick()})
	if len(d.acks) > 0 {
		d.publishStatus()
	}
	for _, r := range d.acks {
		r.reply <- reply{tick: r.tick, duplicate: r.duplicate}
	}
	clear(d.acks)
	d.acks = d.acks[:0]
}

// errWrite marks the errors of writing the log.
var errWrite = errors.New("writing the log segment")

// setDurable moves the durable position and wakes subscribers.
func (d *Daemon) setDurable(p position) {
	d.mu.Lock()
	d.durable = p
	close(d.notify)
	d.notify = make(chan struct{})
	d.mu.Unlock()
}

// finishSteps answers the Step requests whose ticks have run, once synced.
func (d *Daemon) finishSteps() {
	if len(d.steps) == 0 {
		return
	}
	d.syncNow()
	d.publishStatus()
	var err error
	if d.failed != nil {
		err = status.Error(codes.FailedPrecondition, d.failed.Error())
	}
	for _, r := range d.steps {
		r.reply <- reply{tick: d.h.Tick(), err: err}
	}
	clear(d.steps)
	d.steps = d.steps[:0]
}

// fail stops the daemon accepting changes: nothing not on disk is
// acknowledged, and what waits is told why.
func (d *Daemon) fail(err error) {
	if d.failed != nil {
		return
	}
	switch {
	case errors.Is(err, actors.ErrAborted):
		d.failed = fmt.Errorf("daemon: %w; the log holds the run up to the tick before (agenthost verify, trace and state read it): once the cause is gone, restart agenthost serve on %s (with its members): the run resumes from its log", err, d.cfg.DataDir)
	case d.h.RecordError() != nil || errors.Is(err, errWrite):
		d.failed = fmt.Errorf("daemon: %w; what was not acknowledged may or may not be in the log: once the cause is fixed (room on the disk), restart agenthost serve on %s (it resumes from its log) and send again with the same idempotency keys", err, d.cfg.DataDir)
	default:
		d.failed = fmt.Errorf("daemon: %w; the log holds the run up to here (agenthost verify, trace and state read it): resuming it would stop the same way, so start the topology, fixed, in a new data directory", err)
	}
	d.log.WithError(err).Error("daemon: not accepting input any more")
	refused := status.Error(codes.FailedPrecondition, d.failed.Error())
	for _, r := range d.acks {
		r.reply <- reply{err: refused}
	}
	d.acks = nil
	for _, r := range d.steps {
		r.reply <- reply{err: refused}
	}
	d.steps = nil
	d.stepsLeft = 0
	d.publishStatus()
}
