package meter

import (
	"bytes"
	"errors"
	"fmt"
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
}

// FuelExport is the export name of the injected mutable i64 global holding
// the remaining fuel.
const FuelExport = "lockstep_fuel"

// ErrMalformed is wrapped by every error Rewrite returns.
var ErrMalformed = errors.New("meter: malformed module")

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
// than the code section (and the global and export sections when fuel is
// injected) is kept byte for byte, custom and data count sections included,
// in their original order. Errors wrap ErrMalformed and name the section,
// function and offset, and the reason.
//
// The output depends only on module and opts.
func Rewrite(module []byte, opts Options) ([]byte, error) {
	m, err := parse(module)
	if err != nil {
		return nil, err
	}
	w := rewriter{m: m, opts: opts}
	if !opts.Fuel && !opts.CanonicalizeNaN {
		if err := w.checkCode(); err != nil {
			return nil, err
		}
		return bytes.Clone(module), nil
	}
	if opts.Fuel && m.fuelExported {
		return nil, malformed("export section", fmt.Errorf("the module already exports %q (already metered?)", FuelExport))
	}
	return w.rewrite()
}
