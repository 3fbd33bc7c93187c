//go:build unix

package benchkit

import "syscall"

// cpuTime is the CPU time (user + system) of this process (children
// false) or of its children that have been waited for (children true),
// in nanoseconds.
func cpuTime(children bool) float64 {
	who := syscall.RUSAGE_SELF
	if children {
		who = syscall.RUSAGE_CHILDREN
	}
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}
