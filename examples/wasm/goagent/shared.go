//go:build wasip1 && sharedinit

package main

// Built with -tags sharedinit (scripts/guests.sh: goagent-shared.wasm), the
// agent declares shared initialisation: every agent of the module starts
// from one image of the Go runtime's start-up (sdk/ABI.md).
import _ "github.com/lockstep-rt/lockstep/sdk/go/lockstep/sharedinit"
