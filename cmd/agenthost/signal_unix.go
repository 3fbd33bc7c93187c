//go:build unix

package main

import (
	"os/signal"
	"syscall"
)

// ignoreFileSizeSignal makes a write past RLIMIT_FSIZE fail with EFBIG
// instead of killing the process: the daemon reports it and stops
// accepting input, losing nothing acknowledged.
func ignoreFileSizeSignal() { signal.Ignore(syscall.SIGXFSZ) }
