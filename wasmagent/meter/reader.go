package meter

import (
	"fmt"
	"unicode/utf8"
)

// reader decodes the primitive encodings of the binary format from b. The
// first error sticks: later reads return zero values, so a decoding loop
// checks r.err once per iteration instead of after every read. Offsets in
// errors are absolute offsets into the module (base is b[0]'s offset).
type reader struct {
	b    []byte
	off  int
	base int
	err  error
}

func newReader(b []byte, base int) reader { return reader{b: b, base: base} }

// fail records the first error, naming the absolute offset where it occurred.
func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %#x: %s", r.base+r.off, fmt.Sprintf(format, args...))
	}
}

// unsupported records, as the first error, that the module uses a feature
// Lockstep refuses (a proposal it does not run): Rewrite's error then wraps
// ErrUnsupported.
func (r *reader) unsupported(format string, args ...any) {
	if r.err == nil {
		r.err = &refusal{fmt.Sprintf("offset %#x: %s", r.base+r.off, fmt.Sprintf(format, args...))}
	}
}

// refusal is the error unsupported records.
type refusal struct{ msg string }

func (e *refusal) Error() string { return e.msg }

func (r *reader) ok() bool       { return r.err == nil }
func (r *reader) done() bool     { return r.err != nil || r.off >= len(r.b) }
func (r *reader) remaining() int { return len(r.b) - r.off }

// pos is the absolute offset of the next byte.
func (r *reader) pos() int { return r.base + r.off }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end of input")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// bytes returns the next n bytes (a view of the input, not a copy).
func (r *reader) bytes(n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("length %d runs past the end (%d bytes left)", n, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// u32 reads an unsigned LEB128 integer of at most 5 bytes whose unused high
// bits are zero.
func (r *reader) u32() uint32 {
	var v uint32
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i == 4 && c&0xf0 != 0 {
			r.off--
			r.fail("u32 LEB128 overflows 32 bits")
			return 0
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v
		}
	}
	return v // unreachable: the fifth byte is below 0x80 or failed above
}

// count reads a vector length and checks that at least min bytes per element
// remain, so a corrupt length cannot drive a long loop or a large allocation.
func (r *reader) count(what string, min int) uint32 {
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(min) > uint64(len(r.b)-r.off) {
		r.fail("%s count %d exceeds the remaining %d bytes", what, n, len(r.b)-r.off)
		return 0
	}
	return n
}

// skipLEB skips a LEB128 integer of at most max bytes without interpreting it
// (i32.const, i64.const: their bytes are copied, their values never needed).
func (r *reader) skipLEB(max int, what string) {
	for i := 0; i < max; i++ {
		c := r.byte()
		if r.err != nil || c < 0x80 {
			return
		}
	}
	r.fail("%s LEB128 longer than %d bytes", what, max)
}

// s33 reads a signed 33-bit LEB128 integer (block types).
func (r *reader) s33() int64 {
	var v int64
	var shift uint
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c < 0x80 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			if v < -(1<<32) || v >= 1<<32 {
				r.fail("s33 LEB128 overflows 33 bits")
				return 0
			}
			return v
		}
	}
	r.fail("s33 LEB128 longer than 5 bytes")
	return 0
}

// name reads a UTF-8 name (imports, exports).
func (r *reader) name(what string) string {
	n := r.u32()
	b := r.bytes(n)
	if r.err == nil && !utf8.Valid(b) {
		r.fail("%s is not valid UTF-8", what)
	}
	return string(b)
}
