package host

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/wire"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// ReplayOptions configures Verify.
//
// A replay log is untrusted input: whoever wrote it chose its header. So
// what a replay may run is decided here, never by the log alone: which
// keys are trusted (Trust), whether unsigned modules may run
// (AllowUnsigned), and where module and model files are read from
// (ModuleDirs). The log only names each file (the base name of its
// recorded path) and its SHA-256, which the file found must match. Errors
// name the flags of agenthost verify that set these fields.
type ReplayOptions struct {
	// Kinds must hold every kind the recorded run spawned.
	Kinds map[string]Factory
	// Workers for the replay; any number gives the same digests.
	Workers int
	// Logger for the replayed agents (default: logrus's standard logger).
	Logger *logrus.Logger
	// Inference configures the model manager of runs that declare models.
	Inference InferenceConfig
	// Trust lists public key files or directories of *.pub files: the
	// run's signed modules must be signed by one of these keys. The keys
	// the run trusted (its wasm.trust) are never read; errors name them.
	Trust []string
	// AllowUnsigned lets the replay run unsigned modules: a run recorded
	// with allow_unsigned needs it for its unsigned modules.
	AllowUnsigned bool
	// ModuleDirs are the directories where the run's modules and models
	// are looked up, in order, by the base name of their recorded path;
	// the first file with the recorded SHA-256 is used. Empty: VerifyFile
	// looks in the log file's directory; Verify has no default and refuses
	// a run with modules or deterministic models (a model whose answers are
	// recorded, on CUDA or in fast mode, needs no file and is never read).
	ModuleDirs []string
	// UncheckedModels lets a replay go on without the file of a
	// deterministic model (not found under ModuleDirs, or not the one the
	// run used): its recorded answers are replayed without computing them
	// again to check them, and a warning names the model. Without it such
	// a log is refused before anything is replayed (ErrReplayInput), like
	// one whose module is missing. Where this process cannot run models
	// (no ONNX Runtime library, a build without cgo) no answer can be
	// checked: model files are not looked for, and a warning says so.
	UncheckedModels bool
	// Engine is wazero's engine for the replay: "compiler", "interpreter"
	// or "" (wazero's choice). It never changes results: replaying on the
	// other engine is a check that it does not.
	Engine string
	// CacheDir keeps the replay's compiled modules on disk between runs
	// (WASMConfig.CacheDir; "": none). It never changes results.
	CacheDir string
	// MaxFuel is the most fuel the replay grants any agent per tick, or
	// for its instantiation (0: DefaultReplayMaxFuel). A log asking for
	// more is refused: it could keep the verifier busy for years.
	MaxFuel uint64
}

// DefaultReplayMaxFuel is ReplayOptions.MaxFuel's default: 2^32, some
// seconds of a metered loop per agent and tick, 85 times the default fuel.
const DefaultReplayMaxFuel = 1 << 32

// ErrReplayInput is wrapped by the errors of a replay that lacks what the
// log needs from the verifier: a module or model file (not found, or not
// the recorded one), or a key or flag to trust its modules. It is not a
// divergence: nothing was replayed.
var ErrReplayInput = errors.New("host: replay input missing")

// replayInput marks err as ErrReplayInput, keeping its text.
type replayInput struct{ error }

func (e replayInput) Unwrap() error { return e.error }

func (replayInput) Is(target error) bool { return target == ErrReplayInput }

// Divergence is the first point where a replay differs from its log.
type Divergence struct {
	Tick clock.Tick
	// Agent is the first agent, in canonical order, whose report differs;
	// "" when the difference is not in one agent's report.
	Agent string
	// What says what differed.
	What string
}

// String says where the replay diverged: the tick, the agent when the
// difference is in one agent's report, and what differed.
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
	// Warnings say what the replay could not check, or found different
	// without it changing the run: a deterministic model giving other bits
	// on this machine (its recorded answers were used), a deterministic
	// model's file not found with ReplayOptions.UncheckedModels, no ONNX
	// Runtime to check any.
	Warnings []string
}

// Identical reports whether everything the log holds was reproduced.
func (r *VerifyResult) Identical() bool { return r.Divergence == nil && r.Corrupt == nil }

// VerifyFile verifies the replay log at path. Without opts.ModuleDirs it
// looks for the run's modules and models in the log file's directory.
func VerifyFile(path string, opts ReplayOptions) (*VerifyResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("host: opening replay log: %w", err)
	}
	defer f.Close()
	if len(opts.ModuleDirs) == 0 {
		opts.ModuleDirs = []string{filepath.Dir(path)}
	}
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
// An error means the log could not be replayed at all: a damaged header
// (an error matching replaylog.ErrCorrupt), a module, model or key that
// opts does not provide, an unknown kind (ErrReplayInput). A divergence or
// a corrupt tail is reported in the result.
func Verify(r io.Reader, opts ReplayOptions) (*VerifyResult, error) { return Walk(r, opts, nil) }

// Walk is Verify calling visit after every record it replayed, with the
// replayer (to trace its host, or look at its state), and once before the
// first with a nil record: visit returns false to stop.
func Walk(r io.Reader, opts ReplayOptions, visit func(*Replayer, *replaylog.Record) bool) (*VerifyResult, error) {
	rd, err := replaylog.NewReader(r)
	if err != nil {
		return nil, err
	}
	rp, err := NewReplayer(rd.Header(), opts, nil)
	if err != nil {
		return nil, err
	}
	defer rp.Close()
	if visit != nil && !visit(rp, nil) {
		return rp.Result(), nil
	}
	if err := rp.Records(rd, visit); err != nil {
		if errors.Is(err, ErrReplayInput) {
			return nil, err
		}
		rp.res.Corrupt = err
	}
	return rp.Result(), nil
}

// Records replays the records rd reads until its end, a divergence or
// visit's false. Its error is a setup error (ErrReplayInput: the log
// spawns a kind the replay does not know) or rd's (a damaged record).
func (rp *Replayer) Records(rd *replaylog.Reader, visit func(*Replayer, *replaylog.Record) bool) error {
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ok := rp.Replay(rec)
		if rp.err != nil {
			return rp.err
		}
		if !ok {
			return nil
		}
		if visit != nil && !visit(rp, rec) {
			rp.stopped = true
			return nil
		}
	}
}

// Replayer re-runs the records of a recorded run one by one: Verify over
// one log file, and the daemon over the segments of its data directory,
// from their start or from a checkpoint.
type Replayer struct {
	h   *Host
	res *VerifyResult
	// err is a setup error met while replaying: not a divergence.
	err error
	// stopped: a visitor ended the replay.
	stopped bool
	// outputs are the recorded outputs of the tick being replayed.
	outputs []*replaylog.Output
}

// NewReplayer builds the host that replays the run whose log header is
// hdr, from its start or, when cp is set, from that checkpoint of it. Its
// errors are those of Verify.
func NewReplayer(hdr *replaylog.Header, opts ReplayOptions, cp *Checkpoint) (*Replayer, error) {
	rh, err := replaySetup(hdr, opts)
	if err != nil {
		return nil, err
	}
	h, err := rh.start(cp)
	if err != nil {
		return nil, err
	}
	h.captureTrace = hdr.Actions // to show a divergence action by action
	res := &VerifyResult{}
	if cp != nil {
		res.Digest = cp.Digest
	}
	// Every answer is in the log; with every deterministic model's file at
	// hand, their answers are also computed here and compared.
	h.inf.check = len(rh.unchecked) == 0
	res.Warnings = append(res.Warnings, rh.unchecked...)
	return &Replayer{h: h, res: res}, nil
}

// replayHost is how to build a host that re-runs a recorded run.
type replayHost struct {
	opts      Options
	recorded  WASMConfig // the run's own, for errors about trust
	unsigned  bool       // the run allowed unsigned modules
	ropts     ReplayOptions
	maxFuel   uint64
	unchecked []string // models whose answers cannot be checked
	// recordedModels are the run's models as its config records them
	// (their paths the recorded file names).
	recordedModels []Model
}

// replaySetup checks hdr and finds the files its run needs (see
// ReplayOptions).
func replaySetup(hdr *replaylog.Header, opts ReplayOptions) (*replayHost, error) {
	if sum := engineConfigDigest(hdr.Topology); !bytes.Equal(sum[:], hdr.ConfigDigest) {
		return nil, headerCorrupt("the run's config does not match its config digest")
	}
	var cfg runConfig
	if err := json.Unmarshal(hdr.Topology, &cfg); err != nil {
		return nil, headerCorrupt(fmt.Sprintf("the run's config is not valid JSON (%v)", err))
	}
	rh := &replayHost{recorded: cfg.WASM, unsigned: hdr.UnsignedAllowed, ropts: opts, maxFuel: cmp.Or(opts.MaxFuel, DefaultReplayMaxFuel),
		recordedModels: slices.Clone(cfg.Models)}
	cfg.WASM.Engine, cfg.WASM.CacheDir = opts.Engine, opts.CacheDir
	if err := checkReplayBounds(&cfg, rh.maxFuel); err != nil {
		return nil, err
	}
	var err error
	if rh.unchecked, err = replayFiles(&cfg, hdr.UnsignedAllowed, opts); err != nil {
		return nil, err
	}
	rh.opts = Options{Seed: cfg.Seed, Groups: cfg.Groups, MaxMessageSize: cfg.MaxMessageSize, Kinds: opts.Kinds, Workers: opts.Workers, Logger: opts.Logger,
		Modules: cfg.Modules, WASM: cfg.WASM, Models: cfg.Models, Inference: opts.Inference, Quotas: cfg.Quotas}
	if cfg.External != nil {
		rh.opts.External = *cfg.External
	}
	return rh, nil
}

// start starts the host, from cp when set.
func (rh *replayHost) start(cp *Checkpoint) (*Host, error) {
	h, err := start(rh.opts, cp)
	if err != nil {
		return nil, explainTrust(err, rh.recorded, rh.unsigned, rh.ropts)
	}
	h.replayMaxFuel = rh.maxFuel
	return h, nil
}

// Replay applies one record; it returns false once the replay cannot go
// on (a divergence, or the End record).
func (rp *Replayer) Replay(rec *replaylog.Record) bool {
	if rp.res.Divergence != nil || rp.res.Complete {
		return false
	}
	if e, ok := rec.Kind.(*replaylog.Record_End); ok {
		rp.res.Complete = true
		if !bytes.Equal(e.End.FinalDigest, rp.res.Digest[:]) || e.End.Ticks != uint64(rp.h.Tick()) {
			rp.res.Divergence = &Divergence{Tick: rp.h.Tick(), What: fmt.Sprintf("the log ends after %d ticks with digest %x; the replay has %d ticks and %x", e.End.Ticks, e.End.FinalDigest, uint64(rp.h.Tick()), rp.res.Digest)}
		}
		return false
	}
	if c, ok := rec.Kind.(*replaylog.Record_Command); ok {
		if s := c.Command.GetSpawn(); s != nil && rp.h.opts.Kinds[s.Kind] == nil && rp.h.modules[s.Kind] == nil {
			rp.err = replayInput{fmt.Errorf("host: the log spawns %q of kind %q at %s, which this replay does not know (known kinds: %s): it is a Go-native kind of the program that recorded it; verify with that program, or register the kind in ReplayOptions.Kinds", s.Id, s.Kind, clock.Tick(c.Command.Tick), rp.h.knownKinds())}
			return false
		}
	}
	ticked, d := rp.h.replayRecord(rec, &rp.outputs)
	if d != nil {
		rp.res.Divergence = d
		return false
	}
	if ticked {
		rp.res.Ticks++
		rp.res.Digest = rp.h.last.Digest
	}
	return true
}

// StartSegment checks that a log segment continues the replay where it is
// and restarts the output record numbering for it.
func (rp *Replayer) StartSegment(seg *replaylog.Segment) bool {
	if d := rp.h.segmentStarts(seg); d != nil {
		rp.res.Divergence = d
		return false
	}
	return true
}

// Result is the outcome so far, with the warnings of the replay.
func (rp *Replayer) Result() *VerifyResult {
	res := *rp.res
	res.Warnings = append(slices.Clone(res.Warnings), rp.h.inf.warnings()...)
	return &res
}

// Close stops the replay's host.
func (rp *Replayer) Close() { rp.h.Close() }

// Stopped reports whether a visitor of Records ended the replay.
func (rp *Replayer) Stopped() bool { return rp.stopped }

// Host is the host the replay runs on: to trace it (Trace) or look at its
// state between records (Inspect, SnapshotAgent).
func (rp *Replayer) Host() *Host { return rp.h }

// Replay applies a record of the run's own log to a live host: how the
// daemon brings a resumed run from its checkpoint to the end of its log.
// It returns whether the record ran a tick, and what differed if the
// replay diverged from the record. Call RecordTo afterwards to go on
// recording.
func (h *Host) Replay(rec *replaylog.Record, outputs *[]*replaylog.Output) (ticked bool, d *Divergence) {
	if _, ok := rec.Kind.(*replaylog.Record_End); ok {
		return false, nil
	}
	if h.replayMaxFuel == 0 {
		h.replayMaxFuel = wasmagent.MaxFuel
	}
	return h.replayRecord(rec, outputs)
}

// replayRecord applies a command, inference output or tick record.
func (h *Host) replayRecord(rec *replaylog.Record, outputs *[]*replaylog.Output) (ticked bool, d *Divergence) {
	switch k := rec.Kind.(type) {
	case *replaylog.Record_Command:
		return false, h.replayCommand(k.Command)
	case *replaylog.Record_Inference:
		if err := h.inf.replayOutput(k.Inference); err != nil {
			return false, &Divergence{Tick: h.Tick(), What: err.Error()}
		}
	case *replaylog.Record_Output:
		if len(*outputs) >= maxOutputsPerTick {
			return false, &Divergence{Tick: h.Tick(), What: fmt.Sprintf("the log has more than %d outputs for one tick", maxOutputsPerTick)}
		}
		*outputs = append(*outputs, k.Output)
	case *replaylog.Record_Actions:
		if len(h.replayActions) >= maxOutputsPerTick {
			return false, &Divergence{Tick: h.Tick(), What: fmt.Sprintf("the log has more than %d action records for one tick", maxOutputsPerTick)}
		}
		h.replayActions = append(h.replayActions, k.Actions)
		h.captureTrace = true
	case *replaylog.Record_Tick:
		d := h.replayTick(k.Tick)
		h.inf.replayed()
		if d == nil {
			d = compareOutputs(h.last, *outputs)
		} else if d.Agent != "" {
			d.What += h.explainActions(d.Agent)
		}
		*outputs = (*outputs)[:0]
		clear(h.replayActions)
		h.replayActions, h.lastTrace = h.replayActions[:0], nil
		return d == nil, d
	case nil:
		return false, &Divergence{Tick: h.Tick(), What: "the log holds a record this build does not know (written by a newer Lockstep?)"}
	}
	return false, nil
}

// maxOutputsPerTick bounds the recorded outputs a replay holds for one
// tick: no agent can emit more (one action each, per the quotas).
const maxOutputsPerTick = 1 << 24

// compareOutputs compares a replayed tick's outputs with the recorded ones.
func compareOutputs(r TickResult, rec []*replaylog.Output) *Divergence {
	if len(r.Outputs) != len(rec) {
		return &Divergence{Tick: r.Tick, What: fmt.Sprintf("the log has %d outputs, the replay %d", len(rec), len(r.Outputs))}
	}
	for i, o := range r.Outputs {
		g := rec[i]
		if o.From != g.From || o.Channel != g.Channel || o.To != g.To || !bytes.Equal(o.Payload, g.Payload) || g.Tick != uint64(r.Tick) {
			return &Divergence{Tick: r.Tick, Agent: o.From, What: fmt.Sprintf("output %d differs", i)}
		}
	}
	return nil
}

// segmentStarts checks that seg continues the run at its current tick and
// digest, and restarts output numbering.
func (h *Host) segmentStarts(seg *replaylog.Segment) *Divergence {
	if seg == nil {
		return &Divergence{Tick: h.Tick(), What: "the next log file is not a segment of this run (its header has no segment)"}
	}
	if clock.Tick(seg.StartTick) != h.Tick() {
		return &Divergence{Tick: h.Tick(), What: fmt.Sprintf("segment %d starts at %s, but the run is at %s (a segment is missing)", seg.Index, clock.Tick(seg.StartTick), h.Tick())}
	}
	if h.Tick() > 0 && !bytes.Equal(seg.StartDigest, h.last.Digest[:]) {
		return &Divergence{Tick: h.Tick(), What: fmt.Sprintf("segment %d starts from digest %x, the run is at %x", seg.Index, seg.StartDigest, h.last.Digest)}
	}
	h.inf.restart()
	return nil
}

func (h *Host) replayCommand(rc *replaylog.Command) *Divergence {
	if clock.Tick(rc.Tick) != h.Tick() {
		return &Divergence{Tick: h.Tick(), What: fmt.Sprintf("the log has a command for %s where the replay is at %s (records out of order)", clock.Tick(rc.Tick), h.Tick())}
	}
	cmd, err := wire.DecodeCommand(rc)
	if err == nil && cmd.Spawn != nil && cmd.Spawn.Fuel > h.replayMaxFuel {
		err = fmt.Errorf("the log spawns %q with %d fuel per tick, over the %d this replay grants (raise it with --max-fuel, ReplayOptions.MaxFuel, if you trust the log)", cmd.Spawn.ID, cmd.Spawn.Fuel, h.replayMaxFuel)
	}
	if err == nil {
		err = h.apply(cmd, "")
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

// headerCorrupt is the error for a header that reads but cannot be
// trusted: like a header that does not read, it matches replaylog.ErrCorrupt.
func headerCorrupt(reason string) error {
	return &replaylog.CorruptError{Offset: int64(len(replaylog.Magic)), Record: -1, Reason: reason}
}

// checkReplayBounds refuses a recorded config that would let the replay
// run without the bounds a run has: quotas off, or more fuel than the
// verifier grants (the header's numbers are also validated by New, like a
// topology's).
func checkReplayBounds(cfg *runConfig, maxFuel uint64) error {
	if cfg.Quotas.Unenforced {
		return errors.New("host: the run was recorded without quotas (quotas.unenforced, for benchmarks only): its agents could make the replay allocate without bound, so it is not replayed; record a run with quotas")
	}
	fuel := map[string]uint64{"wasm.fuel": cmp.Or(cfg.WASM.Fuel, wasmagent.DefaultFuel), "wasm.init_fuel": cmp.Or(cfg.WASM.InitFuel, wasmagent.DefaultInitFuel)}
	for _, m := range cfg.Modules {
		fuel[fmt.Sprintf("the fuel of module %q", m.Name)] = m.Fuel
	}
	for _, what := range slices.Sorted(maps.Keys(fuel)) {
		if fuel[what] > maxFuel {
			return replayInput{fmt.Errorf("host: the log asks for %s = %d, over the %d this replay grants an agent: raise it with --max-fuel (ReplayOptions.MaxFuel) if you trust the log", what, fuel[what], maxFuel)}
		}
	}
	return nil
}

// replayFiles replaces what the log's config says about trust and files
// with what opts allow: the trust settings become opts', and each module
// and deterministic model path becomes the file found under
// opts.ModuleDirs. A missing or changed deterministic model is a setup
// error, or with opts.UncheckedModels one of the unchecked warnings. See
// ReplayOptions.
func replayFiles(cfg *runConfig, unsignedAllowed bool, opts ReplayOptions) (unchecked []string, err error) {
	if cfg.WASM.Unmetered && len(cfg.Modules) > 0 {
		return nil, errors.New("host: the run was recorded without fuel metering (wasm.unmetered, for benchmarks only): its agents' calls would be unbounded on replay, so it is not replayed; record a metered run")
	}
	recorded := cfg.WASM
	cfg.WASM.Trust = slices.Clone(opts.Trust)
	cfg.WASM.AllowUnsigned = opts.AllowUnsigned
	if len(cfg.Modules) > 0 && len(opts.Trust) == 0 && !opts.AllowUnsigned {
		return nil, replayInput{fmt.Errorf("host: the run has WebAssembly modules and this replay trusts no keys and allows no unsigned modules%s", trustHints(recorded, unsignedAllowed, true, true))}
	}
	for i := range cfg.Modules {
		m := &cfg.Modules[i]
		what := fmt.Sprintf("module %q", m.Name)
		if !isSHA256(m.Digest) {
			return nil, fmt.Errorf("host: %s: the log records no SHA-256 for it (%q), so no file can be checked against it; re-record the run", what, m.Digest)
		}
		l, err := findFile(what, m.Path, m.Digest, opts.ModuleDirs)
		if err != nil {
			return nil, err
		}
		if l.found == "" {
			fix := "pass the directory that holds it with --module-dir (ReplayOptions.ModuleDirs)"
			if len(l.others) > 0 {
				fix = "replay needs the same module file; pass the directory of the one the run used with --module-dir (ReplayOptions.ModuleDirs)"
			}
			return nil, replayInput{fmt.Errorf("host: %s: %s: %s", what, l.problem(), fix)}
		}
		m.Path = l.found
	}
	return replayModels(cfg, opts)
}

// replayModels makes each model of cfg one the replay can use: never
// loaded eagerly, a recorded model never looked for, a deterministic one
// found under opts.ModuleDirs to check its answers. A deterministic model
// not found is a setup error, or with opts.UncheckedModels a warning.
// Where this process cannot run models at all, no deterministic model is
// looked for either, and one warning says so.
func replayModels(cfg *runConfig, opts ReplayOptions) (unchecked []string, err error) {
	if len(cfg.Models) == 0 {
		return nil, nil
	}
	noORT := onnxRuntimeMissing(opts.Inference.Library)
	var cannotCheck []string
	for i := range cfg.Models {
		m := &cfg.Models[i]
		what := fmt.Sprintf("model %q", m.Key())
		if !isSHA256(m.SHA256) {
			return nil, fmt.Errorf("host: %s: the log records no valid sha256 for it (%q); re-record the run", what, m.SHA256)
		}
		// Every answer is in the log and fed back: a model is loaded on
		// replay, if at all, only to check a deterministic model's answers
		// by computing them at its first request, never eagerly. A recorded
		// model's answers (CUDA, fast mode) depend on the machine and are
		// not checked, so its file is not even looked for: a request whose
		// answer a crafted log left out loads the empty file, fails its
		// sha256 and diverges. See RATIONALE.md: "Why does verify need a
		// deterministic model's file, and never a recorded one's?".
		m.Eager = false
		if m.Recorded() {
			m.Path = os.DevNull
			continue
		}
		if noORT != nil {
			m.Path = os.DevNull
			cannotCheck = append(cannotCheck, what)
			continue
		}
		l, err := findFile(what, m.Path, m.SHA256, opts.ModuleDirs)
		if err != nil {
			return nil, err
		}
		if l.found != "" {
			m.Path = l.found
			continue
		}
		if !opts.UncheckedModels {
			return nil, replayInput{fmt.Errorf("host: %s (deterministic: verify computes its answers to check the recorded ones): %s: restore the file the run used, or pass the directory that holds it with --module-dir (ReplayOptions.ModuleDirs); or replay its recorded answers without checking them with --unchecked-models (ReplayOptions.UncheckedModels)", what, l.problem())}
		}
		m.Path = os.DevNull
		unchecked = append(unchecked, fmt.Sprintf("%s: %s: its recorded answers were replayed without checking them on this machine", what, l.problem()))
	}
	if len(cannotCheck) > 0 {
		unchecked = append(unchecked, fmt.Sprintf("%v: the recorded answers of the deterministic %s were replayed without checking them", noORT, strings.Join(cannotCheck, ", ")))
	}
	return unchecked, nil
}

// onnxRuntimeMissing says why this process cannot run models, as far as
// that is known before loading one: a binary built without cgo, or no
// ONNX Runtime library at lib. nil when it may.
func onnxRuntimeMissing(lib string) error {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" && s.Value == "0" {
				return fmt.Errorf("%w: this binary was built without cgo (CGO_ENABLED=0)", modelactor.ErrUnavailable)
			}
		}
	}
	_, err := modelactor.FindLibrary(lib)
	return err
}

// lookup is where a replay looked for a file its log names, and what it
// found there.
type lookup struct {
	name, recorded, sum string // the base name, the recorded path and SHA-256
	dirs                []string
	// found is the first file with the recorded SHA-256; others say what
	// the files of that name found before it were instead.
	found  string
	others []string
}

// findFile looks for the file recorded as recorded, with SHA-256 sum, by
// its base name in dirs, in order. Its error is for a recorded path that
// names no file; a file not found is the lookup's problem. Names from the
// log are quoted: they may hold anything.
func findFile(what, recorded, sum string, dirs []string) (*lookup, error) {
	name := fileName(recorded)
	if name == "." || name == ".." || name == string(filepath.Separator) || strings.ContainsRune(name, 0) {
		return nil, fmt.Errorf("host: %s: its recorded path %q names no file; re-record the run", what, recorded)
	}
	l := &lookup{name: name, recorded: recorded, sum: strings.ToLower(sum), dirs: dirs}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		got, err := fileSHA256(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			l.others = append(l.others, err.Error())
		case got == l.sum:
			l.found = p
			return l, nil
		default:
			l.others = append(l.others, fmt.Sprintf("%q has SHA-256 %s", p, got))
		}
	}
	return l, nil
}

// problem says why no file was found: what was looked for, where, and
// what was there instead.
func (l *lookup) problem() string {
	switch {
	case len(l.dirs) == 0:
		return fmt.Sprintf("%q (SHA-256 %s): no module directory to look in", l.name, l.sum)
	case len(l.others) > 0:
		return fmt.Sprintf("the run was recorded with SHA-256 %s, but %s", l.sum, strings.Join(l.others, "; "))
	}
	return fmt.Sprintf("%q is not in %s (looked up by the name of its recorded path %q; the run's file has SHA-256 %s)", l.name, strings.Join(l.dirs, ", "), l.recorded, l.sum)
}

// fileSHA256 hashes the regular file at p; anything else (a directory, a
// device, a pipe) is an error rather than something to read from.
func fileSHA256(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%q is not a regular file", p)
	}
	if st.Size() > modelactor.MaxModelFileSize {
		// Larger than any module or model a host loads: not the one.
		return "", fmt.Errorf("%q has %d bytes, more than any module or model may have", p, st.Size())
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func isSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// explainTrust adds to an error of New what the run's trust settings were
// and which flag gives the replay the same, when the error is about trust.
func explainTrust(err error, recorded WASMConfig, unsignedAllowed bool, opts ReplayOptions) error {
	unsigned := errors.Is(err, plugin.ErrUnsigned) && !opts.AllowUnsigned
	untrusted := errors.Is(err, plugin.ErrUntrustedKey)
	if !unsigned && !untrusted {
		return err
	}
	return replayInput{fmt.Errorf("%w%s", err, trustHints(recorded, unsignedAllowed, unsigned, untrusted))}
}

// trustHints says how the run was recorded and which flag to pass.
func trustHints(recorded WASMConfig, unsignedAllowed, unsigned, untrusted bool) string {
	var b strings.Builder
	if unsigned && (recorded.AllowUnsigned || unsignedAllowed) {
		b.WriteString("; the run was recorded with allow_unsigned: if you trust the unsigned modules in the module directories, pass --allow-unsigned (ReplayOptions.AllowUnsigned)")
	}
	if untrusted {
		if len(recorded.Trust) > 0 {
			quoted := make([]string, len(recorded.Trust))
			for i, k := range recorded.Trust {
				quoted[i] = fmt.Sprintf("%q", k)
			}
			fmt.Fprintf(&b, "; the run trusted the keys %s: pass the public keys you trust with --trust (ReplayOptions.Trust)", strings.Join(quoted, ", "))
		} else if !recorded.AllowUnsigned && !unsignedAllowed {
			b.WriteString("; pass the public keys you trust with --trust (ReplayOptions.Trust)")
		}
	}
	if b.Len() == 0 {
		b.WriteString("; pass the public keys you trust with --trust, or --allow-unsigned for unsigned modules")
	}
	return b.String()
}
