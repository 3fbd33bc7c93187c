package host

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/cpu"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// Model declares one version of an ONNX model agents can infer with.
type Model = modelactor.Model

// InferenceConfig configures the model manager.
type InferenceConfig struct {
	// Library is the ONNX Runtime shared library (default: $LOCKSTEP_ORT_LIB,
	// else where scripts/onnxruntime.sh puts it). It is a property of the
	// machine, not of the run: replay logs do not record it.
	Library string `json:"-" yaml:"library"`
	// Budgets is the memory budget per device ("cpu", "cuda") in bytes;
	// least recently used models are unloaded past it. It never changes
	// results.
	Budgets map[string]int64 `json:"-" yaml:"budgets"`
	// MaxOutputBytes bounds the outputs of one request (default
	// modelactor.DefaultMaxOutputBytes); a request over it is answered
	// with an error. Such answers are recorded like any other.
	MaxOutputBytes int64 `json:"-" yaml:"max_output_bytes"`
	// Workers is how many models may run at the same time (default: one
	// per CPU core). It never changes results.
	Workers int `json:"-" yaml:"workers"`
	// NoWarmUp skips the warm-up run eager models get at start (seeded
	// inputs, outside the metrics and every digest).
	NoWarmUp bool `json:"-" yaml:"no_warm_up"`
}

// Validate reports what is wrong with the configuration, or nil.
func (c InferenceConfig) Validate() error {
	if c.MaxOutputBytes < 0 {
		return fmt.Errorf("max_output_bytes %d is negative; give a limit in bytes, or leave it out for %d", c.MaxOutputBytes, modelactor.DefaultMaxOutputBytes)
	}
	if c.Workers < 0 || c.Workers > modelactor.MaxWorkers {
		return fmt.Errorf("workers %d is not between 0 (one per CPU core) and %d", c.Workers, modelactor.MaxWorkers)
	}
	for _, d := range slices.Sorted(maps.Keys(c.Budgets)) {
		if d != modelactor.DeviceCPU && d != modelactor.DeviceCUDA {
			return fmt.Errorf("budgets: device %q is not cpu or cuda", d)
		}
		if c.Budgets[d] < 0 {
			return fmt.Errorf("budgets: %s budget %d is negative; give bytes, or 0 for no limit", d, c.Budgets[d])
		}
	}
	return nil
}

// inferKey names one request of a run.
type inferKey struct {
	tick    uint64
	agent   string
	request uint32
}

// inferencer answers the engine's inference requests through the model
// manager and records every answer; on replay it feeds the recorded answers
// back, and checks the deterministic ones it can compute.
// See RATIONALE.md: "Why record every inference output?".
type inferencer struct {
	m         *modelactor.Manager // nil when no models are declared
	recording bool
	// pending are this tick's outputs to record, written with the tick.
	pending []*replaylog.InferenceOutput
	// written counts the InferenceOutput records written; recent maps the
	// digests of the outputs recorded in full at tick recentTick to their
	// record numbers, older those of the tick before it, so a repeat is
	// recorded as same_as.
	written       uint64
	recent, older map[[32]byte]uint64
	recentTick    clock.Tick
	reqs          []modelactor.Request
	idx           []int
	answers       [][]byte // run's, kept from tick to tick

	// On replay: replay holds the recorded answers of the tick being
	// replayed; outputs the outputs recorded in full at tick outputsTick by
	// record number, prior those of the tick before it; read counts the
	// records read.
	replay         map[inferKey][]byte
	outputs, prior map[uint64][]byte
	outputsTick    uint64
	read           uint64
	// check: compute deterministic answers too and compare them with the
	// recorded ones; mismatches says where they differed, per model.
	check      bool
	mismatches map[string]*mismatch
	// remote serves the models a federation pinned to member processes.
	remote RemoteModels
}

// RemoteModels is implemented by a Federation (Options.Federation) that
// serves some of the run's models in member processes (package
// host/federation): their requests go there, the others to this host's
// model manager, and every answer is recorded alike.
type RemoteModels interface {
	// Pinned reports whether model id is served elsewhere.
	Pinned(model string) bool
	// RunEncoded answers reqs, all of pinned models, in order, encoded as
	// modelactor.Manager.RunEncoded's.
	RunEncoded(reqs []modelactor.Request) [][]byte
}

// run answers reqs: through the model manager, and the pinned models'
// through the federation.
func (x *inferencer) run(reqs []modelactor.Request) [][]byte {
	if x.remote == nil {
		// The slice of answers is this tick's until the next (Infer
		// copies them out): the manager appends the next tick's to it.
		x.answers = x.m.AppendEncoded(x.answers[:0], reqs)
		return x.answers
	}
	var local, pinned []modelactor.Request
	var where []bool // where[i]: reqs[i] is pinned
	for _, r := range reqs {
		p := x.remote.Pinned(r.Model)
		where = append(where, p)
		if p {
			pinned = append(pinned, r)
		} else {
			local = append(local, r)
		}
	}
	var la, pa [][]byte
	if len(local) > 0 {
		la = x.m.RunEncoded(local)
	}
	if len(pinned) > 0 {
		pa = x.remote.RunEncoded(pinned)
	}
	out := make([][]byte, len(reqs))
	for i, p := range where {
		if p {
			out[i], pa = pa[0], pa[1:]
		} else {
			out[i], la = la[0], la[1:]
		}
	}
	return out
}

// mismatch is where a deterministic model computed other bits on replay
// than the recording holds.
type mismatch struct {
	first string // the first request
	n     int
}

// warnings says, per model in order, where replay computed other bits.
func (x *inferencer) warnings() []string {
	var w []string
	for _, model := range slices.Sorted(maps.Keys(x.mismatches)) {
		m := x.mismatches[model]
		w = append(w, fmt.Sprintf("model %s gives other bits on this machine (%s) than the recording for %d answers, the first %s; the recorded answers were used", model, cpuFeatures(), m.n, m.first))
	}
	return w
}

// Infer implements engine.Inferencer.
func (x *inferencer) Infer(t clock.Tick, calls []engine.InferCall) [][]byte {
	out := make([][]byte, len(calls))
	x.reqs, x.idx = x.reqs[:0], x.idx[:0]
	for i, c := range calls {
		k := inferKey{uint64(t), c.Agent, c.Request}
		b, ok := x.replay[k]
		if ok {
			out[i] = b
			delete(x.replay, k)
			if !x.check || !checkable(b) {
				continue
			}
		}
		x.reqs = append(x.reqs, modelactor.Request{Request: c.Request, Model: c.Model, Version: c.Version, Input: c.Input})
		x.idx = append(x.idx, i)
	}
	if len(x.reqs) == 0 {
		return out
	}
	if x.m == nil {
		for _, i := range x.idx {
			out[i] = tensor.Failure(calls[i].Request, tensor.UnknownModel, "unknown model %q: this run declares no models; declare it under models: in the topology (or host.Options.Models)", calls[i].Model).Encode()
		}
	} else {
		// The answers come encoded: a batched run's straight from its
		// outputs, a tick's sharing a few allocations.
		answers := x.run(x.reqs)
		for j, a := range answers {
			i := x.idx[j]
			if out[i] != nil { // recorded: a check
				if st, err := tensor.StatusOf(a); err == nil && st == tensor.OK && !bytes.Equal(a, out[i]) {
					model := calls[i].Model + "@" + calls[i].Version
					m := x.mismatches[model]
					if m == nil {
						m = &mismatch{first: fmt.Sprintf("%s's request %d at %s", calls[i].Agent, calls[i].Request, t)}
						if x.mismatches == nil {
							x.mismatches = map[string]*mismatch{}
						}
						x.mismatches[model] = m
					}
					m.n++
				}
				continue
			}
			out[i] = a
		}
	}
	if x.recording {
		x.record(t, calls, out)
	}
	return out
}

// checkable says whether a recorded answer is one a replay can check by
// computing it: a success of a deterministic model (answers flagged
// recorded, and failures, depend on the machine).
func checkable(answer []byte) bool {
	r, err := tensor.DecodeResult(answer)
	return err == nil && r.Status == tensor.OK && r.Flags&tensor.Recorded == 0
}

// record queues every answer of the tick for the replay log, an answer
// identical to one recorded in full this tick or last tick as a reference
// to it.
func (x *inferencer) record(t clock.Tick, calls []engine.InferCall, out [][]byte) {
	if x.recent == nil {
		x.recent, x.older = map[[32]byte]uint64{}, map[[32]byte]uint64{}
	}
	if t != x.recentTick {
		x.older, x.recent = x.recent, x.older
		if t != x.recentTick+1 {
			clear(x.older)
		}
		clear(x.recent)
		x.recentTick = t
	}
	for i, c := range calls {
		o := &replaylog.InferenceOutput{Tick: uint64(t), Agent: c.Agent, Seq: uint64(c.Request)}
		sum := sha256.Sum256(out[i])
		if n, ok := x.recent[sum]; ok {
			o.SameAs = n
		} else if n, ok := x.older[sum]; ok {
			o.SameAs = n
		} else {
			o.Output = out[i]
		}
		x.written++
		if o.SameAs == 0 {
			x.recent[sum] = x.written
		}
		x.pending = append(x.pending, o)
	}
}

// replayOutput takes a recorded answer from the log, resolving a
// reference to an earlier one. Records of a tick come before its digest.
func (x *inferencer) replayOutput(o *replaylog.InferenceOutput) error {
	x.read++
	if o.Tick != x.outputsTick {
		x.prior, x.outputs = x.outputs, x.prior
		if o.Tick != x.outputsTick+1 {
			clear(x.prior)
		}
		clear(x.outputs)
		x.outputsTick = o.Tick
	}
	b := o.Output
	if o.SameAs != 0 {
		var ok bool
		if b, ok = x.outputs[o.SameAs]; !ok {
			if b, ok = x.prior[o.SameAs]; !ok {
				return fmt.Errorf("the inference output of %s's request %d at %s refers to output record %d, which is not one of the last two ticks'", o.Agent, o.Seq, clock.Tick(o.Tick), o.SameAs)
			}
		}
	} else {
		x.outputs[x.read] = b
	}
	x.replay[inferKey{o.Tick, o.Agent, uint32(o.Seq)}] = b
	return nil
}

// restart starts the numbering of output records again: a new log
// segment begins (replaylog.Segment).
func (x *inferencer) restart() {
	x.written, x.read = 0, 0
	clear(x.recent)
	clear(x.older)
	clear(x.outputs)
	clear(x.prior)
	x.pending = x.pending[:0]
}

// continueAfterReplay numbers the records written after a replayed part of
// the same log on from those read; none refers back to a replayed one.
func (x *inferencer) continueAfterReplay() {
	x.written = x.read
	clear(x.recent)
	clear(x.older)
}

// replayed ends a replayed tick: recorded answers it did not ask for are
// dropped (a crafted log cannot pile them up).
func (x *inferencer) replayed() { clear(x.replay) }

// cpuFeatures names what decides ONNX Runtime's CPU kernels: the
// architecture and its vector extensions.
func cpuFeatures() string {
	f := []string{runtime.GOARCH}
	switch runtime.GOARCH {
	case "amd64":
		for _, c := range []struct {
			name string
			has  bool
		}{{"sse4.1", cpu.X86.HasSSE41}, {"avx", cpu.X86.HasAVX}, {"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA}, {"avx512f", cpu.X86.HasAVX512F}, {"avx512vnni", cpu.X86.HasAVX512VNNI}} {
			if c.has {
				f = append(f, c.name)
			}
		}
	case "arm64":
		if cpu.ARM64.HasASIMD {
			f = append(f, "asimd")
		}
		if cpu.ARM64.HasSVE {
			f = append(f, "sve")
		}
	}
	return strings.Join(f, " ")
}

// startModels starts the model manager when the run declares models, and
// hands the engine its inferencer.
func (h *Host) startModels() error {
	h.inf = &inferencer{recording: h.rec != nil, replay: map[inferKey][]byte{}, outputs: map[uint64][]byte{}, prior: map[uint64][]byte{}}
	h.eng.SetInferencer(h.inf)
	if len(h.opts.Models) == 0 {
		return nil
	}
	inf := h.opts.Inference
	if err := inf.Validate(); err != nil {
		return fmt.Errorf("host: Options.Inference: %w", err)
	}
	models := h.opts.Models
	if rm, ok := h.opts.Federation.(RemoteModels); ok {
		// A model pinned to a member is not loaded here, even eager.
		h.inf.remote = rm
		models = slices.Clone(models)
		for i := range models {
			models[i].Eager = models[i].Eager && !rm.Pinned(models[i].ID)
		}
	}
	m, err := modelactor.Start(h.sys.ActorSystem(), modelactor.Config{
		Models: models, Library: inf.Library, Budgets: inf.Budgets, Logger: h.opts.Logger,
		MaxOutputBytes: inf.MaxOutputBytes, Workers: inf.Workers, NoWarmUp: inf.NoWarmUp,
	})
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	h.inf.m = m
	return nil
}

// Models is the run's model manager (nil when it declares no models): its
// metrics, and loading and unloading by hand.
func (h *Host) Models() *modelactor.Manager { return h.inf.m }

// Infer runs a model from Go code, outside the ticks: the result is not
// part of any digest or replay log.
func (h *Host) Infer(model, version string, inputs ...tensor.Tensor) ([]tensor.Tensor, error) {
	if h.inf.m == nil {
		return nil, fmt.Errorf("host: unknown model %q: this run declares no models (Options.Models)", model)
	}
	return h.inf.m.Infer(model, version, inputs...)
}

// closeModels stops the model manager and returns a note for each model
// that ran on another device than it asked for; the replay log's end record
// keeps them.
func (h *Host) closeModels() []string {
	if h.inf.m == nil {
		return nil
	}
	var notes []string
	for _, m := range h.inf.m.Metrics() {
		if m.Fallback != "" {
			notes = append(notes, fmt.Sprintf("model %s@%s ran on %s: %s", m.ID, m.Version, m.Device, m.Fallback))
		}
	}
	h.inf.m.Close()
	return notes
}
