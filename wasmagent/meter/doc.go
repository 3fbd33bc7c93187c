// Package meter rewrites WebAssembly modules so that running them is bounded
// and reproducible: it injects fuel metering and canonicalises NaNs. It
// decodes and re-encodes the binary format itself and imports only the
// standard library.
//
// # Contract, for a host
//
//  1. Call Rewrite(module, Options{Fuel: true, CanonicalizeNaN: true}) and
//     compile the result instead of the module.
//  2. The rewritten module exports a mutable i64 global named FuelExport. It
//     starts at 0, so a start function, which runs before the host can set
//     it, traps at its first instruction with the fuel exhausted.
//  3. Before each call into the instance, set the global to the fuel the call
//     may use, a value ≥ 0.
//  4. After the call, read the global: the fuel left. The fuel used is the
//     difference, and it depends only on the module, the function and its
//     arguments, and what the host functions it calls do.
//  5. A call that traps with the global < 0 ran out of fuel. A call that
//     traps for another reason leaves the global ≥ 0, at the value it had
//     when the function that trapped was entered or last returned from a
//     call (see "Caching" below).
//
// Each instance has its own global: a function reached through another
// instance's table or import is charged to its own instance.
//
// # Cost model
//
// The fuel used is the number of instructions of the original module that
// execute (CostInstruction each), plus, for bulk operations, the size they
// are asked for: CostMemoryGrowPage per page for memory.grow; one unit per
// BulkBytesPerFuel bytes, rounded down, for memory.fill, memory.copy and
// memory.init; CostTableElement per element for table.grow, table.fill,
// table.copy and table.init. Instructions the rewrite adds cost nothing, so
// the fuel a call uses is the same with and without NaN canonicalisation.
// block, loop, if, else and end count as executed when control falls into
// or through them; a branch that jumps over an end, or back to a loop, does
// not execute it.
//
// Fuel is charged ahead, per straight-line segment: a function body is cut
// after each loop, if, else, br, br_if, br_table, return, return_call*,
// unreachable, call and call_indirect, and after each end that a branch
// can reach other than by falling through (the end of an if, or of a block
// some branch targets). block is no boundary: entering it always goes on
// into its body. The loop body is a segment of its own, so every iteration
// pays. At the start of each segment the rewrite subtracts the segment's
// instruction count; if the result is negative it is stored and the
// function executes unreachable. The segment's instructions have then not
// run. Segments that cannot be reached (after br, return, unreachable …) are
// not charged. A bulk operation is charged just before it runs, from its
// size operand, whether or not it then traps or fails.
//
// # Caching
//
// A rewritten function keeps the fuel in a local: loaded from the global on
// entry and after each call, stored back before each call and before it
// returns (return, a branch to its outermost block, falling off its end)
// or traps for fuel. A host function called by the module therefore sees
// the current fuel in the global, and may lower it (to charge for its own
// work): the caller reloads it when the call returns.
//
// # NaN canonicalisation
//
// Every instruction whose result can be a NaN with bits that differ between
// CPUs or engines is followed by code that replaces a NaN result with the
// canonical quiet NaN of its type (f32 0x7fc00000, f64 0x7ff8000000000000):
//
//   - f32 and f64 add, sub, mul, div, sqrt, min, max, ceil, floor, trunc,
//     nearest; f32.demote_f64 and f64.promote_f32;
//   - the same operations on f32x4 and f64x2, lane by lane, and
//     f32x4.demote_f64x2_zero and f64x2.promote_low_f32x4.
//
// The check is a compare and a branch, off the value's dependency chain. A
// result that the next instruction consumes at once, when that instruction
// is itself canonicalised and of the same type or lane shape (f64.div then
// f64.add, f32.div then f64.promote_f32), is not checked twice: a NaN there
// gives a NaN result, which is canonicalised.
//
// Left alone, as the specification defines their results bit for bit, NaN
// payloads and signs included: abs, neg, copysign (scalar and vector), pmin
// and pmax (which return one of their operands), reinterpret, loads,
// stores, constants, select and lane moves. Their inputs are either
// canonical already or came from memory or constants, which are
// deterministic. Conversions from integers cannot produce a NaN.
//
// # Scope
//
// Rewrite decodes WebAssembly 1.0 and the 2.0 features wazero enables by
// default: multi-value, sign extension, non-trapping float-to-int, bulk
// memory, reference types and SIMD, and also tail calls. It checks the
// module's structure (section order and sizes, counts, instruction
// encodings, block nesting, branch depths) and every local and global index
// (the locals and the global it appends would make an out-of-range index
// valid, and let a module name its own fuel), but leaves type checking to
// the runtime. SIMD opcodes must be in their shortest encoding, the only one
// wazero v1.12 reads as the specification does. Every section but the code, global and export sections is copied
// byte for byte. DWARF custom sections describe code offsets, which the
// rewrite changes: they go stale.
package meter
