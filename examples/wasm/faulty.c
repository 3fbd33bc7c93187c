/* faulty: traps (wasm `unreachable`) on the 7th step of every incarnation;
 * steps before that succeed. */
#include "lockstep.h"

#define TRAP_AT 7

LOCKSTEP_AGENT()

static uint32_t steps; /* steps in this incarnation */

LS_AGENT_INIT {
	steps = 0;
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	(void)ctx;
	if (++steps == TRAP_AT) __builtin_trap();
	return LS_OK;
}
