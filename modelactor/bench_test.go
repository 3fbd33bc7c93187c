//go:build cgo

package modelactor_test

import (
	"fmt"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// The bodies live in internal/benchkit, shared with cmd/lockstep-bench
// (-models). docs/BENCHMARKS.md has the commands, the targets and the
// figures.

// BenchmarkRawORT is the baseline of BenchmarkManagerInfer: each model run
// by onnxruntime_go's DynamicAdvancedSession.Run directly, with the
// manager's deterministic session options. ns/op is the time per request.
func BenchmarkRawORT(b *testing.B) {
	for _, s := range benchkit.ModelSizes {
		b.Run(s.String(), func(b *testing.B) { benchkit.RawORT(b, s) })
	}
}

// BenchmarkRawORTRows is the baseline of BenchmarkTick100's batched rows:
// one raw run of benchkit.TickRequests rows. ns/op is the time per run.
func BenchmarkRawORTRows(b *testing.B) {
	for _, s := range benchkit.ModelSizes {
		b.Run(s.String(), func(b *testing.B) { benchkit.RawORTRows(b, s, benchkit.TickRequests) })
	}
}

// BenchmarkRawORTRowsBusy: run-ns is the time of a raw run of
// benchkit.TickRequests rows of the small model on tensors made once,
// alone and with a tick's decoding and encoding between runs, into kept or
// new memory: what the work around a run costs the run itself
// (docs/BENCHMARKS.md).
func BenchmarkRawORTRowsBusy(b *testing.B) {
	s := benchkit.ModelSizes[0]
	for _, busy := range []string{benchkit.BusyNone, benchkit.BusyReuse, benchkit.BusyAlloc} {
		b.Run(fmt.Sprintf("%s/busy=%s", s, busy), func(b *testing.B) { benchkit.RawORTRowsBusy(b, s, benchkit.TickRequests, busy) })
	}
}

// BenchmarkManagerInfer: ns/op is the time per request of Manager.Infer,
// batch 1, on the same models and input as BenchmarkRawORT (target: ≤ 1.1×
// the raw figure).
func BenchmarkManagerInfer(b *testing.B) {
	for _, s := range benchkit.ModelSizes {
		b.Run(s.String(), func(b *testing.B) { benchkit.ManagerInfer(b, s) })
	}
}

// BenchmarkManagerLatency: p50-ns is the median latency of one
// Manager.Infer call, the figure of the stability check.
func BenchmarkManagerLatency(b *testing.B) {
	for _, s := range benchkit.ModelSizes {
		b.Run(s.String(), func(b *testing.B) { benchkit.ManagerLatency(b, s) })
	}
}

// BenchmarkRawLatency is BenchmarkManagerLatency's baseline: the same
// figures for raw onnxruntime_go calls.
func BenchmarkRawLatency(b *testing.B) {
	for _, s := range benchkit.ModelSizes {
		b.Run(s.String(), func(b *testing.B) { benchkit.RawLatency(b, s) })
	}
}

// BenchmarkTick100: ns/op is the time per tick of 100 requests for one
// model (one per agent, batch 1 each) answered by Manager.Run, batched into
// one run (target: ≤ 2× BenchmarkRawORTRows) or one run per request (no
// max_batch); reqs/s is the throughput.
func BenchmarkTick100(b *testing.B) {
	for _, s := range benchkit.ModelSizes {
		b.Run(s.String()+"/batched", func(b *testing.B) { benchkit.ModelTick(b, s, benchkit.TickRequests, true) })
		b.Run(s.String()+"/unbatched", func(b *testing.B) { benchkit.ModelTick(b, s, benchkit.TickRequests, false) })
	}
}
