//go:build cgo

package ortcheck

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lockstep-rt/lockstep/modelactor/onnx"
)

// libPath returns the ONNX Runtime library to load, or "" if there is none.
func libPath() string {
	if p := os.Getenv("LOCKSTEP_ORT_LIB"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(home, ".cache", "lockstep", "onnxruntime", "libonnxruntime.so.1")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

var (
	initOnce sync.Once
	initErr  error
)

// setup loads the library once per test binary (ORT has one environment per
// process) or skips the test.
func setup(t *testing.T) {
	t.Helper()
	p := libPath()
	if p == "" {
		t.Skip("ONNX Runtime library not found: run scripts/onnxruntime.sh or set LOCKSTEP_ORT_LIB")
	}
	initOnce.Do(func() {
		ort.SetSharedLibraryPath(p)
		initErr = ort.InitializeEnvironment()
	})
	if initErr != nil {
		t.Fatalf("InitializeEnvironment(%s): %v", p, initErr)
	}
}

// deterministicOptions are the session settings Lockstep uses: one thread,
// sequential execution, no spinning.
func deterministicOptions(t *testing.T) *ort.SessionOptions {
	t.Helper()
	o, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Destroy() })
	for _, err := range []error{
		o.SetIntraOpNumThreads(1),
		o.SetInterOpNumThreads(1),
		o.SetExecutionMode(ort.ExecutionModeSequential),
		o.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// run runs sess once on x (shape xs) and returns a copy of the output.
func run(t testing.TB, sess *ort.DynamicAdvancedSession, xs ort.Shape, x []float32, ys ort.Shape) []float32 {
	in, err := ort.NewTensor(xs, x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ys)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out.GetData()...)
}

func compare(t *testing.T, name string, a, b, want []float32) {
	t.Helper()
	bitIdentical := true
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			bitIdentical = false
			t.Errorf("%s: run 1 and run 2 differ at %d: %v vs %v", name, i, a[i], b[i])
		}
	}
	var maxDiff float64
	exact := true
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(want[i]))
		if d > maxDiff {
			maxDiff = d
		}
		if math.Float32bits(a[i]) != math.Float32bits(want[i]) {
			exact = false
		}
	}
	if maxDiff > 1e-5 {
		t.Errorf("%s: ORT vs pure Go: max |diff| %g > 1e-5\nort %v\ngo  %v", name, maxDiff, a, want)
	}
	t.Logf("%s: two runs bit-identical: %v; ORT vs pure Go: bit-identical %v, max |diff| %g", name, bitIdentical, exact, maxDiff)
}

func TestMLP(t *testing.T) {
	setup(t)
	p := onnx.NewMLP(4, 8, 3, 1)
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(p.Model().Encode(),
		[]string{"x"}, []string{"y"}, deterministicOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Destroy()

	x := []float32{0.5, -1, 2, 0.25, -0.75, 1.5, -2, 3}
	want := p.Eval(x)
	a := run(t, sess, ort.NewShape(2, 4), x, ort.NewShape(2, 3))
	b := run(t, sess, ort.NewShape(2, 4), x, ort.NewShape(2, 3))
	compare(t, "MLP(4,8,3) batch 2", a, b, want)

	// The batch dimension is symbolic: another batch size uses the same session.
	r := onnx.NewRand(77)
	x5 := make([]float32, 5*4)
	for i := range x5 {
		x5[i] = r.Float32() * 3
	}
	c := run(t, sess, ort.NewShape(5, 4), x5, ort.NewShape(5, 3))
	d := run(t, sess, ort.NewShape(5, 4), x5, ort.NewShape(5, 3))
	compare(t, "MLP(4,8,3) batch 5", c, d, p.Eval(x5))

	// Timing of one Run (input/output tensors created per call), for the record.
	const n = 200
	ts := make([]time.Duration, n)
	for i := range ts {
		start := time.Now()
		run(t, sess, ort.NewShape(2, 4), x, ort.NewShape(2, 3))
		ts[i] = time.Since(start)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	t.Logf("MLP(4,8,3) batch 2, %d runs: median %v, p99 %v", n, ts[n/2], ts[n*99/100])
}

func TestConv(t *testing.T) {
	setup(t)
	p := onnx.NewConv(2, 3, 3, 5, 5, 7)
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(p.Model().Encode(),
		[]string{"x"}, []string{"y"}, deterministicOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Destroy()
	r := onnx.NewRand(3)
	x := make([]float32, 2*2*5*5)
	for i := range x {
		x[i] = r.Float32()
	}
	xs, ys := ort.NewShape(2, 2, 5, 5), ort.NewShape(2, 3, 5, 5)
	a := run(t, sess, xs, x, ys)
	b := run(t, sess, xs, x, ys)
	compare(t, "Conv(2->3, 3x3, 5x5) batch 2", a, b, p.Eval(x))
}
