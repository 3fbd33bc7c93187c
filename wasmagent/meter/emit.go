package meter

import (
	"fmt"
	"math"
)

// Canonical NaNs, little-endian as in f32.const and f64.const immediates.
var (
	canonF32 = [4]byte{0x00, 0x00, 0xc0, 0x7f} // 0x7fc00000
	canonF64 = [8]byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}

	canonF32x4 = [16]byte(append(append(append(canonF32[:], canonF32[:]...), canonF32[:]...), canonF32[:]...))
	canonF64x2 = [16]byte(append(canonF64[:], canonF64[:]...))
)

// scratch holds the indices of the locals the rewrite appends to a body.
type scratch struct {
	fuel  uint32 // i64: the remaining fuel, cached while the function runs
	size  uint32 // i32: the length operand of a bulk operation
	depth uint32 // i32: the call depth of the function's caller
	f32   uint32
	f64   uint32
	v128  uint32
}

// emit writes the rewritten b to w.out, from the instructions in w.ins.
func (w *rewriter) emit(b *body) error {
	fuel, canon, depth := w.opts.Fuel, w.opts.CanonicalizeNaN, w.opts.MaxCallDepth > 0
	var add []byte // types of the appended locals, one group each
	next := uint32(b.locals)
	local := func(t byte) uint32 {
		add = append(add, t)
		next++
		return next - 1
	}
	var s scratch
	if fuel {
		s.fuel = local(tI64)
		if b.flags&fCharge != 0 {
			s.size = local(tI32)
		}
	}
	if depth {
		s.depth = local(tI32)
	}
	if canon {
		if b.flags&fCanonF32 != 0 {
			s.f32 = local(tF32)
		}
		if b.flags&fCanonF64 != 0 {
			s.f64 = local(tF64)
		}
		if b.flags&(fCanonF32x4|fCanonF64x2) != 0 {
			s.v128 = local(tV128)
		}
	}
	if b.locals+uint64(len(add)) > math.MaxUint32 {
		return fmt.Errorf("no room for the rewrite's %d locals after %d", len(add), b.locals)
	}
	g, d := w.fuelGlobal(), w.depthGlobal()

	o := appendU32(w.out[:0], b.groups+uint32(len(add)))
	o = append(o, b.code[b.localsFrom:b.localsTo]...)
	for _, t := range add {
		o = append(o, 1, t)
	}
	if depth {
		o = enter(o, s.depth, d, w.opts.MaxCallDepth, uint32(b.weight())) // ≤ MaxCallDepth: checked by decode
		o = w.openBody(o, b)
	}
	if fuel {
		o = reload(o, s.fuel, g)
	}
	segStart, dead := true, false
	for i := range w.ins {
		in := &w.ins[i]
		if fuel {
			if segStart {
				segStart = false
				if !dead {
					j := i
					for j < len(w.ins)-1 && w.ins[j].flags&fBoundary == 0 {
						j++
					}
					o = charge(o, s.fuel, g, int64(j-i+1)*CostInstruction)
				}
			}
			if in.flags&fSyncBefore != 0 {
				o = sync(o, s.fuel, g)
			}
			if in.flags&fCharge != 0 {
				o = chargeSize(o, s, g, in.flags)
			}
		}
		if depth && (in.code == opReturn || in.code == opReturnCall || in.code == opReturnCallIndirect) {
			o = leave(o, s.depth, d)
		}
		o = append(o, b.code[in.start:in.end]...)
		if canon && in.flags&fCanon != 0 && (i+1 == len(w.ins) || canonInput(&w.ins[i+1]) != in.flags&fCanon) {
			o = canonicalize(o, s, in.flags)
		}
		if fuel {
			if in.flags&fReloadAfter != 0 {
				o = reload(o, s.fuel, g)
			}
			if in.flags&fBoundary != 0 {
				segStart, dead = true, in.flags&fDeadAfter != 0
			}
		}
	}
	if depth {
		// The body's own end closed the block openBody opened: branches
		// to the function's label arrive here too.
		o = leave(o, s.depth, d)
		o = append(o, opEnd)
	}
	w.out = o
	return nil
}

// enter counts a call into the function, of the given weight (see
// FrameUnit), keeping the caller's depth in local t, and traps when that
// takes the depth over max:
//
//	global.get $d; local.tee $t; i32.const weight; i32.add; global.set $d
//	local.get $t; i32.const max-weight; i32.gt_u; if; unreachable; end
//
// The global is then max+1: the caller's depth was at most max. A function
// that weighs more than 1 may overshoot, so it stores max+1 itself:
//
//	if; i32.const max+1; global.set $d; unreachable; end
func enter(o []byte, t, d, max, weight uint32) []byte {
	o = append(o, opGlobalGet)
	o = appendU32(o, d)
	o = append(o, opLocalTee)
	o = appendU32(o, t)
	o = append(o, opI32Const)
	o = appendS64(o, int64(weight))
	o = append(o, opI32Add, opGlobalSet)
	o = appendU32(o, d)
	o = append(o, opLocalGet)
	o = appendU32(o, t)
	o = append(o, opI32Const)
	o = appendS64(o, int64(max-weight))
	o = append(o, opI32GtU, opIf, tEmptyBT)
	if weight > 1 {
		o = append(o, opI32Const)
		o = appendS64(o, int64(max)+1)
		o = append(o, opGlobalSet)
		o = appendU32(o, d)
	}
	return append(o, opUnreachable, opEnd)
}

// leave counts a return from the function (or a tail call, which replaces
// its frame) by restoring the caller's depth: every call the function made
// returned to the depth it had before, so that is the global minus its
// weight.
//
//	local.get $t; global.set $d
func leave(o []byte, t, d uint32) []byte {
	o = append(o, opLocalGet)
	o = appendU32(o, t)
	o = append(o, opGlobalSet)
	return appendU32(o, d)
}

// openBody opens a block around the whole body, typed [] -> the function's
// results, so that a branch to the function's label, which returns, lands
// on the code after it that counts the return: its label is the one the
// body's branches to depth "function" now name, one level further out the
// function's own label goes unused. A function with several results uses a
// block type index: its own type when it has no parameters; otherwise its
// own type, given the parameters and dropping them at once.
func (w *rewriter) openBody(o []byte, b *body) []byte {
	t := w.m.funcTypes[b.index]
	switch w.m.typeResults[t] {
	case 0:
		return append(o, opBlock, tEmptyBT)
	case 1:
		return append(append(o, opBlock), w.m.typeResult[t]...)
	}
	params := w.m.typeParams[t]
	for i := uint32(0); i < params; i++ {
		o = append(o, opLocalGet)
		o = appendU32(o, i)
	}
	o = append(o, opBlock)
	o = appendS64(o, int64(t))
	for i := uint32(0); i < params; i++ {
		o = append(o, opDrop)
	}
	return o
}

// canonInput returns the canonicalisation flag of the value next takes from
// the top of the stack when next is itself canonicalised and turns any NaN
// there into a NaN: an instruction whose result next consumes at once needs
// no canonicalisation of its own. (f64.add after f64.div: a NaN from the
// division makes the sum a NaN, which is canonicalised.) Vector lanes must
// keep their shape: an f32x4 NaN lane read as half of an f64x2 lane need
// not be a NaN.
func canonInput(next *instr) uint16 {
	switch {
	case next.flags&fCanon == 0:
		return 0
	case next.code == 0xb6: // f32.demote_f64
		return fCanonF64
	case next.code == 0xbb: // f64.promote_f32
		return fCanonF32
	case next.code != opPrefixFD:
		return next.flags & fCanon
	case next.sub == 0x5e: // f32x4.demote_f64x2_zero
		return fCanonF64x2
	case next.sub == 0x5f: // f64x2.promote_low_f32x4
		return fCanonF32x4
	}
	return next.flags & fCanon
}

// reload copies the fuel global into the fuel local: at function entry and
// after each call.
func reload(o []byte, fuel, g uint32) []byte {
	o = append(o, opGlobalGet)
	o = appendU32(o, g)
	o = append(o, opLocalSet)
	return appendU32(o, fuel)
}

// sync copies the fuel local into the global: before the function returns
// or calls.
func sync(o []byte, fuel, g uint32) []byte {
	o = append(o, opLocalGet)
	o = appendU32(o, fuel)
	o = append(o, opGlobalSet)
	return appendU32(o, g)
}

// charge subtracts a segment's static cost:
//
//	local.get $fuel; i64.const cost; i64.sub; <trapIfNegative>
func charge(o []byte, fuel, g uint32, cost int64) []byte {
	o = append(o, opLocalGet)
	o = appendU32(o, fuel)
	o = append(o, opI64Const)
	o = appendS64(o, cost)
	o = append(o, opI64Sub)
	return trapIfNegative(o, fuel, g)
}

// trapIfNegative stores the i64 on the stack as the remaining fuel and traps,
// with the global holding it, when it is negative:
//
//	local.tee $fuel; i64.const 0; i64.lt_s
//	if; local.get $fuel; global.set $g; unreachable; end
func trapIfNegative(o []byte, fuel, g uint32) []byte {
	o = append(o, opLocalTee)
	o = appendU32(o, fuel)
	o = append(o, opI64Const, 0, opI64LtS, opIf, tEmptyBT, opLocalGet)
	o = appendU32(o, fuel)
	o = append(o, opGlobalSet)
	o = appendU32(o, g)
	return append(o, opUnreachable, opEnd)
}

// chargeSize charges a bulk operation for its length operand, the i32 on top
// of the stack, which it leaves there:
//
//	local.tee $n; local.get $fuel; local.get $n; i64.extend_i32_u;
//	(i64.const k; i64.mul | i64.const s; i64.shr_u); i64.sub; <trapIfNegative>
func chargeSize(o []byte, s scratch, g uint32, flags uint16) []byte {
	o = append(o, opLocalTee)
	o = appendU32(o, s.size)
	o = append(o, opLocalGet)
	o = appendU32(o, s.fuel)
	o = append(o, opLocalGet)
	o = appendU32(o, s.size)
	o = append(o, opI64ExtendI32U)
	switch {
	case flags&fChargePages != 0:
		o = append(o, opI64Const)
		o = appendS64(o, CostMemoryGrowPage)
		o = append(o, opI64Mul)
	case flags&fChargeBytes != 0 && bulkShift != 0:
		o = append(o, opI64Const, bulkShift, opI64ShrU)
	case flags&fChargeElems != 0 && CostTableElement != 1:
		o = append(o, opI64Const)
		o = appendS64(o, CostTableElement)
		o = append(o, opI64Mul)
	}
	o = append(o, opI64Sub)
	return trapIfNegative(o, s.fuel, g)
}

// canonicalize replaces the float on top of the stack by the canonical NaN
// of its type if it is a NaN (only a NaN is not equal to itself):
//
//	local.set $t; local.get $t; local.get $t; f64.ne
//	if; f64.const nan; local.set $t; end; local.get $t
//
// and for vectors, when any lane is a NaN, lane by lane:
//
//	local.set $v; local.get $v; local.get $v; f64x2.ne; v128.any_true
//	if; local.get $v; v128.const nan×n; local.get $v; local.get $v; f64x2.eq; v128.bitselect; local.set $v; end
//	local.get $v
//
// A branch rather than a select: NaNs are rare, the branch is predicted,
// and the value's dependency chain stays as it was. (With select, a loop
// like s += 1.0/i ran 5× slower under wazero's compiler; with the branch,
// within a few per cent.)
func canonicalize(o []byte, s scratch, flags uint16) []byte {
	var t uint32
	switch {
	case flags&fCanonF32 != 0:
		t = s.f32
		o = setGetTwice(o, t)
		o = append(o, opF32Ne, opIf, tEmptyBT, opF32Const)
		o = append(o, canonF32[:]...)
	case flags&fCanonF64 != 0:
		t = s.f64
		o = setGetTwice(o, t)
		o = append(o, opF64Ne, opIf, tEmptyBT, opF64Const)
		o = append(o, canonF64[:]...)
	default:
		t = s.v128
		eq, ne, canon := byte(fdF32x4Eq), byte(fdF32x4Ne), &canonF32x4
		if flags&fCanonF64x2 != 0 {
			eq, ne, canon = fdF64x2Eq, fdF64x2Ne, &canonF64x2
		}
		o = setGetTwice(o, t)
		o = append(o, opPrefixFD, ne, opPrefixFD, fdV128AnyTrue, opIf, tEmptyBT, opLocalGet)
		o = appendU32(o, t)
		o = append(o, opPrefixFD, fdV128Const)
		o = append(o, canon[:]...)
		o = getTwice(o, t)
		o = append(o, opPrefixFD, eq, opPrefixFD, fdV128Bitselect)
	}
	o = append(o, opLocalSet)
	o = appendU32(o, t)
	o = append(o, opEnd, opLocalGet)
	return appendU32(o, t)
}

// setGetTwice emits local.set l; local.get l; local.get l.
func setGetTwice(o []byte, l uint32) []byte {
	o = append(o, opLocalSet)
	o = appendU32(o, l)
	return getTwice(o, l)
}

func getTwice(o []byte, l uint32) []byte {
	o = append(o, opLocalGet)
	o = appendU32(o, l)
	o = append(o, opLocalGet)
	return appendU32(o, l)
}
