// Package agenttest is Lockstep's test kit: unit tests of agents and of
// actors, in go test, tick by tick, with no sleeps.
//
// Three tools, from the smallest to the largest:
//
//  1. Context, a recording agent.Context for calling a Go agent's methods
//     directly: NewContext("me", tick), then agent.Receive(ctx, msg) and
//     agent.Step(ctx), then ctx.Sent(), ctx.Published(), ctx.Logs(),
//     ctx.State(). It is the runtime's own context underneath, so names,
//     sizes and quotas are checked as in a run (Violation), and Rand gives
//     the numbers a run with the same seed gives. Reset(tick) plays the
//     barrier and starts the next tick.
//  2. Harness, one agent in a real host: a Go agent (Agent, a Factory) or
//     a WebAssembly module (Module, a path and its grants) run for N ticks
//     with scripted Inputs — external inputs, or messages from other
//     agents, sent by stand-in agents the harness spawns. Each tick's
//     record (Tick) holds what the agent was delivered, its Outbox (sends,
//     publishes, joins and leaves, logs, state writes, inference
//     requests), its failure and stack trace, its fuel, its events and
//     its state regions. Run(t, subject, ticks, inputs...) does it in one
//     call; Steps runs a host the test built itself (a topology).
//  3. Dispatcher, for a user's own protoactor actors with barrier
//     mailboxes: it runs them on the test's goroutine; Send holds a
//     message for a tick, Tick releases the tick's messages in canonical
//     order and runs everything to completion before it returns.
//
// Tests of a run as a whole (digests with 1 and N workers, replay) use
// package host directly; see its documentation.
package agenttest
