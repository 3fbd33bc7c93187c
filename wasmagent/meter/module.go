package meter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13 // exception handling proposal: refused
)

var sectionNames = [...]string{
	secCustom: "custom", secType: "type", secImport: "import", secFunction: "function",
	secTable: "table", secMemory: "memory", secGlobal: "global", secExport: "export",
	secStart: "start", secElement: "element", secCode: "code", secData: "data",
	secDataCount: "data count",
}

// sectionRank is the position a non-custom section must keep in a module:
// ids in increasing order, except that the data count section (12) sits
// between the element (9) and code (10) sections.
var sectionRank = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 6, secExport: 7, secStart: 8, secElement: 9, secDataCount: 10,
	secCode: 11, secData: 12,
}

// section is one section of the module, located by offsets into the input.
type section struct {
	id      byte
	start   int // offset of the id byte
	payload int // offset of the first payload byte
	end     int // offset just past the payload
}

// module holds what the rewrite needs to know about a decoded module.
type module struct {
	bin      []byte
	sections []section

	typeParams      []uint32 // number of parameters of each function type
	typeResults     []uint32 // number of results of each function type
	typeResult      [][]byte // the encoded result type of each type with one result, else nil
	typeParamEnc    [][]byte // the encoded parameter types of each type, count first
	funcTypes       []uint32 // type index of each defined function
	importTypes     []uint32 // type index of each imported function
	importedFuncs   uint32
	importedGlobals uint32
	definedGlobals  uint32
	exports         uint32
	fuelExported    bool   // the module already exports FuelExport
	depthExported   bool   // the module already exports DepthExport
	startExported   bool   // the module already exports StartExport
	startSec        int    // index in sections of the start section, -1 when absent
	startFunc       uint32 // the start function
	memories        uint32 // imported and defined memories, as numbered so far
	tables          uint32 // imported and defined tables, as numbered so far

	globalSec, exportSec, codeSec int // index in sections, -1 when absent
	typeSec, funcSec              int // index in sections, -1 when absent
	// funcExports are the exported functions by name.
	funcExports map[string]uint32
	// dispatchExported: the module already exports DispatchExport.
	dispatchExported bool
	codeCount        uint32
	dataCount        int64 // -1 without a data count section
	dataSegments     uint32
	dataSec          int // index in sections, -1 when absent
	// data are the data segments while every one is active in memory 0 at
	// an i32.const offset (dataSimple); nil once one is not.
	data       []DataSegment
	dataSimple bool
	// prefixExport is the first export whose name starts with
	// GlobalExportPrefix, "" if none.
	prefixExport string
	// mutable lists the mutable globals the module defines.
	mutable []Global
}

// malformed wraps ErrMalformed with where and why decoding failed, or
// ErrUnsupported (which wraps ErrMalformed) when err is a refusal.
func malformed(where string, err error) error {
	var r *refusal
	if errors.As(err, &r) {
		return fmt.Errorf("%w: %s: %w", ErrUnsupported, where, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrMalformed, where, err)
}

// parse decodes and checks everything but the function bodies.
func parse(bin []byte) (*module, error) {
	m := &module{bin: bin, globalSec: -1, exportSec: -1, codeSec: -1, typeSec: -1, funcSec: -1, startSec: -1, dataCount: -1, dataSec: -1}
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, malformed("header", fmt.Errorf("missing the \\0asm magic number"))
	}
	if string(bin[4:8]) != "\x01\x00\x00\x00" {
		return nil, malformed("header", fmt.Errorf("unsupported binary version % x (want 01 00 00 00)", bin[4:8]))
	}
	r := newReader(bin, 0)
	r.off = 8
	lastRank := 0
	for !r.done() {
		s := section{start: r.off}
		s.id = r.byte()
		size := r.u32()
		if r.err != nil {
			return nil, malformed("section header", r.err)
		}
		if s.id == secTag {
			r.off = s.start
			r.unsupported("a tag section (id 13): %s", exceptionsAdvice)
			return nil, malformed("section header", r.err)
		}
		if int(s.id) >= len(sectionNames) {
			r.off = s.start
			r.fail("unknown section id %d", s.id)
			return nil, malformed("section header", r.err)
		}
		where := sectionNames[s.id] + " section"
		s.payload = r.off
		if uint64(size) > uint64(r.remaining()) {
			r.fail("size %d runs past the end of the module (%d bytes left)", size, r.remaining())
			return nil, malformed(where, r.err)
		}
		s.end = s.payload + int(size)
		if s.id != secCustom {
			rank := sectionRank[s.id]
			if rank <= lastRank {
				r.off = s.start
				r.fail("out of order or repeated")
				return nil, malformed(where, r.err)
			}
			lastRank = rank
		}
		sr := newReader(bin[s.payload:s.end], s.payload)
		m.section(&sr, s.id, len(m.sections))
		if sr.err == nil && sr.remaining() != 0 {
			sr.fail("%d bytes left over after the section's contents", sr.remaining())
		}
		if sr.err != nil {
			return nil, malformed(where, sr.err)
		}
		m.sections = append(m.sections, s)
		r.off = s.end
	}
	if uint32(len(m.funcTypes)) != m.codeCount {
		return nil, malformed("code section", fmt.Errorf("%d function bodies for %d declared functions", m.codeCount, len(m.funcTypes)))
	}
	if m.dataCount >= 0 && uint32(m.dataCount) != m.dataSegments {
		return nil, malformed("data count section", fmt.Errorf("declares %d data segments, the data section has %d", m.dataCount, m.dataSegments))
	}
	return m, nil
}

// section decodes the payload of one section; errors stay in r.
func (m *module) section(r *reader, id byte, index int) {
	switch id {
	case secCustom:
		r.bytes(r.u32()) // name; the contents are opaque
		r.off = len(r.b)
	case secType:
		m.typeSec = index
		n := r.count("type", 3)
		m.typeParams = make([]uint32, 0, n)
		m.typeResults = make([]uint32, 0, n)
		m.typeResult = make([][]byte, 0, n)
		m.typeParamEnc = make([][]byte, 0, n)
		for i := uint32(0); i < n && r.ok(); i++ {
			if form := r.byte(); form != 0x60 && r.ok() {
				r.off--
				r.fail("type %d: unsupported type form %#x (want 0x60, a function type)", i, form)
			}
			from := r.off
			params := r.valTypes()
			m.typeParamEnc = append(m.typeParamEnc, r.b[from:r.off])
			results := r.count("value type", 1)
			at := r.off
			for j := uint32(0); j < results && r.ok(); j++ {
				r.valType()
			}
			var one []byte
			if results == 1 && r.ok() {
				one = r.b[at:r.off]
			}
			m.typeParams = append(m.typeParams, params)
			m.typeResults = append(m.typeResults, results)
			m.typeResult = append(m.typeResult, one)
		}
	case secImport:
		n := r.count("import", 4)
		for i := uint32(0); i < n && r.ok(); i++ {
			r.name("import module name")
			r.name("import name")
			at := r.off
			switch kind := r.byte(); kind {
			case 0:
				t := r.u32()
				m.typeIndex(r, t)
				m.importTypes = append(m.importTypes, t)
				m.importedFuncs++
			case 1:
				r.refType()
				r.limits("table", m.tables)
				m.tables++
			case 2:
				r.limits("memory", m.memories)
				m.memories++
			case 3:
				r.globalType()
				m.importedGlobals++
			case 4:
				if r.ok() {
					r.off = at
					r.unsupported("import %d imports a tag: %s", i, exceptionsAdvice)
				}
			default:
				if r.ok() {
					r.off--
					r.fail("import %d: unknown import kind %#x", i, kind)
				}
			}
		}
	case secFunction:
		m.funcSec = index
		n := r.count("function", 1)
		m.funcTypes = make([]uint32, 0, n)
		for i := uint32(0); i < n && r.ok(); i++ {
			t := r.u32()
			m.typeIndex(r, t)
			m.funcTypes = append(m.funcTypes, t)
		}
	case secTable:
		n := r.count("table", 2)
		for i := uint32(0); i < n && r.ok(); i++ {
			init := r.remaining() > 1 && r.b[r.off] == 0x40 && r.b[r.off+1] == 0
			if init { // function references: a table with an initialiser
				r.off += 2
			}
			r.refType()
			r.limits("table", m.tables)
			m.tables++
			if init {
				r.skipConstExpr(m.globals())
			}
		}
	case secMemory:
		n := r.count("memory", 2)
		for i := uint32(0); i < n && r.ok(); i++ {
			r.limits("memory", m.memories)
			m.memories++
		}
	case secGlobal:
		m.globalSec = index
		m.definedGlobals = r.count("global", 3)
		for i := uint32(0); i < m.definedGlobals && r.ok(); i++ {
			t, mut := r.globalType()
			if mut && r.ok() {
				index := m.importedGlobals + i
				m.mutable = append(m.mutable, Global{Index: index, Type: t, Export: GlobalExportPrefix + strconv.FormatUint(uint64(index), 10)})
			}
			r.skipConstExpr(m.globals())
		}
	case secExport:
		m.exportSec = index
		m.exports = r.count("export", 3)
		for i := uint32(0); i < m.exports && r.ok(); i++ {
			name := r.name("export name")
			switch name {
			case DispatchExport:
				m.dispatchExported = true
			case FuelExport:
				m.fuelExported = true
			case DepthExport:
				m.depthExported = true
			case StartExport:
				m.startExported = true
			default:
				if strings.HasPrefix(name, GlobalExportPrefix) && m.prefixExport == "" {
					m.prefixExport = name
				}
			}
			at := r.off
			kind := r.byte()
			if kind == 4 && r.ok() {
				r.off--
				r.unsupported("export %d exports a tag: %s", i, exceptionsAdvice)
			}
			if kind > 4 && r.ok() {
				r.off--
				r.fail("export %d: unknown export kind %#x", i, kind)
			}
			index := r.u32()
			switch kind {
			case 0:
				if m.funcExports == nil {
					m.funcExports = map[string]uint32{}
				}
				m.funcExports[name] = index
			case 3:
				r.checkIndex(instr{start: int32(at)}, "global", index, uint64(m.globals()))
			}
		}
	case secStart:
		m.startSec, m.startFunc = index, r.u32()
	case secElement:
		n := r.count("element segment", 2)
		for i := uint32(0); i < n && r.ok(); i++ {
			r.elementSegment(i, m.globals())
		}
	case secCode:
		m.codeSec = index
		m.codeCount = r.count("function body", 2)
		for i := uint32(0); i < m.codeCount && r.ok(); i++ {
			r.bytes(r.u32()) // bodies are decoded by the rewrite
		}
	case secData:
		m.dataSec = index
		m.dataSegments = r.count("data segment", 2)
		m.dataSimple = true
		for i := uint32(0); i < m.dataSegments && r.ok(); i++ {
			offset, simple := uint32(0), false
			switch flags := r.u32(); flags {
			case 0:
				at := r.off
				r.skipConstExpr(m.globals())
				offset, simple = constI32(r.b[at:r.off])
			case 1:
			case 2:
				r.u32()
				r.skipConstExpr(m.globals())
			default:
				if r.ok() {
					r.fail("data segment %d: unknown flags %d", i, flags)
				}
			}
			b := r.bytes(r.u32())
			if m.dataSimple = m.dataSimple && simple; m.dataSimple {
				m.data = append(m.data, DataSegment{Offset: offset, Bytes: b})
			} else {
				m.data = nil
			}
		}
	case secDataCount:
		if len(r.b) == 0 && r.base == len(m.bin) {
			return // wazero v1.12 takes an empty one at the very end as absent
		}
		m.dataCount = int64(r.u32())
	}
}

// globals is the number of globals, imported and defined, before the rewrite.
func (m *module) globals() uint32 { return m.importedGlobals + m.definedGlobals }

func (m *module) typeIndex(r *reader, t uint32) {
	if r.ok() && t >= uint32(len(m.typeParams)) {
		r.fail("type index %d out of range (%d types)", t, len(m.typeParams))
	}
}

// valTypes reads a vector of value types and returns its length.
func (r *reader) valTypes() uint32 {
	n := r.count("value type", 1)
	for i := uint32(0); i < n && r.ok(); i++ {
		r.valType()
	}
	return n
}

// globalType reads a global type: its value type's first byte (the
// encoding's; a reference type's heap type follows it) and whether it is
// mutable.
func (r *reader) globalType() (byte, bool) {
	var t byte
	if r.ok() && r.off < len(r.b) {
		t = r.b[r.off]
	}
	r.valType()
	mut := r.byte()
	if mut > 1 && r.ok() {
		r.off--
		r.fail("global mutability %#x is neither 0 nor 1", mut)
	}
	return t, mut == 1
}

// limits reads the limits of table or memory i (what says which). Two
// proposals are refused by name: shared memories (flag 2, the threads
// proposal) and 64-bit memories and tables (flag 4, memory64). Flags 2 and 3
// on a table, which no proposal defines, are left to the runtime.
func (r *reader) limits(what string, i uint32) {
	at := r.off
	flags := r.byte()
	switch {
	case !r.ok():
		return
	case flags&4 != 0 && flags <= 7:
		r.off = at
		r.unsupported("%s %d has 64-bit limits (flags %#x): it uses the memory64 proposal, which Lockstep does not run: build for wasm32, not wasm64", what, i, flags)
		return
	case flags > 3:
		r.off = at
		r.fail("unsupported limits flags %#x", flags)
		return
	case flags&2 != 0 && what == "memory":
		r.off = at
		r.unsupported("memory %d is shared (flags %#x): it uses the threads proposal, which Lockstep does not run: %s", i, flags, threadsAdvice)
		return
	}
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// elementSegment reads one of the eight element segment encodings.
func (r *reader) elementSegment(i, globals uint32) {
	flags := r.u32()
	if flags > 7 {
		if r.ok() {
			r.fail("element segment %d: unknown flags %d", i, flags)
		}
		return
	}
	if flags&2 != 0 && flags&1 == 0 { // 2, 6: explicit table index
		r.u32()
	}
	if flags&1 == 0 { // 0, 2, 4, 6: active, with an offset
		r.skipConstExpr(globals)
	}
	exprs := flags&4 != 0
	if flags&3 != 0 { // 1, 2, 3, 5, 6, 7: element kind or reference type
		if exprs {
			r.refType()
		} else if kind := r.byte(); kind != 0 && r.ok() {
			r.off--
			r.fail("element segment %d: unknown element kind %#x", i, kind)
		}
	}
	n := r.count("element", 1)
	for j := uint32(0); j < n && r.ok(); j++ {
		if exprs {
			r.skipConstExpr(globals)
		} else {
			r.u32()
		}
	}
}

// constI32 decodes a constant expression that is i32.const and end, and
// returns its value as an unsigned offset; false for any other expression.
func constI32(expr []byte) (uint32, bool) {
	if len(expr) < 3 || expr[0] != opI32Const || expr[len(expr)-1] != opEnd {
		return 0, false
	}
	var v int64
	var shift uint
	b := expr[1 : len(expr)-1]
	for i, c := range b {
		if i == 5 {
			return 0, false
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if i != len(b)-1 {
				return 0, false
			}
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return uint32(int32(v)), true
		}
	}
	return 0, false
}
