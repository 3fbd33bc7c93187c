// Package lockstep is the guest SDK for Lockstep agents written in Go (ABI v1,
// see sdk/ABI.md). It builds only for GOOS=wasip1 GOARCH=wasm; on other
// platforms the package is empty, so host builds of ./... ignore it.
//
// An agent implements [Agent] and registers it from an init function (with
// -buildmode=c-shared the Go runtime runs package initialisers in
// `_initialize` but never calls main, which must still exist):
//
//	package main
//
//	import "github.com/lockstep-rt/lockstep/sdk/go/lockstep"
//
//	type agent struct{ lockstep.Base }
//
//	func (a *agent) Step(ctx *lockstep.Context) error {
//		return ctx.Publish("hello", []byte("world"))
//	}
//
//	func init() { lockstep.Register(&agent{}) }
//
//	func main() {}
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o agent.wasm ./path/to/agent
//
// The package provides every ABI export (lockstep_abi_version, agent_alloc,
// agent_init, agent_receive, agent_step, agent_shutdown; the Go toolchain adds
// memory and _initialize) and imports from module "lockstep" only what it
// calls. A Go module also imports wasi_snapshot_preview1, so its manifest must
// grant WASI.
//
// Config: [Config] returns the agent's topology config: (a string as is,
// anything else as JSON with sorted keys), for example to unmarshal into a
// struct in Init. It needs no capability.
//
// Inference: [Context.Infer] asks the host's model manager to run a model on
// tensors ([Tensor], built with tensor.FromFloat32 from package
// modelactor/tensor); the answer arrives at the next tick as a message for
// which [Message.Inference] is true, decoded by [Message.Result]. The module
// needs the capability inference or inference:MODEL (examples/wasm/goclassifier).
//
// Memory: give a Go module 128 pages (8 MiB) or more of linear memory (the
// topology's max_pages). Go's runtime takes some 3 MiB of it before the
// agent allocates anything, and its garbage collector first runs when the
// heap reaches 4 MiB (GOGC=100). Until then every allocation stays, and
// every message allocates: its Payload is a copy (so are From and Channel
// when they differ from the previous message's). At 64 pages (4 MiB) the
// runtime runs out of memory after about 1 MiB of allocations, whatever the
// agent keeps, and aborts ("fatal error: out of memory" on stderr, then a
// wasm unreachable trap): the host fails the agent and, in a restarting
// group, restarts it, to run out again.
//
// Start-up: each agent runs the Go runtime's start-up and the package
// initialisers itself (about 1.7 ms), because they read its WASI random
// source and clocks. A module that imports package sharedinit for its effect
// declares them the same for every agent, and its agents start from one
// image of their result, in a fraction of the time and memory; the price is
// that they share the runtime's seeds (see its documentation).
//
// A hook's error becomes its return code: nil is 0, a [Code] is that code,
// any other error is 1. A panic in a hook is recovered, logged at error level
// and returned as 2. Either way the host treats the agent as failed at that
// tick.
package lockstep
