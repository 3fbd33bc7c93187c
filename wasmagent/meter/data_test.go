package meter

import (
	"bytes"
	"testing"
)

// TestExtractData takes the data segments out of a module whose segments
// are all active at i32.const offsets (negative ones included: an offset
// is unsigned), and leaves them in one with a passive segment or a data
// count section.
func TestExtractData(t *testing.T) {
	active := func(offset int32, b string) []byte { return cat(u32(0), i32c(offset), op(opEnd), str(b)) }
	passive := func(b string) []byte { return cat(u32(1), str(b)) }
	mod := func(extra []byte, segs ...[]byte) []byte {
		return wasmModule(sec(secMemory, vec(op(0, 1))), extra, sec(secData, vec(segs...)))
	}
	for _, c := range []struct {
		name string
		wasm []byte
		want []DataSegment // nil: the data section stays
	}{
		{"active", mod(nil, active(16, "ab"), active(-1, "c")), []DataSegment{{16, []byte("ab")}, {0xffffffff, []byte("c")}}},
		{"passive", mod(nil, active(16, "ab"), passive("c")), nil},
		{"data_count", mod(sec(secDataCount, u32(1)), active(16, "ab")), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, info, err := RewriteInfo(c.wasm, Options{CanonicalizeNaN: true, ExtractData: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Data) != len(c.want) {
				t.Fatalf("%d segments extracted, want %d", len(info.Data), len(c.want))
			}
			for i, s := range info.Data {
				if s.Offset != c.want[i].Offset || !bytes.Equal(s.Bytes, c.want[i].Bytes) {
					t.Fatalf("segment %d: %d bytes at %#x, want %q at %#x", i, len(s.Bytes), s.Offset, c.want[i].Bytes, c.want[i].Offset)
				}
			}
			m, err := parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if kept := m.dataSec >= 0; kept != (c.want == nil) {
				t.Fatalf("the rewritten module has a data section: %v, want %v", kept, c.want == nil)
			}
		})
	}
}
