package meter

import "bytes"

// dispatchKind is how DispatchExport calls one of Options.Dispatch.
type dispatchKind uint8

const (
	dispatchNone   dispatchKind = iota // not an exported function of a dispatchable type: trap
	dispatchArg                        // (i32) -> i32: called with arg
	dispatchResult                     // () -> i32
	dispatchVoid                       // () -> (): returns 0
)

// dispatchTarget is one of Options.Dispatch: how it is called, and its
// function index.
type dispatchTarget struct {
	kind  dispatchKind
	index uint32
}

// Encodings the dispatchable types are told by.
var (
	encNoValues = []byte{0}                            // a vector of no value types
	encOneI32   = []byte{1, 0x7f}                      // a vector of one i32
	encI32      = []byte{0x7f}                         // i32
	dispatchSig = []byte{0x60, 2, 0x7f, 0x7f, 1, 0x7f} // (i32, i32) -> i32
)

// planDispatch decides what DispatchExport calls (w.dispatch), or that the
// rewrite adds none (nil): without Options.Dispatch, without a type,
// function or code section to add it to, or when nothing listed is
// dispatchable.
func (w *rewriter) planDispatch() {
	m := w.m
	if len(w.opts.Dispatch) == 0 || m.typeSec < 0 || m.funcSec < 0 || m.codeSec < 0 {
		return
	}
	funcs := uint64(m.importedFuncs) + uint64(len(m.funcTypes))
	targets := make([]dispatchTarget, len(w.opts.Dispatch))
	found := false
	for i, name := range w.opts.Dispatch {
		index, ok := m.funcExports[name]
		if !ok || uint64(index) >= funcs {
			continue
		}
		t := m.funcType(index)
		params := m.typeParamEnc[t]
		switch {
		case bytes.Equal(params, encOneI32) && bytes.Equal(m.typeResult[t], encI32):
			targets[i].kind = dispatchArg
		case bytes.Equal(params, encNoValues) && bytes.Equal(m.typeResult[t], encI32):
			targets[i].kind = dispatchResult
		case bytes.Equal(params, encNoValues) && m.typeResults[t] == 0:
			targets[i].kind = dispatchVoid
		default:
			continue
		}
		targets[i].index = index
		found = true
	}
	if found {
		w.dispatch = targets
	}
}

// funcType is the type index of function index (imported or defined).
func (m *module) funcType(index uint32) uint32 {
	if index < m.importedFuncs {
		return m.importTypes[index]
	}
	return m.funcTypes[index-m.importedFuncs]
}

// dispatchFunc is the index of the added DispatchExport function: after
// every imported and defined function, so no existing index moves.
func (w *rewriter) dispatchFunc() uint32 { return w.m.importedFuncs + uint32(len(w.m.funcTypes)) }

// typeSection appends the type section s with DispatchExport's type added
// last.
func (w *rewriter) typeSection(out []byte, s section) []byte {
	entries := w.entries(&s)
	p := appendU32(make([]byte, 0, len(entries)+16), uint32(len(w.m.typeParams))+1)
	p = append(p, entries...)
	p = append(p, dispatchSig...)
	return appendSection(out, secType, p)
}

// functionSection appends the function section s with DispatchExport's
// function added last.
func (w *rewriter) functionSection(out []byte, s section) []byte {
	entries := w.entries(&s)
	p := appendU32(make([]byte, 0, len(entries)+16), uint32(len(w.m.funcTypes))+1)
	p = append(p, entries...)
	p = appendU32(p, uint32(len(w.m.typeParams))) // the type typeSection added
	return appendSection(out, secFunction, p)
}

// dispatchBody is DispatchExport's function body: a br_table on which
// out of one block per target, each target's call after its block's end.
func (w *rewriter) dispatchBody() []byte {
	n := uint32(len(w.dispatch))
	b := []byte{0} // no locals
	for range n + 1 {
		b = append(b, opBlock, tEmptyBT)
	}
	b = append(b, opLocalGet, 0, opBrTable)
	b = appendU32(b, n)
	for i := range n + 1 { // label i ends target i's block; n, the outermost: no target
		b = appendU32(b, i)
	}
	for _, t := range w.dispatch {
		b = append(b, opEnd)
		switch t.kind {
		case dispatchNone:
			b = append(b, opUnreachable)
			continue
		case dispatchArg:
			b = append(b, opLocalGet, 1)
		}
		b = append(b, opCall)
		b = appendU32(b, t.index)
		if t.kind == dispatchVoid {
			b = append(b, opI32Const, 0)
		}
		b = append(b, opReturn)
	}
	return append(b, opEnd, opUnreachable, opEnd)
}
