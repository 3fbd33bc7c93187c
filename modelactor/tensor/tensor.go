// Package tensor is the wire format of inference requests and results
// (sdk/ABI.md, "Tensors"): what agents hand to `infer` and what they receive
// back at the next tick. It is pure Go, so that every part of Lockstep can
// speak it, with or without ONNX Runtime.
//
// All integers are little-endian. A value list is
//
//	u32 count
//	count × value
//
// and a value is
//
//	u8 dtype, u8 rank, u8 kind, u8 0, u32 nbytes, rank × i64 dims, nbytes body
//
// Kind 0 is a dense tensor (the only kind of the first format, whose third
// header byte was reserved as 0: every encoding of that format is still
// valid and means the same): dtype is numbered as ONNX's
// TensorProto.DataType and the body is the elements packed row major, except
// for strings, whose body is one u32 end offset per element followed by the
// elements' bytes. Kind 1 is a sequence (dtype and rank 0): its body is a
// value list whose values all have the same kind and dtype. Kind 2 is a map
// (dtype and rank 0): its body is two values, the keys (a rank-1 tensor of
// integers or strings) and the values (a rank-1 tensor of the same length).
// Every value has exactly one encoding.
//
// A result is
//
//	u32 magic "LSIR", u32 request, i32 status, u32 flags, body
//
// where body is the output value list when status is 0, and a UTF-8 error
// text otherwise.
package tensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unsafe"
)

// DType is an element type, numbered as ONNX's TensorProto.DataType.
type DType uint8

// The element types Lockstep carries: every tensor element type ONNX
// Runtime's Go binding exchanges.
const (
	Float32  DType = 1
	Uint8    DType = 2
	Int8     DType = 3
	Uint16   DType = 4
	Int16    DType = 5
	Int32    DType = 6
	Int64    DType = 7
	String   DType = 8 // body: u32 end offset per element, then the bytes
	Bool     DType = 9
	Float16  DType = 10 // IEEE 754 half precision, as its 16 bits
	Float64  DType = 11
	Uint32   DType = 12
	Uint64   DType = 13
	BFloat16 DType = 16 // bfloat16, as its 16 bits (the top half of a float32)
)

// dtypes names the known dtypes and their element sizes, indexed by DType
// (an array, not a map: Size and Known are on the path of every checked
// element); an unknown dtype has no name.
var dtypes = [...]struct {
	name string
	size int
}{
	Float32: {"float32", 4}, Uint8: {"uint8", 1}, Int8: {"int8", 1}, Uint16: {"uint16", 2}, Int16: {"int16", 2},
	Int32: {"int32", 4}, Int64: {"int64", 8}, String: {"string", 0}, Bool: {"bool", 1}, Float16: {"float16", 2},
	Float64: {"float64", 8}, Uint32: {"uint32", 4}, Uint64: {"uint64", 8}, BFloat16: {"bfloat16", 2},
}

// Size is the size of one element in bytes: 0 for strings, which have no
// fixed size, and for an unknown type.
func (d DType) Size() int {
	if int(d) < len(dtypes) {
		return dtypes[d].size
	}
	return 0
}

// Known reports whether Lockstep carries tensors of d.
func (d DType) Known() bool { return int(d) < len(dtypes) && dtypes[d].name != "" }

// IsKey reports whether d can be the key type of a map: an integer or a
// string, as in ONNX.
func (d DType) IsKey() bool {
	switch d {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, String, Uint32, Uint64:
		return true
	}
	return false
}

func (d DType) String() string {
	if d.Known() {
		return dtypes[d].name
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// dtypeList names the known dtypes with their numbers, for errors.
func dtypeList() string {
	var parts []string
	for d, t := range dtypes {
		if t.name != "" {
			parts = append(parts, fmt.Sprintf("%s=%d", t.name, d))
		}
	}
	return strings.Join(parts, ", ")
}

// Kind says what a value is: a dense tensor, a sequence or a map.
type Kind uint8

// Kinds of values.
const (
	Dense    Kind = 0
	Sequence Kind = 1
	Map      Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Dense:
		return "tensor"
	case Sequence:
		return "sequence"
	case Map:
		return "map"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MaxRank is the largest rank the format carries.
const MaxRank = 8

// MaxDepth is how deeply sequences and maps may nest: a sequence of maps
// (what scikit-learn classifiers converted to ONNX answer) is depth 3 with
// the map's tensors.
const MaxDepth = 4

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("tensor: malformed")

// Tensor is one value of a list. For a dense tensor (Kind Dense) Data holds
// the elements row major, little-endian, len(Data) == Elements()*DType.Size(),
// or for strings the encoded body (see the package documentation; use
// FromStrings and Strings). A sequence (Kind Sequence) has its values in
// Elems; a map (Kind Map) has Elems {keys, values}; neither has a DType,
// Shape or Data.
type Tensor struct {
	Kind  Kind
	DType DType
	Shape []int64
	Data  []byte
	Elems []Tensor
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

// TypeString describes t's type the way ONNX writes it: float32[2×3],
// seq(map(int64,float32)).
func (t Tensor) TypeString() string {
	switch t.Kind {
	case Sequence:
		if len(t.Elems) == 0 {
			return "seq()"
		}
		return "seq(" + t.Elems[0].TypeString() + ")"
	case Map:
		if len(t.Elems) != 2 {
			return "map()"
		}
		return "map(" + t.Elems[0].DType.String() + "," + t.Elems[1].DType.String() + ")"
	}
	return t.DType.String() + ShapeString(t.Shape)
}

// Check reports why t is not a well-formed value, or nil.
func (t Tensor) Check() error { return t.check(1) }

func (t *Tensor) check(depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: sequences and maps nest deeper than %d", ErrMalformed, MaxDepth)
	}
	switch t.Kind {
	case Dense:
		if t.Elems != nil {
			return fmt.Errorf("%w: a dense tensor has no elements of its own (Elems)", ErrMalformed)
		}
		return t.checkDense()
	case Sequence, Map:
		if t.DType != 0 || len(t.Shape) != 0 || len(t.Data) != 0 {
			return fmt.Errorf("%w: a %s has no dtype, shape or data of its own", ErrMalformed, t.Kind)
		}
	default:
		return fmt.Errorf("%w: unknown kind %d (supported: tensor=0, sequence=1, map=2)", ErrMalformed, t.Kind)
	}
	for i := range t.Elems {
		if err := t.Elems[i].check(depth + 1); err != nil {
			return fmt.Errorf("%s element %d: %w", t.Kind, i, err)
		}
	}
	if t.Kind == Sequence {
		for i, e := range t.Elems {
			if e.Kind != t.Elems[0].Kind || e.DType != t.Elems[0].DType {
				return fmt.Errorf("%w: sequence element %d is a %s, element 0 a %s: a sequence holds values of one type", ErrMalformed, i, e.TypeString(), t.Elems[0].TypeString())
			}
		}
		return nil
	}
	if len(t.Elems) != 2 {
		return fmt.Errorf("%w: a map has 2 values (keys and values), this one %d", ErrMalformed, len(t.Elems))
	}
	k, v := t.Elems[0], t.Elems[1]
	if k.Kind != Dense || len(k.Shape) != 1 || !k.DType.IsKey() {
		return fmt.Errorf("%w: a map's keys are a rank-1 tensor of integers or strings, not %s", ErrMalformed, k.TypeString())
	}
	if v.Kind != Dense || len(v.Shape) != 1 || v.Shape[0] != k.Shape[0] {
		return fmt.Errorf("%w: a map's values are a rank-1 tensor as long as its keys (%d), not %s", ErrMalformed, k.Shape[0], v.TypeString())
	}
	return nil
}

func (t *Tensor) checkDense() error {
	if !t.DType.Known() {
		return fmt.Errorf("%w: unknown dtype %d (supported: %s)", ErrMalformed, t.DType, dtypeList())
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
	if t.DType == String {
		return checkStrings(t.Data, n)
	}
	if want := n * int64(t.DType.Size()); int64(len(t.Data)) != want {
		return fmt.Errorf("%w: a %s tensor of shape %s needs %d bytes of data, it has %d", ErrMalformed, t.DType, ShapeString(t.Shape), want, len(t.Data))
	}
	return nil
}

// checkStrings checks the body of a string tensor of n elements: n end
// offsets, non-decreasing, the last one the length of the bytes after them.
func checkStrings(b []byte, n int64) error {
	if int64(len(b)) < 4*n {
		return fmt.Errorf("%w: a string tensor of %d elements needs %d bytes of offsets, it has %d bytes", ErrMalformed, n, 4*n, len(b))
	}
	text := int64(len(b)) - 4*n
	prev := uint32(0)
	for i := range n {
		end := binary.LittleEndian.Uint32(b[4*i:])
		if end < prev || int64(end) > text {
			return fmt.Errorf("%w: string %d ends at %d, outside %d..%d", ErrMalformed, i, end, prev, text)
		}
		prev = end
	}
	if int64(prev) != text {
		return fmt.Errorf("%w: the strings end at %d but %d bytes follow the offsets", ErrMalformed, prev, text)
	}
	return nil
}

// AppendList appends the encoding of ts to b. It does not check the values.
func AppendList(b []byte, ts []Tensor) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ts)))
	for i := range ts {
		b = appendValue(b, &ts[i])
	}
	return b
}

func appendValue(b []byte, t *Tensor) []byte {
	b = appendValueHeader(b, t, bodySize(t))
	for _, d := range t.Shape {
		b = binary.LittleEndian.AppendUint64(b, uint64(d))
	}
	switch t.Kind {
	case Sequence:
		return AppendList(b, t.Elems)
	case Map:
		for i := range t.Elems {
			b = appendValue(b, &t.Elems[i])
		}
		return b
	}
	return append(b, t.Data...)
}

// appendValueHeader appends the fixed header of a value like t (its
// dtype, rank and kind) whose body is body bytes.
func appendValueHeader(b []byte, t *Tensor, body int) []byte {
	b = append(b, byte(t.DType), byte(len(t.Shape)), byte(t.Kind), 0)
	return binary.LittleEndian.AppendUint32(b, uint32(body))
}

// bodySize is the length of t's body.
func bodySize(t *Tensor) int {
	switch t.Kind {
	case Sequence:
		return ListSize(t.Elems)
	case Map:
		n := 0
		for i := range t.Elems {
			n += valueSize(&t.Elems[i])
		}
		return n
	}
	return len(t.Data)
}

// valueSize is the length of t's encoding.
func valueSize(t *Tensor) int { return 8 + 8*len(t.Shape) + bodySize(t) }

// EncodeList returns the encoding of ts.
func EncodeList(ts ...Tensor) []byte { return AppendList(make([]byte, 0, ListSize(ts)), ts) }

// ListSize is the length of the encoding of ts.
func ListSize(ts []Tensor) int {
	n := 4
	for i := range ts {
		n += valueSize(&ts[i])
	}
	return n
}

// Size is the number of bytes t's elements take: its data, or its
// elements' for a sequence or map. Output limits count it.
func (t Tensor) Size() int64 {
	n := int64(len(t.Data))
	for _, e := range t.Elems {
		n += e.Size()
	}
	return n
}

// DecodeList decodes a value list. The values' Data alias b.
func DecodeList(b []byte) ([]Tensor, error) { return decodeList(b, 1, nil) }

// Decoder decodes value lists as DecodeList does, but into storage it keeps
// from list to list: once it has grown to a tick's requests, decoding lists
// of dense tensors allocates nothing. The values of every list it decoded
// stay valid until Reset. It is for one goroutine at a time; the zero
// Decoder is ready to use.
type Decoder struct {
	ts   []Tensor // the values of the top-level lists, one after another
	dims []int64  // the shapes of every value, one after another
}

// DecodeList decodes a value list, with the same checks and errors as the
// function DecodeList; the values' Data alias b, their Shape and the list
// itself d's storage.
func (d *Decoder) DecodeList(b []byte) ([]Tensor, error) { return decodeList(b, 1, d) }

// Reset makes d's storage free for the next lists: the values d returned
// before are no longer valid. It keeps no reference to their data, and
// lets go of storage grown past decoderKeep values or dimensions (by a
// hostile list of many tiny values, say).
func (d *Decoder) Reset() {
	if cap(d.ts) > decoderKeep || cap(d.dims) > decoderKeep {
		*d = Decoder{}
		return
	}
	clear(d.ts) // past it, the values are clear since the last Reset
	d.ts, d.dims = d.ts[:0], d.dims[:0]
}

// DecodeLike decodes b when it is encoded exactly as prev, a list of dense
// values that d decoded as prevTs since its last Reset: the same length,
// and the same bytes outside the values' data. Since only those bytes
// (counts, types, ranks, dimensions, lengths) decide how a list of dense
// values decodes and whether it is well formed, b's values are prevTs's,
// sharing their shapes, with their Data at the same offsets of b. It
// reports false, decoding nothing, when b differs elsewhere or prevTs
// holds a string, a sequence or a map (whose bodies are checked too):
// then b needs DecodeList. A tick's requests for one model mostly agree
// in all but their data, and DecodeLike checks them at the cost of a
// comparison of their headers.
func (d *Decoder) DecodeLike(b, prev []byte, prevTs []Tensor) ([]Tensor, bool) {
	if len(b) != len(prev) || len(prevTs) == 0 {
		return nil, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(prev)))
	at := 0 // the end of the last value's data in prev
	for i := range prevTs {
		t := &prevTs[i]
		off := int(uintptr(unsafe.Pointer(unsafe.SliceData(t.Data))) - base)
		if t.Kind != Dense || t.DType == String || off < at || off+len(t.Data) > len(prev) ||
			!bytes.Equal(b[at:off], prev[at:off]) {
			return nil, false
		}
		at = off + len(t.Data)
	}
	if !bytes.Equal(b[at:], prev[at:]) {
		return nil, false
	}
	first := len(d.ts)
	for _, t := range prevTs {
		off := uintptr(unsafe.Pointer(unsafe.SliceData(t.Data))) - base
		t.Data = b[off : int(off)+len(t.Data) : int(off)+len(t.Data)]
		d.ts = append(d.ts, t)
	}
	return d.ts[first:len(d.ts):len(d.ts)], true
}

// decoderKeep is the most values, and the most dimensions, whose storage
// a Decoder keeps from one Reset to the next: a few ticks' worth of
// requests for one model, about 1.4 MB.
const decoderKeep = 1 << 14

// shape returns rank dimensions from d's storage, or new ones when d is
// nil.
func (d *Decoder) shape(rank int) []int64 {
	if d == nil {
		return make([]int64, rank)
	}
	n := len(d.dims)
	d.dims = slices.Grow(d.dims, rank)[:n+rank]
	return d.dims[n : n+rank : n+rank]
}

// decodeList reads a value list filling exactly b. The values of the
// outermost list are checked, which checks everything inside them. With a
// Decoder, the outermost list and every shape are taken from its storage
// (given back if the list is malformed); lists inside sequences are
// allocated.
func decodeList(b []byte, depth int, d *Decoder) ([]Tensor, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: a value list starts with a 4-byte count; have %d bytes", ErrMalformed, len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b))/8+1 {
		return nil, fmt.Errorf("%w: %d values cannot fit in %d bytes", ErrMalformed, n, len(b))
	}
	if d == nil || depth > 1 {
		ts, err := decodeValues(make([]Tensor, 0, n), n, b, depth, d)
		if err != nil {
			return nil, err
		}
		return ts, nil
	}
	first, dims := len(d.ts), len(d.dims)
	ts, err := decodeValues(d.ts, n, b, depth, d)
	if err != nil {
		clear(d.ts[first:cap(d.ts)])
		d.ts, d.dims = d.ts[:first], d.dims[:dims]
		return nil, err
	}
	d.ts = ts
	return ts[first:len(ts):len(ts)], nil
}

// decodeValues appends the n values that fill b to ts and returns it (or,
// for an error, the values decoded so far). Each value is decoded, and at
// depth 1 checked, in its place at the end of ts.
func decodeValues(ts []Tensor, n uint32, b []byte, depth int, d *Decoder) ([]Tensor, error) {
	for i := range n {
		ts = append(ts, Tensor{})
		t := &ts[len(ts)-1]
		rest, err := decodeValue(t, b, depth, d)
		if err == nil && depth == 1 {
			err = t.check(1)
		}
		if err != nil {
			return ts, fmt.Errorf("value %d: %w", i, err)
		}
		b = rest
	}
	if len(b) != 0 {
		return ts, fmt.Errorf("%w: %d bytes after the last value", ErrMalformed, len(b))
	}
	return ts, nil
}

// decodeValue reads one value from the start of b into t (a zero Tensor)
// and returns the rest of b.
func decodeValue(t *Tensor, b []byte, depth int, d *Decoder) ([]byte, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: sequences and maps nest deeper than %d", ErrMalformed, MaxDepth)
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: header cut short", ErrMalformed)
	}
	t.DType, t.Kind = DType(b[0]), Kind(b[2])
	rank := int(b[1])
	if b[3] != 0 {
		return nil, fmt.Errorf("%w: reserved header byte must be 0", ErrMalformed)
	}
	nbytes := uint64(binary.LittleEndian.Uint32(b[4:]))
	b = b[8:]
	if rank > MaxRank {
		return nil, fmt.Errorf("%w: rank %d is over the limit of %d", ErrMalformed, rank, MaxRank)
	}
	if uint64(len(b)) < uint64(8*rank)+nbytes {
		return nil, fmt.Errorf("%w: %d dims and %d body bytes do not fit in the %d bytes left", ErrMalformed, rank, nbytes, len(b))
	}
	if rank > 0 {
		t.Shape = d.shape(rank)
		for j := range t.Shape {
			t.Shape[j] = int64(binary.LittleEndian.Uint64(b[8*j:]))
		}
	}
	b = b[8*rank:]
	body, rest := b[:nbytes:nbytes], b[nbytes:]
	var err error
	switch t.Kind {
	case Sequence:
		t.Elems, err = decodeList(body, depth+1, d)
	case Map:
		for len(body) > 0 && err == nil {
			t.Elems = append(t.Elems, Tensor{})
			body, err = decodeValue(&t.Elems[len(t.Elems)-1], body, depth+1, d)
		}
	default:
		t.Data = body
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Kind, err)
	}
	return rest, nil
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
func (r Result) Encode() []byte { return r.AppendEncode(make([]byte, 0, r.EncodedSize())) }

// EncodedSize is the length of r's wire form.
func (r Result) EncodedSize() int {
	if r.Status == OK {
		return ResultHeaderSize + ListSize(r.Outputs)
	}
	return ResultHeaderSize + len(r.Error)
}

// AppendEncode appends the wire form of r to b and returns the extended
// buffer: the answers of a tick can share one allocation.
func (r Result) AppendEncode(b []byte) []byte {
	b = appendResultHeader(b, r.Request, r.Status, r.Flags)
	if r.Status != OK {
		return append(b, r.Error...)
	}
	return AppendList(b, r.Outputs)
}

// appendResultHeader appends a result's fixed header (ResultHeaderSize
// bytes).
func appendResultHeader(b []byte, request uint32, status Status, flags Flags) []byte {
	b = binary.LittleEndian.AppendUint32(b, Magic)
	b = binary.LittleEndian.AppendUint32(b, request)
	b = binary.LittleEndian.AppendUint32(b, uint32(status))
	return binary.LittleEndian.AppendUint32(b, uint32(flags))
}

// AppendRows appends the wire form of a successful result for request
// whose outputs are rows [start, start+n) of outs: dense tensors of a
// fixed-size dtype with total rows each, as a batched run gives them. The
// bytes are those AppendEncode gives for the outputs cut out, without
// building them: a batch's answers are encoded straight from its outputs.
func AppendRows(b []byte, request uint32, flags Flags, outs []Tensor, total, start, n int64) []byte {
	b = appendResultHeader(b, request, OK, flags)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(outs)))
	for i := range outs {
		o := &outs[i]
		row := int64(len(o.Data)) / total
		data := o.Data[start*row : (start+n)*row]
		b = appendValueHeader(b, o, len(data))
		b = binary.LittleEndian.AppendUint64(b, uint64(n))
		for _, d := range o.Shape[1:] {
			b = binary.LittleEndian.AppendUint64(b, uint64(d))
		}
		b = append(b, data...)
	}
	return b
}

// EncodeAll returns the wire form of each of rs, as Encode does, cut from
// one allocation: the answers of a tick cost two allocations, not one
// each. Each is capped at its own length, so appending to one copies it
// instead of overwriting the next.
func EncodeAll(rs []Result) [][]byte {
	n := 0
	for i := range rs {
		n += rs[i].EncodedSize()
	}
	out := make([][]byte, len(rs))
	b := make([]byte, 0, n)
	for i := range rs {
		start := len(b)
		b = rs[i].AppendEncode(b)
		out[i] = b[start:len(b):len(b)]
	}
	return out
}

// IsResult reports whether p starts like an encoded result.
func IsResult(p []byte) bool {
	return len(p) >= ResultHeaderSize && binary.LittleEndian.Uint32(p) == Magic
}

// StatusOf returns the status of an encoded result without decoding its
// outputs.
func StatusOf(p []byte) (Status, error) {
	if !IsResult(p) {
		return 0, fmt.Errorf("%w: not an inference result (no LSIR header)", ErrMalformed)
	}
	return Status(binary.LittleEndian.Uint32(p[8:])), nil
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
