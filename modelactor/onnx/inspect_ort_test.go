//go:build cgo

package onnx_test

import (
	"os"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
)

// TestInspectAgreesWithORT: for models written here and a PyTorch export,
// Inspect reads the same inputs and outputs (names, element types, shapes
// with symbolic dimensions as -1) as ONNX Runtime does when it loads them.
func TestInspectAgreesWithORT(t *testing.T) {
	lib := modeltest.Library(t)
	deepa, err := os.ReadFile(modeltest.HelloDeepa(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"mlp": onnx.MLP(4, 8, 3, 1), "conv": onnx.Conv(2, 3, 3, 5, 5, 1), "hello_deepa": deepa} {
		info, err := onnx.Inspect(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s, err := modelactor.ORT{Library: lib}.Open(data, modelactor.SessionOptions{Deterministic: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		agree(t, name+" inputs", info.Inputs, s.Inputs())
		agree(t, name+" outputs", info.Outputs, s.Outputs())
		s.Close()
	}
}

func agree(t *testing.T, what string, got []onnx.Value, want []modelactor.TensorInfo) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: Inspect reads %d, ONNX Runtime %d", what, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		shape := make([]int64, len(g.Shape))
		for j, d := range g.Shape {
			shape[j] = d.Value
		}
		if g.Name != w.Name || g.Type != "tensor" || g.Elem != w.DType.String() || !g.HasShape || len(shape) != len(w.Shape) {
			t.Fatalf("%s %d: Inspect reads %+v, ONNX Runtime %+v", what, i, g, w)
		}
		for j := range shape {
			if shape[j] != w.Shape[j] {
				t.Fatalf("%s %d: Inspect reads shape %v, ONNX Runtime %v", what, i, g.Shape, w.Shape)
			}
		}
	}
}
