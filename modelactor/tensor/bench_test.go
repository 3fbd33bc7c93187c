package tensor_test

import (
	"testing"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// BenchmarkDecoder: ns/op is the time to decode and check one request of
// the small benchmark model (float32 [1×16]) into a grown Decoder, as a
// model's worker does for each request of a tick.
func BenchmarkDecoder(b *testing.B) {
	in := tensor.EncodeList(tensor.From([]int64{1, 16}, make([]float32, 16)))
	var d tensor.Decoder
	b.ReportAllocs()
	for b.Loop() {
		d.Reset()
		if _, err := d.DecodeList(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeAll: ns/op is the time to encode a tick's 100 answers of
// the small benchmark model (float32 [1×4] each), as the host does.
func BenchmarkEncodeAll(b *testing.B) {
	rs := make([]tensor.Result, 100)
	for i := range rs {
		rs[i] = tensor.Result{Request: uint32(i), Flags: tensor.Batched, Outputs: []tensor.Tensor{tensor.From([]int64{1, 4}, make([]float32, 4))}}
	}
	b.ReportAllocs()
	for b.Loop() {
		tensor.EncodeAll(rs)
	}
}
