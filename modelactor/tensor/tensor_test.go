package tensor_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
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
		{"reserved", patch(7, 1), "reserved header byte"},
		{"unknown kind", patch(6, 3), "unknown kind 3"},
		{"sequence with a dtype", func() []byte {
			b := tensor.EncodeList(tensor.NewSequence())
			b[4] = 1
			return b
		}(), "a sequence has no dtype"},
		{"rank", patch(5, 9), "rank 9"},
		{"short data", good[:len(good)-1], "do not fit"},
		{"trailing", append(bytes.Clone(good), 0), "1 bytes after the last value"},
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
	for _, v := range values() {
		f.Add(tensor.EncodeList(v))
	}
	var d tensor.Decoder // kept across inputs, as a model's worker keeps it
	// first is what the fuzzer's lists are compared with by DecodeLike.
	first := tensor.EncodeList(tensor.FromFloat32([]int64{1, 2}, []float32{1, 2}), tensor.From([]int64{1}, []int8{3}))
	f.Add(tensor.EncodeList(tensor.FromFloat32([]int64{1, 2}, []float32{5, 6}), tensor.From([]int64{1}, []int8{7})))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := tensor.DecodeList(b)
		if err == nil && !bytes.Equal(tensor.EncodeList(ts...), b) {
			t.Errorf("list %x re-encodes as %x", b, tensor.EncodeList(ts...))
		}
		// A Decoder agrees, and a list it decoded before stays intact.
		before, err0 := d.DecodeList(tensor.EncodeList(tensor.FromFloat32([]int64{1, 2}, []float32{1, 2})))
		firstTs, _ := d.DecodeList(first)
		dts, derr := d.DecodeList(b)
		if fmt.Sprint(derr) != fmt.Sprint(err) || (err == nil && !bytes.Equal(tensor.EncodeList(dts...), b)) {
			t.Errorf("list %x: the Decoder gives %v, DecodeList %v", b, derr, err)
		}
		if err0 != nil || len(before) != 1 || tensor.ShapeString(before[0].Shape) != "[1×2]" {
			t.Errorf("list %x: an earlier list of the Decoder became %v (%v)", b, before, err0)
		}
		// DecodeLike takes b for a list like the first only when
		// DecodeList agrees.
		if like, ok := d.DecodeLike(b, first, firstTs); ok && (err != nil || !bytes.Equal(tensor.EncodeList(like...), b)) {
			t.Errorf("list %x: DecodeLike takes it for a list like %x, DecodeList says %v", b, first, err)
		}
		d.Reset()
		if r, err := tensor.DecodeResult(b); err == nil && !bytes.Equal(r.Encode(), b) {
			t.Errorf("result %x re-encodes as %x", b, r.Encode())
		}
	})
}

// values is one value of every dtype and kind, scalars included.
func values() []tensor.Tensor {
	probs := tensor.NewSequence(
		tensor.NewMap(tensor.From([]int64{3}, []int64{0, 1, 2}), tensor.From([]int64{3}, []float32{0.25, 0.5, 0.25})),
		tensor.NewMap(tensor.From([]int64{3}, []int64{0, 1, 2}), tensor.From([]int64{3}, []float32{1, 0, 0})),
	)
	return []tensor.Tensor{
		tensor.From([]int64{2}, []float32{1, -2}),
		tensor.From(nil, []float64{math.Pi}),
		tensor.From([]int64{2}, []int8{-1, 1}),
		tensor.From([]int64{2}, []uint8{0, 255}),
		tensor.From([]int64{1, 2}, []int16{-300, 300}),
		tensor.From([]int64{2}, []uint16{0, 65535}),
		tensor.From([]int64{2}, []int32{-7, 7}),
		tensor.From([]int64{2}, []uint32{0, 1 << 31}),
		tensor.From([]int64{2}, []int64{math.MinInt64, math.MaxInt64}),
		tensor.From(nil, []uint64{math.MaxUint64}),
		tensor.From([]int64{3}, []bool{true, false, true}),
		tensor.FromFloat16([]int64{3}, []float32{1, -0.5, 65504}),
		tensor.FromBFloat16([]int64{2}, []float32{1, -3}),
		tensor.FromStrings([]int64{3}, []string{"setosa", "", "versicolour ✿"}),
		tensor.FromStrings(nil, []string{"scalar"}),
		tensor.FromStrings([]int64{0}, nil),
		probs,
		tensor.NewSequence(),
		tensor.NewSequence(tensor.FromStrings([]int64{1}, []string{"a"}), tensor.FromStrings([]int64{2}, []string{"b", "c"})),
		tensor.NewSequence(tensor.NewMap(tensor.FromStrings([]int64{2}, []string{"no", "yes"}), tensor.From([]int64{2}, []float32{0.9, 0.1}))),
	}
}

// TestEveryValue: every dtype and kind encodes, checks, decodes to the same
// value and re-encodes to the same bytes, in a list and inside a result.
func TestEveryValue(t *testing.T) {
	in := values()
	for i, v := range in {
		if err := v.Check(); err != nil {
			t.Fatalf("value %d (%s): %v", i, v.TypeString(), err)
		}
	}
	b := tensor.EncodeList(in...)
	if len(b) != tensor.ListSize(in) {
		t.Fatalf("encoded %d bytes, ListSize says %d", len(b), tensor.ListSize(in))
	}
	out, err := tensor.DecodeList(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if got, want := out[i].TypeString(), in[i].TypeString(); got != want {
			t.Errorf("value %d is %s, want %s", i, got, want)
		}
	}
	if again := tensor.EncodeList(out...); !bytes.Equal(again, b) {
		t.Fatal("decoded values re-encode differently")
	}
	r, err := tensor.DecodeResult(tensor.Result{Request: 1, Outputs: in}.Encode())
	if err != nil || len(r.Outputs) != len(in) {
		t.Fatalf("result: %d outputs, %v", len(r.Outputs), err)
	}
	if got := in[16].TypeString(); got != "seq(map(int64,float32))" {
		t.Errorf("probabilities are %s", got)
	}
}

// TestTypedHelpers: what From, FromFloat16, FromBFloat16 and FromStrings
// store, As, Float16s, BFloat16s and Strings give back, and each refuses
// another dtype.
func TestTypedHelpers(t *testing.T) {
	ints, err := tensor.As[int32](tensor.From([]int64{3}, []int32{-1, 0, 1 << 30}))
	if err != nil || ints[0] != -1 || ints[2] != 1<<30 {
		t.Errorf("int32: %v %v", ints, err)
	}
	if _, err := tensor.As[int64](tensor.From([]int64{1}, []int32{1})); err == nil || !strings.Contains(err.Error(), "want a int64 tensor, have int32[1]") {
		t.Errorf("int64 of an int32 tensor: %v", err)
	}
	h := tensor.FromFloat16([]int64{4}, []float32{1, 0.1, -2, float32(math.Inf(-1))})
	if !bytes.Equal(h.Data, []byte{0x00, 0x3c, 0x66, 0x2e, 0x00, 0xc0, 0x00, 0xfc}) {
		t.Errorf("float16 bits %x", h.Data)
	}
	f, err := h.Float16s()
	if err != nil || f[0] != 1 || f[1] != 0.0999755859375 || f[2] != -2 || !math.IsInf(float64(f[3]), -1) {
		t.Errorf("float16s %v %v", f, err)
	}
	if _, err := h.BFloat16s(); err == nil {
		t.Error("BFloat16s of a float16 tensor succeeded")
	}
	bf, err := tensor.FromBFloat16([]int64{2}, []float32{1.00390625, 3}).BFloat16s()
	if err != nil || bf[0] != 1 || bf[1] != 3 { // 1+2^-8 is a tie: to even, 1
		t.Errorf("bfloat16s %v %v", bf, err)
	}
	s, err := tensor.FromStrings([]int64{2, 2}, []string{"a", "", "βγ", "d"}).Strings()
	if err != nil || strings.Join(s, "|") != "a||βγ|d" {
		t.Errorf("strings %q %v", s, err)
	}
	m := tensor.NewMap(tensor.From([]int64{1}, []int64{7}), tensor.From([]int64{1}, []float32{0.5}))
	if k, _ := tensor.As[int64](m.MapKeys()); len(k) != 1 || k[0] != 7 {
		t.Errorf("map keys %v", k)
	}
	if v, _ := m.MapValues().Float32s(); len(v) != 1 || v[0] != 0.5 {
		t.Errorf("map values %v", v)
	}
}

// TestHalfConversions: every half converts to float32 and back to the same
// bits (NaNs to a NaN); float32s between halves round to the nearest, ties
// to even, checked against float64 arithmetic.
func TestHalfConversions(t *testing.T) {
	for h := range 1 << 16 {
		f := tensor.HalfToFloat32(uint16(h))
		back := tensor.Float32ToHalf(f)
		if f != f {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %04x came back as %04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("half %04x -> %v -> %04x", h, f, back)
		}
	}
	// Between two adjacent positive halves a and b: below the midpoint
	// rounds to a, above to b, at it to the even one.
	for h := uint16(0); h < 0x7bff; h += 7 {
		a, b := float64(tensor.HalfToFloat32(h)), float64(tensor.HalfToFloat32(h+1))
		mid := float32((a + b) / 2)
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		if got := tensor.Float32ToHalf(mid); got != even {
			t.Fatalf("midpoint of %04x and %04x rounds to %04x, want %04x", h, h+1, got, even)
		}
		if got := tensor.Float32ToHalf(math.Nextafter32(mid, 0)); got != h {
			t.Fatalf("just below the midpoint of %04x rounds to %04x", h, got)
		}
		if got := tensor.Float32ToHalf(math.Nextafter32(mid, 1e9)); got != h+1 {
			t.Fatalf("just above the midpoint of %04x rounds to %04x", h, got)
		}
	}
	if got := tensor.Float32ToHalf(65520); got != 0x7c00 {
		t.Errorf("65520 (half way to the next power) is %04x, want infinity", got)
	}
}

// TestMalformedValues: sequences, maps and strings that break a rule of the
// format are refused, naming the rule.
func TestMalformedValues(t *testing.T) {
	keys := tensor.From([]int64{2}, []int64{1, 2})
	cases := []struct {
		name string
		v    tensor.Tensor
		says string
	}{
		{"mixed sequence", tensor.NewSequence(keys, tensor.From([]int64{1}, []float32{1})), "holds values of one type"},
		{"float keys", tensor.NewMap(tensor.From([]int64{1}, []float32{1}), tensor.From([]int64{1}, []float32{1})), "keys are a rank-1 tensor of integers or strings"},
		{"short values", tensor.NewMap(keys, tensor.From([]int64{1}, []float32{1})), "as long as its keys (2)"},
		{"one part", tensor.Tensor{Kind: tensor.Map, Elems: []tensor.Tensor{keys}}, "a map has 2 values"},
		{"deep", tensor.NewSequence(tensor.NewSequence(tensor.NewSequence(tensor.NewSequence(keys)))), "nest deeper than 4"},
		{"string offsets", tensor.Tensor{DType: tensor.String, Shape: []int64{2}, Data: []byte{2, 0, 0, 0, 1, 0, 0, 0, 'a', 'b'}}, "string 1 ends at 1"},
		{"string tail", tensor.Tensor{DType: tensor.String, Shape: []int64{1}, Data: []byte{1, 0, 0, 0, 'a', 'b'}}, "the strings end at 1 but 2 bytes follow"},
		{"string count", tensor.Tensor{DType: tensor.String, Shape: []int64{2}, Data: []byte{0, 0, 0, 0}}, "needs 8 bytes of offsets"},
	}
	for _, c := range cases {
		_, err := tensor.DecodeList(tensor.EncodeList(c.v))
		if !errors.Is(err, tensor.ErrMalformed) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrMalformed saying %q", c.name, err, c.says)
		}
	}
}

// TestDecodeLike: a list encoded as another but for its data decodes
// like it, sharing its shapes, with its own data; any other difference, or
// a value whose body is checked (strings, sequences, maps), needs
// DecodeList.
func TestDecodeLike(t *testing.T) {
	enc := func(x []float32, ids []int64) []byte {
		return tensor.EncodeList(tensor.FromFloat32([]int64{1, int64(len(x))}, x), tensor.From([]int64{int64(len(ids))}, ids))
	}
	var d tensor.Decoder
	prev := enc([]float32{1, 2, 3}, []int64{4, 5})
	prevTs, err := d.DecodeList(prev)
	if err != nil {
		t.Fatal(err)
	}
	b := enc([]float32{6, 7, 8}, []int64{9, 10})
	got, ok := d.DecodeLike(b, prev, prevTs)
	want, _ := tensor.DecodeList(b)
	if !ok || !bytes.Equal(tensor.EncodeList(got...), b) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("DecodeLike(%x) = %v, %v; DecodeList gives %v", b, got, ok, want)
	}
	if &got[0].Shape[0] != &prevTs[0].Shape[0] || &got[0].Data[0] == &prevTs[0].Data[0] {
		t.Error("DecodeLike's values should share the first list's shapes and have their own data")
	}
	if x, _ := got[0].Float32s(); x[0] != 6 || fmt.Sprint(prevTs[1]) == fmt.Sprint(got[1]) {
		t.Errorf("DecodeLike's values hold %v, the first list's %v", got, prevTs)
	}
	for name, other := range map[string][]byte{
		"longer data":  enc([]float32{1, 2, 3, 4}, []int64{4, 5}),
		"other shape":  tensor.EncodeList(tensor.FromFloat32([]int64{3, 1}, []float32{1, 2, 3}), tensor.From([]int64{2}, []int64{4, 5})),
		"other dtype":  tensor.EncodeList(tensor.From([]int64{1, 3}, []int32{1, 2, 3}), tensor.From([]int64{2}, []int64{4, 5})),
		"other count":  tensor.EncodeList(tensor.FromFloat32([]int64{1, 3}, []float32{1, 2, 3})),
		"reserved set": func() []byte { c := bytes.Clone(prev); c[7] = 1; return c }(),
	} {
		if _, ok := d.DecodeLike(other, prev, prevTs); ok {
			t.Errorf("%s: DecodeLike took %x for a list like %x", name, other, prev)
		}
	}
	for _, v := range values() {
		if v.Kind == tensor.Dense && v.DType != tensor.String {
			continue
		}
		l := tensor.EncodeList(v)
		ts, err := d.DecodeList(l)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.DecodeLike(bytes.Clone(l), l, ts); ok {
			t.Errorf("DecodeLike took a list of a %s %s without checking its body", v.Kind, v.TypeString())
		}
	}
}

// TestDecoder: a Decoder decodes what DecodeList does, the lists it
// returned stay intact until Reset (a malformed list in between takes
// nothing back from them), and once grown it decodes dense lists without
// allocating.
func TestDecoder(t *testing.T) {
	var d tensor.Decoder
	lists := [][]tensor.Tensor{values()[:3], values()[13:], {tensor.From([]int64{1, 2, 3}, []int8{1, 2, 3, 4, 5, 6})}}
	got := make([][]tensor.Tensor, len(lists))
	for i, l := range lists {
		var err error
		if got[i], err = d.DecodeList(tensor.EncodeList(l...)); err != nil {
			t.Fatalf("list %d: %v", i, err)
		}
		bad := append(tensor.EncodeList(l...), 0) // malformed once every value is decoded
		if _, err := d.DecodeList(bad); !errors.Is(err, tensor.ErrMalformed) {
			t.Fatalf("list %d with a byte too many: %v, want ErrMalformed", i, err)
		}
	}
	for i, l := range lists {
		if !bytes.Equal(tensor.EncodeList(got[i]...), tensor.EncodeList(l...)) {
			t.Errorf("list %d changed after later lists: %v, want %v", i, got[i], l)
		}
	}
	if _, err := d.DecodeList(tensor.EncodeList(tensor.Tensor{DType: 200, Shape: []int64{1}})); err == nil || !strings.Contains(err.Error(), "unknown dtype 200") {
		t.Errorf("a Decoder took an unknown dtype: %v", err)
	}
	in := tensor.EncodeList(tensor.From([]int64{1, 16}, make([]float32, 16)), tensor.From([]int64{2}, []int64{7, 8}))
	d.Reset()
	for range 100 { // a tick's worth of requests
		if _, err := d.DecodeList(in); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(10, func() {
		d.Reset()
		for range 100 {
			if _, err := d.DecodeList(in); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("decoding 100 lists into a grown Decoder allocated %v times, want 0", allocs)
	}
}

// TestAppendRows: a request's rows of a batch's outputs encode to the
// bytes of the result of those rows cut out, for every split.
func TestAppendRows(t *testing.T) {
	outs := []tensor.Tensor{
		tensor.FromFloat32([]int64{5, 2}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}),
		tensor.From([]int64{5}, []int64{10, 11, 12, 13, 14}),
		tensor.FromFloat32([]int64{5, 1, 3}, make([]float32, 15)),
	}
	for start := range int64(5) {
		for n := int64(1); start+n <= 5; n++ {
			parts := make([]tensor.Tensor, len(outs))
			for j, o := range outs {
				row := int64(len(o.Data)) / 5
				shape := slices.Clone(o.Shape)
				shape[0] = n
				parts[j] = tensor.Tensor{DType: o.DType, Shape: shape, Data: o.Data[start*row : (start+n)*row]}
			}
			want := tensor.Result{Request: 9, Flags: tensor.Batched, Outputs: parts}.Encode()
			got := tensor.AppendRows([]byte{1}, 9, tensor.Batched, outs, 5, start, n)
			if got[0] != 1 || !bytes.Equal(got[1:], want) {
				t.Errorf("rows %d..%d: %x, want %x", start, start+n, got[1:], want)
			}
		}
	}
}

// TestAppendEncode: answers appended to one buffer, or encoded together by
// EncodeAll, are each what Encode gives, EncodedSize is its length, and
// appending to one of EncodeAll's answers leaves the next intact.
func TestAppendEncode(t *testing.T) {
	rs := []tensor.Result{
		{Request: 1, Flags: tensor.Batched, Outputs: values()},
		tensor.Failure(2, tensor.BadInput, "model %s: no", "m"),
		{Request: 3, Outputs: []tensor.Tensor{}},
	}
	var b []byte
	all := tensor.EncodeAll(rs)
	for i, r := range rs {
		start := len(b)
		b = r.AppendEncode(b)
		want := r.Encode()
		if !bytes.Equal(b[start:], want) || len(want) != r.EncodedSize() || !bytes.Equal(all[i], want) {
			t.Errorf("result %d: appended %x, EncodeAll %x, Encode %x, EncodedSize %d", r.Request, b[start:], all[i], want, r.EncodedSize())
		}
	}
	_ = append(all[0], 0xff)
	if !tensor.IsResult(all[1]) {
		t.Error("appending to one answer of EncodeAll overwrote the next")
	}
	for i, r := range rs {
		if st, err := tensor.StatusOf(all[i]); err != nil || st != r.Status {
			t.Errorf("StatusOf(result %d) = %v, %v; want %v", r.Request, st, err, r.Status)
		}
	}
	if _, err := tensor.StatusOf(all[0][:tensor.ResultHeaderSize-1]); !errors.Is(err, tensor.ErrMalformed) {
		t.Errorf("StatusOf(a cut header) = %v, want ErrMalformed", err)
	}
}
