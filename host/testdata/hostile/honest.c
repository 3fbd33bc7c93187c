/* honest: the well-behaved agent of the hostile-agent suite. Each step it
 * sends the tick to its peer (its id with the last character swapped
 * between a and b), publishes the sum of what it received on "news" and
 * keeps that sum in its state region "sum". */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint64_t sum;

LS_AGENT_RECEIVE(msg) {
	uint32_t n;
	const uint8_t *p = ls_msg_payload(msg, &n);
	if (n == 8) sum += ls_get_u64le(p);
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	uint32_t n;
	const char *self = ls_ctx_self(ctx, &n);
	char peer[64];
	if (n == 0 || n > sizeof peer) return 1;
	__builtin_memcpy(peer, self, n);
	peer[n - 1] = peer[n - 1] == 'a' ? 'b' : 'a';
	uint8_t b[8];
	ls_put_u64le(b, ls_ctx_tick(ctx));
	int32_t rc = lockstep_send(peer, n, b, sizeof b);
	if (rc != LS_OK) return rc;
	ls_put_u64le(b, sum);
	if ((rc = ls_publish("news", b, sizeof b)) != LS_OK) return rc;
	return ls_state_write("sum", b, sizeof b);
}
