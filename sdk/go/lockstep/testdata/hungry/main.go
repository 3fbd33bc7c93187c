// Command hungry is a test agent of the Go SDK: every step it allocates
// 64 KiB it drops at once, as an agent receiving thousands of messages a
// tick does in small pieces, and writes the tick to its state region
// "tick". Grants: state.write, log, wasi.
package main

import (
	"encoding/binary"

	"github.com/lockstep-rt/lockstep/sdk/go/lockstep"
)

type hungry struct{ lockstep.Base }

// sink keeps each step's garbage reachable until the next step, so the
// compiler cannot leave its allocation out.
var sink []byte

func (hungry) Step(ctx *lockstep.Context) error {
	sink = make([]byte, 64<<10)
	return ctx.StateWrite("tick", binary.LittleEndian.AppendUint64(sink[:0], ctx.Tick()))
}

func init() { lockstep.Register(hungry{}) }

func main() {}
