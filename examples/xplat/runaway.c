/* runaway: on every EVERY-th step of an incarnation it recurses without
 * bound; its other steps recurse a little and succeed. What stops the
 * runaway step is the runtime's business, and must be the same on every CPU
 * and wazero engine: Lockstep's call-depth limit (wasmagent/meter), which
 * traps at the same call everywhere. Without it, wazero's own limits stop
 * it, and they differ: the interpreter at about 2000 frames ("stack
 * overflow"), the compiler only when its stack would pass tens of MB, so
 * that the agent's fuel (wasm.fuel of its module) runs out first. Its
 * supervisor restarts it. */
#include "lockstep.h"

#ifndef EVERY
#define EVERY 5
#endif

LOCKSTEP_AGENT()

static uint64_t down(uint64_t n);
static uint64_t (*volatile next)(uint64_t) = down;

__attribute__((noinline)) static uint64_t down(uint64_t n) {
	if (n == 0) return 1;
	return next(n - 1) * 3 + n;
}

static uint32_t steps; /* in this incarnation */

LS_AGENT_INIT {
	steps = 0;
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	uint64_t depth = ++steps % EVERY == 0 ? ~0ull : ls_ctx_tick(ctx) % 50;
	uint64_t r = next(depth);
	return ls_publish("depth", &r, sizeof r);
}
