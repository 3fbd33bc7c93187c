package modelactor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// Backend opens inference sessions. The default is ONNX Runtime (built with
// cgo); tests may supply another.
type Backend interface {
	// Open creates a session for the ONNX model in data.
	Open(data []byte, opts SessionOptions) (Session, error)
}

// SessionOptions say how a session runs.
type SessionOptions struct {
	// Device is cpu or cuda. A backend without the device returns an error
	// wrapping ErrDevice; the manager then falls back to the CPU.
	Device string
	// Deterministic asks for one thread and sequential execution;
	// otherwise the backend may use every core.
	Deterministic bool
	// MaxOutputBytes bounds the outputs of one run; a run whose outputs
	// would be larger fails with an error wrapping ErrOutputTooLarge (0: no
	// bound).
	MaxOutputBytes int64
	// IntraOpThreads and InterOpThreads are the threads of a session that
	// is not Deterministic (0: the backend's default).
	IntraOpThreads, InterOpThreads int
	// GraphOptimization is the graph optimisation level: one of
	// GraphOptimizations ("": all).
	GraphOptimization string
	// CUDADevice is the CUDA device a cuda session runs on.
	CUDADevice int
	// Outputs names the outputs the session computes, in this order
	// (empty: all of the model's, in its order).
	Outputs []string
}

// GraphOptimizations are the graph optimisation levels of
// SessionOptions.GraphOptimization and Model.GraphOptimization, least
// first: ONNX Runtime's disable-all, basic, extended and all.
var GraphOptimizations = []string{"disable", "basic", "extended", "all"}

// ErrOutputTooLarge is wrapped by the error of a run whose outputs are over
// SessionOptions.MaxOutputBytes.
var ErrOutputTooLarge = errors.New("modelactor: outputs too large")

// Session is one loaded model. The manager calls it from one goroutine at a
// time (not always the same one: the model's worker, pool.go).
type Session interface {
	// Inputs and Outputs describe the model's tensors; a dimension of -1
	// is symbolic (any size).
	Inputs() []TensorInfo
	Outputs() []TensorInfo
	// Run runs the model on inputs (already checked against Inputs).
	// The inputs are valid only during the call: a Session that keeps
	// them (or returns them as outputs) must copy them. The outputs are
	// valid until the next Run or Close: a Session may write every run's
	// outputs into the same memory.
	Run(inputs []tensor.Tensor) ([]tensor.Tensor, error)
	// Close frees the session.
	Close() error
}

// TensorInfo describes an input or output of a model.
type TensorInfo struct {
	Name  string
	DType tensor.DType
	Shape []int64 // -1 for a symbolic dimension
}

// ErrUnavailable is wrapped by the error of a backend that cannot run at
// all (no ONNX Runtime library, or a build without cgo).
var ErrUnavailable = errors.New("modelactor: ONNX Runtime is unavailable")

// ErrDevice is wrapped by the error of a backend that cannot use the
// requested device.
var ErrDevice = errors.New("modelactor: device unavailable")

// LibraryEnv names the environment variable that points at the ONNX Runtime
// shared library.
const LibraryEnv = "LOCKSTEP_ORT_LIB"

// FindLibrary returns lib (DefaultLibrary() when empty) if the file is
// there, or an error wrapping ErrUnavailable that says how to get it.
func FindLibrary(lib string) (string, error) {
	if lib == "" {
		lib = DefaultLibrary()
	}
	if _, err := os.Stat(lib); err != nil {
		return lib, fmt.Errorf("%w: the ONNX Runtime library %s is missing (%v): run scripts/onnxruntime.sh (make setup does), or point agenthost --ort-lib, the topology's inference.library or $%s at libonnxruntime.so.1", ErrUnavailable, lib, err, LibraryEnv)
	}
	return lib, nil
}

// DefaultLibrary is where the library is looked for when Config.Library is
// empty: $LOCKSTEP_ORT_LIB, else the file scripts/onnxruntime.sh installs,
// $HOME/.cache/lockstep/onnxruntime/libonnxruntime.so.1.
func DefaultLibrary() string {
	if p := os.Getenv(LibraryEnv); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "libonnxruntime.so.1"
	}
	return filepath.Join(home, ".cache", "lockstep", "onnxruntime", "libonnxruntime.so.1")
}
