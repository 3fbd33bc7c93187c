//go:build wasip1

package sharedinit

// declare is never called: its export is the declaration.
//
//go:wasmexport lockstep_shared_init
func declare() {}
