// Package actors runs Lockstep's deterministic core on protoactor-go.
//
// A System has one router actor, the orchestrator through which every
// message flows, and one child actor per agent. Each agent actor has a
// barrier mailbox (package mailbox) and runs on a bounded worker pool. One
// tick goes:
//
//  1. The caller asks for a tick (Step). The router begins it in the engine:
//     it spawns and stops agent actors as commands said, then posts each
//     running agent its external inputs and the messages routed to it at the
//     last barrier (held by the mailbox), and a release for the tick.
//  2. Each agent's mailbox releases the held messages in canonical order;
//     the agent receives them, steps, and reports its outbox to the router.
//  3. A panic or error in an agent escalates, through protoactor's
//     supervision, to the router, which is the parent of every agent and its
//     SupervisorStrategy. The failure counts as that agent's report.
//  4. When every agent has reported, the router commits the tick in the
//     engine, which routes messages, applies memberships and decides
//     restarts and stops in canonical order, with restart windows counted in
//     ticks. The router then restarts (fresh instance) or stops the agent
//     actors before any message of the next tick can reach them, and answers
//     the caller with the tick's Outcome.
//
// Commands (spawn, stop, join, leave, input) sent while a tick runs wait for
// its barrier. Results are identical for any number of workers.
package actors
