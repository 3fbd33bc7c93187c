package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/examples/pipeline"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon"
	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// replay serves the page over a replay of a log (agentui --replay): the
// log is re-run with an observer attached, up to the tick the page asks
// for. Moving to a tick re-runs the log from its start, or, for a data
// directory of agenthost serve, from its newest checkpoint at or before the
// tick; the observer's history then starts there. The replay is checked as
// agenthost verify checks it: a log that diverges is refused.
type replay struct {
	path  string
	isDir bool
	opts  host.ReplayOptions
	log   *logrus.Logger
	// ticks is the number of ticks in the log; checkpoints are a data
	// directory's checkpoint ticks, newest first (none for a file).
	ticks       uint64
	checkpoints []clock.Tick
	// seek serialises moves; cur is the last one's.
	seek sync.Mutex
	cur  atomic.Pointer[shown]
}

// shown is a replay's observer and the tick the replay started at.
type shown struct {
	obs  *observe.Observer
	from uint64
}

// replayState is the answer of GET /replay and POST /replay/seek.
type replayState struct {
	File string `json:"file"`
	// Ticks is the number of ticks in the log, Tick the one shown.
	Ticks uint64 `json:"ticks"`
	Tick  uint64 `json:"tick"`
	// From is the tick the replay shown started at (0, or a checkpoint's).
	From        uint64       `json:"from"`
	Checkpoints []clock.Tick `json:"checkpoints"`
}

// openReplay replays the log (or data directory) at path to its end. The
// replay knows opts.Kinds, by default agenthost's Go-native kinds (those of
// examples/pipeline).
func openReplay(path string, opts host.ReplayOptions, log *logrus.Logger) (*replay, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--replay: %w", err)
	}
	if opts.Kinds == nil {
		opts.Kinds = pipeline.Kinds()
	}
	opts.Logger = log
	r := &replay{path: path, isDir: fi.IsDir(), opts: opts, log: log}
	if fi.IsDir() {
		if r.checkpoints, err = daemon.Checkpoints(path); err != nil {
			return nil, fmt.Errorf("--replay %s: %w", path, err)
		}
	} else if len(r.opts.ModuleDirs) == 0 {
		r.opts.ModuleDirs = []string{filepath.Dir(path)}
	}
	if r.ticks, err = r.countTicks(); err != nil {
		return nil, err
	}
	if r.ticks == 0 {
		return nil, fmt.Errorf("--replay %s: the log has no ticks to show", path)
	}
	cur, err := r.walk(r.ticks-1, nil)
	if err != nil {
		return nil, err
	}
	r.cur.Store(cur)
	return r, nil
}

// countTicks is the number of ticks the log holds: its tick records (a
// file), or what a replay from the newest checkpoint runs (a data
// directory).
func (r *replay) countTicks() (uint64, error) {
	if r.isDir {
		from, base := int64(daemon.FromStart), uint64(0)
		if len(r.checkpoints) > 0 {
			from, base = int64(r.checkpoints[0]), uint64(r.checkpoints[0])
		}
		res, err := daemon.Walk(r.path, r.opts, from, nil)
		if err != nil {
			return 0, fmt.Errorf("--replay %s: %w", r.path, err)
		}
		return base + res.Ticks, nil
	}
	f, err := os.Open(r.path)
	if err != nil {
		return 0, fmt.Errorf("--replay: %w", err)
	}
	defer f.Close()
	rd, err := replaylog.NewReader(f)
	if err != nil {
		return 0, fmt.Errorf("--replay %s: %w", r.path, err)
	}
	var n uint64
	for {
		rec, err := rd.Next()
		if err != nil { // the end, or damage the replay reports
			return n, nil
		}
		if rec.GetTick() != nil {
			n++
		}
	}
}

// walk re-runs the log up to the end of tick to with a new observer, and
// returns it finished with the tick it started at. stop, when it returns
// true, ends the walk early with an error.
func (r *replay) walk(to uint64, stop func() bool) (*shown, error) {
	name := filepath.Base(r.path)
	var obs *observe.Observer
	var last clock.Tick
	visit := func(rp *host.Replayer, rec *replaylog.Record) bool {
		h := rp.Host()
		if rec == nil {
			obs, last = observe.New(name, h), h.Tick()
			return true
		}
		if stop != nil && stop() {
			return false
		}
		if h.Tick() > last {
			last = h.Tick()
			obs.Publish(h.Last())
			if uint64(h.Last().Tick) >= to {
				obs.Finish(nil)
				return false
			}
		}
		return true
	}
	var res *host.VerifyResult
	var err error
	if r.isDir {
		start := int64(daemon.FromStart)
		for _, t := range r.checkpoints {
			if uint64(t) <= to {
				start = int64(t)
				break
			}
		}
		res, err = daemon.Walk(r.path, r.opts, start, visit)
	} else {
		var f *os.File
		if f, err = os.Open(r.path); err != nil {
			return nil, fmt.Errorf("--replay: %w", err)
		}
		defer f.Close()
		res, err = host.Walk(f, r.opts, visit)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("--replay %s: %w", r.path, err)
	case res.Divergence != nil:
		return nil, fmt.Errorf("--replay %s: the replay diverges from the log (%s): agenthost verify says more", r.path, res.Divergence)
	case res.Corrupt != nil:
		return nil, fmt.Errorf("--replay %s: the log is damaged: %v", r.path, res.Corrupt)
	case stop != nil && stop():
		return nil, errors.New("the move was cancelled")
	case obs == nil || !obs.Snapshot().Ended:
		return nil, fmt.Errorf("--replay %s: the log ends before the end of tick %d", r.path, to)
	}
	s := obs.Snapshot()
	return &shown{obs, s.Tick + 1 - s.Counts.Ticks}, nil
}

func (r *replay) state() replayState {
	cur := r.cur.Load()
	return replayState{File: r.path, Ticks: r.ticks, Tick: cur.obs.Snapshot().Tick, From: cur.from, Checkpoints: r.checkpoints}
}

// Handler serves the observer's views of the tick shown, GET /replay (a
// replayState) and POST /replay/seek?tick=N, which moves to the end of
// tick N and answers the new state (409 while another move runs).
func (r *replay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /replay", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, r.state()) })
	mux.HandleFunc("POST /replay/seek", func(w http.ResponseWriter, req *http.Request) {
		t, err := strconv.ParseUint(req.URL.Query().Get("tick"), 10, 64)
		if err != nil || t >= r.ticks {
			http.Error(w, fmt.Sprintf("agentui: ?tick=%q: give a tick from 0 to %d", req.URL.Query().Get("tick"), r.ticks-1), http.StatusBadRequest)
			return
		}
		if !r.seek.TryLock() {
			http.Error(w, "agentui: another move over the ticks is running; retry when it is done", http.StatusConflict)
			return
		}
		defer r.seek.Unlock()
		cur, err := r.walk(t, func() bool { return req.Context().Err() != nil })
		if err != nil {
			r.log.Warnf("replay: %v", err)
			http.Error(w, "agentui: "+err.Error(), http.StatusInternalServerError)
			return
		}
		r.cur.Store(cur)
		writeJSON(w, r.state())
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.cur.Load().obs.Handler().ServeHTTP(w, req)
	}))
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "agentui: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}
