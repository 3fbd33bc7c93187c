package meter

import "math"

// Opcodes the rewriter inspects or emits. Everything else is decoded only far
// enough to find where the instruction ends, and copied byte for byte.
const (
	opUnreachable        = 0x00
	opBlock              = 0x02
	opLoop               = 0x03
	opIf                 = 0x04
	opElse               = 0x05
	opEnd                = 0x0b
	opBr                 = 0x0c
	opBrIf               = 0x0d
	opBrTable            = 0x0e
	opReturn             = 0x0f
	opCall               = 0x10
	opCallIndirect       = 0x11
	opReturnCall         = 0x12
	opReturnCallIndirect = 0x13
	opSelect             = 0x1b
	opLocalGet           = 0x20
	opLocalSet           = 0x21
	opLocalTee           = 0x22
	opGlobalGet          = 0x23
	opGlobalSet          = 0x24
	opTableSet           = 0x26
	opMemoryGrow         = 0x40
	opI64Const           = 0x42
	opF32Const           = 0x43
	opF64Const           = 0x44
	opI64LtS             = 0x53
	opF32Ne              = 0x5c
	opF64Ne              = 0x62
	opI64Sub             = 0x7d
	opI64Mul             = 0x7e
	opI64ShrU            = 0x88
	opI64ExtendI32U      = 0xad
	opPrefixFC           = 0xfc
	opPrefixFD           = 0xfd
	opPrefixFE           = 0xfe // threads: refused
	opI32Const           = 0x41
	opI32Add             = 0x6a
	opI32Sub             = 0x6b
	opI32GtU             = 0x4b
	opDrop               = 0x1a

	// 0xFC sub-opcodes.
	fcMemoryInit = 8
	fcDataDrop   = 9
	fcMemoryCopy = 10
	fcMemoryFill = 11
	fcTableInit  = 12
	fcElemDrop   = 13
	fcTableCopy  = 14
	fcTableGrow  = 15
	fcTableFill  = 17

	// 0xFD sub-opcodes.
	fdV128Const     = 0x0c
	fdF32x4Eq       = 0x41
	fdF32x4Ne       = 0x42
	fdF64x2Eq       = 0x47
	fdF64x2Ne       = 0x48
	fdV128Bitselect = 0x52
	fdV128AnyTrue   = 0x53
)

// fcNames names the 0xFC instructions Info reports.
var fcNames = map[uint32]string{
	fcDataDrop: "data.drop", fcTableInit: "table.init", fcElemDrop: "elem.drop",
	fcTableCopy: "table.copy", fcTableGrow: "table.grow", fcTableFill: "table.fill",
}

// Value types.
const (
	tI32       = 0x7f
	tI64       = 0x7e
	tF32       = 0x7d
	tF64       = 0x7c
	tV128      = 0x7b
	tFuncref   = 0x70
	tExternref = 0x6f
	tEmptyBT   = 0x40 // the empty block type
)

// Types from proposals past Wasm 2.0 that wazero v1.12 decodes whatever
// features are enabled, rejecting them only where they are used: exnref and
// (ref null? heaptype). The rewrite never needs a type, so it accepts them
// wherever a type is merely declared.
const (
	tExnref  = 0x69
	tRefNull = 0x63 // followed by a heap type
	tRef     = 0x64 // followed by a heap type
)

// valType reads a value type.
func (r *reader) valType() {
	switch t := r.byte(); t {
	case tI32, tI64, tF32, tF64, tV128, tFuncref, tExternref, tExnref:
	case tRefNull, tRef:
		r.s33() // heap type
	default:
		if r.ok() {
			r.off--
			r.fail("unknown value type %#x", t)
		}
	}
}

// refType reads a reference type.
func (r *reader) refType() {
	switch t := r.byte(); t {
	case tFuncref, tExternref, tExnref:
	case tRefNull, tRef:
		r.s33() // heap type
	default:
		if r.ok() {
			r.off--
			r.fail("unknown reference type %#x", t)
		}
	}
}

// instr is one decoded instruction of a function body.
type instr struct {
	start, end int32 // byte range in the body, immediates included
	// sub is the sub-opcode after a 0xFC or 0xFD prefix, and the form of
	// the block type (bt*) of block, loop and if.
	sub uint32
	// imm is the depth of br and br_if; the index of br_table's first label
	// in labels; the index of local.* and global.*; the function index of
	// call and return_call; the type index of call_indirect,
	// return_call_indirect, and block, loop and if of form btIndex.
	imm     uint32
	nlabels uint32 // br_table: number of labels, the default included
	code    byte
	flags   uint16 // what the rewrite does around it (see code.go)
}

// simdReserved marks the unassigned opcodes in 0xFD 0x5e..0xff.
var simdReserved = [256]bool{
	0x9a: true, 0xa2: true, 0xa5: true, 0xa6: true, 0xaf: true, 0xb0: true,
	0xb2: true, 0xb3: true, 0xb4: true, 0xbb: true, 0xc2: true, 0xc5: true,
	0xc6: true, 0xcf: true, 0xd0: true, 0xd2: true, 0xd3: true, 0xd4: true,
	0xe2: true, 0xee: true,
}

// decodeInstr reads one instruction into in. br_table labels are appended to
// *labels. Block nesting is the caller's business.
func (r *reader) decodeInstr(in *instr, labels *[]uint32) {
	in.start = int32(r.off)
	in.sub, in.imm, in.nlabels, in.flags = 0, 0, 0, 0
	code := r.byte()
	in.code = code
	switch {
	case code == 0x00, code == 0x01, code == opElse, code == opEnd,
		code == opReturn, code == 0x1a, code == opSelect, code == 0xd1:
		// no immediates
	case code >= 0x45 && code <= 0xc4:
		// numeric operators: no immediates
	case code == opBlock, code == opLoop, code == opIf:
		in.sub, in.imm = r.blockType()
	case code == opBr, code == opBrIf:
		in.imm = r.u32()
	case code == opBrTable:
		n := r.count("br_table label", 1)
		in.imm = uint32(len(*labels))
		for i := uint32(0); i <= n && r.ok(); i++ {
			*labels = append(*labels, r.u32())
		}
		in.nlabels = n + 1
	case code == opCall, code == opReturnCall:
		in.imm = r.u32() // function index
	case code == opCallIndirect, code == opReturnCallIndirect:
		in.imm = r.u32() // type index
		r.u32()
	case code == 0x1c: // select t*
		n := r.count("select type", 1)
		for i := uint32(0); i < n && r.ok(); i++ {
			r.valType()
		}
	case code >= opLocalGet && code <= 0x26: // local.*, global.*, table.get/set
		in.imm = r.u32()
	case code >= 0x28 && code <= 0x3e: // loads and stores: memarg
		r.u32()
		r.u32()
	case code == 0x3f, code == opMemoryGrow:
		r.u32() // memory index (a reserved zero byte in Wasm 2.0)
	case code == 0x41:
		r.skipLEB(5, "i32")
	case code == opI64Const:
		r.skipLEB(10, "i64")
	case code == opF32Const:
		r.bytes(4)
	case code == opF64Const:
		r.bytes(8)
	case code == 0xd0: // ref.null t
		if t := r.byte(); t != tFuncref && t != tExternref && t != tExnref && r.ok() {
			r.off--
			r.fail("unknown reference type %#x", t)
		}
	case code == 0xd2: // ref.func
		r.u32()
	case code == opPrefixFC:
		in.sub = r.u32()
		switch in.sub {
		case 0, 1, 2, 3, 4, 5, 6, 7: // trunc_sat
		case fcMemoryInit, fcMemoryCopy, fcTableInit, fcTableCopy:
			r.u32()
			r.u32()
		case 9, fcMemoryFill, 13, fcTableGrow, 16, fcTableFill:
			r.u32()
		default:
			if r.ok() {
				r.fail("unknown opcode 0xfc %d", in.sub)
			}
		}
	case code == opPrefixFD:
		at := r.off
		in.sub = r.u32()
		s := in.sub
		if n := r.off - at; r.ok() && (s > 0xff || s < 0x80 && n != 1 || s >= 0x80 && n != 2) {
			// wazero v1.12 takes the byte after 0xfd as the whole opcode:
			// fd e7 01 is f32x4.div then nop to it (harmless), but fd e7 00
			// is f32x4.ceil to the spec and f32x4.div, unreachable to
			// wazero. Only encodings both read alike are accepted.
			r.off = at
			r.fail("0xfd opcode %d: unknown, or not in its shortest encoding (wazero v1.12 reads one byte)", s)
		}
		switch {
		case s <= 0x0b, s == 0x5c, s == 0x5d: // loads, stores
			r.u32()
			r.u32()
		case s == fdV128Const, s == 0x0d: // v128.const, i8x16.shuffle
			r.bytes(16)
		case s >= 0x15 && s <= 0x22: // extract/replace_lane
			r.byte()
		case s >= 0x54 && s <= 0x5b: // load/store_lane: memarg, lane
			r.u32()
			r.u32()
			r.byte()
		case !simdReserved[byte(s)]:
			// no immediates
		default:
			if r.ok() {
				r.fail("unknown opcode 0xfd %d", s)
			}
		}
	case exceptionOps[code] != "":
		r.off--
		r.unsupported("%s: %s", exceptionOps[code], exceptionsAdvice)
	case code == opPrefixFE:
		r.off--
		r.unsupported("an atomic instruction (0xfe prefix): the module uses the threads proposal, which Lockstep does not run: %s", threadsAdvice)
	case code == 0xfb, code == 0x14, code == 0x15, code >= 0xd3 && code <= 0xd6:
		r.off--
		r.unsupported("opcode %#x is from the typed function references or GC proposal, which Lockstep does not run: "+
			"build for WebAssembly 2.0, without GC or typed function references (binaryen: no --enable-gc)", code)
	default:
		if r.ok() {
			r.off--
			r.fail("unknown or unsupported opcode %#x", code)
		}
	}
	in.end = int32(r.off)
}

// exceptionOps names the opcodes of the exception handling proposal, legacy
// (try, catch, catch_all, rethrow, delegate) and current (throw, throw_ref,
// try_table).
var exceptionOps = [256]string{
	0x06: "try", 0x07: "catch", 0x08: "throw", 0x09: "rethrow", 0x0a: "throw_ref",
	0x18: "delegate", 0x19: "catch_all", 0x1f: "try_table",
}

// Block type forms, in instr.sub of block, loop and if.
const (
	btEmpty = 0 // no parameters, no results
	btValue = 1 // no parameters, one result
	btIndex = 2 // a function type, its index in instr.imm
)

// blockType reads a block type: the empty type, one value type, or a type
// index, all as one signed 33-bit LEB128 integer. It returns its form and,
// for btIndex, the type index.
func (r *reader) blockType() (form, index uint32) {
	start := r.off
	v := r.s33()
	if r.err != nil {
		return btEmpty, 0
	}
	if v >= 0 {
		if v > math.MaxUint32 {
			r.off = start
			r.fail("block type index %d out of range", v)
		}
		return btIndex, uint32(v)
	}
	if v >= -64 {
		switch byte(v & 0x7f) {
		case tEmptyBT:
			return btEmpty, 0
		case tI32, tI64, tF32, tF64, tV128, tFuncref, tExternref, tExnref:
			return btValue, 0
		case tRefNull, tRef:
			r.s33() // heap type
			return btValue, 0
		}
	}
	r.off = start
	r.fail("unknown block type %d", v)
	return btEmpty, 0
}

// skipConstExpr reads a constant expression up to and including its end.
// Which instructions are constant is left to the runtime's validation, but a
// global index must be below globals: the rewrite appends a global, which
// would make an out-of-range index valid, and name the fuel.
func (r *reader) skipConstExpr(globals uint32) {
	var in instr
	var labels []uint32
	depth := 0
	for r.ok() {
		r.decodeInstr(&in, &labels)
		switch in.code {
		case opBlock, opLoop, opIf:
			depth++
		case opEnd:
			if depth == 0 {
				return
			}
			depth--
		case opGlobalGet, opGlobalSet:
			r.checkIndex(in, "global", in.imm, uint64(globals))
		}
	}
}

// checkIndex fails if index i of kind what is not below n.
func (r *reader) checkIndex(in instr, what string, i uint32, n uint64) {
	if r.ok() && uint64(i) >= n {
		r.off = int(in.start)
		r.fail("%s index %d out of range (%d %ss)", what, i, n, what)
	}
}
