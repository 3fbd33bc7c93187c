package onnx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestMLPDeterministic(t *testing.T) {
	a := MLP(4, 8, 3, 42)
	b := MLP(4, 8, 3, 42)
	if !bytes.Equal(a, b) {
		t.Fatal("MLP(4,8,3,42) encoded differently twice")
	}
	if c := MLP(4, 8, 3, 43); bytes.Equal(a, c) {
		t.Fatal("different seeds gave identical models")
	}
	if c := MLP(4, 9, 3, 42); bytes.Equal(a, c) {
		t.Fatal("different sizes gave identical models")
	}
}

// The bytes are pinned so that a change to the encoder or to the PRNG shows
// up here rather than as a silently different model on another machine.
func TestMLPGolden(t *testing.T) {
	const want = "c68b6258abe2da146d5ab7db8ff9bacb0bf11f39008553af0c76cd997752a8ce"
	sum := sha256.Sum256(MLP(4, 8, 3, 1))
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("sha256(MLP(4,8,3,1)) = %s, want %s", got, want)
	}
}

func TestConvDeterministic(t *testing.T) {
	if !bytes.Equal(Conv(2, 3, 3, 5, 5, 7), Conv(2, 3, 3, 5, 5, 7)) {
		t.Fatal("Conv encoded differently twice")
	}
}

func TestRand(t *testing.T) {
	r := NewRand(0)
	// splitmix64 reference: first outputs for seed 0.
	if got := r.Uint64(); got != 0xe220a8397b1dcdaf {
		t.Fatalf("first splitmix64(0) = %#x", got)
	}
	r = NewRand(9)
	for i := 0; i < 10000; i++ {
		f := r.Float32()
		if f < -1 || f >= 1 || math.IsNaN(float64(f)) {
			t.Fatalf("Float32 out of range: %v", f)
		}
	}
}

// field is one decoded protobuf field: a varint, fixed32 or nested bytes.
type field struct {
	num   protowire.Number
	v     uint64
	bytes []byte
}

func fields(t *testing.T, b []byte) []field {
	t.Helper()
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("unexpected wire type %v", typ)
		}
		if n < 0 {
			t.Fatalf("bad field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		out = append(out, f)
	}
	return out
}

func only(t *testing.T, fs []field, num protowire.Number) []field {
	t.Helper()
	var out []field
	for _, f := range fs {
		if f.num == num {
			out = append(out, f)
		}
	}
	return out
}

// TestMLPStructure decodes the wire format and checks the fields a runtime
// needs: IR version, opset, node op types, initializer sizes, symbolic batch.
func TestMLPStructure(t *testing.T) {
	p := NewMLP(4, 8, 3, 5)
	m := fields(t, p.Model().Encode())
	if ir := only(t, m, modelIRVersion); len(ir) != 1 || ir[0].v != 8 {
		t.Fatalf("ir_version: %+v", ir)
	}
	op := only(t, m, modelOpsetImport)
	if len(op) != 1 {
		t.Fatalf("opset_import: %d entries", len(op))
	}
	if v := only(t, fields(t, op[0].bytes), opsetVersion); len(v) != 1 || v[0].v != 17 {
		t.Fatalf("opset version: %+v", v)
	}
	gs := only(t, m, modelGraph)
	if len(gs) != 1 {
		t.Fatalf("graph: %d", len(gs))
	}
	g := fields(t, gs[0].bytes)
	var ops []string
	for _, n := range only(t, g, graphNode) {
		ot := only(t, fields(t, n.bytes), nodeOpType)
		ops = append(ops, string(ot[0].bytes))
	}
	if got, want := ops, []string{"MatMul", "Add", "Relu", "MatMul", "Add"}; len(got) != len(want) {
		t.Fatalf("ops %v, want %v", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("ops %v, want %v", got, want)
			}
		}
	}
	inits := only(t, g, graphInitializer)
	wantLen := map[string]int{"W1": 4 * 8 * 4, "B1": 8 * 4, "W2": 8 * 3 * 4, "B2": 3 * 4}
	if len(inits) != len(wantLen) {
		t.Fatalf("%d initializers", len(inits))
	}
	for _, in := range inits {
		tf := fields(t, in.bytes)
		name := string(only(t, tf, tensorName)[0].bytes)
		raw := only(t, tf, tensorRawData)[0].bytes
		if len(raw) != wantLen[name] {
			t.Errorf("initializer %s: %d raw bytes, want %d", name, len(raw), wantLen[name])
		}
		if dt := only(t, tf, tensorDataType); dt[0].v != Float {
			t.Errorf("initializer %s: data_type %d", name, dt[0].v)
		}
	}
	// input x: type.tensor_type.shape.dim[0].dim_param == "batch", dim[1] == 4
	in := only(t, g, graphInput)
	if len(in) != 1 {
		t.Fatalf("%d inputs", len(in))
	}
	vi := fields(t, in[0].bytes)
	tt := fields(t, only(t, fields(t, only(t, vi, valueType)[0].bytes), typeTensorType)[0].bytes)
	dims := only(t, fields(t, only(t, tt, tensorShape)[0].bytes), shapeDim)
	if len(dims) != 2 {
		t.Fatalf("input rank %d", len(dims))
	}
	if p := only(t, fields(t, dims[0].bytes), dimParam); len(p) != 1 || string(p[0].bytes) != "batch" {
		t.Fatalf("dim 0 is not symbolic batch: %+v", p)
	}
	if v := only(t, fields(t, dims[1].bytes), dimValue); len(v) != 1 || v[0].v != 4 {
		t.Fatalf("dim 1: %+v", v)
	}
}

func TestMLPEval(t *testing.T) {
	// Identity-like check: with all weights zero the output is B2.
	p := NewMLP(2, 3, 2, 1)
	for i := range p.W1 {
		p.W1[i] = 0
	}
	for i := range p.W2 {
		p.W2[i] = 0
	}
	y := p.Eval([]float32{1, 2, 3, 4})
	for b := 0; b < 2; b++ {
		for j := 0; j < 2; j++ {
			if y[b*2+j] != p.B2[j] {
				t.Fatalf("y[%d][%d] = %v, want %v", b, j, y[b*2+j], p.B2[j])
			}
		}
	}
}
