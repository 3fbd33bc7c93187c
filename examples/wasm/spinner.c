/* spinner: agent_step never returns, so every step exhausts its fuel. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static volatile uint32_t spins; /* volatile: the loop cannot be optimised away */

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (;;) spins++;
}
