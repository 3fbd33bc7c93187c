package modelactor_test

import (
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// TestCollector: the Prometheus collector exports each model version's
// counters, resident bytes and histograms with model and version labels,
// under names promlint accepts; a closed manager exports nothing.
func TestCollector(t *testing.T) {
	dir := t.TempDir()
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	l := logrus.New()
	l.SetOutput(testWriter{t})
	models := []modelactor.Model{modeltest.Write(t, dir, "fast", []byte("fast")), modeltest.Write(t, dir, "idle", []byte("idle"))}
	m, err := modelactor.Start(sys, modelactor.Config{Models: models, Backend: newGateBackend(), Logger: l})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := tensor.EncodeList()
	for _, r := range m.Run([]modelactor.Request{{Model: "fast", Input: in}, {Model: "fast", Input: in}, {Model: "nope", Input: in}}) {
		if r.Err() != nil && r.Status != tensor.UnknownModel {
			t.Fatal(r.Err())
		}
	}
	c := m.Collector()
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %+v", err, problems)
	}
	want := `
# HELP lockstep_model_hits_total Requests that found the model loaded.
# TYPE lockstep_model_hits_total counter
lockstep_model_hits_total{model="fast",version="1"} 1
lockstep_model_hits_total{model="idle",version="1"} 0
# HELP lockstep_model_loads_total Sessions opened for the model.
# TYPE lockstep_model_loads_total counter
lockstep_model_loads_total{model="fast",version="1"} 1
lockstep_model_loads_total{model="idle",version="1"} 0
# HELP lockstep_model_misses_total Requests that had to load the model.
# TYPE lockstep_model_misses_total counter
lockstep_model_misses_total{model="fast",version="1"} 1
lockstep_model_misses_total{model="idle",version="1"} 0
# HELP lockstep_model_resident_bytes Bytes the loaded model counts against its device's budget (0 when not loaded).
# TYPE lockstep_model_resident_bytes gauge
lockstep_model_resident_bytes{model="fast",version="1"} 4
lockstep_model_resident_bytes{model="idle",version="1"} 0
# HELP lockstep_model_runs_total ONNX Runtime runs of the model (a batch is one run).
# TYPE lockstep_model_runs_total counter
lockstep_model_runs_total{model="fast",version="1"} 2
lockstep_model_runs_total{model="idle",version="1"} 0
`
	names := []string{"lockstep_model_hits_total", "lockstep_model_loads_total", "lockstep_model_misses_total", "lockstep_model_resident_bytes", "lockstep_model_runs_total"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hists := map[string]bool{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			h := mt.GetHistogram()
			if h == nil || mt.GetLabel()[0].GetValue() != "fast" {
				continue
			}
			hists[f.GetName()] = true
			if h.GetSampleCount() != 2 {
				t.Errorf("%s: %d samples, want 2 (two runs of one request)", f.GetName(), h.GetSampleCount())
			}
			if f.GetName() == "lockstep_model_batch_size" && (h.GetSampleSum() != 2 || h.GetBucket()[0].GetCumulativeCount() != 2) {
				t.Errorf("batch sizes: sum %v, first bucket %v; want two runs of 1", h.GetSampleSum(), h.GetBucket()[0])
			}
		}
	}
	if len(hists) != 3 {
		t.Errorf("histograms of the fast model: %v, want run duration, batch size and queue duration", hists)
	}

	m.Close()
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("a closed manager exports %d metrics", n)
	}
}
