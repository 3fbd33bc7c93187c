//go:build cgo

package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
	"github.com/lockstep-rt/lockstep/modelactor"
)

// Targets of the model manager rows: the host's work per agent request
// (unbatched, in a tick) within 1.1× of raw onnxruntime_go, a batched tick
// of benchkit.TickRequests requests within 2× of one raw run of as many
// rows, and the median latency of each of benchkit.StabilityBatches
// consecutive batches of Manager.Infer calls within ±5% of the median of
// them all.
var (
	inferTarget     = ratioTarget{"≤ 1.1× raw ORT", 1.1}
	tickTarget      = ratioTarget{"≤ 2× one raw run", 2}
	stabilityTarget = ratioTarget{"each within ±5%", 0.05}
)

// runModels measures the model manager rows and prints their tables, or a
// skip line when the ONNX Runtime library is missing.
func runModels(out io.Writer, count int) error {
	lib, err := modelactor.FindLibrary("")
	if err != nil {
		fmt.Fprintf(out, "\nmodels: skipped (%v)\n", err)
		return nil
	}
	fmt.Fprintf(out, "\nModel manager (modelactor, ONNX Runtime %s), deterministic sessions: 1 thread, sequential, no spinning;\n", lib)
	fmt.Fprintf(out, "baseline: raw onnxruntime_go DynamicAdvancedSession.Run with the same options, model and input\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmanager\traw ORT\tratio\ttarget\tresult")
	for _, s := range benchkit.ModelSizes {
		med, _, err := rounds(count,
			func(b *testing.B) { benchkit.RawORT(b, s) },
			func(b *testing.B) { benchkit.ModelTick(b, s, benchkit.TickRequests, false) },
			func(b *testing.B) { benchkit.ManagerInfer(b, s) })
		if err != nil {
			return fmt.Errorf("infer, %s: %w", s, err)
		}
		raw, perReq := med[0].nsPerOp, med[1].extra[benchkit.UnitNsPerReq]
		ratio := perReq / raw
		fmt.Fprintf(tw, "per request, %s, %d unbatched in a tick\t%s/req\t%s/req\t%.2f\t%s\t%s\n", s, benchkit.TickRequests,
			duration(perReq), duration(raw), ratio, inferTarget.text, pass(ratio <= inferTarget.max))
		fmt.Fprintf(tw, "one Manager.Infer call, %s (actor round trip)\t%s/req\t%s/req\t%.2f\t-\t-\n", s,
			duration(med[2].nsPerOp), duration(raw), med[2].nsPerOp/raw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nOne tick of %d requests for one model (one per agent, batch 1 each) through Manager.Run, against one raw run of %d rows\n\n", benchkit.TickRequests, benchkit.TickRequests)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tbatched (max_batch)\tunbatched\tspeedup\traw ORT, one run\tratio\ttarget\tresult")
	for _, s := range benchkit.ModelSizes {
		med, _, err := rounds(count,
			func(b *testing.B) { benchkit.ModelTick(b, s, benchkit.TickRequests, false) },
			func(b *testing.B) { benchkit.ModelTick(b, s, benchkit.TickRequests, true) },
			func(b *testing.B) { benchkit.RawORTRows(b, s, benchkit.TickRequests) })
		if err != nil {
			return fmt.Errorf("tick, %s: %w", s, err)
		}
		un, ba, raw := med[0], med[1], med[2]
		ratio := ba.nsPerOp / raw.nsPerOp
		fmt.Fprintf(tw, "tick, %d requests, %s\t%s/tick (%s req/s)\t%s/tick (%s req/s)\t%.2f×\t%s\t%.2f\t%s\t%s\n", benchkit.TickRequests, s,
			duration(ba.nsPerOp), rate(ba.extra[benchkit.UnitReqsPerSec]),
			duration(un.nsPerOp), rate(un.extra[benchkit.UnitReqsPerSec]), un.nsPerOp/ba.nsPerOp,
			duration(raw.nsPerOp), ratio, tickTarget.text, pass(ratio <= tickTarget.max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nStability: Manager.Infer (batch 1) on one manager, its calls in %d consecutive batches, the median latency of each;\n", benchkit.StabilityBatches)
	fmt.Fprintf(out, "baseline: raw ORT calls (RawORT's) measured alike right after, the machine's own spread\n\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tmedian latency per batch\tmedian\tlargest deviation\traw ORT: median, largest deviation\ttarget\tresult")
	for _, s := range benchkit.ModelSizes {
		mgr, err := stability(func(b *testing.B) { benchkit.ManagerLatency(b, s) })
		if err != nil {
			return fmt.Errorf("stability, %s: %w", s, err)
		}
		raw, err := stability(func(b *testing.B) { benchkit.RawLatency(b, s) })
		if err != nil {
			return fmt.Errorf("stability, raw ORT, %s: %w", s, err)
		}
		text := make([]string, len(mgr.p50))
		for i, v := range mgr.p50 {
			text[i] = fmt.Sprintf("%.2f", v/1e3)
		}
		fmt.Fprintf(tw, "%s\t%s µs\t%s\t±%.1f%%\t%s, ±%.1f%%\t%s\t%s\n", s, strings.Join(text, " "), duration(mgr.mid), 100*mgr.dev,
			duration(raw.mid), 100*raw.dev, stabilityTarget.text, pass(mgr.dev <= stabilityTarget.max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nratio: the manager's time per request ÷ raw ORT's. Per request: the host's work for one agent request (decode,")
	fmt.Fprintln(out, "check, run, encode the answer) with the tick's actor round trip shared by its requests; one call: Manager.Infer")
	fmt.Fprintln(out, "from []float32 to []float32, one actor round trip each. Raw ORT: tensors made and destroyed around each Run.")
	fmt.Fprintln(out, "speedup: unbatched time per tick ÷ batched. Tick ratio: the batched tick ÷ one raw run of its rows in one tensor.")
	fmt.Fprintln(out, "largest deviation: the farthest batch from the median, relative to it; the raw ORT column is the same figure for raw")
	fmt.Fprintln(out, "calls: when it is as large, the spread is the machine's.")
	return nil
}

// batchSpread is a latency benchmark's batch medians, their median and
// the largest relative deviation of one from it.
type batchSpread struct {
	p50      []float64
	mid, dev float64
}

// stability runs f, a benchkit latency benchmark, and returns its spread.
func stability(f func(b *testing.B)) (batchSpread, error) {
	m, err := bench(f)
	if err != nil {
		return batchSpread{}, err
	}
	r := batchSpread{p50: make([]float64, benchkit.StabilityBatches)}
	for i := range r.p50 {
		r.p50[i] = m.extra[benchkit.BatchP50Unit(i)]
	}
	r.mid, r.dev = spread(r.p50)
	return r, nil
}

// spread returns the median of v and the largest relative distance of an
// element from it.
func spread(v []float64) (mid, dev float64) {
	s := slices.Sorted(slices.Values(v))
	if n := len(s); n%2 == 1 {
		mid = s[n/2]
	} else {
		mid = (s[n/2-1] + s[n/2]) / 2
	}
	for _, x := range v {
		dev = max(dev, math.Abs(x-mid)/mid)
	}
	return mid, dev
}
