package modelactor

import (
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lockstep-rt/lockstep/actors/agent"
)

// Devices and modes a Model can ask for.
const (
	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"

	// ModeDeterministic runs on one thread, sequentially: the same input
	// gives the same output bits on every run. It is the default.
	ModeDeterministic = "deterministic"
	// ModeFast lets ONNX Runtime use every core. Outputs may differ in their
	// last bits from run to run, so they are recorded in the replay log.
	ModeFast = "fast"
)

// Model declares one version of a model.
type Model struct {
	// ID names the model (what agents pass to infer), Version one version
	// of it: each 1-128 bytes of letters, digits and ._-/:.
	ID      string `json:"id" yaml:"id"`
	Version string `json:"version" yaml:"version"`
	// Path is the .onnx file.
	Path string `json:"path" yaml:"path"`
	// SHA256 is the hex SHA-256 of the file; a file that does not match is
	// refused at load.
	SHA256 string `json:"sha256" yaml:"sha256"`
	// Default makes this the version a request without a version gets
	// (needed only when the model has several versions).
	Default bool `json:"default,omitempty" yaml:"default"`
	// Eager loads the model when the manager starts instead of at its
	// first request.
	Eager bool `json:"eager,omitempty" yaml:"eager"`
	// Device is cpu (default) or cuda. Without a usable CUDA provider the
	// model runs on the CPU and the fallback is logged and shown in Metrics.
	Device string `json:"device,omitempty" yaml:"device"`
	// Mode is deterministic (default) or fast.
	Mode string `json:"mode,omitempty" yaml:"mode"`
	// MaxBatch lets up to MaxBatch requests of one tick for this model (of
	// the same inner shape) share one run, their rows concatenated along
	// the leading dimension. 0 (the default) or 1: each request runs
	// alone. Batching is opt-in because it can change answers: a model
	// whose rows interact (one that subtracts the batch mean), or whose
	// kernels are not row-independent, answers a request differently in a
	// batch. At load a batchable model is probed (seeded requests alone and
	// batched, at several positions); if any bits differ, batching is
	// turned off for it, logged and shown in Metrics.BatchOff.
	MaxBatch int `json:"max_batch,omitempty" yaml:"max_batch"`
	// NoBatch is deprecated: batching is off unless MaxBatch is set. It is
	// accepted, and changes nothing, unless MaxBatch is set too.
	NoBatch bool `json:"no_batch,omitempty" yaml:"no_batch"`
	// IntraOpThreads and InterOpThreads are ONNX Runtime's threads within
	// and across operators in fast mode (0: its default, every core);
	// deterministic mode always runs one thread.
	IntraOpThreads int `json:"intra_op_threads,omitempty" yaml:"intra_op_threads"`
	InterOpThreads int `json:"inter_op_threads,omitempty" yaml:"inter_op_threads"`
	// GraphOptimization is ONNX Runtime's graph optimisation level:
	// disable, basic, extended or all ("": all, its default). It is part of
	// the declaration a replay checks: another level can give other bits.
	GraphOptimization string `json:"graph_optimization,omitempty" yaml:"graph_optimization"`
	// CUDADevice is the CUDA device a cuda model runs on (default 0).
	CUDADevice int `json:"cuda_device,omitempty" yaml:"cuda_device"`
	// Outputs names the outputs requests get, in this order (empty: all
	// of the model's, in its order). ONNX Runtime computes only what they
	// need, and an output left out need not be one Lockstep can carry.
	Outputs []string `json:"outputs,omitempty" yaml:"outputs"`
}

// Limits of a Model's fields.
const (
	// MaxBatchLimit is the largest Model.MaxBatch.
	MaxBatchLimit = 1 << 16
	// MaxThreads is the largest Model.IntraOpThreads and InterOpThreads.
	MaxThreads = 1024
	// MaxCUDADevice is the largest Model.CUDADevice.
	MaxCUDADevice = 1023
)

// Key is "id@version".
func (m Model) Key() string { return m.ID + "@" + m.Version }

// Recorded reports whether the model's outputs are recorded in replay logs
// rather than recomputed: anything but deterministic CPU inference.
func (m Model) Recorded() bool {
	return m.Device == DeviceCUDA || m.Mode == ModeFast
}

// Validate reports what is wrong with the declaration, or nil.
func (m *Model) Validate() error {
	if err := agent.ValidateName("model id", m.ID); err != nil {
		return fmt.Errorf("model %q: %w", m.ID, err)
	}
	if err := agent.ValidateName("model version", m.Version); err != nil {
		return fmt.Errorf("model %q: %w", m.ID, err)
	}
	if m.Path == "" {
		return fmt.Errorf("model %s: no path: name its .onnx file", m.Key())
	}
	if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("model %s: sha256 %q is not 64 hex digits; compute it with sha256sum %s", m.Key(), m.SHA256, m.Path)
	}
	m.SHA256 = strings.ToLower(m.SHA256)
	switch m.Device {
	case "":
		m.Device = DeviceCPU
	case DeviceCPU, DeviceCUDA:
	default:
		return fmt.Errorf("model %s: device %q is not cpu or cuda", m.Key(), m.Device)
	}
	if m.MaxBatch < 0 || m.MaxBatch > MaxBatchLimit {
		return fmt.Errorf("model %s: max_batch %d is not between 0 (no batching) and %d", m.Key(), m.MaxBatch, MaxBatchLimit)
	}
	if m.NoBatch && m.MaxBatch > 0 {
		return fmt.Errorf("model %s: no_batch (deprecated: batching is off by default) contradicts max_batch %d; remove no_batch", m.Key(), m.MaxBatch)
	}
	switch m.Mode {
	case "":
		m.Mode = ModeDeterministic
	case ModeDeterministic, ModeFast:
	default:
		return fmt.Errorf("model %s: mode %q is not deterministic or fast", m.Key(), m.Mode)
	}
	if err := m.validateOutputs(); err != nil {
		return err
	}
	return m.validateSession()
}

// validateOutputs checks that the selected outputs are named, each once.
// Whether the model has them is known when it loads.
func (m *Model) validateOutputs() error {
	for i, name := range m.Outputs {
		if name == "" {
			return fmt.Errorf("model %s: outputs[%d] is empty: name an output of the model", m.Key(), i)
		}
		if slices.Contains(m.Outputs[:i], name) {
			return fmt.Errorf("model %s: output %q is listed twice in outputs; list it once", m.Key(), name)
		}
	}
	return nil
}

// validateSession checks the session options of a declaration whose
// device and mode are valid.
func (m *Model) validateSession() error {
	for _, t := range []struct {
		field string
		n     int
	}{{"intra_op_threads", m.IntraOpThreads}, {"inter_op_threads", m.InterOpThreads}} {
		if t.n < 0 || t.n > MaxThreads {
			return fmt.Errorf("model %s: %s %d is not between 0 (ONNX Runtime's default) and %d", m.Key(), t.field, t.n, MaxThreads)
		}
		if t.n != 0 && m.Mode != ModeFast {
			return fmt.Errorf("model %s: %s %d applies to mode fast only (deterministic mode runs one thread); remove it or set mode: fast", m.Key(), t.field, t.n)
		}
	}
	if m.GraphOptimization != "" && !slices.Contains(GraphOptimizations, m.GraphOptimization) {
		return fmt.Errorf("model %s: graph_optimization %q is not one of %s; leave it out for all", m.Key(), m.GraphOptimization, strings.Join(GraphOptimizations, ", "))
	}
	if m.CUDADevice < 0 || m.CUDADevice > MaxCUDADevice {
		return fmt.Errorf("model %s: cuda_device %d is not between 0 and %d", m.Key(), m.CUDADevice, MaxCUDADevice)
	}
	if m.CUDADevice != 0 && m.Device != DeviceCUDA {
		return fmt.Errorf("model %s: cuda_device %d applies to device cuda only; remove it or set device: cuda", m.Key(), m.CUDADevice)
	}
	return nil
}

// modelKey is a model id and version.
type modelKey struct{ id, version string }

// registry maps ids and versions to declarations.
type registry struct {
	byKey map[modelKey]*entry
	byID  map[string][]*entry // versions in declaration order
}

func newRegistry() *registry {
	return &registry{byKey: map[modelKey]*entry{}, byID: map[string][]*entry{}}
}

func (r *registry) add(m Model) (*entry, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if r.byKey[modelKey{m.ID, m.Version}] != nil {
		return nil, fmt.Errorf("model %s is declared twice; give the second a new version", m.Key())
	}
	if m.Default {
		for _, e := range r.byID[m.ID] {
			if e.model.Default {
				return nil, fmt.Errorf("model %s: %s is already the default version; mark only one", m.Key(), e.model.Version)
			}
		}
	}
	e := &entry{model: m, key: m.Key()}
	r.byKey[modelKey{m.ID, m.Version}] = e
	r.byID[m.ID] = append(r.byID[m.ID], e)
	return e, nil
}

// resolve finds the entry for a request, or says why there is none.
func (r *registry) resolve(id, version string) (*entry, *failure) {
	versions := r.byID[id]
	if len(versions) == 0 {
		return nil, &failure{unknownModel, fmt.Sprintf("unknown model %q (declared: %s); declare it in the topology's models or host.Options.Models", id, r.ids())}
	}
	if version != "" {
		if e := r.byKey[modelKey{id, version}]; e != nil {
			return e, nil
		}
		return nil, &failure{unknownVersion, fmt.Sprintf("model %q has no version %q (declared: %s)", id, version, versionList(versions))}
	}
	if len(versions) == 1 {
		return versions[0], nil
	}
	for _, e := range versions {
		if e.model.Default {
			return e, nil
		}
	}
	return nil, &failure{unknownVersion, fmt.Sprintf("model %q has several versions (%s) and none is the default: name one, or mark one default", id, versionList(versions))}
}

func (r *registry) ids() string {
	if len(r.byID) == 0 {
		return "none"
	}
	ids := make([]string, 0, len(r.byID))
	for id := range r.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}

func versionList(es []*entry) string {
	vs := make([]string, len(es))
	for i, e := range es {
		vs[i] = e.model.Version
	}
	return strings.Join(vs, ", ")
}
