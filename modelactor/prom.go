package modelactor

import "github.com/prometheus/client_golang/prometheus"

// Prometheus metrics of the model manager, labelled by model id and
// version (Manager.Collector).
var (
	promLabels      = []string{"model", "version"}
	promDesc        = func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, promLabels, nil) }
	promLoads       = promDesc("lockstep_model_loads_total", "Sessions opened for the model.")
	promEvictions   = promDesc("lockstep_model_evictions_total", "Unloads of the model to make room under its device's memory budget.")
	promHits        = promDesc("lockstep_model_hits_total", "Requests that found the model loaded.")
	promMisses      = promDesc("lockstep_model_misses_total", "Requests that had to load the model.")
	promRequests    = promDesc("lockstep_model_requests_total", "Requests for the model.")
	promErrors      = promDesc("lockstep_model_errors_total", "Requests for the model answered with an error.")
	promRuns        = promDesc("lockstep_model_runs_total", "ONNX Runtime runs of the model (a batch is one run).")
	promBatched     = promDesc("lockstep_model_batched_total", "Requests served by a batched run.")
	promRunTotal    = promDesc("lockstep_model_run_seconds_total", "Wall time spent in ONNX Runtime runs.")
	promResident    = promDesc("lockstep_model_resident_bytes", "Bytes the loaded model counts against its device's budget (0 when not loaded).")
	promLoaded      = promDesc("lockstep_model_loaded", "1 when the model is loaded, else 0.")
	promRunSeconds  = promDesc("lockstep_model_run_duration_seconds", "Wall time of each ONNX Runtime run.")
	promBatchSize   = promDesc("lockstep_model_batch_size", "Requests served by each run.")
	promQueue       = promDesc("lockstep_model_queue_duration_seconds", "Each request's wait from Manager.Run to the start of its run.")
	promDescriptors = []*prometheus.Desc{promLoads, promEvictions, promHits, promMisses, promRequests, promErrors,
		promRuns, promBatched, promRunTotal, promResident, promLoaded, promRunSeconds, promBatchSize, promQueue}
)

// Collector returns a Prometheus collector of the manager's metrics: per
// model version, the counters of Metrics (lockstep_model_*_total), whether
// it is loaded and its resident bytes, and histograms of run latency,
// batch size and queue time.
// Each scrape asks the manager actor for a snapshot; a closed manager
// yields no metrics.
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range promDescriptors {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.m.stats() {
		labels := []string{s.ID, s.Version}
		for _, x := range []struct {
			d *prometheus.Desc
			v uint64
		}{{promLoads, s.Loads}, {promEvictions, s.Evictions}, {promHits, s.Hits}, {promMisses, s.Misses},
			{promRequests, s.Requests}, {promErrors, s.Errors}, {promRuns, s.Runs}, {promBatched, s.Batched}} {
			ch <- prometheus.MustNewConstMetric(x.d, prometheus.CounterValue, float64(x.v), labels...)
		}
		ch <- prometheus.MustNewConstMetric(promRunTotal, prometheus.CounterValue, s.RunTime.Seconds(), labels...)
		loaded := 0.0
		if s.Loaded {
			loaded = 1
		}
		ch <- prometheus.MustNewConstMetric(promResident, prometheus.GaugeValue, float64(s.Bytes), labels...)
		ch <- prometheus.MustNewConstMetric(promLoaded, prometheus.GaugeValue, loaded, labels...)
		for _, h := range []struct {
			d      *prometheus.Desc
			h      histogram
			bounds []float64
		}{{promRunSeconds, s.runSeconds, secondsBuckets}, {promBatchSize, s.batchSize, batchBuckets}, {promQueue, s.queueSeconds, secondsBuckets}} {
			ch <- prometheus.MustNewConstHistogram(h.d, h.h.n, h.h.sum, h.h.cumulative(h.bounds), labels...)
		}
	}
}
