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
// A hook's error becomes its return code: nil is 0, a [Code] is that code,
// any other error is 1. A panic in a hook is recovered, logged at error level
// and returned as 2. Either way the host treats the agent as failed at that
// tick.
package lockstep
