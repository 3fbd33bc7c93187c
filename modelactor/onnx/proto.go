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

// Element types (TensorProto.DataType) of tensors and values.
const (
	Float    = 1
	Uint8    = 2
	Int8     = 3
	Uint16   = 4
	Int16    = 5
	Int32    = 6
	Int64    = 7
	String   = 8
	Bool     = 9
	Float16  = 10
	Double   = 11
	Uint32   = 12
	Uint64   = 13
	BFloat16 = 16
)

// MLDomain is the domain of ONNX's traditional machine learning operators
// (ZipMap, LabelEncoder, ...), which scikit-learn models converted to ONNX
// use; Model.Imports must import it for nodes of that domain.
const MLDomain = "ai.onnx.ml"

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
	nodeDomain    = 7
	// AttributeProto
	attrName    = 1
	attrF       = 2
	attrI       = 3
	attrS       = 4
	attrFloats  = 7
	attrInts    = 8
	attrStrings = 9
	attrType    = 20
	// TensorProto
	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9
	// ValueInfoProto
	valueName = 1
	valueType = 2
	// TypeProto / TypeProto.Tensor / TensorShapeProto / Dimension (the
	// sequence and map fields are with Inspect's, in inspect.go)
	typeTensorType = 1
	tensorElemType = 1
	tensorShape    = 2
	shapeDim       = 1
	dimValue       = 1
	dimParam       = 2
)

// AttributeProto.AttributeType values.
const (
	attrTypeFloat   = 1
	attrTypeInt     = 2
	attrTypeFloats  = 6
	attrTypeInts    = 7
	attrTypeString  = 3
	attrTypeStrings = 8
)

// IRVersion and OpsetVersion are what Encode writes.
const (
	IRVersion    = 8
	OpsetVersion = 17
)

// Model is an ONNX model with one graph importing the default opset and,
// optionally, others.
type Model struct {
	Producer string // optional producer_name
	Graph    Graph
	Imports  []Opset // opsets besides the default one
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

// Node is a NodeProto, in the default domain unless Domain says otherwise.
type Node struct {
	Name    string
	OpType  string
	Inputs  []string
	Outputs []string
	Attrs   []Attr
	Domain  string
}

// Attr is an AttributeProto holding exactly one of an int, a float, a
// string, ints, floats or strings; Kind selects which.
type Attr struct {
	Name    string
	Kind    AttrKind
	I       int64
	F       float32
	S       string
	Ints    []int64
	Floats  []float32
	Strings []string
}

// AttrKind says which value an Attr holds.
type AttrKind int

// Attribute kinds.
const (
	AttrInt AttrKind = iota
	AttrFloat
	AttrInts
	AttrFloats
	AttrString
	AttrStrings
)

// IntAttr is an integer attribute.
func IntAttr(name string, v int64) Attr { return Attr{Name: name, Kind: AttrInt, I: v} }

// FloatAttr is a float attribute.
func FloatAttr(name string, v float32) Attr { return Attr{Name: name, Kind: AttrFloat, F: v} }

// IntsAttr is an attribute holding a list of integers.
func IntsAttr(name string, v ...int64) Attr { return Attr{Name: name, Kind: AttrInts, Ints: v} }

// FloatsAttr is an attribute holding a list of floats.
func FloatsAttr(name string, v ...float32) Attr { return Attr{Name: name, Kind: AttrFloats, Floats: v} }

// StringAttr is a string attribute.
func StringAttr(name, v string) Attr { return Attr{Name: name, Kind: AttrString, S: v} }

// StringsAttr is an attribute holding a list of strings.
func StringsAttr(name string, v ...string) Attr {
	return Attr{Name: name, Kind: AttrStrings, Strings: v}
}

// Tensor is a TensorProto stored as raw_data (little endian): float32
// elements in Data, or, when DataType is set, elements of that type in Raw.
type Tensor struct {
	Name     string
	Dims     []int64
	Data     []float32
	DataType int
	Raw      []byte
}

// Dim is one dimension of a tensor shape: a fixed size, or, when Param is
// not empty, a symbolic one such as "batch".
type Dim struct {
	Value int64
	Param string
}

// ValueInfo is a graph input or output: a tensor of Elem (0: float32)
// elements and Shape (none: a scalar), or, when Type is set, a value of
// that type.
type ValueInfo struct {
	Name  string
	Shape []Dim
	Elem  int
	Type  *Type
}

// Type is a TypeProto other than a shaped tensor: a tensor of Elem
// elements and unknown shape, a sequence of Seq, or a map from Key elements
// to Value.
type Type struct {
	Elem  int
	Seq   *Type
	Key   int
	Value *Type
}

// SeqOf is the type of a sequence of elem values.
func SeqOf(elem *Type) *Type { return &Type{Seq: elem} }

// MapOf is the type of a map from key elements (a TensorProto data type)
// to value.
func MapOf(key int, value *Type) *Type { return &Type{Key: key, Value: value} }

// TensorOf is the type of a tensor of elem elements (a TensorProto data
// type) and unknown shape.
func TensorOf(elem int) *Type { return &Type{Elem: elem} }

// Encode returns the ModelProto bytes.
func (m *Model) Encode() []byte {
	var b []byte
	b = protowire.AppendTag(b, modelIRVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, IRVersion)
	if m.Producer != "" {
		b = appendString(b, modelProducer, m.Producer)
	}
	b = appendMessage(b, modelGraph, m.Graph.encode())
	for _, o := range append([]Opset{{"", OpsetVersion}}, m.Imports...) { // "" is the default ai.onnx domain
		var opset []byte
		opset = appendString(opset, opsetDomain, o.Domain)
		opset = protowire.AppendTag(opset, opsetVersion, protowire.VarintType)
		opset = protowire.AppendVarint(opset, uint64(o.Version))
		b = appendMessage(b, modelOpsetImport, opset)
	}
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
	if n.Domain != "" {
		b = appendString(b, nodeDomain, n.Domain)
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
	case AttrString:
		typ = attrTypeString
		b = appendString(b, attrS, a.S)
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
	case AttrStrings:
		typ = attrTypeStrings
		for _, s := range a.Strings {
			b = appendString(b, attrStrings, s)
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
	typ, raw := t.DataType, t.Raw
	if typ == 0 {
		if n != int64(len(t.Data)) {
			panic("onnx: tensor " + t.Name + ": dims do not match data length")
		}
		typ = Float
		raw = make([]byte, 4*len(t.Data))
		for i, f := range t.Data {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
		}
	}
	var b []byte
	for _, d := range t.Dims {
		b = protowire.AppendTag(b, tensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(typ))
	b = appendString(b, tensorName, t.Name)
	b = protowire.AppendTag(b, tensorRawData, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	return b
}

func (v *ValueInfo) encode() []byte {
	typ := v.Type.encode()
	if v.Type == nil {
		typ = appendMessage(nil, typeTensorType, tensorType(v.Elem, v.Shape))
	}
	var b []byte
	b = appendString(b, valueName, v.Name)
	b = appendMessage(b, valueType, typ)
	return b
}

// encode returns the TypeProto of t.
func (t *Type) encode() []byte {
	switch {
	case t == nil:
		return nil
	case t.Seq != nil:
		return appendMessage(nil, typeSequenceType, appendMessage(nil, elemType, t.Seq.encode()))
	case t.Value != nil:
		var m []byte
		m = protowire.AppendTag(m, mapKeyType, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(t.Key))
		m = appendMessage(m, mapValueType, t.Value.encode())
		return appendMessage(nil, typeMapType, m)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, tensorElemType, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(t.Elem))
	return appendMessage(nil, typeTensorType, tt)
}

// tensorType is a TypeProto.Tensor of elem (0: float32) with shape.
func tensorType(elem int, dims []Dim) []byte {
	if elem == 0 {
		elem = Float
	}
	var shape []byte
	for _, d := range dims {
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
	tt = protowire.AppendVarint(tt, uint64(elem))
	return appendMessage(tt, tensorShape, shape)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
