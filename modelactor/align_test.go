//go:build cgo

package modelactor_test

import (
	"strings"
	"testing"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// reduceModel is ReduceMean over the last axis of x [batch, 37], keepdims:
// y [batch, 1]. (ReduceSum takes its axes as an int64 input from opset 13,
// which package onnx does not write; ReduceMean shares its kernels.)
func reduceModel() []byte {
	batch := onnx.Dim{Param: "batch"}
	return (&onnx.Model{Producer: "lockstep", Graph: onnx.Graph{
		Name:    "reduce",
		Nodes:   []onnx.Node{{Name: "r", OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []onnx.Attr{onnx.IntsAttr("axes", -1), onnx.IntAttr("keepdims", 1)}}},
		Inputs:  []onnx.ValueInfo{{Name: "x", Shape: []onnx.Dim{batch, {Value: 37}}}},
		Outputs: []onnx.ValueInfo{{Name: "y", Shape: []onnx.Dim{batch, {Value: 1}}}},
	}}).Encode()
}

// meanModel subtracts the batch mean: y = x - ReduceMean(x, axes=[0]). Its
// rows interact, so batching changes its answers.
func meanModel() []byte {
	batch := onnx.Dim{Param: "batch"}
	return (&onnx.Model{Producer: "lockstep", Graph: onnx.Graph{
		Name: "centre",
		Nodes: []onnx.Node{
			{Name: "m", OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"m"}, Attrs: []onnx.Attr{onnx.IntsAttr("axes", 0), onnx.IntAttr("keepdims", 1)}},
			{Name: "s", OpType: "Sub", Inputs: []string{"x", "m"}, Outputs: []string{"y"}},
		},
		Inputs:  []onnx.ValueInfo{{Name: "x", Shape: []onnx.Dim{batch, {Value: 4}}}},
		Outputs: []onnx.ValueInfo{{Name: "y", Shape: []onnx.Dim{batch, {Value: 4}}}},
	}}).Encode()
}

// rawORT runs model on x [rows, cols] with onnxruntime_go directly
// (rawRun), from an aligned copy.
func rawORT(t *testing.T, model []byte, x []float32, rows, cols int64) []float32 {
	t.Helper()
	xt, err := ort.NewTensor(ort.NewShape(rows, cols), aligned64(x))
	if err != nil {
		t.Fatal(err)
	}
	defer xt.Destroy()
	outs := []ort.Value{nil}
	rawRun(t, model, []string{"x"}, []string{"y"}, []ort.Value{xt}, outs)
	defer outs[0].Destroy()
	return append([]float32(nil), outs[0].(*ort.Tensor[float32]).GetData()...)
}

// TestAlignment: a reduction model answers the same bits whatever the
// address of the request's input data (every offset 0..63 inside the
// encoded buffer, as an agent's request arrives), through Manager.Run and
// Manager.Infer, as raw ONNX Runtime on an aligned copy; and two identical
// requests in one tick get the same bits.
func TestAlignment(t *testing.T) {
	data := reduceModel()
	model := modeltest.Write(t, t.TempDir(), "reduce", data)
	model.MaxBatch = 8
	m, _ := start(t, modelactor.Config{Models: []modelactor.Model{model}})
	const rows, cols = 3, 37
	x := randomInput(11, rows*cols)
	for i := range x {
		x[i] *= 1000 // make rounding order matter
	}
	if err := m.Load("reduce", ""); err != nil { // initialises ONNX Runtime
		t.Fatal(err)
	}
	want := rawORT(t, data, x, rows, cols)
	in := tensor.FromFloat32([]int64{rows, cols}, x)
	enc := tensor.EncodeList(in)
	dataAt := len(enc) - len(in.Data) // 4 + 8 + 8·rank
	for off := range 64 {
		buf := make([]byte, len(enc)+128)
		base := int(uintptr(unsafe.Pointer(&buf[0])) % 64)
		// Place the encoding so that its data starts at off mod 64.
		start := ((off-dataAt-base)%64 + 128) % 64
		p := buf[start : start+len(enc)]
		copy(p, enc)
		if got := int(uintptr(unsafe.Pointer(&p[dataAt])) % 64); got != off {
			t.Fatalf("offset %d: data at %d", off, got)
		}
		res := m.Run([]modelactor.Request{{Model: "reduce", Input: p}})[0]
		if res.Err() != nil {
			t.Fatal(res.Err())
		}
		if got := floats(t, res.Outputs); !bitsEqual(got, want) {
			t.Errorf("offset %d: %v, raw ONNX Runtime %v", off, got, want)
		}
		// Go tensors whose data sits at the same offset.
		d := make([]byte, len(in.Data)+64)
		s := ((off-int(uintptr(unsafe.Pointer(&d[0]))%64))%64 + 64) % 64
		shifted := in
		shifted.Data = d[s : s+len(in.Data)]
		copy(shifted.Data, in.Data)
		out, err := m.Infer("reduce", "", shifted)
		if err != nil {
			t.Fatal(err)
		}
		if got := floats(t, out); !bitsEqual(got, want) {
			t.Errorf("Infer, offset %d: %v, raw ONNX Runtime %v", off, got, want)
		}
	}
	// Two identical requests of one tick, at different offsets.
	a := append([]byte{0}, enc...)
	res := m.Run([]modelactor.Request{{Model: "reduce", Input: a[1:]}, {Model: "reduce", Input: enc}})
	for i, r := range res {
		if r.Err() != nil || !bitsEqual(floats(t, r.Outputs), want) {
			t.Errorf("request %d of a tick: %v %v, want %v", i, r.Err(), r.Outputs, want)
		}
	}
}

// TestBatchProbe: a model whose rows interact, declared batchable, is found
// out by the load-time probe and runs its requests alone, so that a request
// answers the same alone and in a tick with another; a plain MLP declared
// batchable stays batched.
func TestBatchProbe(t *testing.T) {
	dir := t.TempDir()
	centre := modeltest.Write(t, dir, "centre", meanModel())
	centre.MaxBatch = 4
	mlp := modeltest.Write(t, dir, "mlp", onnx.MLP(4, 8, 3, 5))
	mlp.MaxBatch = 4
	m, logs := start(t, modelactor.Config{Models: []modelactor.Model{centre, mlp}})
	one := func(v ...float32) modelactor.Request {
		return modelactor.Request{Model: "centre", Inputs: []tensor.Tensor{tensor.FromFloat32([]int64{1, 4}, v)}}
	}
	alone := m.Run([]modelactor.Request{one(1, 2, 3, 4)})[0]
	tick := m.Run([]modelactor.Request{one(1, 2, 3, 4), one(5, 6, 7, 8)})
	zero := []float32{0, 0, 0, 0}
	for i, r := range append([]tensor.Result{alone}, tick...) {
		if r.Err() != nil || r.Flags&tensor.Batched != 0 || !bitsEqual(floats(t, r.Outputs), zero) {
			t.Errorf("centre, result %d: %v flags %b %v, want %v alone", i, r.Err(), r.Flags, r.Outputs, zero)
		}
	}
	x := tensor.FromFloat32([]int64{1, 4}, randomInput(3, 4))
	res := m.Run([]modelactor.Request{{Model: "mlp", Inputs: []tensor.Tensor{x}}, {Model: "mlp", Inputs: []tensor.Tensor{x}}})
	for i, r := range res {
		if r.Err() != nil || r.Flags&tensor.Batched == 0 {
			t.Errorf("mlp, result %d: %v flags %b, want batched", i, r.Err(), r.Flags)
		}
	}
	for _, mt := range m.Metrics() {
		switch mt.ID {
		case "centre":
			if mt.MaxBatch != 0 || mt.BatchOff == "" || mt.Runs != 3 || mt.Batched != 0 {
				t.Errorf("centre metrics %+v: want batching off with a reason, 3 runs", mt)
			}
		case "mlp":
			if mt.MaxBatch != 4 || mt.BatchOff != "" || mt.Runs != 1 || mt.Batched != 2 {
				t.Errorf("mlp metrics %+v: want max_batch 4, one run of 2", mt)
			}
		}
	}
	if !strings.Contains(logs.String(), "batching is off") {
		t.Errorf("no log of batching turned off:\n%s", logs)
	}
}
