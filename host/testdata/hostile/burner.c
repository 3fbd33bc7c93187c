/* burner: sends itself 1000 messages a tick and burns fuel in every
 * agent_receive: each call alone stays within any per-call budget, their
 * sum does not (fuel is per tick). */
#include "lockstep.h"

LOCKSTEP_AGENT()

static volatile uint64_t sink;

LS_AGENT_RECEIVE(msg) {
	(void)msg;
	for (uint32_t i = 0; i < 20000; i++) sink += i;
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	uint32_t n;
	const char *self = ls_ctx_self(ctx, &n);
	for (int i = 0; i < 1000; i++) lockstep_send(self, n, "x", 1);
	return LS_OK;
}
