//go:build cgo

package modelactor_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// rawRun runs model with onnxruntime_go directly (one thread, sequential,
// as deterministic mode) on ins; outs holds preallocated outputs or nil
// for those ONNX Runtime allocates. The caller destroys ins and outs.
func rawRun(t *testing.T, model []byte, inNames, outNames []string, ins, outs []ort.Value) {
	t.Helper()
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	if err := errors.Join(so.SetIntraOpNumThreads(1), so.SetInterOpNumThreads(1), so.SetExecutionMode(ort.ExecutionModeSequential),
		so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0")); err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, so)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	if err := s.Run(ins, outs); err != nil {
		t.Fatal(err)
	}
}

// rawValue writes what raw ONNX Runtime answered as a Lockstep value, by
// its own route: the bytes of the binding's Go slices.
func rawValue(t *testing.T, v ort.Value) tensor.Tensor {
	t.Helper()
	shape := []int64(v.GetShape())
	if len(shape) == 0 {
		shape = nil
	}
	switch x := v.(type) {
	case *ort.Tensor[float32]:
		return tensor.Tensor{DType: tensor.Float32, Shape: shape, Data: sliceBytes(x.GetData())}
	case *ort.Tensor[int64]:
		return tensor.Tensor{DType: tensor.Int64, Shape: shape, Data: sliceBytes(x.GetData())}
	case *ort.CustomDataTensor:
		return tensor.Tensor{DType: tensor.DType(x.DataType()), Shape: shape, Data: bytes.Clone(x.GetData())}
	case *ort.Scalar[float32]:
		return tensor.From(nil, []float32{x.GetData()})
	case *ort.StringTensor:
		s, err := x.GetContents()
		if err != nil {
			t.Fatal(err)
		}
		return tensor.FromStrings(shape, s)
	case *ort.Sequence:
		vs, _ := x.GetValues()
		elems := make([]tensor.Tensor, len(vs))
		for i, e := range vs {
			elems[i] = rawValue(t, e)
		}
		return tensor.NewSequence(elems...)
	case *ort.Map:
		k, vs, _ := x.GetKeysAndValues()
		return tensor.NewMap(rawValue(t, k), rawValue(t, vs))
	}
	t.Fatalf("raw ONNX Runtime answered a %T", v)
	return tensor.Tensor{}
}

func sliceBytes[T any](v []T) []byte {
	var zero T
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*int(unsafe.Sizeof(zero))))
}

// rawInput makes t a raw onnxruntime_go input from an aligned copy.
func rawInput(t *testing.T, x tensor.Tensor) ort.Value {
	t.Helper()
	var v ort.Value
	var err error
	if x.DType == tensor.String {
		strs, _ := x.Strings()
		var s *ort.StringTensor
		if s, err = ort.NewStringTensor(ort.Shape(x.Shape)); err == nil {
			err = s.SetContents(strs)
		}
		v = s
	} else {
		v, err = ort.NewCustomDataTensor(ort.Shape(x.Shape), aligned64(x.Data), ort.TensorElementDataType(x.DType))
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// aligned64 is a copy of v at a 64-byte-aligned address (T's size must
// divide 64).
func aligned64[T any](v []T) []T {
	size := int(unsafe.Sizeof(*new(T)))
	buf := make([]T, len(v)+64/size)
	off := int((64-uintptr(unsafe.Pointer(&buf[0]))%64)%64) / size
	out := buf[off : off+len(v)]
	copy(out, v)
	return out
}

// sameValues fails t unless got encodes to the same bytes as want.
func sameValues(t *testing.T, what string, got, want []tensor.Tensor) {
	t.Helper()
	if g, w := tensor.EncodeList(got...), tensor.EncodeList(want...); !bytes.Equal(g, w) {
		t.Errorf("%s: Lockstep and raw ONNX Runtime differ:\n got  %s\n want %s", what, describeValues(got), describeValues(want))
	}
}

func describeValues(ts []tensor.Tensor) string {
	parts := make([]string, len(ts))
	for i, v := range ts {
		parts[i] = fmt.Sprintf("%s %x", v.TypeString(), tensor.EncodeList(v))
	}
	return strings.Join(parts, "; ")
}

func destroy(vs ...ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// TestClassifier: a scikit-learn-style classifier (label tensor plus a
// sequence of maps of probabilities, with int64 and with string labels),
// asked through the encoded path agents use, answers exactly what raw
// ONNX Runtime answers on the same input, and the answer survives the wire.
func TestClassifier(t *testing.T) {
	dir := t.TempDir()
	p := onnx.NewClassifier(4, 3, 7)
	cases := []struct {
		id, typ string
		data    []byte
	}{
		{"ints", "seq(map(int64,float32))", p.Model().Encode()},
		{"names", "seq(map(string,float32))", p.WithNames("setosa", "versicolor", "virginica").Model().Encode()},
	}
	var models []modelactor.Model
	for _, c := range cases {
		models = append(models, modeltest.Write(t, dir, c.id, c.data))
	}
	m, _ := start(t, modelactor.Config{Models: models})
	const rows = 5
	x := tensor.FromFloat32([]int64{rows, 4}, randomInput(5, rows*4))
	for _, c := range cases {
		res := m.Run([]modelactor.Request{{Model: c.id, Input: tensor.EncodeList(x)}})[0]
		if res.Err() != nil {
			t.Fatalf("%s: %v", c.id, res.Err())
		}
		outs := []ort.Value{nil, nil}
		in := rawInput(t, x)
		rawRun(t, c.data, []string{"x"}, []string{"label", "probabilities"}, []ort.Value{in}, outs)
		want := []tensor.Tensor{rawValue(t, outs[0]), rawValue(t, outs[1])}
		destroy(append(outs, in)...)
		sameValues(t, c.id, res.Outputs, want)
		if got := res.Outputs[1].TypeString(); got != c.typ || len(res.Outputs[1].Elems) != rows {
			t.Errorf("%s: probabilities are %s of %d, want %s of %d", c.id, got, len(res.Outputs[1].Elems), c.typ, rows)
		}
		back, err := tensor.DecodeResult(res.Encode())
		if err != nil {
			t.Fatal(err)
		}
		sameValues(t, c.id+" through the wire", back.Outputs, want)
	}
	// The label is the class of the highest probability, as the maps say.
	res := m.Run([]modelactor.Request{{Model: "ints", Inputs: []tensor.Tensor{x}}})[0]
	labels, _ := tensor.As[int64](res.Outputs[0])
	for r, mp := range res.Outputs[1].Elems {
		keys, _ := tensor.As[int64](mp.MapKeys())
		probs, _ := mp.MapValues().Float32s()
		best := 0
		for i := range probs {
			if probs[i] > probs[best] {
				best = i
			}
		}
		if keys[best] != labels[r] {
			t.Errorf("row %d: label %d, but the most probable class is %d (%v %v)", r, labels[r], keys[best], keys, probs)
		}
	}
}

// allDTypes is every element type Lockstep carries, in ONNX numbering.
var allDTypes = []tensor.DType{
	tensor.Float32, tensor.Uint8, tensor.Int8, tensor.Uint16, tensor.Int16, tensor.Int32, tensor.Int64, tensor.String,
	tensor.Bool, tensor.Float16, tensor.Float64, tensor.Uint32, tensor.Uint64, tensor.BFloat16,
}

// seeded is a tensor of d and shape with seeded contents (booleans 0 or 1,
// strings of varied lengths and scripts, halves that are not NaN).
func seeded(d tensor.DType, shape []int64, seed uint64) tensor.Tensor {
	r := onnx.NewRand(seed)
	n := int((tensor.Tensor{Shape: shape}).Elements())
	switch d {
	case tensor.String:
		words := []string{"", "a", "setosa", "βλάβη", "✿✿", "long label with spaces"}
		v := make([]string, n)
		for i := range v {
			v[i] = words[r.Uint64()%uint64(len(words))]
		}
		return tensor.FromStrings(shape, v)
	case tensor.Float16, tensor.BFloat16:
		v := make([]float32, n)
		for i := range v {
			v[i] = r.Float32() * 100
		}
		if d == tensor.Float16 {
			return tensor.FromFloat16(shape, v)
		}
		return tensor.FromBFloat16(shape, v)
	}
	b := make([]byte, n*d.Size())
	for i := range b {
		b[i] = byte(r.Uint64())
		if d == tensor.Bool {
			b[i] &= 1
		}
	}
	return tensor.Tensor{DType: d, Shape: shape, Data: b}
}

// castModel casts x float32 [batch, 3] to every type: output "y<i>" is
// allDTypes[i].
func castModel() []byte {
	batch := onnx.Dim{Param: "batch"}
	g := onnx.Graph{Name: "casts", Inputs: []onnx.ValueInfo{{Name: "x", Shape: []onnx.Dim{batch, {Value: 3}}}}}
	for i, d := range allDTypes {
		y := fmt.Sprintf("y%d", i)
		g.Nodes = append(g.Nodes, onnx.Node{Name: "cast" + y, OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{y}, Attrs: []onnx.Attr{onnx.IntAttr("to", int64(d))}})
		g.Outputs = append(g.Outputs, onnx.ValueInfo{Name: y, Elem: int(d), Shape: []onnx.Dim{batch, {Value: 3}}})
	}
	return (&onnx.Model{Producer: "lockstep", Graph: g}).Encode()
}

// rawOutputs preallocates raw outputs for infos (fixed-size tensors of
// shape; nil, for ONNX Runtime to allocate, for strings and unknown shapes).
func rawOutputs(t *testing.T, dtypes []tensor.DType, shape []int64) []ort.Value {
	t.Helper()
	outs := make([]ort.Value, len(dtypes))
	for i, d := range dtypes {
		if d.Size() == 0 || shape == nil {
			continue
		}
		v, err := ort.NewCustomDataTensor(ort.Shape(shape), aligned64(make([]byte, int(tensor.Tensor{Shape: shape}.Elements())*d.Size())), ort.TensorElementDataType(d))
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = v
	}
	return outs
}

// TestEveryElementType: tensors of every element type go in and come out
// (an Identity per type) and are computed (a Cast to every type) bit for
// bit as raw ONNX Runtime does, through the encoded path and Manager.Infer.
func TestEveryElementType(t *testing.T) {
	dir := t.TempDir()
	elems := make([]int, len(allDTypes))
	names := make([]string, len(allDTypes))
	outNames := make([]string, len(allDTypes))
	for i, d := range allDTypes {
		elems[i], names[i], outNames[i] = int(d), fmt.Sprintf("x%d", i), fmt.Sprintf("y%d", i)
	}
	echo := onnx.Echo([]onnx.Dim{{Param: "batch"}, {Value: 3}}, elems...).Encode()
	casts := castModel()
	m, _ := start(t, modelactor.Config{Models: []modelactor.Model{modeltest.Write(t, dir, "echo", echo), modeltest.Write(t, dir, "casts", casts)}})
	shape := []int64{2, 3}

	ins := make([]tensor.Tensor, len(allDTypes))
	raws := make([]ort.Value, len(allDTypes))
	for i, d := range allDTypes {
		ins[i] = seeded(d, shape, uint64(i))
	}
	if err := m.Load("echo", ""); err != nil { // initialises ONNX Runtime
		t.Fatal(err)
	}
	for i := range ins {
		raws[i] = rawInput(t, ins[i])
	}
	outs := rawOutputs(t, allDTypes, shape)
	rawRun(t, echo, names, outNames, raws, outs)
	want := make([]tensor.Tensor, len(outs))
	for i, v := range outs {
		want[i] = rawValue(t, v)
	}
	destroy(append(outs, raws...)...)
	sameValues(t, "echo", want, ins) // raw ONNX Runtime is an echo too
	res := m.Run([]modelactor.Request{{Model: "echo", Input: tensor.EncodeList(ins...)}})[0]
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	sameValues(t, "echo, encoded", res.Outputs, want)
	got, err := m.Infer("echo", "", ins...)
	if err != nil {
		t.Fatal(err)
	}
	sameValues(t, "echo, Infer", got, want)

	x := tensor.FromFloat32(shape, []float32{0.1, -2.5, 65519, 1e-6, 3.999, -0.0})
	in := rawInput(t, x)
	outs = rawOutputs(t, allDTypes, shape)
	rawRun(t, casts, []string{"x"}, outNames, []ort.Value{in}, outs)
	want = want[:0]
	for _, v := range outs {
		want = append(want, rawValue(t, v))
	}
	destroy(append(outs, in)...)
	got, err = m.Infer("casts", "", x)
	if err != nil {
		t.Fatal(err)
	}
	sameValues(t, "casts", got, want)
	xs, _ := x.Float32s()
	if h := tensor.FromFloat16(shape, xs); !bytes.Equal(h.Data, want[9].Data) {
		t.Errorf("tensor.FromFloat16 rounds %v to %x, ONNX Runtime to %x", xs, h.Data, want[9].Data)
	}
	if h := tensor.FromBFloat16(shape, xs); !bytes.Equal(h.Data, want[13].Data) {
		t.Errorf("tensor.FromBFloat16 rounds %v to %x, ONNX Runtime to %x", xs, h.Data, want[13].Data)
	}
}

// scalarDTypes are the element types a scalar input can have (the binding
// cannot make float16, bfloat16 or string scalars).
var scalarDTypes = []tensor.DType{
	tensor.Float32, tensor.Uint8, tensor.Int8, tensor.Uint16, tensor.Int16, tensor.Int32, tensor.Int64,
	tensor.Bool, tensor.Float64, tensor.Uint32, tensor.Uint64,
}

// TestScalars: rank-0 inputs and outputs of every type the binding can make
// echo as raw ONNX Runtime does, a reduction to a scalar answers its bits
// through the manager, and a model with a scalar input of a type that
// cannot be carried is refused at load, naming it and the fix.
func TestScalars(t *testing.T) {
	dir := t.TempDir()
	elems := make([]int, len(scalarDTypes))
	ins := make([]tensor.Tensor, len(scalarDTypes))
	for i, d := range scalarDTypes {
		elems[i] = int(d)
		ins[i] = seeded(d, nil, uint64(100+i))
	}
	echo := onnx.Echo(nil, elems...).Encode()
	mean := (&onnx.Model{Producer: "lockstep", Graph: onnx.Graph{
		Name:    "mean",
		Nodes:   []onnx.Node{{Name: "m", OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []onnx.Attr{onnx.IntAttr("keepdims", 0)}}},
		Inputs:  []onnx.ValueInfo{{Name: "x", Shape: []onnx.Dim{{Value: 37}}}},
		Outputs: []onnx.ValueInfo{{Name: "y"}},
	}}).Encode()
	m, logs := start(t, modelactor.Config{Models: []modelactor.Model{
		modeltest.Write(t, dir, "mean", mean),
		modeltest.Write(t, dir, "half", onnx.Echo(nil, onnx.Float16).Encode()),
		modeltest.Write(t, dir, "echo", echo),
	}})
	x := tensor.FromFloat32([]int64{37}, randomInput(9, 37))
	got, err := m.Infer("mean", "", x)
	if err != nil {
		t.Fatal(err)
	}
	in := rawInput(t, x)
	outs := []ort.Value{nil}
	if outs[0], err = ort.NewEmptyScalar[float32](); err != nil {
		t.Fatal(err)
	}
	rawRun(t, mean, []string{"x"}, []string{"y"}, []ort.Value{in}, outs)
	sameValues(t, "mean", got, []tensor.Tensor{rawValue(t, outs[0])})
	destroy(in, outs[0])
	if len(got[0].Shape) != 0 {
		t.Errorf("the mean has shape %v, want a scalar", got[0].Shape)
	}

	// Scalar inputs, through the backend.
	s, err := modelactor.ORT{Library: modeltest.Library(t)}.Open(echo, modelactor.SessionOptions{Deterministic: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(ins)
	if err != nil {
		t.Fatal(err)
	}
	sameValues(t, "scalar echo", out, ins)
	// and through the manager, encoded as an agent sends them.
	res := m.Run([]modelactor.Request{{Model: "echo", Input: tensor.AppendList(nil, ins)}})
	if res[0].Status != tensor.OK {
		t.Fatalf("scalar echo through the manager: %+v", res[0])
	}
	sameValues(t, "scalar echo through the manager", res[0].Outputs, ins)

	err = m.Load("half", "")
	if err == nil {
		t.Fatal("a model with a float16 scalar input loaded")
	}
	for _, want := range []string{`input 0 (\"x0\") is a float16 scalar`, "give it shape [1] in the model", "model=half@1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("loading half: %v; the log does not say %q:\n%s", err, want, logs)
		}
	}
}

// TestUnservable: models with an input or output Lockstep cannot carry are
// refused when they load, with the input or output, its type and the fix.
func TestUnservable(t *testing.T) {
	modeltest.Library(t)
	seqIn := (&onnx.Model{Producer: "lockstep", Graph: onnx.Graph{
		Name:    "seqlen",
		Nodes:   []onnx.Node{{Name: "n", OpType: "SequenceLength", Inputs: []string{"xs"}, Outputs: []string{"n"}}},
		Inputs:  []onnx.ValueInfo{{Name: "xs", Type: onnx.SeqOf(onnx.TensorOf(onnx.Float))}},
		Outputs: []onnx.ValueInfo{{Name: "n", Elem: onnx.Int64}},
	}}).Encode()
	halfOut := (&onnx.Model{Producer: "lockstep", Graph: onnx.Graph{
		Name:    "halfmean",
		Nodes:   []onnx.Node{{Name: "m", OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []onnx.Attr{onnx.IntAttr("keepdims", 0)}}},
		Inputs:  []onnx.ValueInfo{{Name: "x", Elem: onnx.Float16, Shape: []onnx.Dim{{Value: 4}}}},
		Outputs: []onnx.ValueInfo{{Name: "y", Elem: onnx.Float16}},
	}}).Encode()
	halfAny := (&onnx.Model{Producer: "lockstep", Graph: onnx.Graph{
		Name:    "halfcast",
		Nodes:   []onnx.Node{{Name: "c", OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []onnx.Attr{onnx.IntAttr("to", onnx.Float16)}}},
		Inputs:  []onnx.ValueInfo{{Name: "x", Shape: []onnx.Dim{{Param: "batch"}, {Param: "n"}}}},
		Outputs: []onnx.ValueInfo{{Name: "y", Type: onnx.TensorOf(onnx.Float16)}},
	}}).Encode()
	for _, c := range []struct {
		name  string
		model []byte
		says  []string
	}{
		{"float16 output of unknown shape", halfAny, []string{`output 0 ("y") is a float16 tensor of shape [?×?]`, "declare its shape in the model"}},
		{"sequence input", seqIn, []string{`input 0 ("xs") is a sequence`, "carries tensors in"}},
		{"float16 scalar output", halfOut, []string{`output 0 ("y") is a float16 scalar`, "give it shape [1]"}},
	} {
		_, err := modelactor.ORT{Library: modeltest.Library(t)}.Open(c.model, modelactor.SessionOptions{Deterministic: true})
		for _, want := range c.says {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want an error saying %q", c.name, err, want)
			}
		}
	}
}

// TestOutputs: a model declared with outputs: answers those outputs, in
// that order, as raw ONNX Runtime asked for them alone does; an output left
// out need not be one Lockstep can carry; an output the model lacks is
// refused at load, naming it and the model's outputs; and a list with an
// empty name or an output twice is refused when declared.
func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	clf := onnx.NewClassifier(4, 3, 7).Model().Encode()
	probs := modeltest.Write(t, dir, "probs", clf)
	probs.Outputs = []string{"probabilities"}
	swapped := modeltest.Write(t, dir, "swapped", clf)
	swapped.Outputs = []string{"probabilities", "label"}
	missing := modeltest.Write(t, dir, "missing", clf)
	missing.Outputs = []string{"label", "scores"}
	mixed := modeltest.Write(t, dir, "mixed", (&onnx.Model{Producer: "lockstep", Graph: onnx.Graph{
		Name: "mixed",
		Nodes: []onnx.Node{
			{Name: "m", OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"half"}, Attrs: []onnx.Attr{onnx.IntAttr("keepdims", 0)}},
			{Name: "c", OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"wide"}, Attrs: []onnx.Attr{onnx.IntAttr("to", onnx.Float)}},
		},
		Inputs:  []onnx.ValueInfo{{Name: "x", Elem: onnx.Float16, Shape: []onnx.Dim{{Value: 4}}}},
		Outputs: []onnx.ValueInfo{{Name: "half", Elem: onnx.Float16}, {Name: "wide", Shape: []onnx.Dim{{Value: 4}}}},
	}}).Encode())
	mixed.Outputs = []string{"wide"}
	m, logs := start(t, modelactor.Config{Models: []modelactor.Model{probs, swapped, missing, mixed}})
	x := tensor.FromFloat32([]int64{2, 4}, randomInput(6, 8))
	all, err := m.Infer("swapped", "", x)
	if err != nil {
		t.Fatal(err)
	}
	in := rawInput(t, x)
	outs := []ort.Value{nil}
	rawRun(t, clf, []string{"x"}, []string{"probabilities"}, []ort.Value{in}, outs)
	want := rawValue(t, outs[0])
	destroy(in, outs[0])
	got, err := m.Infer("probs", "", x)
	if err != nil {
		t.Fatal(err)
	}
	sameValues(t, "probabilities alone", got, []tensor.Tensor{want})
	if len(all) != 2 || all[0].Kind != tensor.Sequence || all[1].DType != tensor.Int64 {
		t.Errorf("swapped: %s, want the probabilities, then the label", describeValues(all))
	}
	sameValues(t, "probabilities first", all[:1], []tensor.Tensor{want})

	h := tensor.FromFloat16([]int64{4}, []float32{1, 2.5, -3, 0.125})
	wide, err := m.Infer("mixed", "", h)
	if f, _ := wide[0].Float32s(); err != nil || len(wide) != 1 || !bitsEqual(f, []float32{1, 2.5, -3, 0.125}) {
		t.Errorf("mixed: %v %v, want only wide", wide, err)
	}

	if err := m.Load("missing", ""); err == nil {
		t.Error("a model declared with an output it lacks loaded")
	}
	if say := `outputs: the model has no output \"scores\" (its outputs: label, probabilities)`; !strings.Contains(logs.String(), say) {
		t.Errorf("the log does not say %q:\n%s", say, logs)
	}

	for _, c := range []struct {
		outputs []string
		says    string
	}{
		{[]string{"label", ""}, "outputs[1] is empty"},
		{[]string{"label", "label"}, `output "label" is listed twice`},
	} {
		d := probs
		d.Outputs = c.outputs
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("outputs %q: %v, want an error saying %q", c.outputs, err, c.says)
		}
	}
}
