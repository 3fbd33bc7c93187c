package meter

// Operand stack heights. With a call depth limit, the stack memory a call
// can take is bounded only if the frames are: Rewrite follows the height of
// the operand stack through each body (how many values each instruction
// pops and pushes), and weighs each function's calls by the values its
// frame can hold, its parameters, locals and highest operand stack (see
// FrameUnit). The heights are counts of values; a v128 takes two 8-byte
// slots in wazero's interpreter, every other value one.

// stack applies in's effect on the operand stack height, before classify
// updates the blocks: it computes the frame a block, loop or if opens (in
// w.pending) and the height after an end from the block that it closes.
// Code after an unconditional branch is followed too, its pops stopping at
// the block's base: its values count towards the highest height although
// they can never exist, which only makes the bound looser.
func (w *rewriter) stack(r *reader, in *instr, b *body) {
	top := &w.frames[len(w.frames)-1]
	switch in.code {
	case opBlock, opLoop, opIf:
		if in.code == opIf {
			w.pop(1)
		}
		params, results := w.blockSig(r, in)
		w.pop(uint64(params))
		w.pending = frame{base: w.height, params: params, results: results, dead: top.dead}
		w.height += uint64(params)
	case opElse:
		w.height = top.base + uint64(top.params)
		if len(w.frames) > 1 {
			top.dead = w.frames[len(w.frames)-2].dead
		}
	case opEnd:
		want := top.base + uint64(top.results)
		if !top.dead && w.height != want {
			w.unbalanced++
		}
		w.height = want
		w.raise(b)
	case opBr, opReturn, opUnreachable:
		w.unreachable(top)
	case opBrIf:
		w.pop(1)
	case opBrTable:
		w.pop(1)
		w.unreachable(top)
	case opCall, opReturnCall:
		params, results := w.funcSig(r, in)
		w.pop(uint64(params))
		if in.code == opReturnCall {
			w.unreachable(top)
			return
		}
		w.push(results, b)
	case opCallIndirect, opReturnCallIndirect:
		params, results := w.typeSig(r, in, in.imm)
		w.pop(1 + uint64(params))
		if in.code == opReturnCallIndirect {
			w.unreachable(top)
			return
		}
		w.push(results, b)
	default:
		var e uint8
		switch in.code {
		case opPrefixFC:
			if in.sub < uint32(len(fcEffect)) {
				e = fcEffect[in.sub]
			}
		case opPrefixFD:
			e = fdEffect[byte(in.sub)]
		default:
			e = opEffect[in.code]
		}
		w.pop(uint64(e >> 4))
		w.push(uint32(e&15), b)
	}
}

// pop takes n values off the operand stack, not below the innermost block's
// base (in unreachable code the stack is polymorphic).
func (w *rewriter) pop(n uint64) {
	base := w.frames[len(w.frames)-1].base
	if w.height-base < n {
		w.height = base
	} else {
		w.height -= n
	}
}

// push puts n values on the operand stack.
func (w *rewriter) push(n uint32, b *body) {
	w.height += uint64(n)
	w.raise(b)
}

func (w *rewriter) raise(b *body) {
	if w.height > b.maxStack {
		b.maxStack = w.height
	}
}

// unreachable marks the rest of block top as unreachable, its stack empty.
func (w *rewriter) unreachable(top *frame) {
	w.height = top.base
	top.dead = true
}

// blockSig returns the numbers of parameters and results of a block type.
func (w *rewriter) blockSig(r *reader, in *instr) (params, results uint32) {
	switch in.sub {
	case btValue:
		return 0, 1
	case btIndex:
		return w.typeSig(r, in, in.imm)
	}
	return 0, 0
}

// typeSig returns the numbers of parameters and results of type t.
func (w *rewriter) typeSig(r *reader, in *instr, t uint32) (params, results uint32) {
	if uint64(t) >= uint64(len(w.m.typeParams)) {
		r.checkIndex(*in, "type", t, uint64(len(w.m.typeParams)))
		return 0, 0
	}
	return w.m.typeParams[t], w.m.typeResults[t]
}

// funcSig returns the numbers of parameters and results of the function a
// call names.
func (w *rewriter) funcSig(r *reader, in *instr) (params, results uint32) {
	f, m := in.imm, w.m
	switch {
	case f < m.importedFuncs:
		return w.typeSig(r, in, m.importTypes[f])
	case uint64(f-m.importedFuncs) < uint64(len(m.funcTypes)):
		return w.typeSig(r, in, m.funcTypes[f-m.importedFuncs])
	}
	r.checkIndex(*in, "function", f, uint64(m.importedFuncs)+uint64(len(m.funcTypes)))
	return 0, 0
}

// Stack effects, pops<<4 | pushes, of the instructions stack does not treat
// itself: one-byte opcodes, 0xFC and 0xFD sub-opcodes. Unknown opcodes,
// which the decoder refuses, have none.
var (
	opEffect = func() (t [256]uint8) {
		set := func(e uint8, from, to byte) {
			for c := int(from); c <= int(to); c++ {
				t[c] = e
			}
		}
		set(0x10, opDrop, opDrop)
		set(0x31, opSelect, 0x1c)         // select, select t
		set(0x01, opLocalGet, opLocalGet) //
		set(0x10, opLocalSet, opLocalSet)
		set(0x11, opLocalTee, opLocalTee)
		set(0x01, opGlobalGet, opGlobalGet)
		set(0x10, opGlobalSet, opGlobalSet)
		set(0x11, 0x25, 0x25) // table.get
		set(0x20, 0x26, 0x26) // table.set
		set(0x11, 0x28, 0x35) // loads
		set(0x20, 0x36, 0x3e) // stores
		set(0x01, 0x3f, 0x3f) // memory.size
		set(0x11, opMemoryGrow, opMemoryGrow)
		set(0x01, opI32Const, opF64Const)
		set(0x11, 0x45, 0x45) // i32.eqz
		set(0x21, 0x46, 0x4f) // i32 comparisons
		set(0x11, 0x50, 0x50) // i64.eqz
		set(0x21, 0x51, 0x66) // i64, f32, f64 comparisons
		set(0x11, 0x67, 0x69) // i32 clz, ctz, popcnt
		set(0x21, 0x6a, 0x78) // i32 binary
		set(0x11, 0x79, 0x7b) // i64 clz, ctz, popcnt
		set(0x21, 0x7c, 0x8a) // i64 binary
		set(0x11, 0x8b, 0x91) // f32 unary
		set(0x21, 0x92, 0x98) // f32 binary
		set(0x11, 0x99, 0x9f) // f64 unary
		set(0x21, 0xa0, 0xa6) // f64 binary
		set(0x11, 0xa7, 0xc4) // conversions, sign extension
		set(0x01, 0xd0, 0xd0) // ref.null
		set(0x11, 0xd1, 0xd1) // ref.is_null
		set(0x01, 0xd2, 0xd2) // ref.func
		return t
	}()

	fcEffect = [...]uint8{
		0: 0x11, 1: 0x11, 2: 0x11, 3: 0x11, 4: 0x11, 5: 0x11, 6: 0x11, 7: 0x11, // trunc_sat
		fcMemoryInit: 0x30, 9: 0x00, fcMemoryCopy: 0x30, fcMemoryFill: 0x30,
		fcTableInit: 0x30, 13: 0x00, fcTableCopy: 0x30, fcTableGrow: 0x21, 16: 0x01, fcTableFill: 0x30,
	}

	fdEffect = func() (t [256]uint8) {
		for c := range t {
			if !simdReserved[c] {
				t[c] = 0x21 // most are binary
			}
		}
		unary := [][2]byte{
			{0x00, 0x0a}, {0x0f, 0x16}, {0x18, 0x19}, {0x1b, 0x1b}, {0x1d, 0x1d}, {0x1f, 0x1f}, {0x21, 0x21},
			{0x4d, 0x4d}, {0x53, 0x53}, {0x5c, 0x64}, {0x67, 0x6a}, {0x74, 0x75}, {0x7a, 0x7a}, {0x7c, 0x81},
			{0x83, 0x84}, {0x87, 0x8a}, {0x94, 0x94}, {0xa0, 0xa1}, {0xa3, 0xa4}, {0xa7, 0xaa}, {0xc0, 0xc1},
			{0xc3, 0xc4}, {0xc7, 0xca}, {0xe0, 0xe1}, {0xe3, 0xe3}, {0xec, 0xed}, {0xef, 0xef}, {0xf8, 0xff},
		}
		for _, r := range unary {
			for c := int(r[0]); c <= int(r[1]); c++ {
				t[c] = 0x11
			}
		}
		t[0x0b] = 0x20 // v128.store
		for c := 0x58; c <= 0x5b; c++ {
			t[c] = 0x20 // store_lane
		}
		t[fdV128Const] = 0x01
		t[fdV128Bitselect] = 0x31
		return t
	}()
)
