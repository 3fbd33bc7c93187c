//go:build cgo

package observe_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// asker asks model mlp@1 about a random vector every tick and ignores the
// answers.
type asker struct{}

func (asker) Init(agent.Context) error                   { return nil }
func (asker) Receive(agent.Context, agent.Message) error { return nil }
func (asker) Shutdown(agent.Context) error               { return nil }
func (asker) Step(ctx agent.Context) error {
	x := make([]float32, 4)
	for i := range x {
		x[i] = float32(ctx.Rand().IntN(2000)-1000) / 500
	}
	_, err := ctx.Infer("mlp", "1", tensor.EncodeList(tensor.FromFloat32([]int64{1, 4}, x)))
	return err
}

func TestModelMetrics(t *testing.T) {
	model := modeltest.Write(t, t.TempDir(), "mlp", onnx.MLP(4, 8, 3, 9))
	model.MaxBatch = 3 // batching is opt-in; this test counts batched runs
	h, err := host.New(host.Options{
		Seed: 1, Logger: quiet(), Models: []host.Model{model},
		Kinds:     map[string]host.Factory{"asker": func(string, []byte) (agent.Agent, error) { return asker{}, nil }},
		Inference: host.InferenceConfig{Library: modeltest.Library(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := range 3 {
		if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "asker"}); err != nil {
			t.Fatal(err)
		}
	}
	obs := observe.New("models", h)
	const ticks = 10
	for range ticks {
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		obs.Publish(r)
	}
	s := obs.Snapshot()
	if s.Counts.Inferences != 3*ticks {
		t.Fatalf("inferences = %d, want %d", s.Counts.Inferences, 3*ticks)
	}
	if len(s.Models) != 1 {
		t.Fatalf("models = %+v", s.Models)
	}
	m := s.Models[0]
	// The requests of tick t are answered at its barrier.
	if m.ID != "mlp" || m.Version != "1" || !m.Loaded || m.Requests != 3*ticks || m.Runs != ticks || m.Batched != 3*ticks || m.Errors != 0 {
		t.Fatalf("model = %+v", m)
	}
	rec := httptestGet(t, obs, "/metrics")
	for _, line := range []string{
		fmt.Sprintf("lockstep_inferences_total %d", 3*ticks),
		fmt.Sprintf(`lockstep_model_requests_total{model="mlp",version="1"} %d`, 3*ticks),
		fmt.Sprintf(`lockstep_model_runs_total{model="mlp",version="1"} %d`, ticks),
		fmt.Sprintf(`lockstep_model_batched_total{model="mlp",version="1"} %d`, 3*ticks),
		`lockstep_model_errors_total{model="mlp",version="1"} 0`,
		`lockstep_model_loaded{model="mlp",version="1"} 1`,
	} {
		if !containsLine(rec, line) {
			t.Errorf("/metrics lacks %q:\n%s", line, rec)
		}
	}
	// The model manager's collector: loads, cache hits and misses, and
	// histograms of run latency, batch size and queue time.
	for _, name := range []string{"lockstep_model_run_seconds_total", "lockstep_model_loads_total", "lockstep_model_hits_total",
		"lockstep_model_misses_total", "lockstep_model_evictions_total", "lockstep_model_resident_bytes",
		"lockstep_model_run_duration_seconds_bucket", "lockstep_model_batch_size_sum", "lockstep_model_queue_duration_seconds_count"} {
		if !strings.Contains(rec, name+`{model="mlp",version="1"`) {
			t.Errorf("/metrics lacks %s:\n%s", name, rec)
		}
	}
	_, dashboard := dashboardMetrics(t)
	dashboardFinds(t, rec, dashboard)
	lintMetrics(t, rec)
}
