//go:build !linux

package wasmagent

import "errors"

const canMap = false

var errNoMap = errors.New("wasmagent: no memory mapping on this platform")

func mapMemory(uint64) ([]byte, error) { return nil, errNoMap }
func unmapMemory([]byte)               {}
func releaseMemory([]byte) error       { return errNoMap }
