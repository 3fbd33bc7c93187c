// Package meter rewrites WebAssembly modules so that running them is bounded
// and reproducible: it injects fuel metering and a call depth limit, and
// canonicalises NaNs. It decodes and re-encodes the binary format itself and
// imports only the standard library.
//
// # Contract, for a host
//
//  1. Call Rewrite(module, Options{Fuel: true, CanonicalizeNaN: true,
//     MaxCallDepth: DefaultMaxCallDepth, ExportStart: true}) and compile the
//     result instead of the module.
//  2. The rewritten module exports a mutable i64 global named FuelExport. It
//     starts at StartFuel (0 by default), the budget of a start function,
//     which runs before the host can set it. With ExportStart the start
//     function does not run at instantiation: it is exported as
//     StartExport, and the host calls it first, like any other call (steps
//     3 to 7), so running out of fuel or depth there is told apart from a
//     trap.
//  3. Before each call into the instance, set the global to the fuel the call
//     may use, a value ≥ 0.
//  4. After the call, read the global: the fuel left. The fuel used is the
//     difference, and it depends only on the module, the function and its
//     arguments, and what the host functions it calls do.
//  5. A call that traps with the global < 0 ran out of fuel. A call that
//     traps for another reason leaves the global ≥ 0, at the value it had
//     when the function that trapped was entered or last returned from a
//     call (see "Caching" below).
//  6. The rewritten module also exports a mutable i32 global named
//     DepthExport, the current call depth. It starts at 0, so a start
//     function runs under the limit too. Each call into the instance must
//     start with it at 0: a call that returns leaves it at 0 again, a trap
//     leaves it where it was, so set it back to 0 after a trap. (A host
//     function that calls back into the instance must not reset it: the
//     nested call continues the depth of the outer one.)
//  7. A call that traps with the depth global at MaxCallDepth+1 went over
//     the depth limit. Any other trap leaves it at MaxCallDepth or less. The
//     depth trap comes before the function's first fuel charge, so it never
//     coincides with running out of fuel: check the fuel (< 0), then the
//     depth (MaxCallDepth+1), and what remains is the guest's own trap.
//
// With Options.Dispatch, the host may make every such call through the
// added DispatchExport instead (steps 3 to 7 unchanged): it charges no fuel
// and counts no depth of its own, so a call through it leaves the globals
// as the direct call does; in a trap's stack trace it is the outermost
// frame.
//
// Each instance has its own globals: a function reached through another
// instance's table or import is charged, and counted, in its own instance.
//
// # Snapshots
//
// With Options.ExportGlobals the rewritten module also exports each mutable
// global it defines, as GlobalExportPrefix and the global's index, and
// RewriteInfo lists them (Info.MutableGlobals): an instance's state between
// calls is then its memory and those globals, which a host can read and
// write through wazero's API, unless the module's code changes a table or
// drops a segment (Info.TableMutation, Info.DataDrop), or a global holds a
// type wazero's api.Global cannot carry whole (v128, references). The fuel
// and depth globals are left out: a host sets the fuel before every call,
// and the depth after a trap.
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
// # Call depth
//
// With Options.MaxCallDepth set, every function of the module counts the
// calls in progress in the depth global: on entry it adds its weight (1 for
// any function whose frame holds fewer than FrameUnit values, see "Stack
// memory") and traps, with unreachable, when the depth is then over
// MaxCallDepth, leaving the global at MaxCallDepth+1. It subtracts its
// weight again on every way out that returns to its caller: return, a
// branch to its outermost block, falling off its end, and just before
// return_call and return_call_indirect, which replace its frame (so a tail
// call does not grow the depth; the callee counts itself). The body is
// wrapped in a block for this, typed like the function, so that branches to
// the function's label land on the code that subtracts, and a local keeps
// the caller's depth, which is what the global goes back to. Host functions
// are not counted. The added instructions cost no fuel. On a call-bound
// program (clang's fib, a call every 7 instructions) they make the rewritten
// module about 15% slower than with fuel and NaN checks alone (10 to 30% in
// runs on a busy 2-core machine, BenchmarkMeteredLoop); loops without calls
// do not notice them.
//
// The depth is the same on every engine and CPU, so a guest that recurses
// too deep traps at the same call, with the same fuel used, everywhere;
// without the limit wazero stops it where its own limits are, which differ:
// the interpreter at 2000 frames (host functions' frames included: 2000
// calls of a guest function, or 1999 and a host function), the compiler
// when its stack would grow past about 84 MB (about 2.1 million frames of a
// small function on amd64), with differently worded "stack overflow"
// errors.
//
// DefaultMaxCallDepth, 1000: real guests need little (measured by
// TestGuestDepth and TestGuestDepthExamples, on both engines, and confirmed
// with the rewrite: at that limit they run, one less and they trap): C and
// C++ agents (clang -O2, freestanding or wasi-libc) 2 to 4 levels, Rust 1 to
// 3, AssemblyScript 5, Go's wasip1 port 28 to 29 in _initialize (its
// runtime's initialisation) and up to 32 in a step that formats, sorts,
// marshals JSON and collects garbage. So 1000 leaves some 970 levels to a
// guest's own recursion. It stays well below the interpreter's 2000 frames,
// with room for the host function a guest may call at its deepest level
// (the interpreter counts its frame, the depth limit does not) and for a
// later wazero that spends more frames, and it keeps the stacks small
// (below).
//
// # Stack memory
//
// With the depth limit, the stack a call takes is bounded, on each engine,
// by what its deepest chain of frames can hold. A frame's size depends on
// the function: Rewrite works out, for each one, how many values its frame
// can hold, v = parameters + locals + the highest its operand stack gets
// (from each instruction's pops and pushes; TestStackHeights checks them
// against every valid module of the spec suites), and weighs it 1 + v /
// FrameUnit calls. Since v < FrameUnit × weight, the frames of a chain of
// depth at most MaxCallDepth hold fewer than FrameUnit × MaxCallDepth values
// in all, 256 000 with the defaults. A function that alone weighs more than
// MaxCallDepth is refused (ErrUnsupported). Real guests' functions weigh 1:
// the largest frames measured hold 23 values (Go), 21 (Rust), 18 (C -O2);
// clang -O0 makes a local per temporary (8 798 for an 800-line function,
// weight 35).
//
// wazero's interpreter (internal/engine/interpreter) keeps parameters,
// locals and operands on one []uint64 value stack per call engine, a v128
// taking two slots: at most 2 × 8 × 256 000 bytes, 4 MB (2 MB without
// SIMD), plus 13 slots a frame for the rewrite's own locals and checks
// (104 KB), of which Go's append may reserve twice as much, kept for the
// next call. Each wasm call is also a recursive Go call of callNativeFunc,
// whose frame is 4 088 bytes (go build -gcflags=-S, Go 1.26 on amd64),
// about 4.4 KB a level with its callers: at most 1001 levels with a host
// function, 4.4 MB of the calling goroutine's stack (8 MB once doubled),
// and a 24-byte callFrame each on the heap. The interpreter itself bounds neither stack:
// its only limit is 2000 frames. In all, with the defaults, at most about
// 16 MB per call in progress, 8 MB of it kept by the call engine.
//
// wazero's compiler (wazevo) runs each call engine on a stack of its own (a
// call engine per exported function a host looks up) that starts at 10 KB,
// doubles when a prologue finds too little room and never shrinks. It
// refuses to grow a stack that is already over 50 000 000 bytes (the
// constant's comment says uint64s, the comparison is in bytes), so the
// largest it gets is about 84.5 MB (10 320 × 2^13 bytes: the last size
// below the threshold, doubled) — that is its "stack overflow" — with the
// previous 42 MB alive while it copies. A level takes what the function's
// prologue checks for (wazevo's requiredStackSize: 32 bytes, 16 per
// callee-saved register it uses, 8 or 16 per spilled SSA value, the stack
// arguments of its calls): TestCompiledFrames measures it from the compiled
// code. In the rewritten guests the largest frame is 144 bytes (C), 608
// (C with wasi-libc), 352 (AssemblyScript), 288 (Rust) and 6 240 (a Go
// runtime function), so 1001 levels take at most 6.3 MB. The weights bound
// frames made large by many locals or operands, which spill. They do not
// bound frames made large by a function's shape: wazevo gives every
// spilled SSA value its own slot, and values carried through merges (loop
// headers, the ends of ifs) are new values at each, so nested loops that
// each carry many locals around a call grow the frame with the square of
// their number — 100 nested loops carrying 100 locals make a 37 KB frame
// from 1.9 KB of code. Memory stays bounded there by the 84.5 MB ceiling,
// per call engine; but a function whose frame is over about 84 KB
// (84.5 MB / 1001), recursing to the depth limit, would hit the compiler's
// ceiling first, and then the compiler and the interpreter trap
// differently. No guest measured comes within a factor of 10 of that.
//
// # Scope
//
// Rewrite decodes WebAssembly 1.0 and the 2.0 features wazero enables by
// default: multi-value, sign extension, non-trapping float-to-int, bulk
// memory, reference types and SIMD, and also tail calls. It refuses, with
// ErrUnsupported and an error that names the proposal and how to build
// without it, modules that use the threads proposal (atomic instructions,
// shared memories), exception handling (try, catch, catch_all, throw,
// rethrow, delegate, try_table, throw_ref, tags and the tag section),
// memory64 (64-bit memory or table limits), and the typed function
// references and GC proposals. It checks the module's structure (section
// order and sizes, counts, instruction encodings, block nesting, branch
// depths, the function and type indices calls and blocks name) and every
// local and global index (the locals and globals it appends would make an
// out-of-range index valid, and let a module name its own fuel or depth),
// but leaves type checking to the runtime. SIMD opcodes must be in their
// shortest encoding, the only one wazero v1.12 reads as the specification
// does. Every section but the code, global and export sections is copied
// byte for byte. DWARF custom sections describe code offsets, which the
// rewrite changes: they go stale.
package meter
