/* bigsend: sends itself 1 MiB messages in a loop, every step (quota
 * bytes_per_tick). */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint8_t big[1 << 20];

LS_AGENT_STEP(ctx) {
	uint32_t n;
	const char *self = ls_ctx_self(ctx, &n);
	for (;;) lockstep_send(self, n, big, sizeof big);
}
