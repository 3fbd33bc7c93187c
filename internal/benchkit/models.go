//go:build cgo

package benchkit

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// The model manager benchmarks (package modelactor, ONNX Runtime) compare
// Manager.Infer with raw onnxruntime_go on the same model and input, and
// one tick of many requests for one model batched and unbatched. Every
// session runs deterministically: one intra-op and one inter-op thread,
// sequential execution, no spinning.

// MLPSize is the shape of a benchmark model: onnx.MLP(In, Hidden, Out),
// input "x" [batch, In], output "y" [batch, Out].
type MLPSize struct{ In, Hidden, Out int }

// String is the model's name, mlp-In-Hidden-Out.
func (s MLPSize) String() string { return fmt.Sprintf("mlp-%d-%d-%d", s.In, s.Hidden, s.Out) }

// Sizes of the model scenarios.
var (
	// ModelSizes are the models measured: a small policy whose run costs
	// about as much as the machinery around it, and a medium one whose run
	// dominates.
	ModelSizes = []MLPSize{{16, 32, 4}, {256, 1024, 10}}
)

const (
	// TickRequests is how many requests (one per agent, batch 1 each) one
	// tick of ModelTick carries.
	TickRequests = 100
	// StabilityBatches is how many batches the stability check splits
	// ManagerLatency's and RawLatency's calls into.
	StabilityBatches = 10
	// modelSeed draws the weights of every benchmark model.
	modelSeed = 1
)

// Metric units of the model benchmarks.
const (
	UnitP50Ns      = "p50-ns" // median latency of one call (ManagerLatency)
	UnitReqsPerSec = "reqs/s" // requests answered per second (ModelTick)
	UnitNsPerReq   = "ns/req" // time per request (ModelTick)
)

// modelInput is the deterministic input of request i: rows×In floats.
func modelInput(s MLPSize, i uint64, rows int) []float32 {
	r := onnx.NewRand(1000 + i)
	x := make([]float32, rows*s.In)
	for k := range x {
		x[k] = r.Float32()*2 - 1
	}
	return x
}

// checkOutput compares y with the pure-Go reference for input x.
func checkOutput(b testingB, s MLPSize, x, y []float32) {
	want := onnx.NewMLP(s.In, s.Hidden, s.Out, modelSeed).Eval(x)
	if len(y) != len(want) {
		b.Fatalf("benchkit: %s gave %d outputs, want %d", s, len(y), len(want))
	}
	for k := range y {
		if d := math.Abs(float64(y[k] - want[k])); d > 1e-3*max(1, math.Abs(float64(want[k]))) {
			b.Fatalf("benchkit: %s output %d = %v, the Go reference says %v", s, k, y[k], want[k])
		}
	}
}

// startModel writes s's model into a temporary directory and starts a
// manager with it loaded; without noBatch it declares Model.MaxBatch. The
// manager is closed when b's benchmark ends.
func startModel(b *testing.B, s MLPSize, noBatch bool) (*modelactor.Manager, modelactor.Model) {
	lib := modeltest.Library(b)
	m := modeltest.Write(b, b.TempDir(), s.String(), onnx.MLP(s.In, s.Hidden, s.Out, modelSeed))
	m.Eager = true
	if !noBatch { // batching is opt-in (Model.MaxBatch)
		m.MaxBatch = modelactor.MaxBatchLimit
	}
	sys := quietSystem()
	mgr, err := modelactor.Start(sys, modelactor.Config{Models: []modelactor.Model{m}, Library: lib, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mgr.Close(); sys.Shutdown() })
	return mgr, m
}

// managerInfer is what a Go caller of the manager does for one request:
// wrap the input, Infer, read the output back as floats.
func managerInfer(mgr *modelactor.Manager, m modelactor.Model, s MLPSize, x []float32) ([]float32, error) {
	outs, err := mgr.Infer(m.ID, m.Version, tensor.FromFloat32([]int64{1, int64(s.In)}, x))
	if err != nil {
		return nil, err
	}
	if len(outs) != 1 {
		return nil, fmt.Errorf("%d outputs, want 1", len(outs))
	}
	return outs[0].Float32s()
}

// ManagerInfer measures Manager.Infer on model s with a batch of 1, from a
// []float32 input to a []float32 output: the tensor encoding, the hop to
// the manager actor and back, the request's decoding and checks, the ONNX
// Runtime run and the conversion of the output. ns/op is the time per
// request; its baseline is RawORT.
func ManagerInfer(b *testing.B, s MLPSize) {
	mgr, m := startModel(b, s, false)
	x := modelInput(s, 0, 1)
	y, err := managerInfer(mgr, m, s, x)
	if err != nil {
		b.Fatal(err)
	}
	checkOutput(b, s, x, y)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := managerInfer(mgr, m, s, x); err != nil {
			b.Fatal(err)
		}
	}
}

// ManagerLatency is ManagerInfer timing every call, on one manager: it
// splits the calls into StabilityBatches consecutive batches and reports
// the median latency of each (BatchP50Unit(i)) and of all (p50-ns), the
// figures the stability check compares.
func ManagerLatency(b *testing.B, s MLPSize) {
	mgr, m := startModel(b, s, false)
	x := modelInput(s, 0, 1)
	latency(b, func() error {
		_, err := managerInfer(mgr, m, s, x)
		return err
	})
}

// RawLatency is ManagerLatency's baseline: RawORT timing every call, with
// the same batches and figures, so that the stability check can tell the
// manager's spread from the machine's.
func RawLatency(b *testing.B, s MLPSize) {
	sess := rawSession(b, s)
	x := modelInput(s, 0, 1)
	latency(b, func() error {
		_, err := rawInfer(sess, s, x)
		return err
	})
}

// latency times each call of call, after warmUp untimed ones, and reports
// the median of each of StabilityBatches consecutive batches and of all.
func latency(b *testing.B, call func() error) {
	for range warmUp { // caches, allocator and scheduler settle first
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		err := call()
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	median := func(d []time.Duration) float64 {
		d = slices.Clone(d)
		slices.Sort(d)
		return float64(d[len(d)/2].Nanoseconds())
	}
	if n := len(lat) / StabilityBatches; n > 0 {
		for i := range StabilityBatches {
			b.ReportMetric(median(lat[i*n:(i+1)*n]), BatchP50Unit(i))
		}
	}
	b.ReportMetric(median(lat), UnitP50Ns)
}

// warmUp is how many calls ManagerLatency and RawLatency make before they
// start timing.
const warmUp = 2000

// BatchP50Unit is the metric unit of batch i's median latency in
// ManagerLatency.
func BatchP50Unit(i int) string { return fmt.Sprintf("p50-ns-batch%d", i) }

// rawSession opens s's model with onnxruntime_go directly, with the options
// of the manager's deterministic mode. The ONNX Runtime environment is
// initialised by package modelactor (once per process, from lib), which
// then owns it; the baseline only uses it.
func rawSession(b *testing.B, s MLPSize) *ort.DynamicAdvancedSession {
	lib := modeltest.Library(b)
	data := onnx.MLP(s.In, s.Hidden, s.Out, modelSeed)
	if !ort.IsInitialized() {
		sess, err := modelactor.ORT{Library: lib}.Open(data, modelactor.SessionOptions{Device: modelactor.DeviceCPU, Deterministic: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := sess.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if !ort.IsInitialized() {
		b.Fatal("benchkit: ONNX Runtime is not initialised after modelactor opened a session")
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	defer so.Destroy()
	if err := errors.Join(so.SetIntraOpNumThreads(1), so.SetInterOpNumThreads(1),
		so.SetExecutionMode(ort.ExecutionModeSequential),
		so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0")); err != nil {
		b.Fatal(err)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(data, []string{"x"}, []string{"y"}, so)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sess.Destroy() })
	return sess
}

// rawInfer is what a straightforward onnxruntime_go user does for one
// request of len(x)/s.In rows: make the input and output tensors, run, copy
// the output out, destroy the tensors.
func rawInfer(sess *ort.DynamicAdvancedSession, s MLPSize, x []float32) ([]float32, error) {
	rows := int64(len(x) / s.In)
	in, err := ort.NewTensor(ort.NewShape(rows, int64(s.In)), x)
	if err != nil {
		return nil, err
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(rows, int64(s.Out)))
	if err != nil {
		return nil, err
	}
	defer out.Destroy()
	if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		return nil, err
	}
	return slices.Clone(out.GetData()), nil
}

// RawORT is the baseline of ManagerInfer: the same model and input run by
// onnxruntime_go's DynamicAdvancedSession.Run in the calling goroutine,
// with the same deterministic session options. ns/op is the time per
// request.
func RawORT(b *testing.B, s MLPSize) { RawORTRows(b, s, 1) }

// RawORTRows is the baseline of a batched ModelTick: one raw run (as
// RawORT's) of rows rows, the rows of the tick's requests in one tensor.
// ns/op is the time per run.
func RawORTRows(b *testing.B, s MLPSize, rows int) {
	sess := rawSession(b, s)
	x := make([]float32, 0, rows*s.In)
	for i := range rows {
		x = append(x, modelInput(s, uint64(i), 1)...)
	}
	y, err := rawInfer(sess, s, x)
	if err != nil {
		b.Fatal(err)
	}
	checkOutput(b, s, x, y)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rawInfer(sess, s, x); err != nil {
			b.Fatal(err)
		}
	}
}

// Kinds of work RawORTRowsBusy does between runs.
const (
	BusyNone  = "none"  // nothing
	BusyReuse = "reuse" // decode rows requests and encode rows answers into memory kept from run to run
	BusyAlloc = "alloc" // the same, the answers in new memory each time, as the manager must
)

// RawORTRowsBusy measures what work between runs does to ONNX Runtime's
// run itself: a raw run of rows rows on tensors made once (no tensor made
// or destroyed per run), after the work busy says (BusyNone, BusyReuse,
// BusyAlloc) in the same goroutine. run-ns is the time inside Run only;
// ns/op includes the work.
func RawORTRowsBusy(b *testing.B, s MLPSize, rows int, busy string) {
	sess := rawSession(b, s)
	x := make([]float32, 0, rows*s.In)
	reqs := make([][]byte, rows)
	for i := range rows {
		xi := modelInput(s, uint64(i), 1)
		x = append(x, xi...)
		reqs[i] = tensor.EncodeList(tensor.FromFloat32([]int64{1, int64(s.In)}, xi))
	}
	in, err := ort.NewTensor(ort.NewShape(int64(rows), int64(s.In)), x)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(rows), int64(s.Out)))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Destroy()
	var dec tensor.Decoder
	answers, enc := []byte(nil), make([][]byte, rows)
	var run time.Duration
	for b.Loop() {
		if busy != BusyNone {
			dec.Reset()
			if answers = answers[:0]; busy == BusyAlloc {
				answers, enc = make([]byte, 0, len(reqs[0])*rows), make([][]byte, rows)
			}
			for i, r := range reqs {
				ts, err := dec.DecodeList(r)
				if err != nil {
					b.Fatal(err)
				}
				at := len(answers)
				answers = tensor.AppendList(answers, ts)
				enc[i] = answers[at:]
			}
		}
		t0 := time.Now()
		if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
			b.Fatal(err)
		}
		run += time.Since(t0)
	}
	b.ReportMetric(float64(run.Nanoseconds())/float64(b.N), "run-ns")
}

// ModelTick measures one tick's requests answered by Manager.Run: requests
// requests for model s (one per agent, a batch of 1 each, different
// inputs, encoded as agents send them), batched into one ONNX Runtime run
// or, with batched false (no Model.MaxBatch), run one by one; each answer is
// encoded as the host delivers it. ns/op is the time per tick; it also
// reports reqs/s and ns/req.
func ModelTick(b *testing.B, s MLPSize, requests int, batched bool) {
	mgr, m := startModel(b, s, !batched)
	reqs := make([]modelactor.Request, requests)
	for i := range reqs {
		x := modelInput(s, uint64(i), 1)
		reqs[i] = modelactor.Request{Request: uint32(i), Model: m.ID, Version: m.Version,
			Input: tensor.EncodeList(tensor.FromFloat32([]int64{1, int64(s.In)}, x))}
	}
	for i, r := range mgr.Run(reqs) {
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		if got := r.Flags&tensor.Batched != 0; got != batched {
			b.Fatalf("benchkit: request %d batched = %v, want %v", i, got, batched)
		}
		y, err := r.Outputs[0].Float32s()
		if err != nil {
			b.Fatal(err)
		}
		checkOutput(b, s, modelInput(s, uint64(i), 1), y)
	}
	b.ReportAllocs()
	var res [][]byte
	for b.Loop() {
		// Encoded, as the host delivers them to the agents, into the
		// slice of the tick before, as the host hands it back.
		res = mgr.AppendEncoded(res[:0], reqs)
		if st, err := tensor.StatusOf(res[requests-1]); err != nil || st != tensor.OK {
			b.Fatalf("benchkit: the last request's answer has status %v (%v)", st, err)
		}
	}
	n := float64(b.N) * float64(requests)
	b.ReportMetric(n/b.Elapsed().Seconds(), UnitReqsPerSec)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, UnitNsPerReq)
}
