//go:build cgo

package modelactor_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// start runs a manager over models with ONNX Runtime; the log goes to logs.
func start(t *testing.T, cfg modelactor.Config) (*modelactor.Manager, *bytes.Buffer) {
	t.Helper()
	cfg.Library = modeltest.Library(t)
	logs := &bytes.Buffer{}
	l := logrus.New()
	l.SetOutput(io.MultiWriter(logs, testWriter{t}))
	cfg.Logger = l
	sys := actor.NewActorSystem()
	m, err := modelactor.Start(sys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); sys.Shutdown() })
	return m, logs
}

func randomInput(seed uint64, n int) []float32 {
	r := onnx.NewRand(seed)
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32() * 2
	}
	return x
}

func floats(t *testing.T, ts []tensor.Tensor) []float32 {
	t.Helper()
	if len(ts) != 1 {
		t.Fatalf("%d outputs, want 1", len(ts))
	}
	v, err := ts[0].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestInferMatchesReference runs an MLP and a convolution written by package
// onnx through the manager: outputs match the pure-Go reference and are
// bit-identical across managers (fresh sessions) and runs.
func TestInferMatchesReference(t *testing.T) {
	dir := t.TempDir()
	mlp := onnx.NewMLP(4, 8, 3, 1)
	conv := onnx.NewConv(2, 3, 3, 5, 5, 7)
	models := []modelactor.Model{
		modeltest.Write(t, dir, "mlp", mlp.Model().Encode()),
		modeltest.Write(t, dir, "conv", conv.Model().Encode()),
	}
	cases := []struct {
		model string
		shape []int64
		eval  func([]float32) []float32
	}{
		{"mlp", []int64{2, 4}, mlp.Eval},
		{"mlp", []int64{5, 4}, mlp.Eval},
		{"conv", []int64{2, 2, 5, 5}, conv.Eval},
	}
	var first [][]float32
	for run := range 2 {
		m, _ := start(t, modelactor.Config{Models: models})
		for i, c := range cases {
			n := 1
			for _, d := range c.shape {
				n *= int(d)
			}
			x := randomInput(uint64(i), n)
			out, err := m.Infer(c.model, "1", tensor.FromFloat32(c.shape, x))
			if err != nil {
				t.Fatal(err)
			}
			got := floats(t, out)
			if d := maxDiff(got, c.eval(x)); d > 1e-5 {
				t.Errorf("%s %v: ONNX Runtime vs pure Go: max |diff| %g > 1e-5", c.model, c.shape, d)
			}
			again, _ := m.Infer(c.model, "", tensor.FromFloat32(c.shape, x))
			if !bitsEqual(got, floats(t, again)) {
				t.Errorf("%s %v: two runs in one session differ", c.model, c.shape)
			}
			if run == 0 {
				first = append(first, got)
			} else if !bitsEqual(got, first[i]) {
				t.Errorf("%s %v: a fresh session gives other bits: %v vs %v", c.model, c.shape, got, first[i])
			}
		}
	}
}

// TestBatching: requests for a model with a batch dimension share one run,
// in order, and each gets its own rows back; a request with another inner
// shape, or for a model not declared batchable (no max_batch), runs alone.
func TestBatching(t *testing.T) {
	dir := t.TempDir()
	p := onnx.NewMLP(4, 8, 3, 2)
	batched := modeltest.Write(t, dir, "mlp", p.Model().Encode())
	single := batched
	single.ID, single.NoBatch = "mlp-single", true // deprecated: as no max_batch
	batched.MaxBatch = 16
	m, _ := start(t, modelactor.Config{Models: []modelactor.Model{batched, single}})

	var reqs []modelactor.Request
	var xs [][]float32
	for i := range 6 {
		rows := int64(1 + i%3)
		x := randomInput(uint64(100+i), int(rows)*4)
		xs = append(xs, x)
		in := tensor.EncodeList(tensor.FromFloat32([]int64{rows, 4}, x))
		reqs = append(reqs, modelactor.Request{Request: uint32(i), Model: "mlp", Input: in})
		reqs = append(reqs, modelactor.Request{Request: uint32(i), Model: "mlp-single", Input: in})
	}
	res := m.Run(reqs)
	for i, r := range res {
		if r.Err() != nil {
			t.Fatalf("request %d: %v", i, r.Err())
		}
		if r.Request != reqs[i].Request {
			t.Errorf("result %d answers request %d, want %d", i, r.Request, reqs[i].Request)
		}
		got := floats(t, r.Outputs)
		if d := maxDiff(got, p.Eval(xs[i/2])); d > 1e-5 {
			t.Errorf("result %d: max |diff| from the reference %g", i, d)
		}
		wantBatched := reqs[i].Model == "mlp"
		if (r.Flags&tensor.Batched != 0) != wantBatched {
			t.Errorf("result %d (%s): flags %b", i, reqs[i].Model, r.Flags)
		}
		if i%2 == 1 && !bitsEqual(got, floats(t, res[i-1].Outputs)) {
			t.Logf("request %d: batched and single runs differ in the last bits (max %g)", i/2, maxDiff(got, floats(t, res[i-1].Outputs)))
		}
	}
	again := m.Run(reqs)
	for i := range res {
		if !bitsEqual(floats(t, res[i].Outputs), floats(t, again[i].Outputs)) {
			t.Errorf("result %d differs between two identical batches", i)
		}
	}
	for _, mt := range m.Metrics() {
		switch mt.ID {
		case "mlp":
			if mt.Runs != 2 || mt.Batched != 12 {
				t.Errorf("mlp: %d runs, %d batched requests; want 2 and 12", mt.Runs, mt.Batched)
			}
		case "mlp-single":
			if mt.Runs != 12 || mt.Batched != 0 {
				t.Errorf("mlp-single: %d runs, %d batched; want 12 and 0", mt.Runs, mt.Batched)
			}
		}
	}

	// Another inner shape cannot join: the model takes [?,4] only, so it is
	// refused; the others still share a run.
	mixed := []modelactor.Request{reqs[0], {Model: "mlp", Input: tensor.EncodeList(tensor.FromFloat32([]int64{1, 5}, make([]float32, 5)))}, reqs[2]}
	res = m.Run(mixed)
	if res[1].Status != tensor.BadInput || res[0].Err() != nil || res[2].Err() != nil || res[2].Flags&tensor.Batched == 0 {
		t.Errorf("mixed batch: %v / %v (%v) / %v", res[0].Err(), res[1].Status, res[1].Error, res[2].Flags)
	}
}

// TestResultsOutliveRuns: a session writes every run's outputs into the
// same memory, so the answers of a tick (batched or not, as results or
// from Infer) must be copies: the next tick, on other inputs, changes none
// of them.
func TestResultsOutliveRuns(t *testing.T) {
	dir := t.TempDir()
	p := onnx.NewMLP(4, 8, 3, 2)
	batched := modeltest.Write(t, dir, "mlp", p.Model().Encode())
	single := batched
	single.ID = "mlp-single"
	batched.MaxBatch = 16
	m, _ := start(t, modelactor.Config{Models: []modelactor.Model{batched, single}})
	tick := func(seed uint64) ([][]float32, []tensor.Result) {
		var xs [][]float32
		var reqs []modelactor.Request
		for i := range 4 {
			x := randomInput(seed+uint64(i), 2*4)
			xs = append(xs, x, x)
			in := tensor.EncodeList(tensor.FromFloat32([]int64{2, 4}, x))
			reqs = append(reqs, modelactor.Request{Request: uint32(i), Model: "mlp", Input: in},
				modelactor.Request{Request: uint32(i), Model: "mlp-single", Input: in})
		}
		return xs, m.Run(reqs)
	}
	xs, first := tick(1)
	x := randomInput(50, 4)
	inferred, err := m.Infer("mlp-single", "", tensor.FromFloat32([]int64{1, 4}, x))
	if err != nil {
		t.Fatal(err)
	}
	tick(1000) // other inputs, the same shapes: the same session memory
	if _, err := m.Infer("mlp-single", "", tensor.FromFloat32([]int64{1, 4}, randomInput(51, 4))); err != nil {
		t.Fatal(err)
	}
	for i, r := range first {
		if r.Err() != nil {
			t.Fatalf("result %d: %v", i, r.Err())
		}
		if d := maxDiff(floats(t, r.Outputs), p.Eval(xs[i])); d > 1e-5 {
			t.Errorf("result %d of the first tick changed with the next one: max |diff| from the reference %g", i, d)
		}
	}
	if d := maxDiff(floats(t, inferred), p.Eval(x)); d > 1e-5 {
		t.Errorf("an Infer answer changed with the next call: max |diff| from the reference %g", d)
	}

	// An output over the memory a session keeps (1 MiB) gets memory of
	// its own each run: the same holds.
	w := onnx.NewMLP(4, 8, 1024, 3)
	wide := modeltest.Write(t, dir, "wide", w.Model().Encode())
	mw, _ := start(t, modelactor.Config{Models: []modelactor.Model{wide}})
	var xs2 [][]float32
	var outs [][]tensor.Tensor
	for seed := range uint64(2) {
		x := randomInput(70+seed, 300*4)
		out, err := mw.Infer("wide", "", tensor.FromFloat32([]int64{300, 4}, x))
		if err != nil {
			t.Fatal(err)
		}
		if size := out[0].Size(); size <= 1<<20 {
			t.Fatalf("the wide model's output is %d bytes, want more than 1 MiB", size)
		}
		xs2, outs = append(xs2, x), append(outs, out)
	}
	for i := range outs {
		if d := maxDiff(floats(t, outs[i]), w.Eval(xs2[i])); d > 1e-5 {
			t.Errorf("wide answer %d: max |diff| from the reference %g", i, d)
		}
	}
	// And an input over it, encoded (so not aligned: copied), alone and
	// joined in a batch, likewise.
	const in = 300 << 10 / 4 * 4 // floats: 1.2 MB
	big := onnx.NewMLP(in, 2, 3, 4)
	bigModel := modeltest.Write(t, dir, "big", big.Model().Encode())
	bigModel.MaxBatch = 2
	mb, _ := start(t, modelactor.Config{Models: []modelactor.Model{bigModel}})
	for n := range 3 {
		var reqs []modelactor.Request
		var xs [][]float32
		for k := range 1 + n%2 {
			x := randomInput(uint64(90+10*n+k), in)
			xs = append(xs, x)
			reqs = append(reqs, modelactor.Request{Model: "big", Input: tensor.EncodeList(tensor.FromFloat32([]int64{1, in}, x))})
		}
		for k, r := range mb.Run(reqs) {
			if r.Err() != nil {
				t.Fatal(r.Err())
			}
			if (r.Flags&tensor.Batched != 0) != (len(reqs) > 1) {
				t.Errorf("big tick %d, request %d: flags %b", n, k, r.Flags)
			}
			// Sums of 307 200 products: float32 rounding in another order
			// than the reference's reaches 1e-3; other inputs' answers
			// would be off by far more.
			if d := maxDiff(floats(t, r.Outputs), big.Eval(xs[k])); d > 1e-2 {
				t.Errorf("big tick %d, request %d: max |diff| from the reference %g", n, k, d)
			}
		}
	}
}

// TestBadInput: every kind of bad request gets a clear error result, and
// the manager goes on serving.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := modeltest.Write(t, dir, "mlp", onnx.MLP(4, 8, 3, 1))
	v2 := good
	v2.Version = "2"
	corrupt := modeltest.Write(t, dir, "corrupt", []byte("not an onnx model"))
	wrongSHA := good
	wrongSHA.ID, wrongSHA.SHA256 = "wrongsha", strings.Repeat("0", 64)
	missing := good
	missing.ID, missing.Path = "missing", dir+"/nope.onnx"
	m, _ := start(t, modelactor.Config{Models: []modelactor.Model{good, v2, corrupt, wrongSHA, missing}})

	x := tensor.FromFloat32([]int64{1, 4}, []float32{1, 2, 3, 4})
	enc := func(ts ...tensor.Tensor) []byte { return tensor.EncodeList(ts...) }
	cases := []struct {
		name           string
		model, version string
		input          []byte
		status         tensor.Status
		says           []string
	}{
		{"unknown model", "nope", "1", enc(x), tensor.UnknownModel, []string{`unknown model "nope"`, "corrupt, missing, mlp, wrongsha"}},
		{"unknown version", "mlp", "3", enc(x), tensor.UnknownVersion, []string{`no version "3"`, "1, 2"}},
		{"no default version", "mlp", "", enc(x), tensor.UnknownVersion, []string{"several versions", "mark one default"}},
		{"wrong dtype", "mlp", "1", enc(tensor.Tensor{DType: tensor.Int64, Shape: []int64{1, 4}, Data: make([]byte, 32)}), tensor.BadInput, []string{`input 0 ("x")`, "float32 [?×4]", "int64 [1×4]"}},
		{"wrong shape", "mlp", "1", enc(tensor.FromFloat32([]int64{1, 3}, []float32{1, 2, 3})), tensor.BadInput, []string{"float32 [?×4]", "[1×3]"}},
		{"wrong count", "mlp", "1", enc(x, x), tensor.BadInput, []string{"takes 1 input tensors", "has 2"}},
		{"malformed", "mlp", "1", []byte{9, 0, 0}, tensor.BadInput, []string{"not a tensor list"}},
		{"corrupt file", "corrupt", "1", enc(x), tensor.LoadFailed, []string{"model corrupt@1", "corrupt.onnx"}},
		{"wrong sha256", "wrongsha", "1", enc(x), tensor.LoadFailed, []string{"has sha256", "the registry says 0000", "declare the new sha256"}},
		{"missing file", "missing", "1", enc(x), tensor.LoadFailed, []string{"its file nope.onnx does not exist"}},
	}
	for _, c := range cases {
		r := m.Run([]modelactor.Request{{Request: 7, Model: c.model, Version: c.version, Input: c.input}})[0]
		if r.Status != c.status || r.Request != 7 {
			t.Errorf("%s: status %v (request %d), want %v: %s", c.name, r.Status, r.Request, c.status, r.Error)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(r.Error, s) {
				t.Errorf("%s: error %q does not say %q", c.name, r.Error, s)
			}
		}
		// The result survives its wire form.
		back, err := tensor.DecodeResult(r.Encode())
		if err != nil || back.Status != r.Status || back.Error != r.Error {
			t.Errorf("%s: result does not round-trip: %v %v", c.name, back, err)
		}
		if _, err := m.Infer("mlp", "1", x); err != nil {
			t.Fatalf("after %s the manager does not serve: %v", c.name, err)
		}
	}
}

// TestCacheBudget: under a budget for two models, loading a third evicts the
// least recently used; unloading and evicted models load again on demand.
func TestCacheBudget(t *testing.T) {
	dir := t.TempDir()
	var models []modelactor.Model
	for i, name := range []string{"a", "b", "c"} {
		models = append(models, modeltest.Write(t, dir, name, onnx.MLP(4, 8, 3, uint64(i))))
	}
	size, _ := os.Stat(models[0].Path)
	m, _ := start(t, modelactor.Config{Models: models, Budgets: map[string]int64{"cpu": 2*size.Size() + 10}})
	x := tensor.FromFloat32([]int64{1, 4}, []float32{1, 2, 3, 4})
	use := func(id string) {
		t.Helper()
		if _, err := m.Infer(id, "1", x); err != nil {
			t.Fatal(err)
		}
	}
	loaded := func() string {
		var s []string
		for _, mt := range m.Metrics() {
			if mt.Loaded {
				s = append(s, mt.ID)
			}
		}
		return strings.Join(s, ",")
	}
	use("a")
	use("b")
	use("a") // b is now the least recently used
	use("c")
	if got := loaded(); got != "a,c" {
		t.Errorf("loaded after a b a c: %s, want a,c (b evicted)", got)
	}
	use("b") // back, evicting a
	if got := loaded(); got != "b,c" {
		t.Errorf("loaded: %s, want b,c", got)
	}
	if err := m.Unload("c", "1"); err != nil {
		t.Fatal(err)
	}
	if got := loaded(); got != "b" {
		t.Errorf("after unloading c: %s", got)
	}
	use("c")
	ms := map[string]modelactor.Metrics{}
	for _, mt := range m.Metrics() {
		ms[mt.ID] = mt
	}
	if a := ms["a"]; a.Loads != 1 || a.Evictions != 1 || a.Hits != 1 || a.Misses != 1 {
		t.Errorf("a: %+v", a)
	}
	if b := ms["b"]; b.Loads != 2 || b.Evictions != 1 || b.Misses != 2 {
		t.Errorf("b: %+v", b)
	}
	if c := ms["c"]; c.Loads != 2 || c.Requests != 2 || c.Runs != 2 || c.RunTime <= 0 {
		t.Errorf("c: %+v", c)
	}
	if err := m.Unload("nope", "1"); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Errorf("unloading an unknown model: %v", err)
	}

	// A model bigger than the whole budget is refused with the numbers.
	small, _ := start(t, modelactor.Config{Models: models[:1], Budgets: map[string]int64{"cpu": 100}})
	if _, err := small.Infer("a", "1", x); err == nil || !strings.Contains(err.Error(), "over the whole cpu budget of 100") {
		t.Errorf("over budget: %v", err)
	}
}

// TestDevicesAndModes: a model asking for CUDA without a CUDA provider runs
// on the CPU, says so in the log and metrics, and (like a fast-mode model)
// has its outputs flagged for recording.
func TestDevicesAndModes(t *testing.T) {
	dir := t.TempDir()
	cpu := modeltest.Write(t, dir, "mlp", onnx.MLP(4, 8, 3, 1))
	cuda, fast := cpu, cpu
	cuda.ID, cuda.Device, cuda.Eager = "gpu", modelactor.DeviceCUDA, true
	fast.ID, fast.Mode = "fast", modelactor.ModeFast
	m, logs := start(t, modelactor.Config{Models: []modelactor.Model{cpu, cuda, fast}})
	x := tensor.EncodeList(tensor.FromFloat32([]int64{1, 4}, []float32{1, 2, 3, 4}))
	res := m.Run([]modelactor.Request{{Model: "mlp", Input: x}, {Model: "gpu", Input: x}, {Model: "fast", Input: x}})
	for i, want := range []bool{false, true, true} {
		if res[i].Err() != nil {
			t.Fatal(res[i].Err())
		}
		if got := res[i].Flags&tensor.Recorded != 0; got != want {
			t.Errorf("result %d recorded=%v, want %v", i, got, want)
		}
	}
	for _, mt := range m.Metrics() {
		if mt.ID == "gpu" {
			if mt.Device != "cpu" || !strings.Contains(mt.Fallback, "cuda") {
				t.Errorf("gpu model: device %q, fallback %q", mt.Device, mt.Fallback)
			}
			t.Logf("fallback: %s", mt.Fallback)
		}
	}
	if !strings.Contains(logs.String(), "running on the cpu instead") {
		t.Errorf("the fallback is not logged: %s", logs)
	}
}

// TestStartErrors: bad declarations and eager models that cannot load stop
// Start with a message naming the model.
func TestStartErrors(t *testing.T) {
	lib := modeltest.Library(t)
	dir := t.TempDir()
	good := modeltest.Write(t, dir, "mlp", onnx.MLP(4, 8, 3, 1))
	bad := func(mut func(*modelactor.Model)) []modelactor.Model {
		m := good
		mut(&m)
		return []modelactor.Model{m}
	}
	cases := []struct {
		models []modelactor.Model
		says   string
	}{
		{bad(func(m *modelactor.Model) { m.SHA256 = "abc" }), "not 64 hex digits"},
		{bad(func(m *modelactor.Model) { m.ID = "a b" }), `model id "a b"`},
		{bad(func(m *modelactor.Model) { m.Device = "tpu" }), `device "tpu"`},
		{bad(func(m *modelactor.Model) { m.Mode = "quick" }), `mode "quick"`},
		{bad(func(m *modelactor.Model) { m.Path = "" }), "no path"},
		{bad(func(m *modelactor.Model) { m.MaxBatch = -1 }), "max_batch -1"},
		{bad(func(m *modelactor.Model) { m.MaxBatch, m.NoBatch = 4, true }), "no_batch (deprecated"},
		{append(bad(func(*modelactor.Model) {}), good), "declared twice"},
		{bad(func(m *modelactor.Model) { m.Eager, m.SHA256 = true, strings.Repeat("1", 64) }), "loading eager model mlp@1"},
	}
	for _, c := range cases {
		sys := actor.NewActorSystem()
		_, err := modelactor.Start(sys, modelactor.Config{Models: c.models, Library: lib, Logger: logrus.New()})
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("want an error saying %q, got %v", c.says, err)
		}
		sys.Shutdown()
	}
}

// TestThirdPartyModel runs a model exported by PyTorch (not written by
// Lockstep): openWakeWord's hello_deepa classifier from scripts/models.sh.
func TestThirdPartyModel(t *testing.T) {
	model := modeltest.HelloDeepa(t)
	m, _ := start(t, modelactor.Config{Models: []modelactor.Model{model}})
	for _, c := range []struct {
		fill float32
		want float32
	}{{0, 0.7113701}, {1, 0.002624631}} {
		x := make([]float32, 25*96)
		for i := range x {
			x[i] = c.fill
		}
		out, err := m.Infer("hello_deepa", "", tensor.FromFloat32([]int64{1, 25, 96}, x))
		if err != nil {
			t.Fatal(err)
		}
		got := floats(t, out)
		if len(got) != 1 || math.Abs(float64(got[0]-c.want)) > 1e-6 {
			t.Errorf("input all %v: score %v, want %v", c.fill, got, c.want)
		}
	}
}

// TestSymbolicOutput: outputs whose symbolic leading dimension is not the
// batch cannot be preallocated from the input's batch size. Transpose
// declared [batch, 4] (it is really [4, batch]) fails the preallocated run
// once; the manager then lets ONNX Runtime allocate, for this request and
// the next. Flatten declared [n] (ONNX Runtime reports no dimensions) is
// never preallocated.
func TestSymbolicOutput(t *testing.T) {
	batch := onnx.Dim{Param: "batch"}
	for _, c := range []struct {
		op    string
		attrs []onnx.Attr
		out   []onnx.Dim
		shape string
		want  []float32
	}{
		{"Transpose", nil, []onnx.Dim{batch, {Value: 4}}, "[4×2]", []float32{1, 5, 2, 6, 3, 7, 4, 8}},
		{"Flatten", []onnx.Attr{onnx.IntAttr("axis", 0)}, []onnx.Dim{{Param: "n"}}, "[1×8]", []float32{1, 2, 3, 4, 5, 6, 7, 8}},
	} {
		model := &onnx.Model{Graph: onnx.Graph{
			Name:    c.op,
			Nodes:   []onnx.Node{{Name: "n", OpType: c.op, Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: c.attrs}},
			Inputs:  []onnx.ValueInfo{{Name: "x", Shape: []onnx.Dim{batch, {Value: 4}}}},
			Outputs: []onnx.ValueInfo{{Name: "y", Shape: c.out}},
		}}
		m, _ := start(t, modelactor.Config{Models: []modelactor.Model{modeltest.Write(t, t.TempDir(), "m", model.Encode())}})
		x := []float32{1, 2, 3, 4, 5, 6, 7, 8}
		for range 2 {
			out, err := m.Infer("m", "1", tensor.FromFloat32([]int64{2, 4}, x))
			if err != nil {
				t.Fatalf("%s: %v", c.op, err)
			}
			if got := floats(t, out); !bitsEqual(got, c.want) || tensor.ShapeString(out[0].Shape) != c.shape {
				t.Fatalf("%s: %v of shape %v, want %v of %s", c.op, got, out[0].Shape, c.want, c.shape)
			}
		}
		if runs := m.Metrics()[0].Runs; runs != 2 {
			t.Errorf("%s: %d runs counted, want 2", c.op, runs)
		}
	}
}

// TestCloseWhileServing: Close waits for the calls in flight; every call
// gets its answer or ErrClosed, none hangs.
func TestCloseWhileServing(t *testing.T) {
	model := modeltest.Write(t, t.TempDir(), "mlp", onnx.MLP(4, 8, 3, 1))
	m, _ := start(t, modelactor.Config{Models: []modelactor.Model{model}})
	x := tensor.FromFloat32([]int64{1, 4}, []float32{1, 2, 3, 4})
	if _, err := m.Infer("mlp", "1", x); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := m.Infer("mlp", "1", x); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	m.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, modelactor.ErrClosed) && !strings.Contains(err.Error(), "closed") {
			t.Errorf("a call during Close: %v", err)
		}
	}
	// After Close, RunEncoded answers each request with the failure Run gives.
	checkEncoded(t, m, []modelactor.Request{{Request: 4, Model: "mlp", Inputs: []tensor.Tensor{x}}})
}

// TestOutputLimit: a request whose outputs would pass MaxOutputBytes (a
// batch of many rows for a model with wide outputs) fails with a clear
// error before anything is allocated; smaller ones are served. A scalar
// where the model takes rows is refused with the shape it takes; an empty
// batch is answered with empty outputs.
func TestOutputLimit(t *testing.T) {
	model := modeltest.Write(t, t.TempDir(), "wide", onnx.MLP(2, 4, 64, 1)) // 256 bytes of output per row
	m, _ := start(t, modelactor.Config{Models: []modelactor.Model{model}, MaxOutputBytes: 1000})
	if _, err := m.Infer("wide", "1", tensor.FromFloat32([]int64{3, 2}, make([]float32, 6))); err != nil {
		t.Fatalf("3 rows (768 bytes): %v", err)
	}
	_, err := m.Infer("wide", "1", tensor.FromFloat32([]int64{4, 2}, make([]float32, 8)))
	var te *tensor.Error
	if !errors.As(err, &te) || te.Status != tensor.RunFailed || !strings.Contains(err.Error(), "1024 bytes, the limit is 1000") {
		t.Errorf("4 rows (1024 bytes): %v", err)
	}
	_, err = m.Infer("wide", "1", tensor.Tensor{DType: tensor.Float32, Shape: nil, Data: make([]byte, 4)})
	if !errors.As(err, &te) || te.Status != tensor.BadInput || !strings.Contains(err.Error(), "must be float32 [?×2]; the request has float32 []") {
		t.Errorf("scalar: %v", err)
	}
	outs, err := m.Infer("wide", "1", tensor.FromFloat32([]int64{0, 2}, nil))
	if err != nil || len(outs) != 1 || !slices.Equal(outs[0].Shape, []int64{0, 64}) {
		t.Errorf("empty batch: %v %v", outs, err)
	}
	if _, err := m.Infer("wide", "1", tensor.FromFloat32([]int64{1, 2}, make([]float32, 2))); err != nil {
		t.Fatalf("after the refusals: %v", err)
	}

	// Unbatched answers of different sizes, and a failure among them,
	// encode as Run's do.
	var mixed []modelactor.Request
	for i, rows := range []int64{1, 3, 4, 2, 0, 3} {
		mixed = append(mixed, modelactor.Request{Request: uint32(i), Model: "wide", Inputs: []tensor.Tensor{tensor.FromFloat32([]int64{rows, 2}, make([]float32, 2*rows))}})
	}
	checkEncoded(t, m, mixed)

	// The limit is per request: a batch of 65 requests of 3 rows each is
	// served; a request of 4 rows in the same batch fails alone.
	model.ID, model.MaxBatch = "wide-batched", 128
	mb, _ := start(t, modelactor.Config{Models: []modelactor.Model{model}, MaxOutputBytes: 1000})
	var reqs []modelactor.Request
	for i := range 66 {
		rows := int64(3)
		if i == 7 {
			rows = 4
		}
		reqs = append(reqs, modelactor.Request{Request: uint32(i), Model: "wide-batched", Input: tensor.EncodeList(tensor.FromFloat32([]int64{rows, 2}, make([]float32, 2*rows)))})
	}
	checkEncoded(t, mb, reqs)
	for i, r := range mb.Run(reqs) {
		switch {
		case i == 7 && (r.Status != tensor.RunFailed || !strings.Contains(r.Error, "1024 bytes of outputs for this request, the limit is 1000")):
			t.Errorf("request 7 (4 rows): %v", r.Err())
		case i != 7 && (r.Err() != nil || r.Flags&tensor.Batched == 0):
			t.Errorf("request %d (3 rows): %v, flags %b", i, r.Err(), r.Flags)
		}
	}
}

// TestParallelTickMatchesAlone: a tick whose requests interleave three
// models (run on three workers at once, one of them batched) answers each
// request, in request order, with the bits the same request gets alone
// through Infer, tick after tick.
func TestParallelTickMatchesAlone(t *testing.T) {
	dir := t.TempDir()
	models := []modelactor.Model{
		modeltest.Write(t, dir, "a", onnx.MLP(4, 8, 3, 1)),
		modeltest.Write(t, dir, "b", onnx.MLP(4, 64, 5, 2)),
		modeltest.Write(t, dir, "c", onnx.NewConv(1, 2, 3, 2, 2, 3).Model().Encode()),
	}
	models[1].MaxBatch = 8
	m, _ := start(t, modelactor.Config{Models: models, Workers: 3})
	var reqs []modelactor.Request
	var ins []tensor.Tensor
	for i := range 12 {
		id := []string{"a", "b", "c"}[i%3]
		shape := []int64{1, 4}
		if id == "c" {
			shape = []int64{1, 1, 2, 2}
		}
		in := tensor.FromFloat32(shape, randomInput(uint64(i), 4))
		ins = append(ins, in)
		reqs = append(reqs, modelactor.Request{Request: uint32(100 + i), Model: id, Input: tensor.EncodeList(in)})
	}
	want := make([][]float32, len(reqs))
	for i, q := range reqs {
		out, err := m.Infer(q.Model, "", ins[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = floats(t, out)
	}
	for range 5 {
		checkEncoded(t, m, reqs)
		for i, r := range m.Run(reqs) {
			if r.Err() != nil || r.Request != reqs[i].Request {
				t.Fatalf("result %d: request %d, %v; want request %d", i, r.Request, r.Err(), reqs[i].Request)
			}
			if got := floats(t, r.Outputs); !bitsEqual(got, want[i]) {
				t.Errorf("result %d (%s): %v in the tick, %v alone", i, reqs[i].Model, got, want[i])
			}
		}
	}
}

// checkEncoded: RunEncoded answers reqs with the bytes Run's results encode
// to (a batched run's answers are encoded on the worker, the others after),
// and AppendEncoded appends the same answers to a slice handed back, twice,
// without touching an answer given before.
func checkEncoded(t *testing.T, m *modelactor.Manager, reqs []modelactor.Request) {
	t.Helper()
	want := tensor.EncodeAll(m.Run(reqs))
	got := m.RunEncoded(reqs)
	sameAnswers(t, "RunEncoded", got, want)
	kept := []byte("kept")
	dst := append(make([][]byte, 0, 1+len(reqs)), kept)
	for range 2 {
		dst = m.AppendEncoded(dst[:1], reqs)
		if !bytes.Equal(dst[0], kept) {
			t.Fatalf("AppendEncoded changed the slice's first element to %x", dst[0])
		}
		sameAnswers(t, "AppendEncoded", dst[1:], want)
	}
	sameAnswers(t, "RunEncoded, after AppendEncoded", got, want)
}

func sameAnswers(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	for i := range want {
		if i < len(got) && !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s's answer %d: %x; Run's, encoded: %x", what, i, got[i], want[i])
			return
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s gave %d answers for %d requests", what, len(got), len(want))
	}
}
