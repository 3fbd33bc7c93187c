/* counter with a bug: from its second message on it counts each message
 * twice. The "after" of the diff test: its run diverges from v1's at the
 * tick after the second input, in what it publishes. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint64_t count;

LS_AGENT_INIT {
	count = 0;
	return LS_OK;
}

LS_AGENT_RECEIVE(msg) {
	(void)msg;
	count += count >= 1 ? 2 : 1;
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	(void)ctx;
	uint8_t b[8];
	ls_put_u64le(b, count);
	int32_t rc = ls_publish("counts", b, sizeof b);
	if (rc != LS_OK) return rc;
	return ls_state_write("count", b, sizeof b);
}
