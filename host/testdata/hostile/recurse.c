/* recurse: recurses every step, to a depth that varies with the tick (up
 * to 900 levels, inside the limit), and without end every fifth tick: the
 * call depth limit stops it there, with the same failure on wazero's
 * compiler and interpreter and on every CPU. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static volatile uint64_t sink;

static uint64_t down(uint64_t n, uint64_t acc) {
	volatile uint64_t pad[4] = {n, acc, n ^ acc, n + acc};
	if (n == 0) return acc + pad[2];
	return down(n - 1, acc * 31 + pad[3]) + pad[0];
}

static uint64_t forever(uint64_t n) {
	volatile uint64_t pad[4] = {n, n, n, n};
	return forever(n + 1) + pad[1];
}

LS_AGENT_STEP(ctx) {
	uint64_t t = ls_ctx_tick(ctx);
	if (t % 5 == 4) sink = forever(0);
	uint8_t b[8];
	ls_put_u64le(b, down((t * 37) % 900, t));
	return ls_state_write("depth", b, sizeof b);
}
