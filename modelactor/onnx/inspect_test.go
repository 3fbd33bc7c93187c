package onnx

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestInspectMLP reads back what Encode writes.
func TestInspectMLP(t *testing.T) {
	info, err := Inspect(MLP(4, 8, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	batch := Dim{Value: -1, Param: "batch"}
	want := &Info{IRVersion: IRVersion, Producer: "lockstep", Graph: "mlp", Opsets: []Opset{{"ai.onnx", OpsetVersion}},
		Inputs:  []Value{{Name: "x", Type: "tensor", Elem: "float32", Shape: []Dim{batch, {Value: 4}}, HasShape: true}},
		Outputs: []Value{{Name: "y", Type: "tensor", Elem: "float32", Shape: []Dim{batch, {Value: 3}}, HasShape: true}},
		Nodes:   5, Initializers: 4}
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("Inspect(MLP):\n got %+v\nwant %+v", info, want)
	}
	if s := info.Inputs[0].String(); s != "float32[batch,4]" || !info.Inputs[0].LeadingSymbolic() {
		t.Fatalf("x is %q (leading symbolic: %v)", s, info.Inputs[0].LeadingSymbolic())
	}
}

// Hand-written messages for what Encode does not write: other types,
// old IR versions, model metadata.
func pbMsg(fields ...[]byte) []byte {
	var b []byte
	for _, f := range fields {
		b = append(b, f...)
	}
	return b
}

func pbSub(num protowire.Number, fields ...[]byte) []byte {
	return appendMessage(nil, num, pbMsg(fields...))
}
func pbStr(num protowire.Number, s string) []byte { return appendString(nil, num, s) }
func pbNum(n protowire.Number, v int64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, n, protowire.VarintType), uint64(v))
}

func pbTensor(elem int64, dims ...[]byte) []byte {
	t := [][]byte{pbNum(tensorElemType, elem)}
	if dims != nil {
		t = append(t, pbSub(tensorShape, dims...))
	}
	return pbSub(typeTensorType, t...)
}

func pbDim(fields ...[]byte) []byte { return pbSub(shapeDim, fields...) }

func pbValue(name string, typ ...[]byte) []byte {
	if typ == nil {
		return pbMsg(pbStr(valueName, name))
	}
	return pbMsg(pbStr(valueName, name), pbSub(valueType, typ...))
}

// classifier is a scikit-learn-style classifier as an old converter wrote
// it: IR 3 (its weight listed among the inputs), the ai.onnx.ml opset, a
// label tensor and a sequence of maps of probabilities, and outputs of
// every other kind.
func oldClassifier() []byte {
	graph := pbMsg(
		pbSub(graphNode, pbStr(nodeOpType, "LinearClassifier")),
		pbSub(graphNode, pbStr(nodeOpType, "ZipMap")),
		pbStr(graphName, "clf"),
		pbSub(graphInitializer, pbStr(tensorName, "coef")),
		appendMessage(nil, graphInput, pbValue("X", pbTensor(Float, pbDim(pbStr(dimParam, "N")), pbDim(pbNum(dimValue, 4))))),
		appendMessage(nil, graphInput, pbValue("coef", pbTensor(Float, pbDim(pbNum(dimValue, 3))))),
		appendMessage(nil, graphOutput, pbValue("label", pbTensor(Int64, pbDim()))),
		appendMessage(nil, graphOutput, pbValue("probabilities", pbSub(typeSequenceType, pbSub(elemType, pbSub(typeMapType, pbNum(mapKeyType, Int64), pbSub(mapValueType, pbTensor(Float))))))),
		appendMessage(nil, graphOutput, pbValue("s", pbTensor(String, []byte{}))),
		appendMessage(nil, graphOutput, pbValue("o", pbSub(typeOptionalType, pbSub(elemType, pbTensor(Float16))))),
		appendMessage(nil, graphOutput, pbValue("u")),
		appendMessage(nil, graphOutput, pbValue("sp", pbSub(typeSparseTensor, pbNum(tensorElemType, Float), pbSub(tensorShape, pbDim(pbNum(dimValue, -1)))))),
	)
	return pbMsg(pbNum(modelIRVersion, 3), pbStr(modelProducer, "skl2onnx"), pbStr(modelProducerVersion, "1.16.0"), pbStr(modelDomain, "ai.onnx"),
		pbNum(modelModelVersion, 2), appendMessage(nil, modelGraph, graph),
		pbSub(modelOpsetImport, pbNum(opsetVersion, 9)), pbSub(modelOpsetImport, pbStr(opsetDomain, "ai.onnx.ml"), pbNum(opsetVersion, 1)),
		// A field Inspect does not know (metadata_props) is skipped.
		pbSub(14, pbStr(1, "key"), pbStr(2, "value")))
}

func TestInspectTypes(t *testing.T) {
	info, err := Inspect(oldClassifier())
	if err != nil {
		t.Fatal(err)
	}
	unknown := Dim{Value: -1}
	want := &Info{IRVersion: 3, Producer: "skl2onnx", ProducerVersion: "1.16.0", Domain: "ai.onnx", ModelVersion: 2, Graph: "clf",
		Opsets: []Opset{{"ai.onnx", 9}, {"ai.onnx.ml", 1}},
		Inputs: []Value{{Name: "X", Type: "tensor", Elem: "float32", Shape: []Dim{{Value: -1, Param: "N"}, {Value: 4}}, HasShape: true}},
		Outputs: []Value{
			{Name: "label", Type: "tensor", Elem: "int64", Shape: []Dim{unknown}, HasShape: true},
			{Name: "probabilities", Type: "sequence", Elem: "map(int64,tensor(float32))"},
			{Name: "s", Type: "tensor", Elem: "string", Shape: []Dim{}, HasShape: true},
			{Name: "o", Type: "optional", Elem: "tensor(float16)"},
			{Name: "u"},
			{Name: "sp", Type: "sparse_tensor", Elem: "float32", Shape: []Dim{unknown}, HasShape: true},
		},
		Nodes: 2, Initializers: 1}
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("Inspect(classifier):\n got %+v\nwant %+v", info, want)
	}
	var got []string
	for _, v := range info.Outputs {
		got = append(got, v.String())
	}
	if w := []string{"int64[?]", "sequence(map(int64,tensor(float32)))", "string[]", "optional(tensor(float16))", "undefined", "sparse_tensor(float32)"}; !reflect.DeepEqual(got, w) {
		t.Fatalf("outputs written as %q, want %q", got, w)
	}
	if !info.Inputs[0].LeadingSymbolic() || info.Outputs[0].LeadingSymbolic() != true || info.Outputs[1].LeadingSymbolic() || info.Outputs[2].LeadingSymbolic() {
		t.Fatal("LeadingSymbolic: want X and label (unknown) only")
	}
}

// TestInspectRefusesBadFiles: files that are not ONNX models, or damaged
// ones, are refused with ErrMalformed and a reason; none panics.
func TestInspectRefusesBadFiles(t *testing.T) {
	mlp := MLP(4, 8, 3, 1)
	deep := pbTensor(Float)
	for range maxTypeDepth + 2 {
		deep = pbSub(typeSequenceType, pbSub(elemType, deep))
	}
	for _, c := range []struct {
		name string
		data []byte
		says string
	}{
		{"empty", nil, "it is empty"},
		{"text", []byte("hello, world\n"), ""},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), ""},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), ""},
		{"json", []byte(`{"ir_version": 8}`), ""},
		{"cut in the graph", mlp[:len(mlp)/2], "field 7 at byte 12 runs past the end of the data around it: the file is cut short"},
		{"no graph", pbMsg(pbNum(modelIRVersion, 8), pbSub(modelOpsetImport, pbNum(opsetVersion, 17))), "no ir_version or no graph"},
		{"no ir_version", appendMessage(nil, modelGraph, nil), "no ir_version or no graph"},
		{"ir_version a string", pbMsg(pbStr(modelIRVersion, "8"), appendMessage(nil, modelGraph, nil)), "ir_version at byte 0: wire type 2 where an integer is expected"},
		{"graph a number", pbMsg(pbNum(modelIRVersion, 8), pbNum(modelGraph, 1)), "graph at byte 2: wire type 0 where a message is expected"},
		{"bad dim", pbMsg(pbNum(modelIRVersion, 8), pbSub(modelGraph, appendMessage(nil, graphInput, pbValue("x", pbSub(typeTensorType, pbSub(tensorShape, pbDim(pbStr(dimValue, "4")))))))), "dim_value"},
		{"nested too deep", pbMsg(pbNum(modelIRVersion, 8), pbSub(modelGraph, appendMessage(nil, graphOutput, pbValue("x", deep)))), "nested more than 32 deep"},
		{"bad tag", []byte{0x08, 0x08, 0x00}, "byte 2 is not a protobuf field tag"},
	} {
		_, err := Inspect(c.data)
		t.Logf("%s: %v", c.name, err)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrMalformed saying %q", c.name, err, c.says)
		}
	}
	// Every prefix of a model is refused, or, cut between two fields of
	// the model itself, read as what it holds so far.
	for n := range len(mlp) {
		info, err := Inspect(mlp[:n])
		if err == nil && (info.Graph != "mlp" || len(info.Inputs) != 1) {
			t.Fatalf("%d of %d bytes read as %+v", n, len(mlp), info)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d of %d bytes: %v, want ErrMalformed", n, len(mlp), err)
		}
	}
}
