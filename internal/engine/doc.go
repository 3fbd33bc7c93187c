// Package engine is Lockstep's deterministic core: routing, channel
// membership, supervision decisions and digests, with no IO, no goroutines
// and no clock but the tick it is given. The router actor (package actors)
// wraps it; tests also drive it directly as the reference scheduler.
//
// The caller's contract, per tick:
//
//  1. Apply external commands (spawn, stop, join, leave, input) as they come.
//     Each is validated at once and takes effect from the next tick; Apply
//     returns an error that names the thing and the fix, and changes nothing
//     when it fails.
//  2. Begin returns the Plan of the tick: the commands applied since the last
//     barrier (to be logged), the agents to spawn, stop and run — in
//     canonical order — and each one's external inputs.
//  3. Run every agent of the plan: its inputs, then its Deliveries, then a
//     step. Collect one Report per agent; a failed agent's report carries the
//     reason and no actions.
//  4. Commit the reports (in plan order). Commit routes every action in
//     canonical order, applies membership changes, decides restarts and
//     stops, chains the digest and returns Ready: the deliveries for the next
//     tick, the directives to carry out, events and log lines.
//
// The result of a run depends only on the seed, the commands and the ticks at
// which they were applied, and what agents do with what they are given.
//
// Between a Commit and the next Begin, Snapshot encodes the engine's whole
// state, with the images of the agents' instances (agent.Snapshotter);
// Restore, given the same Config, rebuilds an engine whose next plan lists
// every live agent as spawned, and whose runners bring each agent back from
// its image instead of Init: the run goes on as if it had never stopped.
package engine
