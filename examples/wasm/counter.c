/* counter: counts the messages it receives; every step it publishes the count
 * on channel "counts" and writes it to its state region "count". Both carry
 * the count as 8 bytes, a little-endian u64. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint64_t count;

LS_AGENT_INIT {
	count = 0;
	return LS_OK;
}

LS_AGENT_RECEIVE(msg) {
	(void)msg;
	count++;
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
