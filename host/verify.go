package host

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// ReplayOptions configures Verify.
type ReplayOptions struct {
	// Kinds must hold every kind the recorded run spawned.
	Kinds map[string]Factory
	// Workers for the replay; any number gives the same digests.
	Workers int
	// Logger for the replayed agents (default: logrus's standard logger).
	Logger *logrus.Logger
	// Inference configures the model manager of runs that declare models.
	Inference InferenceConfig
}

// Divergence is the first point where a replay differs from its log.
type Divergence struct {
	Tick clock.Tick
	// Agent is the first agent, in canonical order, whose report differs;
	// "" when the difference is not in one agent's report.
	Agent string
	// What says what differed.
	What string
}

func (d *Divergence) String() string {
	if d.Agent == "" {
		return fmt.Sprintf("diverged at %s: %s", d.Tick, d.What)
	}
	return fmt.Sprintf("diverged at %s, agent %q: %s", d.Tick, d.Agent, d.What)
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	// Ticks is the number of ticks replayed and found identical.
	Ticks uint64
	// Digest is the digest after the last identical tick.
	Digest [32]byte
	// Divergence is nil when every recorded tick was reproduced.
	Divergence *Divergence
	// Corrupt is set when the log ends in a torn or corrupt tail; every
	// record before it was verified. It wraps replaylog.ErrCorrupt.
	Corrupt error
	// Complete is true when the log has its End record: the run was closed
	// cleanly.
	Complete bool
}

// Identical reports whether everything the log holds was reproduced.
func (r *VerifyResult) Identical() bool { return r.Divergence == nil && r.Corrupt == nil }

// VerifyFile verifies the replay log at path.
func VerifyFile(path string, opts ReplayOptions) (*VerifyResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("host: opening replay log: %w", err)
	}
	defer f.Close()
	res, err := Verify(f, opts)
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	if res.Corrupt != nil {
		res.Corrupt = fmt.Errorf("%s: %w", path, res.Corrupt)
	}
	return res, nil
}

// Verify re-runs the run recorded in r and compares every tick's digest.
// An error means the log could not be replayed at all (bad header, unknown
// kind); a divergence or a corrupt tail is reported in the result.
func Verify(r io.Reader, opts ReplayOptions) (*VerifyResult, error) {
	rd, err := replaylog.NewReader(r)
	if err != nil {
		return nil, err
	}
	hdr := rd.Header()
	if sum := engineConfigDigest(hdr.Topology); !bytes.Equal(sum[:], hdr.ConfigDigest) {
		return nil, fmt.Errorf("host: the log's config does not match its config digest; the header is damaged, re-record the run")
	}
	var cfg runConfig
	if err := json.Unmarshal(hdr.Topology, &cfg); err != nil {
		return nil, fmt.Errorf("host: the log's config is not valid JSON (%v); re-record the run", err)
	}
	h, err := New(Options{Seed: cfg.Seed, Groups: cfg.Groups, MaxMessageSize: cfg.MaxMessageSize, Kinds: opts.Kinds, Workers: opts.Workers, Logger: opts.Logger,
		Modules: cfg.Modules, WASM: cfg.WASM, Models: cfg.Models, Inference: opts.Inference})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	res := &VerifyResult{}
	for res.Divergence == nil {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.Corrupt = err
			break
		}
		switch k := rec.Kind.(type) {
		case *replaylog.Record_Command:
			res.Divergence = h.replayCommand(k.Command)
		case *replaylog.Record_Inference:
			o := k.Inference
			h.inf.replay[inferKey{o.Tick, o.Agent, uint32(o.Seq)}] = o.Output
		case *replaylog.Record_Tick:
			res.Divergence = h.replayTick(k.Tick)
			if res.Divergence == nil {
				res.Ticks++
				res.Digest = h.last.Digest
			}
		case *replaylog.Record_End:
			res.Complete = true
			if !bytes.Equal(k.End.FinalDigest, res.Digest[:]) || k.End.Ticks != res.Ticks {
				res.Divergence = &Divergence{Tick: h.Tick(), What: fmt.Sprintf("the log ends after %d ticks with digest %x; the replay has %d ticks and %x", k.End.Ticks, k.End.FinalDigest, res.Ticks, res.Digest)}
			}
		}
	}
	return res, nil
}

func (h *Host) replayCommand(rc *replaylog.Command) *Divergence {
	if clock.Tick(rc.Tick) != h.Tick() {
		return &Divergence{Tick: h.Tick(), What: fmt.Sprintf("the log has a command for %s where the replay is at %s (records out of order)", clock.Tick(rc.Tick), h.Tick())}
	}
	cmd, err := decodeCommand(rc)
	if err == nil {
		err = h.apply(cmd)
	}
	if err != nil {
		return &Divergence{Tick: h.Tick(), What: fmt.Sprintf("a recorded command fails on replay: %v", err)}
	}
	return nil
}

func (h *Host) replayTick(td *replaylog.TickDigest) *Divergence {
	t := h.Tick()
	if clock.Tick(td.Tick) != t {
		return &Divergence{Tick: t, What: fmt.Sprintf("the log has %s where the replay is at %s (records out of order)", clock.Tick(td.Tick), t)}
	}
	got, err := h.Step()
	if err != nil && !errors.Is(err, ErrHalted) {
		return &Divergence{Tick: t, What: fmt.Sprintf("the replay failed: %v", err)}
	}
	if bytes.Equal(got.Digest[:], td.Digest) {
		return nil
	}
	d := &Divergence{Tick: t}
	switch {
	case len(got.AgentDigests) != len(td.AgentDigests):
		d.What = fmt.Sprintf("%d agents ran in the log, %d in the replay", len(td.AgentDigests), len(got.AgentDigests))
	case !slices.Equal(got.AgentDigests, td.AgentDigests):
		for i := range got.AgentDigests {
			if got.AgentDigests[i] != td.AgentDigests[i] {
				d.Agent = got.Agents[i]
				d.What = fmt.Sprintf("its report differs (log %016x, replay %016x)%s", td.AgentDigests[i], got.AgentDigests[i], agentEvents(got, d.Agent))
				break
			}
		}
	case got.DeadLetters != td.DeadLetters:
		d.What = fmt.Sprintf("%d dead letters in the log, %d in the replay", td.DeadLetters, got.DeadLetters)
	default:
		d.What = fmt.Sprintf("the tick digest differs (log %s, replay %s): events, inference results or history before this tick differ", hex.EncodeToString(td.Digest), got.DigestHex())
	}
	return d
}

func agentEvents(r TickResult, id string) string {
	var b bytes.Buffer
	for _, e := range r.Events {
		if e.Agent == id {
			fmt.Fprintf(&b, "; replay: %s %s", e.Kind, e.Detail)
		}
	}
	return b.String()
}
