package federation_test

import (
	"fmt"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// BenchmarkFederatedTick: 1 000 idle agents on a coordinator and 1-3
// member processes, against the same on one host.
func BenchmarkFederatedTick(b *testing.B) {
	b.Run("one-host", func(b *testing.B) { benchkit.Tick(b, 1000, 1) })
	for _, m := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("members=%d", m), func(b *testing.B) { benchkit.FederatedTick(b, 1000, m, 1) })
	}
}

// BenchmarkFederatedRoute: pairs of echo agents split between the
// coordinator and the members bounce messages, every one crossing
// processes, against the same on one host.
func BenchmarkFederatedRoute(b *testing.B) {
	b.Run("one-host", func(b *testing.B) { benchkit.Route(b, 100, 100, 16, 1) })
	for _, m := range []int{1, 2} {
		b.Run(fmt.Sprintf("members=%d", m), func(b *testing.B) { benchkit.FederatedRoute(b, 100, 100, 16, m, 1) })
	}
}
