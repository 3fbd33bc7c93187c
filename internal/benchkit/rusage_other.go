//go:build !unix

package benchkit

// cpuTime is not measured here: the CPU metrics of the federation
// benchmarks read 0.
func cpuTime(bool) float64 { return 0 }
