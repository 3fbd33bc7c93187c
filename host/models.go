package host

import (
	"fmt"

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
}

// inferKey names one request of a run.
type inferKey struct {
	tick    uint64
	agent   string
	request uint32
}

// inferencer answers the engine's inference requests through the model
// manager, records the outputs of non-deterministic models, and on replay
// feeds recorded outputs back.
type inferencer struct {
	m         *modelactor.Manager // nil when no models are declared
	recording bool
	// pending are this tick's outputs to record, written with the tick.
	pending []*replaylog.InferenceOutput
	// replay holds recorded outputs not yet fed back.
	replay map[inferKey][]byte
	reqs   []modelactor.Request
	idx    []int
}

// Infer implements engine.Inferencer.
func (x *inferencer) Infer(t clock.Tick, calls []engine.InferCall) [][]byte {
	out := make([][]byte, len(calls))
	x.reqs, x.idx = x.reqs[:0], x.idx[:0]
	for i, c := range calls {
		k := inferKey{uint64(t), c.Agent, c.Request}
		if b, ok := x.replay[k]; ok {
			out[i] = b
			delete(x.replay, k)
			continue
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
		return out
	}
	for j, r := range x.m.Run(x.reqs) {
		i := x.idx[j]
		out[i] = r.Encode()
		if x.recording && recorded(r) {
			x.pending = append(x.pending, &replaylog.InferenceOutput{Tick: uint64(t), Agent: calls[i].Agent, Seq: uint64(calls[i].Request), Output: out[i]})
		}
	}
	return out
}

// recorded reports whether an answer goes into the replay log: every answer
// of a model declared non-deterministic, and every failure that depends on
// the machine rather than the request (no ONNX Runtime, a model file that
// will not load, a run that fails), so that a replay elsewhere gets the
// answers the run got.
func recorded(r tensor.Result) bool {
	switch {
	case r.Flags&tensor.Recorded != 0:
		return true
	case r.Status == tensor.Unavailable, r.Status == tensor.LoadFailed, r.Status == tensor.RunFailed:
		return true
	}
	return false
}

// startModels starts the model manager when the run declares models, and
// hands the engine its inferencer.
func (h *Host) startModels() error {
	h.inf = &inferencer{recording: h.rec != nil, replay: map[inferKey][]byte{}}
	h.eng.SetInferencer(h.inf)
	if len(h.opts.Models) == 0 {
		return nil
	}
	m, err := modelactor.Start(h.sys.ActorSystem(), modelactor.Config{
		Models: h.opts.Models, Library: h.opts.Inference.Library, Budgets: h.opts.Inference.Budgets, Logger: h.opts.Logger,
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
