package wasmagent

import (
	"maps"
	"slices"
)

// DispatchedExports lists, sorted, the exports m's instances call through
// the rewrite's dispatch function (for the external tests).
func DispatchedExports(m *Module) []string { return slices.Sorted(maps.Keys(m.dispatch)) }

// NoMemoryFiles makes rt's instances copy their module's data instead of
// mapping its memory file.
func NoMemoryFiles(rt *Runtime) {
	if rt.memory != nil {
		rt.memory.maxFiled = 0
	}
}

// MemoryFilesMapped is the number of rt's memories a memory file is mapped
// over now.
func MemoryFilesMapped(rt *Runtime) int {
	if rt.memory == nil {
		return 0
	}
	rt.memory.mu.Lock()
	defer rt.memory.mu.Unlock()
	return rt.memory.filed
}

// HasImageFile says whether m's image has a memory file.
func HasImageFile(m *Module) bool { return m.imageFile != nil }
