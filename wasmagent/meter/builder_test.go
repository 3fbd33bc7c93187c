package meter

// A tiny test-only assembler: enough of the binary format to hand-write the
// modules the tests run. Instructions are byte slices joined with ops().

import (
	"bytes"
	"encoding/binary"
	"math"
)

func u32(v uint32) []byte { return appendU32(nil, v) }
func s64(v int64) []byte  { return appendS64(nil, v) }

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// vec is a vector: its count, then its items.
func vec(items ...[]byte) []byte { return cat(u32(uint32(len(items))), cat(items...)) }

func str(s string) []byte { return cat(u32(uint32(len(s))), []byte(s)) }

func sec(id byte, payload ...[]byte) []byte {
	p := cat(payload...)
	return cat([]byte{id}, u32(uint32(len(p))), p)
}

func wasmModule(sections ...[]byte) []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"), cat(sections...))
}

func custom(name string, data []byte) []byte { return sec(secCustom, str(name), data) }

// functype encodes a function type; params and results are value type bytes.
func functype(params, results string) []byte {
	return cat([]byte{0x60}, u32(uint32(len(params))), []byte(params), u32(uint32(len(results))), []byte(results))
}

const (
	i32 = "\x7f"
	i64 = "\x7e"
	f32 = "\x7d"
	f64 = "\x7c"
)

// fbody encodes a function body: locals is a string of value type bytes, one
// local each; code must end with an end.
func fbody(locals string, code ...[]byte) []byte {
	var groups [][]byte
	for i := 0; i < len(locals); i++ {
		groups = append(groups, []byte{1, locals[i]})
	}
	b := cat(vec(groups...), cat(code...))
	return cat(u32(uint32(len(b))), b)
}

func export(name string, kind byte, index uint32) []byte {
	return cat(str(name), []byte{kind}, u32(index))
}

// Instructions.
func op(b ...byte) []byte            { return b }
func i32c(v int32) []byte            { return cat(op(0x41), s64(int64(v))) }
func i64c(v int64) []byte            { return cat(op(0x42), s64(v)) }
func f64c(v float64) []byte          { return binary.LittleEndian.AppendUint64(op(0x44), math.Float64bits(v)) }
func lget(i uint32) []byte           { return cat(op(0x20), u32(i)) }
func lset(i uint32) []byte           { return cat(op(0x21), u32(i)) }
func ltee(i uint32) []byte           { return cat(op(0x22), u32(i)) }
func call(f uint32) []byte           { return cat(op(0x10), u32(f)) }
func br(l uint32) []byte             { return cat(op(0x0c), u32(l)) }
func brIf(l uint32) []byte           { return cat(op(0x0d), u32(l)) }
func block(bt byte) []byte           { return op(0x02, bt) }
func loop(bt byte) []byte            { return op(0x03, bt) }
func ifb(bt byte) []byte             { return op(0x04, bt) }
func simd(sub uint32) []byte         { return cat(op(0xfd), u32(sub)) }
func fc(sub uint32) []byte           { return cat(op(0xfc), u32(sub)) }
func lane(sub uint32, l byte) []byte { return cat(simd(sub), op(l)) }

var (
	end    = op(0x0b)
	elseOp = op(0x05)
	drop   = op(0x1a)
	ret    = op(0x0f)
	void   = byte(0x40)
)
