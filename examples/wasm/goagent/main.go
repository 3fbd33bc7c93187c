//go:build wasip1

// Command goagent is a Go Lockstep agent: it joins channel "counts", sums the
// counts published there (8-byte little-endian u64s, as counter.c sends them)
// and every step writes its state region "sum": the sum then one draw of the
// agent's random stream, both 8-byte little-endian u64s.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o goagent.wasm ./examples/wasm/goagent
package main

import (
	"encoding/binary"

	"github.com/lockstep-rt/lockstep/sdk/go/lockstep"
)

type agent struct {
	lockstep.Base
	sum uint64
}

func (a *agent) Init(ctx *lockstep.Context) error {
	a.sum = 0
	return ctx.Join("counts")
}

func (a *agent) Receive(ctx *lockstep.Context, msg lockstep.Message) error {
	if msg.Channel == "counts" && len(msg.Payload) == 8 {
		a.sum += binary.LittleEndian.Uint64(msg.Payload)
	}
	return nil
}

func (a *agent) Step(ctx *lockstep.Context) error {
	var state [16]byte
	binary.LittleEndian.PutUint64(state[0:], a.sum)
	binary.LittleEndian.PutUint64(state[8:], ctx.Random())
	return ctx.StateWrite("sum", state[:])
}

func init() { lockstep.Register(&agent{}) }

// main must exist but never runs: a c-shared module only runs init functions.
func main() {}
