// Package host is Lockstep's public Go API: it composes the deterministic
// core, the actor runtime and the replay log into a Host.
//
// Using a Host:
//
//  1. New(Options): a seed, supervision groups, the agent kinds it may spawn
//     (a Factory per kind name), the number of workers, and optionally a
//     replay log to record into. Or Load a topology file and call
//     Topology.Start.
//  2. Spawn agents, Join them to channels, Send or Publish external inputs.
//     Each call is checked at once and takes effect at the next tick.
//  3. Step runs one tick; Run runs many under a clock.Driver. Each tick
//     returns a TickResult with the chained digest and what happened.
//  4. Close stops every agent and finishes the replay log.
//  5. Verify re-runs a replay log and reports "identical" or the first tick
//     and agent that diverged.
//
// The digests of a run depend only on the seed, the groups, the commands and
// the ticks they were applied at: never on the number of workers, on
// GOMAXPROCS or on timing.
package host
