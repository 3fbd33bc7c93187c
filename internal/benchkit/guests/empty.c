/* empty: the cheapest agent there is. Every hook returns LS_OK and does
 * nothing else, so a step costs only the host's side of the call (writing
 * the context, agent_alloc, agent_step) and the barrier. Benchmarks measure
 * the per-step, per-tick, spawn and memory overhead of WebAssembly agents
 * with it (internal/benchkit/wasm.go). Built by internal/guests.BuildDir:
 * freestanding wasm32, no libc, hence the header's relative path. */
#include "../../../sdk/c/lockstep.h"

LOCKSTEP_AGENT()

LS_AGENT_INIT { return LS_OK; }

LS_AGENT_RECEIVE(msg) {
	(void)msg;
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	(void)ctx;
	return LS_OK;
}

LS_AGENT_SHUTDOWN { return LS_OK; }
