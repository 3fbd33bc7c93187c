package wasmagent

import (
	"maps"
	"slices"
)

// DispatchedExports lists, sorted, the exports m's instances call through
// the rewrite's dispatch function (for the external tests).
func DispatchedExports(m *Module) []string { return slices.Sorted(maps.Keys(m.dispatch)) }
