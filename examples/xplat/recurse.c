/* recurse: every step recurses to a depth that varies with the tick, from 1
 * to MAX_DEPTH, and publishes the result on channel "depth". MAX_DEPTH is
 * well inside every limit: wazero's interpreter stops at about 2000 frames,
 * its compiler far deeper, and Lockstep's own call-depth limit is 1000
 * (wasmagent/meter: DefaultMaxCallDepth). The recursion goes through a
 * volatile function pointer (call_indirect), so clang can neither inline
 * it nor turn it into a loop; its frames hold no locals in linear memory,
 * so only the engine's call stack grows. */
#include "lockstep.h"

#ifndef MAX_DEPTH
#define MAX_DEPTH 600
#endif

LOCKSTEP_AGENT()

static uint64_t down(uint32_t n);
static uint64_t (*volatile next)(uint32_t) = down;

__attribute__((noinline)) static uint64_t down(uint32_t n) {
	if (n == 0) return 0x9e3779b97f4a7c15ull;
	uint64_t h = next(n - 1);
	return (h ^ n) * 0x100000001b3ull;
}

LS_AGENT_STEP(ctx) {
	uint64_t t = ls_ctx_tick(ctx);
	uint32_t depth = 1 + (uint32_t)((t * 7919) % MAX_DEPTH);
	uint64_t out[2] = {depth, next(depth)};
	return ls_publish("depth", out, sizeof out);
}
