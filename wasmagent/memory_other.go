//go:build !linux

package wasmagent

import "errors"

const canMap = false

var errNoMap = errors.New("wasmagent: no memory mapping on this platform")

func mapMemory(uint64) ([]byte, error) { return nil, errNoMap }
func unmapMemory([]byte)               {}
func releaseMemory([]byte) error       { return errNoMap }

// memoryFile: memory files need Linux's memfd (see memory_linux.go).
type memoryFile struct{ size uint64 }

func newMemoryFile(string, []MemoryRun) (*memoryFile, error) { return nil, errNoMap }
func (*memoryFile) close()                                   {}
func mapFile([]byte, *memoryFile) error                      { return errNoMap }
func unmapFile([]byte) error                                 { return errNoMap }
