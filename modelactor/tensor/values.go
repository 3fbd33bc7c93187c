package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Elem is a Go type that holds one element of a fixed-size dtype exactly.
// float16 and bfloat16 have no Go type: FromFloat16, Float16s, FromBFloat16
// and BFloat16s convert them from and to float32.
type Elem interface {
	float32 | float64 | int8 | uint8 | int16 | uint16 | int32 | uint32 | int64 | uint64 | bool
}

// DTypeOf is the dtype whose elements T holds.
func DTypeOf[T Elem]() DType {
	var zero T
	switch any(zero).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int8:
		return Int8
	case uint8:
		return Uint8
	case int16:
		return Int16
	case uint16:
		return Uint16
	case int32:
		return Int32
	case uint32:
		return Uint32
	case int64:
		return Int64
	case uint64:
		return Uint64
	}
	return Bool
}

// From returns a tensor of shape holding v (len(v) must be the product of
// shape; a nil or empty shape is a scalar).
func From[T Elem](shape []int64, v []T) Tensor {
	b, err := binary.Append(make([]byte, 0, len(v)*DTypeOf[T]().Size()), binary.LittleEndian, v)
	if err != nil {
		panic(err) // cannot happen: every Elem has a fixed size
	}
	return Tensor{DType: DTypeOf[T](), Shape: shape, Data: b}
}

// As returns the elements of a tensor of T's dtype.
func As[T Elem](t Tensor) ([]T, error) {
	if err := t.want(DTypeOf[T]()); err != nil {
		return nil, err
	}
	v := make([]T, len(t.Data)/t.DType.Size())
	if _, err := binary.Decode(t.Data, binary.LittleEndian, v); err != nil {
		return nil, fmt.Errorf("tensor: %w", err)
	}
	return v, nil
}

// want reports an error unless t is a dense tensor of d.
func (t Tensor) want(d DType) error {
	if t.Kind != Dense || t.DType != d {
		return fmt.Errorf("tensor: want a %s tensor, have %s", d, t.TypeString())
	}
	return nil
}

// FromFloat32 returns a float32 tensor of shape holding v.
func FromFloat32(shape []int64, v []float32) Tensor { return From(shape, v) }

// Float32s returns the elements of a float32 tensor.
func (t Tensor) Float32s() ([]float32, error) { return As[float32](t) }

// FromFloat16 returns a float16 tensor of shape holding v, each rounded to
// the nearest half (ties to even).
func FromFloat16(shape []int64, v []float32) Tensor {
	return from16(Float16, shape, v, Float32ToHalf)
}

// Float16s returns the elements of a float16 tensor as float32 (exactly).
func (t Tensor) Float16s() ([]float32, error) { return t.as16(Float16, HalfToFloat32) }

// FromBFloat16 returns a bfloat16 tensor of shape holding v, each rounded to
// the nearest bfloat16 (ties to even).
func FromBFloat16(shape []int64, v []float32) Tensor {
	return from16(BFloat16, shape, v, Float32ToBFloat16)
}

// BFloat16s returns the elements of a bfloat16 tensor as float32 (exactly).
func (t Tensor) BFloat16s() ([]float32, error) { return t.as16(BFloat16, BFloat16ToFloat32) }

func from16(d DType, shape []int64, v []float32, conv func(float32) uint16) Tensor {
	b := make([]byte, 2*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint16(b[2*i:], conv(f))
	}
	return Tensor{DType: d, Shape: shape, Data: b}
}

func (t Tensor) as16(d DType, conv func(uint16) float32) ([]float32, error) {
	if err := t.want(d); err != nil {
		return nil, err
	}
	v := make([]float32, len(t.Data)/2)
	for i := range v {
		v[i] = conv(binary.LittleEndian.Uint16(t.Data[2*i:]))
	}
	return v, nil
}

// HalfToFloat32 converts the bits of an IEEE 754 half to the float32 of
// the same value (NaN payloads kept in the top bits).
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	case man == 0: // zero
		return math.Float32frombits(sign)
	}
	// Subnormal: normalise the mantissa.
	e := uint32(127 - 15 + 1)
	for man&0x400 == 0 {
		man <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
}

// Float32ToHalf rounds f to the nearest IEEE 754 half (ties to even) and
// returns its bits; a NaN stays a NaN.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7c00 | 0x200 | uint16(man>>13)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign // rounds to zero
		}
		man |= 0x800000
		shift := uint32(14 - e)
		half := man >> shift
		rem := man & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to infinity: still right
	}
	return sign | uint16(h)
}

// BFloat16ToFloat32 converts the bits of a bfloat16 to its float32.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBFloat16 rounds f to the nearest bfloat16 (ties to even) and
// returns its bits; a NaN stays a NaN.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// FromStrings returns a string tensor of shape holding v.
func FromStrings(shape []int64, v []string) Tensor {
	n := 4 * len(v)
	for _, s := range v {
		n += len(s)
	}
	b := make([]byte, 4*len(v), n)
	end := 0
	for i, s := range v {
		end += len(s)
		binary.LittleEndian.PutUint32(b[4*i:], uint32(end))
	}
	for _, s := range v {
		b = append(b, s...)
	}
	return Tensor{DType: String, Shape: shape, Data: b}
}

// Strings returns the elements of a string tensor.
func (t Tensor) Strings() ([]string, error) {
	if err := t.want(String); err != nil {
		return nil, err
	}
	n := int(t.Elements())
	if err := checkStrings(t.Data, int64(n)); err != nil {
		return nil, err
	}
	text := t.Data[4*n:]
	v := make([]string, n)
	start := uint32(0)
	for i := range v {
		end := binary.LittleEndian.Uint32(t.Data[4*i:])
		v[i] = string(text[start:end])
		start = end
	}
	return v, nil
}

// NewSequence returns the sequence of elems (all of one type).
func NewSequence(elems ...Tensor) Tensor {
	if elems == nil {
		elems = []Tensor{}
	}
	return Tensor{Kind: Sequence, Elems: elems}
}

// NewMap returns the map of keys (a rank-1 tensor of integers or strings)
// to values (a rank-1 tensor as long).
func NewMap(keys, values Tensor) Tensor { return Tensor{Kind: Map, Elems: []Tensor{keys, values}} }

// MapKeys and MapValues return a map's keys and values tensors.
func (t Tensor) MapKeys() Tensor { return t.mapPart(0) }

// MapValues returns a map's values tensor (see MapKeys).
func (t Tensor) MapValues() Tensor { return t.mapPart(1) }

func (t Tensor) mapPart(i int) Tensor {
	if t.Kind != Map || len(t.Elems) != 2 {
		return Tensor{}
	}
	return t.Elems[i]
}
