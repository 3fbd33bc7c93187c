//go:build wasip1

// Command gowork is work.c in Go, for the metering benchmarks
// (internal/benchkit/wasm.go): every step runs workIters rounds of an integer
// hash and a floatIters-round float kernel, folds both into its state and
// publishes nothing. Keep it in step with ../work.c.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o gowork.wasm ./internal/benchkit/guests/gowork
package main

import "github.com/lockstep-rt/lockstep/sdk/go/lockstep"

const (
	workIters  = 20000
	floatIters = 256
)

type agent struct {
	lockstep.Base
	acc uint64
}

func (a *agent) Init(*lockstep.Context) error {
	a.acc = 0
	return nil
}

func (a *agent) Step(ctx *lockstep.Context) error {
	// Integer hash: FNV-style multiply plus xorshift, a serial dependency
	// chain the compiler cannot fold.
	h := a.acc ^ ctx.Tick()
	for i := uint64(0); i < workIters; i++ {
		h ^= i
		h *= 0x100000001b3
		h ^= h >> 29
	}
	// Float kernel: a damped recurrence.
	x, s := float64(h&0xffff)/65536.0, 0.0
	for range floatIters {
		s = s*0.5 + x*x
		x = x*0.999 + 0.001
	}
	a.acc = h ^ uint64(s*1e6)
	return nil
}

func init() { lockstep.Register(&agent{}) }

// main must exist but never runs: a c-shared module only runs init functions.
func main() {}
