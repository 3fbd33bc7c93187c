package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// This file is a small reader of the WebAssembly binary format: enough to
// split a module into sections, find custom sections by name and list the
// import section. It never decodes code; wazero validates the module later.
// Every read is bounds-checked, so any input gives a result or an error.

var wasmHeader = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Section ids used here (WebAssembly core spec 5.5).
const (
	secCustom = 0
	secImport = 2
)

// section is one section of a module: its id and where it lies.
type section struct {
	id byte
	// start is the offset of the id byte, end the offset after the contents;
	// body is the offset of the contents (after the size).
	start, body, end int
	// name is a custom section's name ("" for other sections) and payload
	// the offset of what follows the name.
	name    string
	payload int
}

// parseSections splits a module into sections. It checks the header and that
// the sections tile the module exactly. On an error after the header it
// also returns the sections before the one that failed, which starts where
// the last of them ends.
func parseSections(wasm []byte) ([]section, error) {
	if len(wasm) < 4 || !bytes.Equal(wasm[:4], wasmHeader[:4]) {
		return nil, errors.New("not a WebAssembly module (it does not start with \\0asm); build it for wasm32")
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[4:8], wasmHeader[4:]) {
		return nil, errors.New("not a WebAssembly 1.0/2.0 core module (the version after \\0asm is not 1); build it for wasm32 as a core module, not a component")
	}
	var secs []section
	for off := len(wasmHeader); off < len(wasm); {
		s := section{id: wasm[off], start: off}
		size, n, err := readU32(wasm, off+1)
		if err != nil {
			return secs, fmt.Errorf("section at byte %d: size: %v", off, err)
		}
		s.body = off + 1 + n
		if uint64(size) > uint64(len(wasm)-s.body) {
			return secs, fmt.Errorf("section at byte %d: its size %d runs past the end of the module (%d bytes): the file is truncated", off, size, len(wasm))
		}
		s.end = s.body + int(size)
		if s.id == secCustom {
			name, p, err := readName(wasm[:s.end], s.body)
			if err != nil {
				return secs, fmt.Errorf("custom section at byte %d: name: %v", off, err)
			}
			s.name, s.payload = name, p
		}
		secs = append(secs, s)
		off = s.end
	}
	return secs, nil
}

// readU32 reads an unsigned LEB128 number of at most 32 bits at off and
// returns it with its length in bytes. Non-minimal encodings are valid
// WebAssembly and accepted.
func readU32(b []byte, off int) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if off+i >= len(b) {
			return 0, 0, errors.New("unexpected end of module")
		}
		c := b[off+i]
		if i == 4 && c&0xf0 != 0 {
			return 0, 0, errors.New("integer too large for 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("integer too large for 32 bits")
}

// appendU32 appends the minimal unsigned LEB128 encoding of v.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// readName reads a WebAssembly name (length-prefixed UTF-8) at off and
// returns it with the offset after it.
func readName(b []byte, off int) (string, int, error) {
	n, k, err := readU32(b, off)
	if err != nil {
		return "", 0, err
	}
	off += k
	if uint64(n) > uint64(len(b)-off) {
		return "", 0, errors.New("name runs past the end of its section")
	}
	s := b[off : off+int(n)]
	if !utf8.Valid(s) {
		return "", 0, errors.New("name is not valid UTF-8")
	}
	return string(s), off + int(n), nil
}

// Import descriptor kinds (WebAssembly core spec 5.5.5, plus tags from the
// exception-handling proposal).
const (
	importFunc   = 0x00
	importTable  = 0x01
	importMemory = 0x02
	importGlobal = 0x03
	importTag    = 0x04
)

// wasmImport is one entry of the import section.
type wasmImport struct {
	module, name string
	kind         byte
}

// readImports decodes the import section, whose contents are b[s.body:s.end].
func readImports(wasm []byte, s section) ([]wasmImport, error) {
	b := wasm[:s.end]
	count, n, err := readU32(b, s.body)
	if err != nil {
		return nil, fmt.Errorf("import section: count: %v", err)
	}
	off := s.body + n
	// Every import takes at least 4 bytes, which bounds the allocation.
	imps := make([]wasmImport, 0, min(uint64(count), uint64(s.end-off)/4))
	for i := uint32(0); i < count; i++ {
		var imp wasmImport
		if imp.module, off, err = readName(b, off); err != nil {
			return nil, fmt.Errorf("import %d: module name: %v", i, err)
		}
		if imp.name, off, err = readName(b, off); err != nil {
			return nil, fmt.Errorf("import %d (%s): name: %v", i, imp.module, err)
		}
		if off >= len(b) {
			return nil, fmt.Errorf("import %d (%s.%s): the import section ends before its kind", i, imp.module, imp.name)
		}
		imp.kind = b[off]
		off++
		switch imp.kind {
		case importFunc:
			_, n, err = readU32(b, off)
			off += n
		case importTable:
			if off >= len(b) {
				err = errors.New("unexpected end of section")
				break
			}
			off, err = skipLimits(b, off+1) // reference type, then limits
		case importMemory:
			off, err = skipLimits(b, off)
		case importGlobal:
			if off+2 > len(b) {
				err = errors.New("unexpected end of section")
			}
			off += 2 // value type, mutability
		case importTag:
			if off >= len(b) {
				err = errors.New("unexpected end of section")
				break
			}
			_, n, err = readU32(b, off+1) // attribute, type index
			off += 1 + n
		default:
			err = fmt.Errorf("unknown import kind 0x%02x", imp.kind)
		}
		if err != nil {
			return nil, fmt.Errorf("import %d (%s.%s): %v", i, imp.module, imp.name, err)
		}
		imps = append(imps, imp)
	}
	if off != s.end {
		return nil, fmt.Errorf("import section: %d bytes left over after %d imports", s.end-off, count)
	}
	return imps, nil
}

// skipLimits skips a table's or memory's limits at off: a flags byte, the
// minimum and, when flag bit 0 is set, the maximum. Bits 1 (shared, threads
// proposal) and 2 (64-bit, memory64 proposal) are accepted; the numbers are
// read as LEB128 of up to 10 bytes so memory64 limits parse too.
func skipLimits(b []byte, off int) (int, error) {
	if off >= len(b) {
		return 0, errors.New("unexpected end of section")
	}
	flags := b[off]
	if flags > 0x07 {
		return 0, fmt.Errorf("unknown limits flags 0x%02x", flags)
	}
	off++
	count := 1
	if flags&1 != 0 {
		count = 2
	}
	for range count {
		n, err := skipLEB(b, off)
		if err != nil {
			return 0, err
		}
		off += n
	}
	return off, nil
}

// skipLEB returns the length of the LEB128 number (at most 64 bits) at off.
func skipLEB(b []byte, off int) (int, error) {
	for i := 0; i < 10; i++ {
		if off+i >= len(b) {
			return 0, errors.New("unexpected end of section")
		}
		if b[off+i]&0x80 == 0 {
			return i + 1, nil
		}
	}
	return 0, errors.New("integer too large for 64 bits")
}

// appendCustomSection appends a custom section with the given name and
// payload, every length in its minimal encoding.
func appendCustomSection(dst []byte, name string, payload []byte) []byte {
	return append(appendCustomHeader(dst, name, len(payload)), payload...)
}

// appendCustomHeader appends the id, size and name of a custom section
// whose payload (after the name) is n bytes.
func appendCustomHeader(dst []byte, name string, n int) []byte {
	nameLen := appendU32(nil, uint32(len(name)))
	dst = append(dst, secCustom)
	dst = appendU32(dst, uint32(len(nameLen)+len(name)+n))
	dst = append(dst, nameLen...)
	return append(dst, name...)
}
