//go:build cgo

package modelactor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	ortMu sync.Mutex
	// ortLib is the library this process loaded, or tried to: "" until a
	// backend names one that exists.
	ortLib string
	ortErr error // what loading ortLib gave
)

func (o ORT) init() error {
	lib, err := FindLibrary(o.Library)
	if err != nil {
		// Nothing was loaded: a later backend may name a library that
		// exists (one host's wrong path must not disable ONNX Runtime for
		// every later host of the process).
		return err
	}
	ortMu.Lock()
	defer ortMu.Unlock()
	if ortLib == "" {
		ortLib = lib
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			ortErr = fmt.Errorf("%w: loading %s: %v (is it ONNX Runtime >= 1.24 for linux x64? scripts/onnxruntime.sh provides one)", ErrUnavailable, lib, err)
		}
	}
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
	if outs, err = selectOutputs(outs, opts.Outputs); err != nil {
		return nil, err
	}
	if err := servable(ins, outs); err != nil {
		return nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if err := setSessionOptions(so, opts); err != nil {
		return nil, err
	}
	if opts.Device == DeviceCUDA {
		cuda, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return nil, fmt.Errorf("%w: cuda: %v", ErrDevice, err)
		}
		err = cuda.Update(map[string]string{"device_id": strconv.Itoa(opts.CUDADevice)})
		if err == nil {
			err = so.AppendExecutionProviderCUDA(cuda)
		}
		cuda.Destroy()
		if err != nil {
			return nil, fmt.Errorf("%w: cuda device %d: %v", ErrDevice, opts.CUDADevice, err)
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

// graphLevels are ONNX Runtime's levels for GraphOptimizations.
var graphLevels = map[string]ort.GraphOptimizationLevel{
	"disable": ort.GraphOptimizationLevelDisableAll, "basic": ort.GraphOptimizationLevelEnableBasic,
	"extended": ort.GraphOptimizationLevelEnableExtended, "all": ort.GraphOptimizationLevelEnableAll,
}

// setSessionOptions applies opts' threads and graph optimisation to so.
func setSessionOptions(so *ort.SessionOptions, opts SessionOptions) error {
	var errs []error
	if opts.Deterministic {
		// One thread, sequential, no spinning: every reduction runs in the
		// same order on every run (docs/RATIONALE: deterministic compute).
		errs = append(errs, so.SetIntraOpNumThreads(1), so.SetInterOpNumThreads(1),
			so.SetExecutionMode(ort.ExecutionModeSequential),
			so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"))
	} else {
		if opts.IntraOpThreads > 0 {
			errs = append(errs, so.SetIntraOpNumThreads(opts.IntraOpThreads))
		}
		if opts.InterOpThreads > 0 {
			errs = append(errs, so.SetInterOpNumThreads(opts.InterOpThreads))
		}
	}
	if opts.GraphOptimization != "" {
		level, ok := graphLevels[opts.GraphOptimization]
		if !ok {
			return fmt.Errorf("graph optimisation %q is not one of %v", opts.GraphOptimization, GraphOptimizations)
		}
		errs = append(errs, so.SetGraphOptimizationLevel(level))
	}
	return errors.Join(errs...)
}

func infos(in []ort.InputOutputInfo) []TensorInfo {
	out := make([]TensorInfo, len(in))
	for i, x := range in {
		out[i] = TensorInfo{Name: x.Name, Shape: append([]int64(nil), x.Dimensions...)}
		if d, ok := dtypeOf(x); ok {
			out[i].DType = d
		}
	}
	return out
}

// dtypeOf is the dtype of a tensor input or output Lockstep carries.
func dtypeOf(x ort.InputOutputInfo) (tensor.DType, bool) {
	d := tensor.DType(x.DataType)
	return d, x.OrtValueType == ort.ONNXTypeTensor && x.DataType >= 0 && x.DataType <= 255 && d.Known()
}

// selectOutputs returns the outputs named by want, in that order (all
// when want is empty), or an error naming the first the model lacks.
func selectOutputs(outs []ort.InputOutputInfo, want []string) ([]ort.InputOutputInfo, error) {
	if len(want) == 0 {
		return outs, nil
	}
	sel := make([]ort.InputOutputInfo, len(want))
	for i, name := range want {
		j := slices.IndexFunc(outs, func(x ort.InputOutputInfo) bool { return x.Name == name })
		if j < 0 {
			return nil, fmt.Errorf("outputs: the model has no output %q (its outputs: %s); fix the model's outputs: list", name, strings.Join(names(outs), ", "))
		}
		sel[i] = outs[j]
	}
	return sel, nil
}

// servable reports why a model with these inputs and outputs cannot be
// served, naming the first input or output that cannot and the fix, or nil.
// Sequence and map outputs are carried (their contents are checked when
// they come); inputs must be tensors.
func servable(ins, outs []ort.InputOutputInfo) error {
	for _, side := range []struct {
		what  string
		infos []ort.InputOutputInfo
	}{{"input", ins}, {"output", outs}} {
		for i, x := range side.infos {
			if why := carried(side.what, x); why != "" {
				return fmt.Errorf("%s %d (%q) %s", side.what, i, x.Name, why)
			}
		}
	}
	return nil
}

// carried says why Lockstep cannot carry input or output x, or "".
func carried(what string, x ort.InputOutputInfo) string {
	if (x.OrtValueType == ort.ONNXTypeSequence || x.OrtValueType == ort.ONNXTypeMap) && what == "output" {
		return ""
	}
	if x.OrtValueType != ort.ONNXTypeTensor {
		return fmt.Sprintf("is a %s, which Lockstep cannot carry as an %s (it carries tensors in, and tensors, sequences and maps out); change the model's signature, e.g. with an ONNX wrapper graph around it", ortTypeName(x.OrtValueType), what)
	}
	d, ok := dtypeOf(x)
	switch {
	case !ok:
		return fmt.Sprintf("is a %s tensor, which Lockstep does not carry (it carries %s); cast it in the model", x.DataType, carriedDTypes())
	case d != tensor.Float16 && d != tensor.BFloat16 && (d != tensor.String || what == "output"):
		return ""
	case len(x.Dimensions) == 0:
		return fmt.Sprintf("is a %s scalar (rank 0, or a shape the model does not declare), which ONNX Runtime's Go binding cannot exchange; give it shape [1] in the model (Reshape/Unsqueeze)", d)
	case what == "output":
		// The binding fails to copy a 16-bit float output ONNX Runtime
		// allocated: Run must know its shape to allocate it in Go memory.
		if _, known := resolveShape(nil, x.Dimensions, 0); !known {
			return fmt.Sprintf("is a %s tensor of shape %s, which ONNX Runtime's Go binding can only return with every dimension but the first (the batch) known; declare its shape in the model, or cast it to float32", d, dims(x.Dimensions))
		}
	}
	return ""
}

// carriedDTypes lists the dtypes ORT sessions exchange.
func carriedDTypes() string {
	var names []string
	for d := range 256 {
		if tensor.DType(d).Known() {
			names = append(names, tensor.DType(d).String())
		}
	}
	return strings.Join(names, ", ")
}

func ortTypeName(t ort.ONNXType) string {
	switch t {
	case ort.ONNXTypeSequence:
		return "sequence"
	case ort.ONNXTypeMap:
		return "map"
	case ort.ONNXTypeOpaque:
		return "opaque value"
	case ort.ONNXTypeSparseTensor:
		return "sparse tensor"
	case ort.ONNXTypeOptional:
		return "optional value"
	}
	return "value of unknown type"
}

func names(in []ort.InputOutputInfo) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.Name
	}
	return out
}

type ortSession struct {
	s         *ort.DynamicAdvancedSession
	ins, outs []TensorInfo
	inV, outV []ort.Value
	// temps are the values of the run in progress that are destroyed after
	// it: strings, scalars and outputs ONNX Runtime allocated.
	temps []ort.Value
	// in and out keep each input's and output's value, and its memory,
	// from run to run (a value made and destroyed each run costs more
	// than a small model's run: docs/BENCHMARKS.md).
	in, out []kept
	// outTensors are the outputs of the last run; they alias out's memory.
	outTensors []tensor.Tensor
	dims       []int64 // scratch for an output's shape
	// byORT marks the outputs of the run in progress that ONNX Runtime
	// allocates.
	byORT []bool
	// noPrealloc: a run with preallocated outputs failed where one letting
	// ONNX Runtime allocate worked; it allocates this model's outputs.
	noPrealloc bool
	maxOut     int64 // SessionOptions.MaxOutputBytes
}

// kept is an input's or output's ONNX Runtime value, kept while the next
// run's tensor lies at the same address with the same type and shape, and
// the aligned buffer (align.go) its data is copied to or written in.
type kept struct {
	v     ort.Value // nil until the first run
	at    unsafe.Pointer
	n     int
	dtype tensor.DType
	shape []int64
	buf   []byte
}

// value returns a value over data (not empty) as a dtype tensor of shape:
// k's own if it wraps the same bytes the same way, else a new one that
// replaces it.
func (k *kept) value(dtype tensor.DType, shape []int64, data []byte) (ort.Value, error) {
	at := unsafe.Pointer(unsafe.SliceData(data))
	if k.v != nil && k.at == at && k.n == len(data) && k.dtype == dtype && slices.Equal(k.shape, shape) {
		return k.v, nil
	}
	k.release()
	v, err := ort.NewCustomDataTensor(ort.Shape(shape), data, ort.TensorElementDataType(dtype))
	if err != nil {
		return nil, err
	}
	k.v, k.at, k.n, k.dtype, k.shape = v, at, len(data), dtype, append(k.shape[:0], shape...)
	return v, nil
}

func (k *kept) release() {
	if k.v != nil {
		k.v.Destroy()
		k.v = nil
	}
}

// copyBelow is the size under which an input is copied to its kept buffer
// even when it is aligned: the copy costs less than a new value, which an
// input at a new address needs.
const copyBelow = 16 << 10

func (s *ortSession) Inputs() []TensorInfo  { return s.ins }
func (s *ortSession) Outputs() []TensorInfo { return s.outs }

func (s *ortSession) Close() error {
	for _, ks := range [][]kept{s.in, s.out} {
		for i := range ks {
			ks[i].release()
		}
	}
	return s.s.Destroy()
}

// Run implements Session. Outputs whose shape follows from the inputs' batch
// size are written by ONNX Runtime straight into the session's memory,
// valid until the next run; others are allocated by it and copied.
func (s *ortSession) Run(inputs []tensor.Tensor) (outs []tensor.Tensor, err error) {
	s.inV = s.inV[:0]
	defer s.destroyTemps()
	if len(s.in) < len(inputs) {
		s.in = append(s.in, make([]kept, len(inputs)-len(s.in))...)
	}
	for i, t := range inputs {
		v, err := s.input(&s.in[i], t)
		if err != nil {
			return nil, fmt.Errorf("input %d (%s): %w", i, s.ins[i].Name, err)
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
	for i, v := range s.outV {
		if v != nil && outs[i].Data == nil {
			if outs[i], err = fromValue(v); err != nil {
				return nil, fmt.Errorf("output %d (%s): %w", i, s.outs[i].Name, err)
			}
		}
	}
	var total int64
	for _, o := range outs {
		total += o.Size()
	}
	if s.maxOut > 0 && total > s.maxOut {
		return nil, fmt.Errorf("%w: %d bytes of outputs, the limit is %d", ErrOutputTooLarge, total, s.maxOut)
	}
	return outs, nil
}

// destroyTemps destroys the run's temporary values.
func (s *ortSession) destroyTemps() {
	for _, v := range s.temps {
		v.Destroy()
	}
	clear(s.temps)
	s.temps = s.temps[:0]
}

// tempTensor makes a value over data as a dtype tensor of shape for this
// run only.
func (s *ortSession) tempTensor(dtype tensor.DType, shape []int64, data []byte) (ort.Value, error) {
	v, err := ort.NewCustomDataTensor(ort.Shape(shape), data, ort.TensorElementDataType(dtype))
	if err != nil {
		return nil, err
	}
	s.temps = append(s.temps, v)
	return v, nil
}

// temp notes v, unless err, as a value of this run only.
func (s *ortSession) temp(v ort.Value, err error) (ort.Value, error) {
	if err == nil {
		s.temps = append(s.temps, v)
	}
	return v, err
}

// run runs the session once; with prealloc, outputs whose shape is known
// are written into the session's kept buffers (s.outTensors holds them,
// zero Tensors for the rest; scalars are written into values that are
// copied after the run). preallocated reports whether any output was.
func (s *ortSession) run(inputs []tensor.Tensor, prealloc bool) (preallocated bool, err error) {
	s.outV = s.outV[:0]
	batch := int64(-1)
	if len(inputs) > 0 && len(inputs[0].Shape) > 0 {
		batch = inputs[0].Shape[0]
	}
	if len(s.out) < len(s.outs) {
		s.out = make([]kept, len(s.outs))
		s.outTensors = make([]tensor.Tensor, len(s.outs))
		s.byORT = make([]bool, len(s.outs))
	}
	clear(s.outTensors)
	var total int64
	for i, info := range s.outs {
		k := &s.out[i]
		shape, ok := resolveShape(s.dims[:0], info.Shape, batch)
		s.dims = shape[:0]
		s.byORT[i] = !prealloc || !ok || info.DType.Size() == 0 // unknown, or a string, sequence or map
		if s.byORT[i] {
			s.outV = append(s.outV, nil)
			continue
		}
		size := byteSize(shape, info.DType.Size())
		if total += size; s.maxOut > 0 && total > s.maxOut {
			return false, fmt.Errorf("%w: output %d (%s) of shape %s would take the outputs to %d bytes, the limit is %d", ErrOutputTooLarge, i, info.Name, tensor.ShapeString(shape), total, s.maxOut)
		}
		preallocated = true
		if len(shape) == 0 {
			v, err := s.temp(newScalar(info.DType, nil))
			if err != nil {
				return preallocated, err
			}
			s.outV = append(s.outV, v)
			continue
		}
		if size > keepBelow { // memory of its own, for this run only
			var buf []byte
			data := alignedBuf(&buf, int(size))
			v, err := s.tempTensor(info.DType, shape, data)
			if err != nil {
				return preallocated, err
			}
			s.outTensors[i] = tensor.Tensor{DType: info.DType, Shape: slices.Clone(shape), Data: data}
			s.outV = append(s.outV, v)
			continue
		}
		// An empty output still gets a byte: the binding wants one to
		// point at (and cannot copy an empty 16-bit float output itself).
		data := alignedBuf(&k.buf, max(int(size), 1))
		v, err := k.value(info.DType, shape, data)
		if err != nil {
			return preallocated, err
		}
		s.outTensors[i] = tensor.Tensor{DType: info.DType, Shape: k.shape, Data: data[:size]}
		s.outV = append(s.outV, v)
	}
	err = s.s.Run(s.inV, s.outV)
	for i, v := range s.outV {
		if v != nil && s.byORT[i] {
			s.temps = append(s.temps, v)
		}
	}
	return preallocated, err
}

// input makes the ONNX Runtime value of input t, kept in k where it can
// be. Dense data is handed over from a 64-byte aligned buffer (align.go):
// its own when it is aligned and large or where the last run's lay, else a
// copy in k's; a scalar is one element, which no kernel can sum in another
// order, and is copied by the binding.
func (s *ortSession) input(k *kept, t tensor.Tensor) (ort.Value, error) {
	switch {
	case t.DType == tensor.String:
		strs, err := t.Strings()
		if err != nil {
			return nil, err
		}
		v, err := ort.NewStringTensor(ort.Shape(t.Shape))
		if err != nil {
			return nil, err
		}
		s.temps = append(s.temps, v)
		return v, v.SetContents(strs)
	case len(t.Shape) == 0:
		return s.temp(newScalar(t.DType, t.Data))
	case len(t.Data) == 0:
		// No elements: ONNX Runtime reads nothing, but the binding wants
		// a byte to point at.
		return k.value(t.DType, t.Shape, alignedBuf(&k.buf, 1))
	case isAligned(t.Data) && (len(t.Data) >= copyBelow || unsafe.Pointer(unsafe.SliceData(t.Data)) == k.at):
		// Large, or where the last run's was (a batch joined into the
		// model's buffer): handed over in place.
		return k.value(t.DType, t.Shape, t.Data)
	case len(t.Data) > keepBelow: // copied to memory of its own, for this run only
		var buf []byte
		b := alignedBuf(&buf, len(t.Data))
		copy(b, t.Data)
		return s.tempTensor(t.DType, t.Shape, b)
	}
	b := alignedBuf(&k.buf, len(t.Data))
	copy(b, t.Data)
	return k.value(t.DType, t.Shape, b)
}

// newScalar makes a rank-0 value of d holding data's element (zero when
// data is nil).
func newScalar(d tensor.DType, data []byte) (ort.Value, error) {
	switch d {
	case tensor.Float32:
		return scalarOf[float32](data)
	case tensor.Float64:
		return scalarOf[float64](data)
	case tensor.Int8:
		return scalarOf[int8](data)
	case tensor.Uint8:
		return scalarOf[uint8](data)
	case tensor.Int16:
		return scalarOf[int16](data)
	case tensor.Uint16:
		return scalarOf[uint16](data)
	case tensor.Int32:
		return scalarOf[int32](data)
	case tensor.Uint32:
		return scalarOf[uint32](data)
	case tensor.Int64:
		return scalarOf[int64](data)
	case tensor.Uint64:
		return scalarOf[uint64](data)
	case tensor.Bool:
		return scalarOf[bool](data)
	}
	return nil, fmt.Errorf("ONNX Runtime's Go binding cannot make a %s scalar (servable refuses such models at load)", d)
}

func scalarOf[T tensor.Elem](data []byte) (ort.Value, error) {
	var v T
	if data != nil {
		if _, err := binary.Decode(data, binary.LittleEndian, &v); err != nil {
			return nil, err
		}
	}
	return ort.NewScalar(v)
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

// resolveShape appends shape to dst, its leading symbolic dimension
// filled with batch; any other symbolic dimension makes the shape unknown
// before the run.
func resolveShape(dst, shape []int64, batch int64) ([]int64, bool) {
	out := append(dst, shape...)
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

// fromValue copies an output ONNX Runtime allocated, or a scalar.
func fromValue(v ort.Value) (tensor.Tensor, error) {
	for _, from := range typedFrom {
		if t, ok := from(v); ok {
			return t, nil
		}
	}
	switch t := v.(type) {
	case *ort.CustomDataTensor: // preallocated, or (a zero-size tensor) an empty copy
		return fromSlice(tensor.DType(t.DataType()), t.GetShape(), t.GetData()), nil
	case *ort.StringTensor:
		shape := t.GetShape()
		if len(shape) == 0 { // GetContents cannot read a scalar
			s, err := t.GetElement(0)
			return tensor.FromStrings(nil, []string{s}), err
		}
		strs, err := t.GetContents()
		return tensor.FromStrings(append([]int64(nil), shape...), strs), err
	case *ort.Sequence:
		vs, err := t.GetValues()
		if err != nil {
			return tensor.Tensor{}, err
		}
		elems := make([]tensor.Tensor, len(vs))
		for i, e := range vs {
			if elems[i], err = fromValue(e); err != nil {
				return tensor.Tensor{}, fmt.Errorf("sequence element %d: %w", i, err)
			}
		}
		return tensor.NewSequence(elems...), nil
	case *ort.Map:
		k, vs, err := t.GetKeysAndValues()
		if err != nil {
			return tensor.Tensor{}, err
		}
		keys, err := fromValue(k)
		if err != nil {
			return tensor.Tensor{}, fmt.Errorf("map keys: %w", err)
		}
		values, err := fromValue(vs)
		if err != nil {
			return tensor.Tensor{}, fmt.Errorf("map values: %w", err)
		}
		return tensor.NewMap(keys, values), nil
	}
	return tensor.Tensor{}, fmt.Errorf("ONNX Runtime returned a %T, which Lockstep does not carry (it carries tensors of %s, sequences and maps)", v, carriedDTypes())
}

// typedFrom copies the tensors and scalars the binding holds as Go slices.
var typedFrom = []func(ort.Value) (tensor.Tensor, bool){
	fromTyped[float32], fromTyped[float64], fromTyped[int8], fromTyped[uint8], fromTyped[int16], fromTyped[uint16],
	fromTyped[int32], fromTyped[uint32], fromTyped[int64], fromTyped[uint64], fromTyped[bool],
}

func fromTyped[T tensor.Elem](v ort.Value) (tensor.Tensor, bool) {
	switch t := v.(type) {
	case *ort.Tensor[T]:
		return fromSlice(tensor.DTypeOf[T](), t.GetShape(), t.GetData()), true
	case *ort.Scalar[T]:
		return fromSlice(tensor.DTypeOf[T](), nil, []T{t.GetData()}), true
	}
	return tensor.Tensor{}, false
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
	var dims []int64
	if len(shape) > 0 {
		dims = append(dims, shape...)
	}
	return tensor.Tensor{DType: d, Shape: dims, Data: b}
}

// defaultBackend is ONNX Runtime from lib.
func defaultBackend(lib string) Backend { return ORT{Library: lib} }
