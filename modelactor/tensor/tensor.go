// Package tensor is the wire format of inference requests and results
// (sdk/ABI.md, "Tensors"): what agents hand to `infer` and what they receive
// back at the next tick. It is pure Go, so that every part of Lockstep can
// speak it, with or without ONNX Runtime.
//
// All integers are little-endian. A tensor list is
//
//	u32 count
//	count × { u8 dtype, u8 rank, u16 0, u32 nbytes, rank × i64 dims, nbytes data }
//
// with dtype numbered as ONNX's TensorProto.DataType and data packed row
// major. A result is
//
//	u32 magic "LSIR", u32 request, i32 status, u32 flags, body
//
// where body is the output tensor list when status is 0, and a UTF-8 error
// text otherwise.
package tensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// DType is an element type, numbered as ONNX's TensorProto.DataType.
type DType uint8

// The element types Lockstep carries.
const (
	Float32 DType = 1
	Uint8   DType = 2
	Int8    DType = 3
	Int16   DType = 5
	Int32   DType = 6
	Int64   DType = 7
	Bool    DType = 9
	Float64 DType = 11
)

var dtypes = map[DType]struct {
	name string
	size int
}{
	Float32: {"float32", 4}, Uint8: {"uint8", 1}, Int8: {"int8", 1}, Int16: {"int16", 2},
	Int32: {"int32", 4}, Int64: {"int64", 8}, Bool: {"bool", 1}, Float64: {"float64", 8},
}

// Size is the size of one element in bytes (0 for an unknown type).
func (d DType) Size() int { return dtypes[d].size }

func (d DType) String() string {
	if t, ok := dtypes[d]; ok {
		return t.name
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// MaxRank is the largest rank the format carries.
const MaxRank = 8

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("tensor: malformed")

// Tensor is a dense tensor. Data holds the elements row major,
// little-endian; len(Data) == Elements()*DType.Size().
type Tensor struct {
	DType DType
	Shape []int64
	Data  []byte
}

// Elements is the product of the shape (1 for a scalar).
func (t Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// ShapeString formats the shape as [2 3].
func ShapeString(s []int64) string { return strings.ReplaceAll(fmt.Sprint(s), " ", "×") }

// Check reports why t is not a well-formed tensor, or nil.
func (t Tensor) Check() error {
	if t.DType.Size() == 0 {
		return fmt.Errorf("%w: unknown dtype %d (supported: float32=1, uint8=2, int8=3, int16=5, int32=6, int64=7, bool=9, float64=11)", ErrMalformed, t.DType)
	}
	if len(t.Shape) > MaxRank {
		return fmt.Errorf("%w: rank %d is over the limit of %d", ErrMalformed, len(t.Shape), MaxRank)
	}
	n := int64(1)
	for _, d := range t.Shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return fmt.Errorf("%w: shape %s has a negative or too large dimension", ErrMalformed, ShapeString(t.Shape))
		}
		n *= d
	}
	if want := n * int64(t.DType.Size()); int64(len(t.Data)) != want {
		return fmt.Errorf("%w: a %s tensor of shape %s needs %d bytes of data, it has %d", ErrMalformed, t.DType, ShapeString(t.Shape), want, len(t.Data))
	}
	return nil
}

// FromFloat32 returns a float32 tensor of shape holding v.
func FromFloat32(shape []int64, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return Tensor{DType: Float32, Shape: shape, Data: b}
}

// Float32s returns the elements of a float32 tensor.
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != Float32 {
		return nil, fmt.Errorf("tensor: want float32, have %s", t.DType)
	}
	v := make([]float32, len(t.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// AppendList appends the encoding of ts to b. It does not check the tensors.
func AppendList(b []byte, ts []Tensor) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ts)))
	for _, t := range ts {
		b = append(b, byte(t.DType), byte(len(t.Shape)), 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t.Data)))
		for _, d := range t.Shape {
			b = binary.LittleEndian.AppendUint64(b, uint64(d))
		}
		b = append(b, t.Data...)
	}
	return b
}

// EncodeList returns the encoding of ts.
func EncodeList(ts ...Tensor) []byte { return AppendList(make([]byte, 0, ListSize(ts)), ts) }

// ListSize is the length of the encoding of ts.
func ListSize(ts []Tensor) int {
	n := 4
	for _, t := range ts {
		n += 8 + 8*len(t.Shape) + len(t.Data)
	}
	return n
}

// DecodeList decodes a tensor list. The tensors' Data alias b.
func DecodeList(b []byte) ([]Tensor, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: a tensor list starts with a 4-byte count; have %d bytes", ErrMalformed, len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b))/8+1 {
		return nil, fmt.Errorf("%w: %d tensors cannot fit in %d bytes", ErrMalformed, n, len(b))
	}
	ts := make([]Tensor, 0, n)
	for i := range n {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: tensor %d: header cut short", ErrMalformed, i)
		}
		t := Tensor{DType: DType(b[0])}
		rank := int(b[1])
		if b[2] != 0 || b[3] != 0 {
			return nil, fmt.Errorf("%w: tensor %d: reserved header bytes must be 0", ErrMalformed, i)
		}
		nbytes := uint64(binary.LittleEndian.Uint32(b[4:]))
		b = b[8:]
		if rank > MaxRank {
			return nil, fmt.Errorf("%w: tensor %d: rank %d is over the limit of %d", ErrMalformed, i, rank, MaxRank)
		}
		if uint64(len(b)) < uint64(8*rank)+nbytes {
			return nil, fmt.Errorf("%w: tensor %d: %d dims and %d data bytes do not fit in the %d bytes left", ErrMalformed, i, rank, nbytes, len(b))
		}
		t.Shape = make([]int64, rank)
		for j := range t.Shape {
			t.Shape[j] = int64(binary.LittleEndian.Uint64(b[8*j:]))
		}
		b = b[8*rank:]
		t.Data = b[:nbytes:nbytes]
		b = b[nbytes:]
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
		ts = append(ts, t)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last tensor", ErrMalformed, len(b))
	}
	return ts, nil
}

// Status is the outcome of one inference request. The negative values match
// sdk/ABI.md's return codes.
type Status int32

// Statuses.
const (
	OK             Status = 0
	Unavailable    Status = -6  // no model manager, or no ONNX Runtime
	Denied         Status = -7  // the agent lacks the capability for the model
	UnknownModel   Status = -10 // no model with that id
	UnknownVersion Status = -11 // the model has no such version
	BadInput       Status = -12 // malformed tensors, or a wrong count, dtype or shape
	LoadFailed     Status = -13 // the model file is missing, corrupt or not the registered sha256
	RunFailed      Status = -14 // ONNX Runtime failed to run the model
)

var statusNames = map[Status]string{
	OK: "ok", Unavailable: "unavailable", Denied: "denied", UnknownModel: "unknown model",
	UnknownVersion: "unknown version", BadInput: "bad input", LoadFailed: "load failed", RunFailed: "run failed",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// Flags describe a result.
type Flags uint32

// Result flags.
const (
	// Recorded marks an output that came from a non-deterministic source
	// (a GPU, or a model in fast mode): the replay log holds it and replay
	// feeds it back instead of running the model.
	Recorded Flags = 1 << iota
	// Batched marks an output computed in one run with other agents'
	// requests for the same model.
	Batched
)

// Magic starts every result: "LSIR".
const Magic uint32 = 'L' | 'S'<<8 | 'I'<<16 | 'R'<<24

// ResultHeaderSize is the size of a result's fixed header.
const ResultHeaderSize = 16

// Result is the answer to one request.
type Result struct {
	// Request is the number infer returned for the request: its position
	// among the agent's requests in the tick it was made.
	Request uint32
	Status  Status
	Flags   Flags
	Outputs []Tensor // when Status is OK
	Error   string   // otherwise
}

// Err returns the result's error, or nil when it is OK.
func (r Result) Err() error {
	if r.Status == OK {
		return nil
	}
	return &Error{Status: r.Status, Msg: r.Error}
}

// Error is a failed inference.
type Error struct {
	Status Status
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Encode returns the wire form of r.
func (r Result) Encode() []byte {
	size := ResultHeaderSize + len(r.Error)
	if r.Status == OK {
		size = ResultHeaderSize + ListSize(r.Outputs)
	}
	b := binary.LittleEndian.AppendUint32(make([]byte, 0, size), Magic)
	b = binary.LittleEndian.AppendUint32(b, r.Request)
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Status))
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Flags))
	if r.Status != OK {
		return append(b, r.Error...)
	}
	return AppendList(b, r.Outputs)
}

// IsResult reports whether p starts like an encoded result.
func IsResult(p []byte) bool {
	return len(p) >= ResultHeaderSize && binary.LittleEndian.Uint32(p) == Magic
}

// DecodeResult decodes an encoded result; output tensors alias p.
func DecodeResult(p []byte) (Result, error) {
	if !IsResult(p) {
		return Result{}, fmt.Errorf("%w: not an inference result (no LSIR header)", ErrMalformed)
	}
	r := Result{
		Request: binary.LittleEndian.Uint32(p[4:]),
		Status:  Status(binary.LittleEndian.Uint32(p[8:])),
		Flags:   Flags(binary.LittleEndian.Uint32(p[12:])),
	}
	body := p[ResultHeaderSize:]
	if r.Status != OK {
		r.Error = string(body)
		return r, nil
	}
	var err error
	r.Outputs, err = DecodeList(body)
	return r, err
}

// Failure returns the result of a failed request.
func Failure(request uint32, s Status, format string, args ...any) Result {
	return Result{Request: request, Status: s, Error: fmt.Sprintf(format, args...)}
}
