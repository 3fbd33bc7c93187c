package modelactor

import (
	"slices"
	"time"
)

// stats are a model version's counters and histograms.
type stats struct {
	Metrics
	// runSeconds is the wall time of each run, batchSize the requests each
	// run served, queueSeconds each request's wait from Manager.Run to the
	// start of its run (resolving, loading, the worker's earlier jobs).
	runSeconds, batchSize, queueSeconds histogram
}

func (s stats) clone() stats {
	s.runSeconds, s.batchSize, s.queueSeconds = s.runSeconds.clone(), s.batchSize.clone(), s.queueSeconds.clone()
	return s
}

// Bucket upper bounds of the histograms: durations from 10 µs to about
// 16 s (×3 each), batch sizes from 1 to MaxBatchLimit (×2 each).
var (
	secondsBuckets = exponential(1e-5, 3, 14)
	batchBuckets   = exponential(1, 2, 17)
)

func exponential(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// histogram counts observations per bucket (counts[i]: those at most
// bounds[i], not cumulative; the last count is above every bound).
type histogram struct {
	counts []uint64
	sum    float64
	n      uint64
}

// observe counts n observations of v.
func (h *histogram) observe(bounds []float64, v float64, n int) {
	if h.counts == nil {
		h.counts = make([]uint64, len(bounds)+1)
	}
	i, _ := slices.BinarySearch(bounds, v)
	h.counts[i] += uint64(n)
	h.sum += v * float64(n)
	h.n += uint64(n)
}

// observeDuration counts n observations of d, in seconds.
func (h *histogram) observeDuration(d time.Duration, n int) {
	h.observe(secondsBuckets, d.Seconds(), n)
}

func (h histogram) clone() histogram {
	h.counts = slices.Clone(h.counts)
	return h
}

// cumulative returns the count of observations at most each bound.
func (h histogram) cumulative(bounds []float64) map[float64]uint64 {
	out := make(map[float64]uint64, len(bounds))
	var c uint64
	for i, b := range bounds {
		if i < len(h.counts) {
			c += h.counts[i]
		}
		out[b] = c
	}
	return out
}
