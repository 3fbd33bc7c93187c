package tensor_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

func TestRoundTrip(t *testing.T) {
	in := []tensor.Tensor{
		tensor.FromFloat32([]int64{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0}),
		{DType: tensor.Int64, Shape: []int64{1}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{DType: tensor.Uint8, Shape: nil, Data: []byte{9}}, // a scalar
		{DType: tensor.Bool, Shape: []int64{0, 4}, Data: []byte{}},
	}
	b := tensor.EncodeList(in...)
	out, err := tensor.DecodeList(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d tensors back, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].DType != in[i].DType || tensor.ShapeString(out[i].Shape) != tensor.ShapeString(in[i].Shape) || !bytes.Equal(out[i].Data, in[i].Data) {
			t.Errorf("tensor %d: %+v, want %+v", i, out[i], in[i])
		}
	}
	f, _ := out[0].Float32s()
	if f[2] != 3.5 || !math.IsInf(float64(f[3]), 1) {
		t.Errorf("float32s: %v", f)
	}
	if _, err := out[1].Float32s(); err == nil {
		t.Error("Float32s of an int64 tensor succeeded")
	}

	r := tensor.Result{Request: 3, Flags: tensor.Batched, Outputs: in[:1]}
	back, err := tensor.DecodeResult(r.Encode())
	if err != nil || back.Request != 3 || back.Flags != tensor.Batched || len(back.Outputs) != 1 || back.Err() != nil {
		t.Errorf("result round trip: %+v %v", back, err)
	}
	fail := tensor.Failure(4, tensor.BadInput, "model %s: no", "m")
	back, err = tensor.DecodeResult(fail.Encode())
	var e *tensor.Error
	if err != nil || !errors.As(back.Err(), &e) || e.Status != tensor.BadInput || e.Msg != "model m: no" || back.Request != 4 {
		t.Errorf("failure round trip: %+v %v", back, err)
	}
}

func TestMalformed(t *testing.T) {
	good := tensor.EncodeList(tensor.FromFloat32([]int64{2}, []float32{1, 2}))
	patch := func(off int, v byte) []byte {
		b := bytes.Clone(good)
		b[off] = v
		return b
	}
	cases := []struct {
		name string
		b    []byte
		says string
	}{
		{"empty", nil, "4-byte count"},
		{"huge count", []byte{0xff, 0xff, 0xff, 0x7f}, "cannot fit"},
		{"cut header", good[:7], "header cut short"},
		{"bad dtype", patch(4, 200), "unknown dtype 200"},
		{"reserved", patch(6, 1), "reserved header bytes"},
		{"rank", patch(5, 9), "rank 9"},
		{"short data", good[:len(good)-1], "do not fit"},
		{"trailing", append(bytes.Clone(good), 0), "1 bytes after the last tensor"},
		{"size mismatch", patch(8, 7), "needs 8 bytes of data, it has 7"},
		{"negative dim", patch(19, 0x80), "negative or too large"},
	}
	for _, c := range cases {
		_, err := tensor.DecodeList(c.b)
		if !errors.Is(err, tensor.ErrMalformed) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrMalformed saying %q", c.name, err, c.says)
		}
	}
	if _, err := tensor.DecodeResult([]byte("LSIX0000000000000")); err == nil {
		t.Error("a result without the magic decoded")
	}
}

// FuzzDecode: no input makes the decoders panic, and what decodes
// re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(tensor.EncodeList(tensor.FromFloat32([]int64{1, 2}, []float32{1, 2})))
	f.Add(tensor.Result{Request: 1, Outputs: []tensor.Tensor{{DType: tensor.Int8, Shape: []int64{3}, Data: []byte{1, 2, 3}}}}.Encode())
	f.Add(tensor.Failure(2, tensor.RunFailed, "boom").Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if ts, err := tensor.DecodeList(b); err == nil && !bytes.Equal(tensor.EncodeList(ts...), b) {
			t.Errorf("list %x re-encodes as %x", b, tensor.EncodeList(ts...))
		}
		if r, err := tensor.DecodeResult(b); err == nil && !bytes.Equal(r.Encode(), b) {
			t.Errorf("result %x re-encodes as %x", b, r.Encode())
		}
	})
}
