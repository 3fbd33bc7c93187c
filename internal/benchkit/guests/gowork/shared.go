//go:build wasip1 && sharedinit

package main

// Built with -tags sharedinit (benchkit.GuestGoShared), gowork declares
// shared initialisation: its agents start from the module's image.
import _ "github.com/lockstep-rt/lockstep/sdk/go/lockstep/sharedinit"
