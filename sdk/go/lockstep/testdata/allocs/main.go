// Command allocs is a test agent of the Go SDK: it joins channel "ch" and
// every step publishes 8 bytes there, then writes to its state region
// "allocs" how many heap allocations the Go runtime made since its last
// step (its hooks' and the SDK's, for the messages it received), an 8-byte
// little-endian u64. Grants: channels, messaging.publish, state.write, log,
// wasi.
package main

import (
	"encoding/binary"
	"runtime"

	"github.com/lockstep-rt/lockstep/sdk/go/lockstep"
)

type allocs struct {
	lockstep.Base
	last uint64
}

// stats is global: runtime.MemStats is too big to want on the stack.
var stats runtime.MemStats

func (a *allocs) Init(ctx *lockstep.Context) error { return ctx.Join("ch") }

func (a *allocs) Step(ctx *lockstep.Context) error {
	runtime.ReadMemStats(&stats)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], stats.Mallocs-a.last)
	a.last = stats.Mallocs
	if err := ctx.Publish("ch", b[:]); err != nil {
		return err
	}
	return ctx.StateWrite("allocs", b[:])
}

func init() { lockstep.Register(&allocs{}) }

func main() {}
