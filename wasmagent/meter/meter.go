package meter

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// Options selects the rewrites. The zero value selects none: Rewrite then
// only checks the module and returns a copy of it.
type Options struct {
	// Fuel injects fuel metering: see the package documentation.
	Fuel bool
	// CanonicalizeNaN replaces every NaN produced by float arithmetic with
	// the canonical quiet NaN of its type.
	CanonicalizeNaN bool
	// StartFuel is the fuel global's initial value: the budget of the
	// module's start function, which runs at instantiation, before a host
	// can set the global. 0 makes any start function trap at once.
	StartFuel int64
	// MaxCallDepth, when not 0, limits the depth of nested calls of the
	// module's functions: see "Call depth" in the package documentation.
	// It must not exceed MaxCallDepthLimit. A host uses
	// DefaultMaxCallDepth.
	MaxCallDepth uint32
	// ExportStart keeps the module's start function from running at
	// instantiation: the start section is dropped and the function is
	// exported as StartExport, for the host to call first, with its fuel
	// and call depth set like any other call's, so that running out of
	// either is told apart from a trap. StartFuel is then unused.
	ExportStart bool
	// ExportGlobals exports every mutable global the module defines as
	// GlobalExportPrefix followed by its index in the module's global index
	// space, in decimal ("lockstep.global.0"; Info.MutableGlobals lists
	// them), so that a host can read and set them, through wazero's
	// api.MutableGlobal, to snapshot an instance and restore it. Imported
	// globals are not exported (they are another module's), nor the
	// rewrite's own fuel and depth globals, which a host sets before every
	// call anyway. A global the module exports already gets a second name.
	// A module that already exports a name starting with GlobalExportPrefix
	// is refused.
	ExportGlobals bool
	// ExtractData drops the data section and returns its segments in
	// Info.Data instead, for the host to write into a new instance's
	// memory itself (a module with thousands of segments instantiates
	// slowly otherwise: Go's linker writes one per symbol). Only when
	// every segment is active, in memory 0, at an i32.const offset, and
	// the module has no data count section (so no code names a segment);
	// else the section stays and Info.Data is nil.
	ExtractData bool
	// Dispatch lists exports for one added function, exported as
	// DispatchExport, to call: (which i32, arg i32) -> i32 calls the
	// function exported as Dispatch[which], with arg if it takes an i32,
	// and returns its i32 result (0 if it returns nothing). Only exported
	// functions of type (i32) -> i32, () -> i32 or () -> () are
	// dispatched (Info.Dispatched); another which traps (unreachable). The
	// function is neither metered nor counted towards MaxCallDepth: its
	// callee is. A host calls every listed export through it, and so needs
	// one function handle (wazero: one call engine, with its own stack)
	// per instance instead of one per export.
	Dispatch []string
}

// DispatchExport is the export name of the function Options.Dispatch adds.
const DispatchExport = "lockstep_call"

// DataSegment is an active data segment: Bytes go to memory at Offset
// when the module is instantiated.
type DataSegment struct {
	Offset uint32
	Bytes  []byte // a view of the module's bytes
}

// GlobalExportPrefix starts the export names of the globals
// Options.ExportGlobals exports.
const GlobalExportPrefix = "lockstep.global."

// Global is a mutable global a module defines.
type Global struct {
	// Index is its index in the module's global index space (imported
	// globals first).
	Index uint32
	// Type is the first byte of its value type's encoding, which is
	// wazero's api.ValueType for the types it knows: 0x7f i32, 0x7e i64,
	// 0x7d f32, 0x7c f64, 0x6f externref; otherwise 0x7b v128, 0x70 funcref.
	Type byte
	// Export is the name Options.ExportGlobals exports it under.
	Export string
}

// Info is what a rewrite learnt about the module it rewrote: what a host
// needs to snapshot and restore its instances.
type Info struct {
	// MutableGlobals are the mutable globals the module defines, in index
	// order; exported (under Global.Export) with Options.ExportGlobals.
	MutableGlobals []Global
	// TableMutation, when not "", says where the module's code can change
	// a table or an element segment at run time (table.set, table.grow,
	// table.fill, table.copy, table.init or elem.drop): "table.set in
	// function 3 (index 5) at offset 0x1a2", the first in the module. Such
	// a module's state is not all in its memory and globals. Tables of
	// other modules are changed by their own code; a module that imports a
	// table is not told apart.
	TableMutation string
	// DataDrop, when not "", says where the module's code drops a data
	// segment (data.drop), likewise: whether a passive data segment is
	// dropped is state outside memory and globals too, and only
	// memory.init can observe it.
	DataDrop string
	// Data are the module's data segments, in order, when
	// Options.ExtractData took them out of it; nil otherwise.
	Data []DataSegment
	// Dispatched reports, for each of Options.Dispatch, whether
	// DispatchExport calls it; nil when the rewrite added no
	// DispatchExport (none could be).
	Dispatched []bool
}

// FuelExport is the export name of the injected mutable i64 global holding
// the remaining fuel.
const FuelExport = "lockstep_fuel"

// StartExport is the export name of the module's start function when
// Options.ExportStart is set.
const StartExport = "lockstep_start"

// DepthExport is the export name of the injected mutable i32 global holding
// the current call depth, when Options.MaxCallDepth is set.
const DepthExport = "lockstep_depth"

const (
	// DefaultMaxCallDepth is the call depth a host allows: see "Call depth"
	// in the package documentation for why this value.
	DefaultMaxCallDepth = 1000

	// MaxCallDepthLimit is the largest Options.MaxCallDepth: the depth
	// global is an i32, and a depth trap leaves it at MaxCallDepth+1.
	MaxCallDepthLimit = math.MaxInt32 - 1

	// FrameUnit weighs the call depth by frame size: a function whose
	// frame can hold v values (its parameters, its locals and the highest
	// its operand stack gets) counts as 1 + v/FrameUnit calls, so that the
	// depth limit bounds stack memory: see "Stack memory" in the package
	// documentation. Rewrite refuses a function that counts as more calls
	// than MaxCallDepth.
	FrameUnit = 256
)

// ErrMalformed is wrapped by every error Rewrite returns about a module.
var ErrMalformed = errors.New("meter: malformed module")

// ErrUnsupported is wrapped by the errors that refuse a well-formed module
// Lockstep does not run: one that uses the threads, exception handling or
// memory64 proposal (the error names it and says how to build without
// it), or, with MaxCallDepth set, a function whose frame alone weighs more
// than MaxCallDepth calls (see FrameUnit). It wraps ErrMalformed.
var ErrUnsupported error = &sentinel{"meter: unsupported module", ErrMalformed}

type sentinel struct {
	msg    string
	parent error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.parent }

// How to build without the proposals Rewrite refuses.
const (
	threadsAdvice = "build without threads (clang: no -pthread, -matomics or --shared-memory; " +
		"Rust: no +atomics target feature; Go and AssemblyScript need nothing)"
	exceptionsAdvice = "it uses the exception handling proposal, which Lockstep does not run: " +
		"build without wasm exceptions (clang/Emscripten: no -fwasm-exceptions, C++ with -fno-exceptions; " +
		"Rust: panic=abort; binaryen: no --enable-exception-handling)"
)

// The cost model. Fuel counts executed instructions of the original module;
// the instructions the rewrite adds are free. Bulk operations additionally
// pay for the size operand they are given, charged before they run (and so
// whether or not they then trap or, for the grow operations, fail).
const (
	// CostInstruction is charged for every instruction of the original code
	// that executes. block, loop, if, else and end count as executed when
	// control falls into or through them, not when a branch jumps past them.
	CostInstruction = 1

	// CostMemoryGrowPage is charged per page memory.grow is asked for: as much
	// as filling the page's 64 KiB with memory.fill.
	CostMemoryGrowPage = 65536 / BulkBytesPerFuel

	// BulkBytesPerFuel: memory.fill, memory.copy and memory.init are charged
	// one unit of fuel per BulkBytesPerFuel bytes of their length operand,
	// rounded down.
	BulkBytesPerFuel = 1 << bulkShift

	// CostTableElement is charged per element by table.grow, table.fill,
	// table.copy and table.init.
	CostTableElement = 1
)

// bulkShift turns a byte count into fuel: n >> bulkShift.
const bulkShift = 3

// Rewrite decodes module, applies opts and re-encodes it. Every section other
// than the code section (and the global and export sections when fuel or a
// depth limit is injected, the start section with ExportStart, the data
// section with ExtractData, the type, function and export sections with
// Dispatch) is kept byte for byte, custom and data count
// sections included, in their original order. Errors about the module wrap
// ErrMalformed (refusals of well-formed modules also ErrUnsupported) and
// name the section, function and offset, and the reason; an opts out of
// range gives an error of its own.
//
// The output depends only on module and opts.
func Rewrite(module []byte, opts Options) ([]byte, error) {
	out, _, err := RewriteInfo(module, opts)
	return out, err
}

// RewriteInfo is Rewrite, and also returns what it learnt about the
// module (nil with an error).
func RewriteInfo(module []byte, opts Options) ([]byte, *Info, error) {
	if opts.MaxCallDepth > MaxCallDepthLimit {
		return nil, nil, fmt.Errorf("meter: Options.MaxCallDepth %d is over MaxCallDepthLimit (%d)", opts.MaxCallDepth, MaxCallDepthLimit)
	}
	m, err := parse(module)
	if err != nil {
		return nil, nil, err
	}
	w := rewriter{m: m, opts: opts}
	w.planDispatch()
	var out []byte
	switch {
	case opts.Fuel && m.fuelExported:
		err = malformed("export section", fmt.Errorf("the module already exports %q (already metered?)", FuelExport))
	case opts.MaxCallDepth > 0 && m.depthExported:
		err = malformed("export section", fmt.Errorf("the module already exports %q (already rewritten with MaxCallDepth?)", DepthExport))
	case opts.ExportStart && m.startExported: // with a start section or not: the host would call it as one
		err = malformed("export section", fmt.Errorf("the module already exports %q (already rewritten with ExportStart?)", StartExport))
	case len(opts.Dispatch) > 0 && m.dispatchExported:
		err = malformed("export section", fmt.Errorf("the module already exports %q (already rewritten with Dispatch?)", DispatchExport))
	case opts.ExportGlobals && m.prefixExport != "":
		err = malformed("export section", fmt.Errorf("the module already exports %q: names starting with %q are the rewrite's (already rewritten with ExportGlobals?)", m.prefixExport, GlobalExportPrefix))
	case !opts.Fuel && !opts.CanonicalizeNaN && opts.MaxCallDepth == 0 && !w.exportsStart() && !w.exportsGlobals() && !w.extractsData() && w.dispatch == nil:
		if err = w.checkCode(); err == nil {
			out = bytes.Clone(module)
		}
	default:
		out, err = w.rewrite()
	}
	if err != nil {
		return nil, nil, err
	}
	info := &Info{MutableGlobals: m.mutable, TableMutation: w.tableMutation, DataDrop: w.dataDrop}
	if w.dispatch != nil {
		info.Dispatched = make([]bool, len(w.dispatch))
		for i, f := range w.dispatch {
			info.Dispatched[i] = f.kind != dispatchNone
		}
	}
	if w.extractsData() {
		info.Data = m.data
	}
	return out, info, nil
}
