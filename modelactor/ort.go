//go:build cgo

package modelactor

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// ORT is the ONNX Runtime backend. ONNX Runtime has one environment per
// process: every ORT backend of a process shares the library the first one
// loaded.
type ORT struct {
	// Library is the path of libonnxruntime.so (default DefaultLibrary()).
	Library string
}

var (
	ortOnce sync.Once
	ortLib  string
	ortErr  error
)

func (o ORT) init() error {
	lib, err := FindLibrary(o.Library)
	ortOnce.Do(func() {
		ortLib = lib
		if ortErr = err; err != nil {
			return
		}
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			ortErr = fmt.Errorf("%w: loading %s: %v (is it ONNX Runtime >= 1.24 for linux x64? scripts/onnxruntime.sh provides one)", ErrUnavailable, lib, err)
		}
	})
	if ortErr == nil && lib != ortLib {
		return fmt.Errorf("%w: this process already loaded ONNX Runtime from %s and cannot load %s too; use one library per process", ErrUnavailable, ortLib, lib)
	}
	return ortErr
}

// Open implements Backend.
func (o ORT) Open(data []byte, opts SessionOptions) (Session, error) {
	if err := o.init(); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("reading the model's inputs and outputs: %w", err)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if opts.Deterministic {
		// One thread, sequential, no spinning: every reduction runs in the
		// same order on every run (docs/RATIONALE: deterministic compute).
		if err := errors.Join(so.SetIntraOpNumThreads(1), so.SetInterOpNumThreads(1),
			so.SetExecutionMode(ort.ExecutionModeSequential),
			so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0")); err != nil {
			return nil, err
		}
	}
	if opts.Device == DeviceCUDA {
		cuda, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return nil, fmt.Errorf("%w: cuda: %v", ErrDevice, err)
		}
		err = so.AppendExecutionProviderCUDA(cuda)
		cuda.Destroy()
		if err != nil {
			return nil, fmt.Errorf("%w: cuda: %v", ErrDevice, err)
		}
	}
	s := &ortSession{ins: infos(ins), outs: infos(outs), maxOut: opts.MaxOutputBytes}
	inNames, outNames := names(ins), names(outs)
	s.s, err = ort.NewDynamicAdvancedSessionWithONNXData(data, inNames, outNames, so)
	if err != nil {
		if opts.Device == DeviceCUDA {
			return nil, fmt.Errorf("%w: cuda: %v", ErrDevice, err)
		}
		return nil, err
	}
	return s, nil
}

func infos(in []ort.InputOutputInfo) []TensorInfo {
	out := make([]TensorInfo, len(in))
	for i, x := range in {
		out[i] = TensorInfo{Name: x.Name, DType: tensor.DType(x.DataType), Shape: append([]int64(nil), x.Dimensions...)}
		if x.OrtValueType != ort.ONNXTypeTensor || x.DataType > 255 {
			out[i].DType = 0 // not a tensor Lockstep carries
		}
	}
	return out
}

func names(in []ort.InputOutputInfo) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.Name
	}
	return out
}

type ortSession struct {
	s          *ort.DynamicAdvancedSession
	ins, outs  []TensorInfo
	inV, outV  []ort.Value
	outTensors []tensor.Tensor
	// inBufs are the aligned buffers inputs not at an aligned address are
	// copied to (align.go), one per input, kept from run to run.
	inBufs [][]byte
	// noPrealloc: a run with preallocated outputs failed where one letting
	// ONNX Runtime allocate worked; it allocates this model's outputs.
	noPrealloc bool
	maxOut     int64 // SessionOptions.MaxOutputBytes
}

func (s *ortSession) Inputs() []TensorInfo  { return s.ins }
func (s *ortSession) Outputs() []TensorInfo { return s.outs }

func (s *ortSession) Close() error { return s.s.Destroy() }

// Run implements Session. Outputs whose shape follows from the inputs' batch
// size are written by ONNX Runtime straight into Go memory; others are
// allocated by it and copied.
func (s *ortSession) Run(inputs []tensor.Tensor) (outs []tensor.Tensor, err error) {
	s.inV = s.inV[:0]
	s.outV = s.outV[:0]
	defer func() {
		for _, v := range s.inV {
			v.Destroy()
		}
		for _, v := range s.outV {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for len(s.inBufs) < len(inputs) {
		s.inBufs = append(s.inBufs, nil)
	}
	for i, t := range inputs {
		data := alignedCopy(&s.inBufs[i], t.Data)
		v, err := ort.NewCustomDataTensor(ort.Shape(t.Shape), data, ort.TensorElementDataType(t.DType))
		if err != nil {
			return nil, err
		}
		s.inV = append(s.inV, v)
	}
	if preallocated, err := s.run(inputs, !s.noPrealloc); err != nil {
		if !preallocated || errors.Is(err, ErrOutputTooLarge) {
			return nil, err
		}
		// The shapes ONNX Runtime reports for outputs can be wrong for a
		// dynamic graph (a symbolic leading dimension that is not the
		// batch, a declared shape it merged with the inferred one): run
		// again letting it allocate, and if that works, from now on.
		if _, err2 := s.run(inputs, false); err2 != nil {
			return nil, err
		}
		s.noPrealloc = true
	}
	outs = s.outTensors
	s.outTensors = nil
	var total int64
	for i, v := range s.outV {
		if v != nil && outs[i].Data == nil {
			if outs[i], err = fromValue(v); err != nil {
				return nil, fmt.Errorf("output %d (%s): %w", i, s.outs[i].Name, err)
			}
		}
		total += int64(len(outs[i].Data))
	}
	if s.maxOut > 0 && total > s.maxOut {
		return nil, fmt.Errorf("%w: %d bytes of outputs, the limit is %d", ErrOutputTooLarge, total, s.maxOut)
	}
	return outs, nil
}

// run runs the session once; with prealloc, outputs whose shape is known
// get Go memory that ONNX Runtime writes into (s.outTensors holds them, zero
// Tensors for the rest). preallocated reports whether any output was.
func (s *ortSession) run(inputs []tensor.Tensor, prealloc bool) (preallocated bool, err error) {
	for _, v := range s.outV {
		if v != nil {
			v.Destroy()
		}
	}
	s.outV = s.outV[:0]
	batch := int64(-1)
	if len(inputs) > 0 && len(inputs[0].Shape) > 0 {
		batch = inputs[0].Shape[0]
	}
	s.outTensors = make([]tensor.Tensor, len(s.outs))
	var total int64
	for i, info := range s.outs {
		shape, ok := resolveShape(info.Shape, batch)
		if !prealloc || !ok || len(shape) == 0 || info.DType.Size() == 0 {
			s.outV = append(s.outV, nil)
			continue
		}
		t := tensor.Tensor{DType: info.DType, Shape: shape}
		size := byteSize(shape, info.DType.Size())
		if total += size; s.maxOut > 0 && total > s.maxOut {
			return false, fmt.Errorf("%w: output %d (%s) of shape %s would take the outputs to %d bytes, the limit is %d", ErrOutputTooLarge, i, info.Name, tensor.ShapeString(shape), total, s.maxOut)
		}
		preallocated = true
		var buf []byte
		t.Data = alignedBuf(&buf, int(size))
		v, err := ort.NewCustomDataTensor(ort.Shape(shape), t.Data, ort.TensorElementDataType(info.DType))
		if err != nil {
			return preallocated, err
		}
		s.outTensors[i] = t
		s.outV = append(s.outV, v)
	}
	return preallocated, s.s.Run(s.inV, s.outV)
}

// byteSize is the size of a tensor of shape with elements of size bytes,
// saturating at 1<<62 instead of overflowing.
func byteSize(shape []int64, size int) int64 {
	const most = 1 << 62
	n := int64(size)
	for _, d := range shape {
		if d != 0 && n > most/d {
			return most
		}
		n *= d
	}
	return n
}

// resolveShape fills a leading symbolic dimension with batch; any other
// symbolic dimension makes the shape unknown before the run.
func resolveShape(shape []int64, batch int64) ([]int64, bool) {
	out := append([]int64(nil), shape...)
	for i, d := range out {
		if d >= 0 {
			continue
		}
		if i != 0 || batch < 0 {
			return nil, false
		}
		out[i] = batch
	}
	return out, true
}

// fromValue copies an output ONNX Runtime allocated.
func fromValue(v ort.Value) (tensor.Tensor, error) {
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return fromSlice(tensor.Float32, t.GetShape(), t.GetData()), nil
	case *ort.Tensor[float64]:
		return fromSlice(tensor.Float64, t.GetShape(), t.GetData()), nil
	case *ort.Tensor[int64]:
		return fromSlice(tensor.Int64, t.GetShape(), t.GetData()), nil
	case *ort.Tensor[int32]:
		return fromSlice(tensor.Int32, t.GetShape(), t.GetData()), nil
	case *ort.Tensor[int16]:
		return fromSlice(tensor.Int16, t.GetShape(), t.GetData()), nil
	case *ort.Tensor[int8]:
		return fromSlice(tensor.Int8, t.GetShape(), t.GetData()), nil
	case *ort.Tensor[uint8]:
		return fromSlice(tensor.Uint8, t.GetShape(), t.GetData()), nil
	case *ort.Tensor[bool]:
		return fromSlice(tensor.Bool, t.GetShape(), t.GetData()), nil
	}
	return tensor.Tensor{}, fmt.Errorf("ONNX Runtime returned a %T, which Lockstep does not carry (supported: float32, float64, int64, int32, int16, int8, uint8, bool tensors)", v)
}

// fromSlice copies data's bytes (little-endian on every platform Lockstep
// runs ONNX Runtime on: linux x64).
func fromSlice[T any](d tensor.DType, shape ort.Shape, data []T) tensor.Tensor {
	var zero T
	n := len(data) * int(unsafe.Sizeof(zero))
	b := make([]byte, n)
	if n > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), n))
	}
	return tensor.Tensor{DType: d, Shape: append([]int64(nil), shape...), Data: b}
}

// defaultBackend is ONNX Runtime from lib.
func defaultBackend(lib string) Backend { return ORT{Library: lib} }
