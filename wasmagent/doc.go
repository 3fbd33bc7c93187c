// Package wasmagent runs WebAssembly modules as Lockstep agents (ABI v1,
// sdk/ABI.md) on wazero.
//
// Using it:
//
//  1. NewRuntime(ctx, Config): one wazero runtime with the "lockstep" host
//     module, a memory page limit, fuel budgets and an optional on-disk
//     compilation cache.
//  2. Runtime.Load(name, bytes): checks the bytes are a module, rewrites it
//     for fuel metering and NaN canonicalisation (package meter), compiles it
//     once, checks its imports and exports against ABI v1 and its ABI
//     version. Every rejection names the module, the reason and the fix.
//     It then pre-initialises the module: a template instance runs the
//     start function, _initialize and agent_init for as long as they read
//     nothing an agent could see differently (WASI random and clocks, the
//     config, a host function), and a snapshot of the state after them is
//     the module's image (Module.ImageStage says how far it goes, and why
//     no further).
//  3. Module.New(id, seed, fuel, config): a new instance implementing
//     agent.Agent, for the host's Factory, started from the module's image
//     (Init then skips what the image holds; Config.NoImages turns images
//     off, with the same results); the agent reads config with the host
//     function config. Each agent gets its own instance; a restart gets a
//     new one. Linear memories live in slots of large mappings outside the
//     Go heap (Linux): they grow in place, and untouched pages cost nothing.
//  4. Runtime.Close when done: it releases every instance and its memory.
//
// Instances implement agent.Snapshotter: Snapshot captures one between
// ticks (linear memory, mutable globals, WASI clock and random state),
// Restore brings a fresh instance of the same module to that state instead
// of Init, and DecodeSnapshot reads one without a runtime (SnapshotVersion
// documents the format).
//
// A trap, fuel exhaustion, a non-zero return code or a bad pointer is an
// error from the agent's Init/Receive/Step: a failure of that agent alone,
// handled by its supervisor. The same module, inputs and seed give the same
// results, fuel included, on every run.
package wasmagent
