/* deadletters: sends to a thousand agents that do not exist, every tick:
 * the tick's record holds one aggregated event. */
#include "lockstep.h"

LOCKSTEP_AGENT()

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (int i = 0; i < 1000; i++) {
		char name[32];
		ls_buf b = ls_buf_make(name, sizeof name);
		ls_buf_u64(ls_buf_str(&b, "ghost"), (uint64_t)i);
		lockstep_send(name, b.len, "boo", 3);
	}
	return LS_OK;
}
