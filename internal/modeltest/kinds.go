package modeltest

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// kindsInputs are the inputs every SDK's "kinds" test agent sends to model
// "kinds" (kindsModel), written with the SDK's typed helpers: x float32
// [1,4], h float16 [2] (rounded from float32 by the SDK), n int64 [2], i
// int32 [2], b uint8 [3], s string [2].
func kindsInputs() []tensor.Tensor {
	return []tensor.Tensor{
		tensor.FromFloat32([]int64{1, 4}, []float32{0.5, -1.25, 2, 0.75}),
		tensor.FromFloat16([]int64{2}, []float32{1.5, -0.1}),
		tensor.From([]int64{2}, []int64{-5, 1 << 40}),
		tensor.From([]int64{2}, []int32{-7, 123456}),
		tensor.From([]int64{3}, []uint8{1, 2, 255}),
		tensor.FromStrings([]int64{2}, []string{"ab", "✿ς"}),
	}
}

// kindsModel is a scikit-learn-style classifier of x (outputs "label", an
// int64 tensor, and "probabilities", a sequence of maps from int64 class
// labels to float32) that also answers the probabilities keyed by class
// names ("names", string keys), echoes h, n, i, b and s, and casts x to
// float16 ("x16"): nine outputs of every kind an SDK reads.
func kindsModel() []byte {
	p := onnx.NewClassifier(4, 3, 11)
	m := p.Model()
	g := &m.Graph
	g.Nodes = append(g.Nodes,
		onnx.Node{Name: "names", OpType: "ZipMap", Domain: onnx.MLDomain, Inputs: []string{"probs"}, Outputs: []string{"names"},
			Attrs: []onnx.Attr{onnx.StringsAttr("classlabels_strings", "setosa", "versicolor", "virginica")}},
		onnx.Node{Name: "x16", OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"x16"}, Attrs: []onnx.Attr{onnx.IntAttr("to", onnx.Float16)}})
	g.Outputs = append(g.Outputs, onnx.ValueInfo{Name: "names", Type: onnx.SeqOf(onnx.MapOf(onnx.String, onnx.TensorOf(onnx.Float)))})
	for _, in := range []struct {
		name string
		elem int
		n    int64
	}{{"h", onnx.Float16, 2}, {"n", onnx.Int64, 2}, {"i", onnx.Int32, 2}, {"b", onnx.Uint8, 3}, {"s", onnx.String, 2}} {
		shape := []onnx.Dim{{Value: in.n}}
		g.Inputs = append(g.Inputs, onnx.ValueInfo{Name: in.name, Elem: in.elem, Shape: shape})
		g.Nodes = append(g.Nodes, onnx.Node{Name: "echo" + in.name, OpType: "Identity", Inputs: []string{in.name}, Outputs: []string{in.name + "2"}})
		g.Outputs = append(g.Outputs, onnx.ValueInfo{Name: in.name + "2", Elem: in.elem, Shape: shape})
	}
	g.Outputs = append(g.Outputs, onnx.ValueInfo{Name: "x16", Elem: onnx.Float16, Shape: []onnx.Dim{{Param: "batch"}, {Value: 4}}})
	return m.Encode()
}

// renderAll writes values the way every SDK's "kinds" test agent does, so
// that what an agent read can be compared with what the host sent: one
// line per value; a tensor is "<type> [<dims>]" and its elements (float32
// as the hex of its bits, float16 as the hex of the float32 it converts
// to, integers in decimal, a string as "<len>:<bytes>"), a sequence
// "seq <n>" and each value in parentheses, a map "map <n>" and
// "<key>=<value>" pairs.
func renderAll(vs []tensor.Tensor) string {
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = render(v)
	}
	return strings.Join(lines, "\n")
}

// render writes one value (see renderAll).
func render(v tensor.Tensor) string {
	var b strings.Builder
	switch v.Kind {
	case tensor.Sequence:
		fmt.Fprintf(&b, "seq %d", len(v.Elems))
		for _, e := range v.Elems {
			fmt.Fprintf(&b, " (%s)", render(e))
		}
	case tensor.Map:
		keys, values := elems(v.MapKeys()), elems(v.MapValues())
		fmt.Fprintf(&b, "map %d", len(keys))
		for i := range keys {
			fmt.Fprintf(&b, " %s=%s", keys[i], values[i])
		}
	default:
		dims := make([]string, len(v.Shape))
		for i, d := range v.Shape {
			dims[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(&b, "%s [%s]", v.DType, strings.Join(dims, ","))
		for _, e := range elems(v) {
			b.WriteString(" " + e)
		}
	}
	return b.String()
}

// elems renders a tensor's elements.
func elems(v tensor.Tensor) []string {
	if v.DType == tensor.String {
		s, _ := v.Strings()
		for i := range s {
			s[i] = fmt.Sprintf("%d:%s", len(s[i]), s[i])
		}
		return s
	}
	size := v.DType.Size()
	out := make([]string, 0, len(v.Data)/max(size, 1))
	for p := 0; p+size <= len(v.Data) && size > 0; p += size {
		d := v.Data[p:]
		switch v.DType {
		case tensor.Float32:
			out = append(out, fmt.Sprintf("%08x", binary.LittleEndian.Uint32(d)))
		case tensor.Float16:
			out = append(out, fmt.Sprintf("%08x", math.Float32bits(tensor.HalfToFloat32(binary.LittleEndian.Uint16(d)))))
		case tensor.Int64:
			out = append(out, fmt.Sprint(int64(binary.LittleEndian.Uint64(d))))
		case tensor.Int32:
			out = append(out, fmt.Sprint(int32(binary.LittleEndian.Uint32(d))))
		case tensor.Uint8:
			out = append(out, fmt.Sprint(d[0]))
		default:
			out = append(out, "?")
		}
	}
	return out
}

// CheckKinds runs the module at path (an SDK's "kinds" test agent: at its
// first step it asks model "kinds" about kindsInputs, and when the result
// comes it writes Render of the outputs, as its SDK's readers see them, to
// its state region "seen") for four ticks, and checks that it saw exactly
// what the model answers. extraGrants are added to inference:kinds and
// state.write (e.g. wasi for Go agents).
func CheckKinds(t *testing.T, path string, extraGrants ...string) {
	t.Helper()
	lib := Library(t)
	dir := t.TempDir()
	model := Write(t, dir, "kinds", kindsModel())
	grants := append([]string{"inference:kinds", "state.write"}, extraGrants...)
	topo, err := host.ParseTopology(filepath.Join(dir, "kinds.yaml"), []byte(fmt.Sprintf(`
seed: 5
wasm: {allow_unsigned: true}
inference: {library: %q}
modules:
  - {name: kinds, path: %q, grants: [%s]}
models:
  - {id: kinds, version: "1", path: %q, sha256: %s}
agents:
  - {id: k, kind: kinds}
`, lib, path, strings.Join(grants, ", "), model.Path, model.SHA256)))
	if err != nil {
		t.Fatal(err)
	}
	h := guests.Run(t, topo, 4)
	// What the model answers, asked from Go: the agent must have read
	// exactly that (modelactor's tests compare it with raw ONNX Runtime).
	outs, err := h.Infer("kinds", "1", kindsInputs()...)
	if err != nil {
		t.Fatal(err)
	}
	want := renderAll(outs)
	got, ok := h.ReadState("k", "seen")
	if !ok {
		t.Fatal("the agent wrote no state region \"seen\": it got no result, or could not read it")
	}
	if string(got) != want {
		t.Errorf("the agent read:\n%s\nthe model answered:\n%s", got, want)
	}
}
