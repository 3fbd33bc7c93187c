package onnx

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Info is what Inspect reads from a ModelProto: what a model declares,
// without ONNX Runtime.
type Info struct {
	IRVersion       int64
	Producer        string // producer_name
	ProducerVersion string
	Domain          string // the model's own domain, often empty
	ModelVersion    int64
	Graph           string // the graph's name
	// Opsets are the operator sets the model imports, in file order; the
	// default domain "" is named "ai.onnx".
	Opsets []Opset
	// Inputs are the graph's inputs that are not initializers (in IR
	// versions before 4 every weight is also listed as an input), Outputs
	// its outputs.
	Inputs, Outputs []Value
	// Nodes and Initializers count the graph's nodes and weights.
	Nodes, Initializers int
}

// Opset is an operator set a model imports: Model.Imports writes them,
// Inspect reads them. The default domain is "" in a file; Inspect names it
// "ai.onnx".
type Opset struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

// Value is a graph input or output.
type Value struct {
	Name string
	// Type is the ONNX type: "tensor", "sequence", "map", "optional",
	// "sparse_tensor", or "" when the model leaves it undeclared.
	Type string
	// Elem is a tensor's element type ("float32", "int64", ...; also of a
	// sparse tensor) or, for the other types, the type they hold, written
	// as "tensor(float32)", "map(int64,tensor(float32))", ...
	Elem string
	// Shape is a tensor's shape when the model declares one (HasShape): a
	// dimension is a size (Value), a name (Param, symbolic; Value -1) or
	// unknown (Value -1, no Param), so Value is what ONNX Runtime reports.
	Shape    []Dim
	HasShape bool
}

// String writes the value's type: a tensor as its element type and shape,
// "float32[batch,4]" ("float32[]" a scalar, "float32" with no declared
// shape), anything else as ONNX writes types,
// "sequence(map(int64,tensor(float32)))".
func (v Value) String() string {
	if v.Type != "tensor" {
		return v.typeName()
	}
	if !v.HasShape {
		return v.Elem
	}
	dims := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		dims[i] = d.String()
	}
	return v.Elem + "[" + strings.Join(dims, ",") + "]"
}

// typeName writes the value's type without its shape, as ONNX does:
// "tensor(float32)".
func (v Value) typeName() string {
	switch {
	case v.Type == "" && v.Elem == "":
		return "undefined"
	case v.Type == "":
		return v.Elem
	}
	return v.Type + "(" + v.Elem + ")"
}

// String is the dimension's size, its name, or "?" when unknown.
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value < 0:
		return "?"
	}
	return fmt.Sprint(d.Value)
}

// LeadingSymbolic reports whether the value is a tensor whose first
// dimension is not a fixed size: a batch dimension.
func (v Value) LeadingSymbolic() bool {
	return v.Type == "tensor" && v.HasShape && len(v.Shape) > 0 && (v.Shape[0].Param != "" || v.Shape[0].Value < 0)
}

// ErrMalformed is wrapped by Inspect's errors: the bytes are not an ONNX
// model, or a damaged or truncated one.
var ErrMalformed = errors.New("onnx: not a well-formed ONNX model")

// Further field numbers from onnx/onnx.proto, for reading.
const (
	modelProducerVersion = 3
	modelDomain          = 4
	modelModelVersion    = 5
	// TypeProto
	typeSequenceType = 4
	typeMapType      = 5
	typeSparseTensor = 8
	typeOptionalType = 9
	// TypeProto.Map
	mapKeyType   = 1
	mapValueType = 2
	// TypeProto.Sequence, TypeProto.Optional
	elemType = 1
	// Nested TypeProtos deeper than this are refused: no real model nests
	// sequences and maps this deep, and a crafted one must not recurse
	// without bound.
	maxTypeDepth = 32
)

// elemTypes names TensorProto.DataType values as Lockstep does.
var elemTypes = map[uint64]string{
	1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool",
	10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16",
	17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4e2m1",
}

func elemName(t uint64) string {
	if n, ok := elemTypes[t]; ok {
		return n
	}
	return fmt.Sprintf("elem_type(%d)", t)
}

// wireReader walks one message's fields, remembering where it is in the whole
// file for errors.
type wireReader struct {
	b    []byte
	base int // offset of b in the file
	off  int
}

// wireField is one field of a message.
type wireField struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // a varint, fixed32 or fixed64 value
	b   []byte // a length-delimited value
	at  int    // its offset in the file
}

// next returns the next field, false at the end of the message.
func (r *wireReader) next() (wireField, bool, error) {
	if r.off >= len(r.b) {
		return wireField{}, false, nil
	}
	at := r.base + r.off
	num, typ, n := protowire.ConsumeTag(r.b[r.off:])
	if n < 0 {
		return wireField{}, false, fmt.Errorf("%w: byte %d is not a protobuf field tag (%v): the file is not protobuf, or damaged", ErrMalformed, at, protowire.ParseError(n))
	}
	f := wireField{num: num, typ: typ, at: at}
	r.off += n
	rest := r.b[r.off:]
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(rest)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(rest)
		f.v = uint64(v)
	case protowire.Fixed64Type:
		f.v, n = protowire.ConsumeFixed64(rest)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(rest)
	default:
		n = protowire.ConsumeFieldValue(num, typ, rest)
	}
	if n < 0 {
		if err := protowire.ParseError(n); !errors.Is(err, io.ErrUnexpectedEOF) {
			return wireField{}, false, malformed(at, fmt.Sprintf("field %d", num), err)
		}
		return wireField{}, false, fmt.Errorf("%w: field %d at byte %d runs past the end of the data around it: the file is cut short, or damaged", ErrMalformed, num, at)
	}
	r.off += n
	return f, true, nil
}

// sub reads a length-delimited field as a message.
func (f wireField) sub(what string) (*wireReader, error) {
	if f.typ != protowire.BytesType {
		return nil, malformed(f.at, what, fmt.Errorf("wire type %d where a message is expected", f.typ))
	}
	return &wireReader{b: f.b, base: f.at + protowire.SizeTag(f.num) + protowire.SizeVarint(uint64(len(f.b)))}, nil
}

func (f wireField) str(what string) (string, error) {
	if f.typ != protowire.BytesType {
		return "", malformed(f.at, what, fmt.Errorf("wire type %d where a string is expected", f.typ))
	}
	return string(f.b), nil
}

func (f wireField) int(what string) (int64, error) {
	if f.typ != protowire.VarintType {
		return 0, malformed(f.at, what, fmt.Errorf("wire type %d where an integer is expected", f.typ))
	}
	return int64(f.v), nil
}

// each calls fn with every field of the message r reads, in order, until
// fn or the reading fails.
func (r *wireReader) each(fn func(wireField) error) error {
	for {
		f, ok, err := r.next()
		if err != nil || !ok {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
}

// each reads f as a message (named what in errors) and calls fn with
// every field of it, as wireReader.each.
func (f wireField) each(what string, fn func(wireField) error) error {
	r, err := f.sub(what)
	if err != nil {
		return err
	}
	return r.each(fn)
}

func malformed(at int, what string, err error) error {
	return fmt.Errorf("%w: %s at byte %d: %v", ErrMalformed, what, at, err)
}

// Inspect reads a ModelProto: its IR version, producer, opsets, and the
// graph's inputs and outputs with their types and shapes. It needs no ONNX
// Runtime and reads nothing but data. Its errors wrap ErrMalformed and
// name the byte where the data stops being a model.
func Inspect(data []byte) (*Info, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: it is empty", ErrMalformed)
	}
	info := &Info{}
	var graph *wireField
	err := (&wireReader{b: data}).each(func(f wireField) (err error) {
		switch f.num {
		case modelIRVersion:
			info.IRVersion, err = f.int("ir_version")
		case modelProducer:
			info.Producer, err = f.str("producer_name")
		case modelProducerVersion:
			info.ProducerVersion, err = f.str("producer_version")
		case modelDomain:
			info.Domain, err = f.str("domain")
		case modelModelVersion:
			info.ModelVersion, err = f.int("model_version")
		case modelGraph:
			graph = &f
		case modelOpsetImport:
			var o Opset
			o, err = readOpset(f)
			info.Opsets = append(info.Opsets, o)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if info.IRVersion <= 0 || graph == nil {
		return nil, fmt.Errorf("%w: it has no ir_version or no graph, which every ONNX model has (read as protobuf, its %d bytes are something else)", ErrMalformed, len(data))
	}
	if err := info.readGraph(*graph); err != nil {
		return nil, err
	}
	return info, nil
}

func readOpset(f wireField) (Opset, error) {
	o := Opset{}
	err := f.each("opset_import", func(g wireField) (err error) {
		switch g.num {
		case opsetDomain:
			o.Domain, err = g.str("opset_import.domain")
		case opsetVersion:
			o.Version, err = g.int("opset_import.version")
		}
		return err
	})
	if o.Domain == "" {
		o.Domain = "ai.onnx"
	}
	return o, err
}

func (info *Info) readGraph(f wireField) error {
	var inputs []Value
	weights := map[string]bool{}
	err := f.each("graph", func(g wireField) (err error) {
		switch g.num {
		case graphName:
			info.Graph, err = g.str("graph.name")
		case graphNode:
			info.Nodes++
		case graphInitializer:
			var name string
			name, err = initializerName(g)
			weights[name] = true
			info.Initializers++
		case graphInput, graphOutput:
			var v Value
			if v, err = readValue(g); err != nil {
				return err
			}
			if g.num == graphInput {
				inputs = append(inputs, v)
			} else {
				info.Outputs = append(info.Outputs, v)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, v := range inputs {
		if !weights[v.Name] {
			info.Inputs = append(info.Inputs, v)
		}
	}
	return nil
}

func initializerName(f wireField) (string, error) {
	name := ""
	err := f.each("graph.initializer", func(g wireField) (err error) {
		if g.num == tensorName {
			name, err = g.str("initializer.name")
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return name, nil
}

func readValue(f wireField) (Value, error) {
	v := Value{}
	err := f.each("graph input or output", func(g wireField) (err error) {
		switch g.num {
		case valueName:
			v.Name, err = g.str("value_info.name")
		case valueType:
			err = readType(g, &v, 0)
		}
		return err
	})
	return v, err
}

// readType reads a TypeProto into v.
func readType(f wireField, v *Value, depth int) error {
	if depth > maxTypeDepth {
		return malformed(f.at, "type", fmt.Errorf("types nested more than %d deep", maxTypeDepth))
	}
	return f.each("type", func(g wireField) (err error) {
		switch g.num {
		case typeTensorType, typeSparseTensor:
			v.Type = "tensor"
			if g.num == typeSparseTensor {
				v.Type = "sparse_tensor"
			}
			err = readTensorType(g, v)
		case typeSequenceType, typeOptionalType:
			v.Type = "sequence"
			if g.num == typeOptionalType {
				v.Type = "optional"
			}
			v.Elem, err = readInner(g, elemType, depth)
		case typeMapType:
			v.Type = "map"
			v.Elem, err = readMap(g, depth)
		}
		return err
	})
}

// readInner reads the TypeProto in field num of a sequence's or an
// optional's message and writes it as a type string.
func readInner(f wireField, num protowire.Number, depth int) (string, error) {
	var inner Value
	err := f.each("type", func(g wireField) error {
		if g.num == num {
			return readType(g, &inner, depth+1)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return inner.typeName(), nil
}

func readMap(f wireField, depth int) (string, error) {
	key, value := "undefined", "undefined"
	err := f.each("map type", func(g wireField) (err error) {
		switch g.num {
		case mapKeyType:
			var k int64
			k, err = g.int("map key type")
			key = elemName(uint64(k))
		case mapValueType:
			var inner Value
			err = readType(g, &inner, depth+1)
			value = inner.typeName()
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return key + "," + value, nil
}

func readTensorType(f wireField, v *Value) error {
	return f.each("tensor type", func(g wireField) (err error) {
		switch g.num {
		case tensorElemType:
			var t int64
			t, err = g.int("elem_type")
			v.Elem = elemName(uint64(t))
		case tensorShape:
			v.HasShape = true
			v.Shape, err = readShape(g)
		}
		return err
	})
}

func readShape(f wireField) ([]Dim, error) {
	shape := []Dim{}
	err := f.each("shape", func(g wireField) error {
		if g.num != shapeDim {
			return nil
		}
		d := Dim{Value: -1}
		err := g.each("shape.dim", func(h wireField) (err error) {
			switch h.num {
			case dimValue:
				// Some exporters write -1 for a dimension they do not know.
				d.Value, err = h.int("dim_value")
				d.Value, d.Param = max(d.Value, -1), ""
			case dimParam:
				d.Param, err = h.str("dim_param")
				d.Value = -1
			}
			return err
		})
		shape = append(shape, d)
		return err
	})
	if err != nil {
		return nil, err
	}
	return shape, nil
}
