// Package sharedinit declares, by being imported, that the Go agent's
// module may start every agent from one pre-initialised image: the host
// runs the Go runtime's start-up and the package initialisers (the module's
// `_initialize`) once per module, not once per agent. Import it for its
// effect:
//
//	import _ "github.com/lockstep-rt/lockstep/sdk/go/lockstep/sharedinit"
//
// It exports lockstep_shared_init (sdk/ABI.md, "Shared initialisation").
// The price: while `_initialize` runs, WASI's random source reads zeros and
// its clocks read tick 0 for every agent, and Go's runtime seeds itself
// there, so every agent of the module has the same map hash seeds and the
// same math/rand (and math/rand/v2) top-level streams. An agent that needs a
// random stream of its own reads Context.Random (the agent's, seeded by the
// run, its id and the tick) or crypto/rand (WASI's, the agent's own from
// agent_init on). In package initialisers crypto/rand reads zeros, the same
// for every agent (a package-level key or nonce made there is zero), and
// time.Now() is tick 0 (2022-01-01T00:00:00Z), not the spawn tick. Package
// initialisers must not depend on which agent runs them: the config and
// other host functions are the agent's, so a module whose initialisers call
// them gets no image (and still runs correctly).
//
// Spawning a Go agent (gowork) takes about 2 ms without an image and 0.7 ms
// with one, and holds 685 KiB of memory of its own without and 155 KiB with
// (proportional set size; docs/BENCHMARKS.md).
//
// The package is empty except for GOOS=wasip1.
package sharedinit
