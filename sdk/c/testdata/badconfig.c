/* badconfig: a test agent that asks for its config into a buffer outside
 * its memory at tick 3: the host answers LS_ERR_OUT_OF_BOUNDS, and the
 * agent fails by returning it. Needs no grants. */
#include "lockstep.h"

LOCKSTEP_AGENT()

LS_AGENT_STEP(ctx) {
	char buf[16];
	int32_t n = ls_config(ls_ctx_tick(ctx) == 3 ? (void *)0x7ffffff0u : buf, sizeof buf);
	return n < 0 ? n : LS_OK;
}
