// Package onnx writes small ONNX models (ModelProto bytes) without cgo and
// without generated protobuf code: the few messages the model manager needs
// are encoded by hand with protowire. Field numbers follow onnx/onnx.proto.
//
// The output is deterministic: the same Model value always encodes to the
// same bytes (fields in ascending number order within each message, packed
// repeated scalars never used for dims so older parsers read them too).
package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Float is TensorProto.FLOAT, the only element type written here.
const (
	Float = 1 // TensorProto.FLOAT
)

// Field numbers from onnx/onnx.proto.
const (
	// ModelProto
	modelIRVersion   = 1
	modelProducer    = 2
	modelGraph       = 7
	modelOpsetImport = 8
	// OperatorSetIdProto
	opsetDomain  = 1
	opsetVersion = 2
	// GraphProto
	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12
	// NodeProto
	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5
	// AttributeProto
	attrName   = 1
	attrF      = 2
	attrI      = 3
	attrFloats = 7
	attrInts   = 8
	attrType   = 20
	// TensorProto
	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9
	// ValueInfoProto
	valueName = 1
	valueType = 2
	// TypeProto / TypeProto.Tensor / TensorShapeProto / Dimension
	typeTensorType = 1
	tensorElemType = 1
	tensorShape    = 2
	shapeDim       = 1
	dimValue       = 1
	dimParam       = 2
)

// AttributeProto.AttributeType values.
const (
	attrTypeFloat  = 1
	attrTypeInt    = 2
	attrTypeFloats = 6
	attrTypeInts   = 7
)

// IRVersion and OpsetVersion are what Encode writes.
const (
	IRVersion    = 8
	OpsetVersion = 17
)

// Model is an ONNX model with one graph importing the default opset.
type Model struct {
	Producer string // optional producer_name
	Graph    Graph
}

// Graph is a GraphProto: nodes in topological order, float initializers,
// and typed inputs and outputs.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// Node is a NodeProto in the default domain.
type Node struct {
	Name    string
	OpType  string
	Inputs  []string
	Outputs []string
	Attrs   []Attr
}

// Attr is an AttributeProto holding exactly one of an int, a float, ints or
// floats; Kind selects which.
type Attr struct {
	Name   string
	Kind   AttrKind
	I      int64
	F      float32
	Ints   []int64
	Floats []float32
}

// AttrKind says which value an Attr holds.
type AttrKind int

// Attribute kinds.
const (
	AttrInt AttrKind = iota
	AttrFloat
	AttrInts
	AttrFloats
)

// IntAttr, FloatAttr and IntsAttr build attributes.
func IntAttr(name string, v int64) Attr         { return Attr{Name: name, Kind: AttrInt, I: v} }
func FloatAttr(name string, v float32) Attr     { return Attr{Name: name, Kind: AttrFloat, F: v} }
func IntsAttr(name string, v ...int64) Attr     { return Attr{Name: name, Kind: AttrInts, Ints: v} }
func FloatsAttr(name string, v ...float32) Attr { return Attr{Name: name, Kind: AttrFloats, Floats: v} }

// Tensor is a float32 TensorProto stored as raw_data (little endian).
type Tensor struct {
	Name string
	Dims []int64
	Data []float32
}

// Dim is one dimension of a tensor shape: a fixed size, or, when Param is
// not empty, a symbolic one such as "batch".
type Dim struct {
	Value int64
	Param string
}

// ValueInfo is a graph input or output of float32 elements.
type ValueInfo struct {
	Name  string
	Shape []Dim
}

// Encode returns the ModelProto bytes.
func (m *Model) Encode() []byte {
	var b []byte
	b = protowire.AppendTag(b, modelIRVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, IRVersion)
	if m.Producer != "" {
		b = appendString(b, modelProducer, m.Producer)
	}
	b = appendMessage(b, modelGraph, m.Graph.encode())
	var opset []byte
	opset = appendString(opset, opsetDomain, "") // "" is the default ai.onnx domain
	opset = protowire.AppendTag(opset, opsetVersion, protowire.VarintType)
	opset = protowire.AppendVarint(opset, OpsetVersion)
	b = appendMessage(b, modelOpsetImport, opset)
	return b
}

func (g *Graph) encode() []byte {
	var b []byte
	for i := range g.Nodes {
		b = appendMessage(b, graphNode, g.Nodes[i].encode())
	}
	if g.Name != "" {
		b = appendString(b, graphName, g.Name)
	}
	for i := range g.Initializers {
		b = appendMessage(b, graphInitializer, g.Initializers[i].encode())
	}
	for i := range g.Inputs {
		b = appendMessage(b, graphInput, g.Inputs[i].encode())
	}
	for i := range g.Outputs {
		b = appendMessage(b, graphOutput, g.Outputs[i].encode())
	}
	return b
}

func (n *Node) encode() []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = appendString(b, nodeInput, s)
	}
	for _, s := range n.Outputs {
		b = appendString(b, nodeOutput, s)
	}
	if n.Name != "" {
		b = appendString(b, nodeName, n.Name)
	}
	b = appendString(b, nodeOpType, n.OpType)
	for i := range n.Attrs {
		b = appendMessage(b, nodeAttribute, n.Attrs[i].encode())
	}
	return b
}

func (a *Attr) encode() []byte {
	var b []byte
	b = appendString(b, attrName, a.Name)
	var typ uint64
	switch a.Kind {
	case AttrFloat:
		typ = attrTypeFloat
		b = protowire.AppendTag(b, attrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		typ = attrTypeInt
		b = protowire.AppendTag(b, attrI, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case AttrFloats:
		typ = attrTypeFloats
		for _, f := range a.Floats {
			b = protowire.AppendTag(b, attrFloats, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case AttrInts:
		typ = attrTypeInts
		for _, v := range a.Ints {
			b = protowire.AppendTag(b, attrInts, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	default:
		panic("onnx: unknown attribute kind")
	}
	b = protowire.AppendTag(b, attrType, protowire.VarintType)
	b = protowire.AppendVarint(b, typ)
	return b
}

func (t *Tensor) encode() []byte {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	if n != int64(len(t.Data)) {
		panic("onnx: tensor " + t.Name + ": dims do not match data length")
	}
	var b []byte
	for _, d := range t.Dims {
		b = protowire.AppendTag(b, tensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, Float)
	b = appendString(b, tensorName, t.Name)
	raw := make([]byte, 4*len(t.Data))
	for i, f := range t.Data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	b = protowire.AppendTag(b, tensorRawData, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	return b
}

func (v *ValueInfo) encode() []byte {
	var shape []byte
	for _, d := range v.Shape {
		var dim []byte
		if d.Param != "" {
			dim = appendString(dim, dimParam, d.Param)
		} else {
			dim = protowire.AppendTag(dim, dimValue, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d.Value))
		}
		shape = appendMessage(shape, shapeDim, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, tensorElemType, protowire.VarintType)
	tt = protowire.AppendVarint(tt, Float)
	tt = appendMessage(tt, tensorShape, shape)
	var typ []byte
	typ = appendMessage(typ, typeTensorType, tt)
	var b []byte
	b = appendString(b, valueName, v.Name)
	b = appendMessage(b, valueType, typ)
	return b
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
