package meter

import (
	"fmt"
	"math"
)

// Flags of a decoded instruction: what the rewrite inserts around it.
const (
	fBoundary    uint16 = 1 << iota // a fuel segment ends after it
	fDeadAfter                      // the code after it is unreachable up to the next boundary
	fSyncBefore                     // it leaves the function: store the cached fuel in the global first
	fReloadAfter                    // a call: the callee charged the global, reload the cached fuel
	fChargePages                    // memory.grow: charge its operand in pages
	fChargeBytes                    // memory.fill/copy/init: charge its length operand in bytes
	fChargeElems                    // table.grow/fill/copy/init: charge its length operand in elements
	fCanonF32                       // canonicalise the f32 it produces
	fCanonF64                       // canonicalise the f64 it produces
	fCanonF32x4                     // canonicalise the f32x4 it produces
	fCanonF64x2                     // canonicalise the f64x2 it produces

	fCharge = fChargePages | fChargeBytes | fChargeElems
	fCanon  = fCanonF32 | fCanonF64 | fCanonF32x4 | fCanonF64x2
)

// frame is an open block of the function being decoded.
type frame struct {
	kind     byte // opBlock, opLoop, opIf, opElse (an if past its else), or 0 for the function itself
	targeted bool // a branch targets its label
	dead     bool // the rest of the block cannot be reached (after br, return, unreachable …)
	// base is the operand stack height below the block's parameters;
	// params and results are the block type's counts.
	base            uint64
	params, results uint32
}

// body is one decoded function body.
type body struct {
	index      uint32 // index among the defined functions
	code       []byte
	base       int    // offset of code[0] in the module
	groups     uint32 // local declaration groups
	localsFrom int    // code[localsFrom:localsTo] holds the groups
	localsTo   int
	locals     uint64 // parameters and declared locals
	maxStack   uint64 // the most values its operand stack can hold
	flags      uint16 // union of the instructions' flags
}

// weight is how many calls the function counts as towards MaxCallDepth: 1,
// and 1 more per FrameUnit values its frame can hold.
func (b *body) weight() uint64 { return 1 + (b.locals+b.maxStack)/FrameUnit }

// rewriter rewrites the function bodies of one module. Its slices are reused
// from one body to the next.
type rewriter struct {
	m       *module
	opts    Options
	ins     []instr
	labels  []uint32
	frames  []frame
	out     []byte // the rewritten body
	code    []byte // the rewritten code section's payload
	height  uint64 // operand stack height at the instruction being decoded
	pending frame  // the block the block, loop or if being decoded opens
	// unbalanced counts the blocks whose reachable end found the operand
	// stack at another height than their type says: none in a module the
	// runtime validates (a test checks the stack effects with it).
	unbalanced int
	// tableMutation and dataDrop are Info's.
	tableMutation, dataDrop string
	// dispatch is what DispatchExport calls, one per Options.Dispatch;
	// nil when the rewrite adds no DispatchExport.
	dispatch []dispatchTarget
}

// rewrite assembles the output module.
func (w *rewriter) rewrite() ([]byte, error) {
	m := w.m
	out := make([]byte, 0, len(m.bin)+len(m.bin)/2+64)
	out = append(out, m.bin[:8]...)
	needGlobal := w.addsGlobals() && m.globalSec < 0
	needExport := w.addsExports() && m.exportSec < 0
	for i, s := range m.sections {
		if s.id != secCustom {
			if needGlobal && sectionRank[s.id] > sectionRank[secGlobal] {
				out, needGlobal = w.globalSection(out, nil), false
			}
			if needExport && sectionRank[s.id] > sectionRank[secExport] {
				out, needExport = w.exportSection(out, nil), false
			}
		}
		var err error
		switch {
		case i == m.codeSec:
			out, err = w.codeSection(out, s)
		case w.dispatch != nil && i == m.typeSec:
			out = w.typeSection(out, s)
		case w.dispatch != nil && i == m.funcSec:
			out = w.functionSection(out, s)
		case w.addsGlobals() && i == m.globalSec:
			out = w.globalSection(out, &s)
		case w.addsExports() && i == m.exportSec:
			out = w.exportSection(out, &s)
		case w.exportsStart() && i == m.startSec:
			// dropped: the start function is exported instead
		case w.extractsData() && i == m.dataSec:
			// dropped: Info.Data returns the segments
		default:
			out = append(out, m.bin[s.start:s.end]...)
		}
		if err != nil {
			return nil, err
		}
	}
	if needGlobal {
		out = w.globalSection(out, nil)
	}
	if needExport {
		out = w.exportSection(out, nil)
	}
	return out, nil
}

// fuelGlobal is the index of the injected global: after every imported and
// defined global, so no existing index moves.
func (w *rewriter) fuelGlobal() uint32 { return w.m.globals() }

// depthGlobal is the index of the injected call depth global: after the
// fuel global, or where it would be.
func (w *rewriter) depthGlobal() uint32 {
	if w.opts.Fuel {
		return w.m.globals() + 1
	}
	return w.m.globals()
}

// addsGlobals reports whether the rewrite appends globals (and exports).
func (w *rewriter) addsGlobals() bool { return w.opts.Fuel || w.opts.MaxCallDepth > 0 }

// extractsData reports whether the rewrite takes the data segments out
// (Options.ExtractData).
func (w *rewriter) extractsData() bool {
	return w.opts.ExtractData && w.m.dataSec >= 0 && w.m.dataCount < 0 && w.m.dataSimple
}

// exportsStart reports whether the rewrite turns a start function into an
// export.
func (w *rewriter) exportsStart() bool { return w.opts.ExportStart && w.m.startSec >= 0 }

// exportsGlobals reports whether the rewrite exports the module's mutable
// globals.
func (w *rewriter) exportsGlobals() bool { return w.opts.ExportGlobals && len(w.m.mutable) > 0 }

// addsExports reports whether the rewrite appends exports.
func (w *rewriter) addsExports() bool {
	return w.addsGlobals() || w.exportsStart() || w.exportsGlobals() || w.dispatch != nil
}

// entries returns the payload of s after its leading count.
func (w *rewriter) entries(s *section) []byte {
	if s == nil {
		return nil
	}
	r := newReader(w.m.bin[s.payload:s.end], s.payload)
	r.u32()
	return r.b[r.off:]
}

// globalSection appends the global section s (nil: none) with the fuel
// global added, a mutable i64 initialised to Options.StartFuel, and then
// the depth global, a mutable i32 initialised to 0.
func (w *rewriter) globalSection(out []byte, s *section) []byte {
	entries := w.entries(s)
	p := make([]byte, 0, len(entries)+24)
	n := w.m.definedGlobals
	if w.opts.Fuel {
		n++
	}
	if w.opts.MaxCallDepth > 0 {
		n++
	}
	p = appendU32(p, n)
	p = append(p, entries...)
	if w.opts.Fuel {
		p = append(p, tI64, 1, opI64Const)
		p = appendS64(p, w.opts.StartFuel)
		p = append(p, opEnd)
	}
	if w.opts.MaxCallDepth > 0 {
		p = append(p, tI32, 1, opI32Const, 0, opEnd)
	}
	return appendSection(out, secGlobal, p)
}

// exportSection appends the export section s (nil: none) with the exports
// of the added globals, with ExportStart of the start function, and with
// ExportGlobals of the module's mutable globals.
func (w *rewriter) exportSection(out []byte, s *section) []byte {
	entries := w.entries(s)
	p := make([]byte, 0, len(entries)+48)
	n := w.m.exports
	if w.exportsGlobals() {
		n += uint32(len(w.m.mutable))
	}
	if w.opts.Fuel {
		n++
	}
	if w.opts.MaxCallDepth > 0 {
		n++
	}
	if w.exportsStart() {
		n++
	}
	if w.dispatch != nil {
		n++
	}
	p = appendU32(p, n)
	p = append(p, entries...)
	export := func(name string, kind byte, index uint32) {
		p = appendU32(p, uint32(len(name)))
		p = append(p, name...)
		p = append(p, kind)
		p = appendU32(p, index)
	}
	if w.opts.Fuel {
		export(FuelExport, 3, w.fuelGlobal()) // 3: global
	}
	if w.opts.MaxCallDepth > 0 {
		export(DepthExport, 3, w.depthGlobal())
	}
	if w.exportsStart() {
		export(StartExport, 0, w.m.startFunc) // 0: function
	}
	if w.dispatch != nil {
		export(DispatchExport, 0, w.dispatchFunc())
	}
	if w.exportsGlobals() {
		for _, g := range w.m.mutable {
			export(g.Export, 3, g.Index)
		}
	}
	return appendSection(out, secExport, p)
}

// forBodies decodes every function body in order and calls f with it.
func (w *rewriter) forBodies(f func(b *body, entry []byte) error) error {
	if w.m.codeSec < 0 {
		return nil
	}
	s := w.m.sections[w.m.codeSec]
	r := newReader(w.m.bin[s.payload:s.end], s.payload)
	n := r.u32()
	for i := uint32(0); i < n; i++ {
		entry := r.off
		size := r.u32()
		b := body{index: i, base: r.pos()}
		b.code = r.bytes(size) // checked by parse
		if err := w.decode(&b); err != nil {
			return malformed(fmt.Sprintf("code section: function %d (index %d)", i, w.m.importedFuncs+i), err)
		}
		if err := f(&b, r.b[entry:r.off]); err != nil {
			return err
		}
	}
	return nil
}

// checkCode decodes every function body, rewriting none.
func (w *rewriter) checkCode() error {
	return w.forBodies(func(*body, []byte) error { return nil })
}

// codeSection appends the rewritten code section.
func (w *rewriter) codeSection(out []byte, s section) ([]byte, error) {
	n := w.m.codeCount
	if w.dispatch != nil {
		n++
	}
	p := appendU32(w.code[:0], n)
	err := w.forBodies(func(b *body, entry []byte) error {
		if !w.opts.Fuel && w.opts.MaxCallDepth == 0 && b.flags&fCanon == 0 {
			p = append(p, entry...) // nothing to change: keep the bytes
			return nil
		}
		if err := w.emit(b); err != nil {
			return malformed(fmt.Sprintf("code section: function %d (index %d)", b.index, w.m.importedFuncs+b.index), err)
		}
		p = appendU32(p, uint32(len(w.out)))
		p = append(p, w.out...)
		return nil
	})
	if err != nil {
		w.code = p
		return nil, err
	}
	if w.dispatch != nil {
		body := w.dispatchBody()
		p = appendU32(p, uint32(len(body)))
		p = append(p, body...)
	}
	w.code = p
	return appendSection(out, secCode, p), nil
}

// decode decodes b's locals and instructions into w.ins, checking block
// nesting and branch depths, and flags each instruction.
func (w *rewriter) decode(b *body) error {
	r := newReader(b.code, b.base)
	b.groups = r.count("local declaration", 2)
	b.localsFrom = r.off
	b.locals = uint64(w.m.typeParams[w.m.funcTypes[b.index]])
	for i := uint32(0); i < b.groups && r.ok(); i++ {
		b.locals += uint64(r.u32())
		r.valType()
	}
	if r.ok() && b.locals > math.MaxUint32 {
		r.fail("%d locals and parameters exceed 2^32-1", b.locals)
	}
	b.localsTo = r.off
	w.ins, w.labels = w.ins[:0], w.labels[:0]
	w.frames = append(w.frames[:0], frame{results: w.m.typeResults[w.m.funcTypes[b.index]]})
	w.height, b.maxStack = 0, 0
	b.flags = 0
	for r.ok() {
		if r.off == len(r.b) {
			r.fail("the body ends before the function's final end")
			break
		}
		w.ins = append(w.ins, instr{})
		in := &w.ins[len(w.ins)-1]
		r.decodeInstr(in, &w.labels)
		if !r.ok() {
			break
		}
		w.stack(&r, in, b)
		w.classify(&r, in, b)
		b.flags |= in.flags
		if len(w.frames) == 0 {
			if r.ok() && r.off != len(r.b) {
				r.fail("%d bytes after the function's final end", len(r.b)-r.off)
			}
			break
		}
	}
	if r.ok() && w.opts.MaxCallDepth > 0 && b.weight() > uint64(w.opts.MaxCallDepth) {
		r.off = 0
		r.unsupported("the function's frame holds up to %d values (%d parameters and locals, an operand stack up to %d high): "+
			"it counts as %d calls (one per %d values, FrameUnit), over MaxCallDepth (%d), so it could never be called: "+
			"split the function, or build it with fewer locals (clang: -O1 or more)",
			b.locals+b.maxStack, b.locals, b.maxStack, b.weight(), FrameUnit, w.opts.MaxCallDepth)
	}
	return r.err
}

// classify sets in.flags and tracks the blocks in w.frames.
func (w *rewriter) classify(r *reader, in *instr, b *body) {
	switch in.code {
	case opLocalGet, opLocalSet, opLocalTee:
		// The rewrite appends locals and a global: an index out of range
		// would become valid, and could name the fuel.
		r.checkIndex(*in, "local", in.imm, b.locals)
	case opGlobalGet, opGlobalSet:
		r.checkIndex(*in, "global", in.imm, uint64(w.m.globals()))
	case opBlock:
		w.pending.kind = opBlock
		w.frames = append(w.frames, w.pending)
	case opLoop:
		// The loop body starts a segment: branches to the loop come back
		// to it, so it is charged on every iteration.
		w.pending.kind = opLoop
		w.frames = append(w.frames, w.pending)
		in.flags = fBoundary
	case opIf:
		w.pending.kind = opIf
		w.frames = append(w.frames, w.pending)
		in.flags = fBoundary
	case opElse:
		top := &w.frames[len(w.frames)-1]
		if top.kind != opIf {
			r.off = int(in.start)
			r.fail("else without a matching if")
			return
		}
		top.kind = opElse
		in.flags = fBoundary
	case opEnd:
		top := w.frames[len(w.frames)-1]
		w.frames = w.frames[:len(w.frames)-1]
		switch {
		case top.kind == 0:
			in.flags = fSyncBefore // falling off the end returns
		case top.kind == opIf || top.kind == opElse || top.kind == opBlock && top.targeted:
			// Control arrives after this end from elsewhere too: the
			// code after it is a segment of its own. After a loop,
			// or a block no branch targets, control only falls through.
			in.flags = fBoundary
		}
	case opBr:
		in.flags = w.branch(r, in, in.imm) | fBoundary | fDeadAfter
	case opBrIf:
		in.flags = w.branch(r, in, in.imm) | fBoundary
	case opBrTable:
		in.flags = fBoundary | fDeadAfter
		for _, l := range w.labels[in.imm : in.imm+in.nlabels] {
			in.flags |= w.branch(r, in, l)
		}
	case opReturn, opReturnCall, opReturnCallIndirect:
		in.flags = fSyncBefore | fBoundary | fDeadAfter
	case opUnreachable:
		in.flags = fBoundary | fDeadAfter
	case opCall, opCallIndirect:
		in.flags = fSyncBefore | fReloadAfter | fBoundary
	case opMemoryGrow:
		in.flags = fChargePages
	case opTableSet:
		w.noteTableMutation(b, in, "table.set")
	case opPrefixFC:
		switch in.sub {
		case fcMemoryInit, fcMemoryCopy, fcMemoryFill:
			in.flags = fChargeBytes
		case fcTableInit, fcTableCopy, fcTableGrow, fcTableFill:
			in.flags = fChargeElems
			w.noteTableMutation(b, in, fcNames[in.sub])
		case fcElemDrop:
			w.noteTableMutation(b, in, fcNames[in.sub])
		case fcDataDrop:
			if w.dataDrop == "" {
				w.dataDrop = w.where(b, in, fcNames[in.sub])
			}
		}
	case opPrefixFD:
		in.flags = simdCanon[byte(in.sub)]
	default:
		in.flags = scalarCanon[in.code]
	}
}

// noteTableMutation records the module's first instruction that changes a
// table or an element segment (Info.TableMutation).
func (w *rewriter) noteTableMutation(b *body, in *instr, name string) {
	if w.tableMutation == "" {
		w.tableMutation = w.where(b, in, name)
	}
}

// where names instruction in of body b for Info.
func (w *rewriter) where(b *body, in *instr, name string) string {
	return fmt.Sprintf("%s in function %d (index %d) at offset %#x", name, b.index, w.m.importedFuncs+b.index, b.base+int(in.start))
}

// branch marks the block that label depth l targets and returns fSyncBefore
// when that is the function's own block: the branch then returns.
func (w *rewriter) branch(r *reader, in *instr, l uint32) uint16 {
	if uint64(l) >= uint64(len(w.frames)) {
		r.off = int(in.start)
		r.fail("branch depth %d exceeds the %d enclosing blocks", l, len(w.frames))
		return 0
	}
	i := len(w.frames) - 1 - int(l)
	w.frames[i].targeted = true
	if i == 0 {
		return fSyncBefore
	}
	return 0
}

// scalarCanon flags the scalar float instructions whose result can be a NaN
// whose bits depend on the CPU or the engine: arithmetic, min/max, rounding,
// sqrt and the two conversions between f32 and f64. abs, neg and copysign
// are left alone: they are defined on the bits, NaNs included.
var scalarCanon = func() (t [256]uint16) {
	for c := 0x8d; c <= 0x97; c++ { // f32 ceil … max
		t[c] = fCanonF32
	}
	for c := 0x9b; c <= 0xa5; c++ { // f64 ceil … max
		t[c] = fCanonF64
	}
	t[0xb6] = fCanonF32 // f32.demote_f64
	t[0xbb] = fCanonF64 // f64.promote_f32
	return t
}()

// simdCanon flags the same operations on f32x4 and f64x2. pmin and pmax
// return one of their operands unchanged, like abs, neg and copysign.
var simdCanon = func() (t [256]uint16) {
	for _, c := range []byte{0x67, 0x68, 0x69, 0x6a, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0x5e} {
		t[c] = fCanonF32x4 // ceil floor trunc nearest sqrt add sub mul div min max demote_f64x2_zero
	}
	for _, c := range []byte{0x74, 0x75, 0x7a, 0x94, 0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0x5f} {
		t[c] = fCanonF64x2 // ceil floor trunc nearest sqrt add sub mul div min max promote_low_f32x4
	}
	return t
}()
