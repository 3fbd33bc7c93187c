package pmath_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/lockstep-rt/lockstep/sdk/go/pmath"
)

// A noisy exponential decay, as an agent would compute it in its Step. The
// random words come from a seeded source (in an agent: ctx.Rand().Uint64),
// the transcendental functions from pmath, and the multiply-adds are
// written with float64(...) so that no compiler fuses them. The output is
// the same on every platform.
func Example() {
	src := rand.NewPCG(1, 2) // in an agent: ctx.Rand()
	decay := pmath.Exp(-0.1)
	level := 100.0
	for tick := 1; tick <= 3; tick++ {
		noise := pmath.NormFloat64(src.Uint64)
		level = float64(level*decay) + float64(0.5*noise)
		fmt.Printf("tick %d: level %.17g\n", tick, level)
	}
	fmt.Println(pmath.Pow(10, 22) == 1e22, pmath.Log10(1000), pmath.Log2(0x1p-1074))
	// Output:
	// tick 1: level 90.214326161022839
	// tick 2: level 81.729857066845
	// tick 3: level 74.775680391278868
	// true 3 -1074
}
