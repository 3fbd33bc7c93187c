package onnx

import (
	"encoding/binary"
	"fmt"
)

// MLOpsetVersion is the version of MLDomain that Classifier imports.
const MLOpsetVersion = 3

// ClassifierParams is a linear classifier shaped like what scikit-learn's
// LogisticRegression becomes when converted to ONNX (skl2onnx): scores
// x·W + B, probabilities their softmax, the label the class of the highest
// one. Its outputs are those of a converted scikit-learn classifier:
// "label", a tensor [batch] of class labels (int64, or strings when Names
// is set), and "probabilities", a sequence of one map per row from class
// label to probability (ZipMap).
type ClassifierParams struct {
	In     int
	W, B   []float32 // [In, classes] row major, [classes]
	Labels []int64   // the classes' labels
	Names  []string  // when set, string labels instead of Labels
}

// NewClassifier draws the weights of a classifier of in features into
// classes classes (labels 10, 20, 30, ...) from seed.
func NewClassifier(in, classes int, seed uint64) ClassifierParams {
	if in <= 0 || classes <= 1 {
		panic("onnx: a classifier needs features and at least 2 classes")
	}
	r := NewRand(seed)
	p := ClassifierParams{In: in, W: r.fill(in*classes, 2), B: r.fill(classes, 0.5)}
	for c := range classes {
		p.Labels = append(p.Labels, int64(10*(c+1)))
	}
	return p
}

// WithNames returns p with string class labels (one per class).
func (p ClassifierParams) WithNames(names ...string) ClassifierParams {
	if len(names) != len(p.B) {
		panic(fmt.Sprintf("onnx: %d names for %d classes", len(names), len(p.B)))
	}
	p.Names = names
	return p
}

// Model returns the ONNX graph of p: input "x" float32 [batch, In],
// outputs "label" and "probabilities".
func (p ClassifierParams) Model() *Model {
	c := int64(len(p.B))
	batch := Dim{Param: "batch"}
	nodes := []Node{
		{Name: "mm", OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"s0"}},
		{Name: "add", OpType: "Add", Inputs: []string{"s0", "B"}, Outputs: []string{"scores"}},
		{Name: "softmax", OpType: "Softmax", Inputs: []string{"scores"}, Outputs: []string{"probs"}, Attrs: []Attr{IntAttr("axis", 1)}},
		{Name: "argmax", OpType: "ArgMax", Inputs: []string{"probs"}, Outputs: []string{"index"}, Attrs: []Attr{IntAttr("axis", 1), IntAttr("keepdims", 0)}},
	}
	inits := []Tensor{
		{Name: "W", Dims: []int64{int64(p.In), c}, Data: p.W},
		{Name: "B", Dims: []int64{c}, Data: p.B},
	}
	labelElem, keyElem := Int64, Int64
	if p.Names == nil {
		inits = append(inits, Int64s("classes", []int64{c}, p.Labels...))
		nodes = append(nodes,
			Node{Name: "label", OpType: "Gather", Inputs: []string{"classes", "index"}, Outputs: []string{"label"}, Attrs: []Attr{IntAttr("axis", 0)}},
			Node{Name: "zipmap", OpType: "ZipMap", Domain: MLDomain, Inputs: []string{"probs"}, Outputs: []string{"probabilities"}, Attrs: []Attr{IntsAttr("classlabels_int64s", p.Labels...)}})
	} else {
		labelElem, keyElem = String, String
		keys := make([]int64, len(p.B))
		for i := range keys {
			keys[i] = int64(i)
		}
		nodes = append(nodes,
			Node{Name: "label", OpType: "LabelEncoder", Domain: MLDomain, Inputs: []string{"index"}, Outputs: []string{"label"},
				Attrs: []Attr{IntsAttr("keys_int64s", keys...), StringsAttr("values_strings", p.Names...), StringAttr("default_string", "")}},
			Node{Name: "zipmap", OpType: "ZipMap", Domain: MLDomain, Inputs: []string{"probs"}, Outputs: []string{"probabilities"}, Attrs: []Attr{StringsAttr("classlabels_strings", p.Names...)}})
	}
	return &Model{
		Producer: "lockstep",
		Imports:  []Opset{{Domain: MLDomain, Version: MLOpsetVersion}},
		Graph: Graph{
			Name:         "classifier",
			Nodes:        nodes,
			Initializers: inits,
			Inputs:       []ValueInfo{{Name: "x", Shape: []Dim{batch, {Value: int64(p.In)}}}},
			Outputs: []ValueInfo{
				{Name: "label", Elem: labelElem, Shape: []Dim{batch}},
				{Name: "probabilities", Type: SeqOf(MapOf(keyElem, TensorOf(Float)))},
			},
		},
	}
}

// Int64s is an int64 initializer.
func Int64s(name string, dims []int64, v ...int64) Tensor {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return Tensor{Name: name, Dims: dims, DataType: Int64, Raw: raw}
}

// Echo returns a model that passes each input through Identity: input
// "x<i>" of elems[i] and shape becomes output "y<i>" of the same type. An
// empty shape makes every input and output a scalar.
func Echo(shape []Dim, elems ...int) *Model {
	g := Graph{Name: "echo"}
	for i, e := range elems {
		x, y := fmt.Sprintf("x%d", i), fmt.Sprintf("y%d", i)
		g.Nodes = append(g.Nodes, Node{Name: "id" + x, OpType: "Identity", Inputs: []string{x}, Outputs: []string{y}})
		g.Inputs = append(g.Inputs, ValueInfo{Name: x, Elem: e, Shape: shape})
		g.Outputs = append(g.Outputs, ValueInfo{Name: y, Elem: e, Shape: shape})
	}
	return &Model{Producer: "lockstep", Graph: g}
}
