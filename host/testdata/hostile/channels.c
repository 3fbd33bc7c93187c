/* channels: joins 50 new channels every tick (quota channels, reached
 * after a few ticks: memberships last across ticks). */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint64_t next;

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (int i = 0; i < 50; i++) {
		char name[32];
		ls_buf b = ls_buf_make(name, sizeof name);
		ls_buf_u64(ls_buf_str(&b, "ch"), next++);
		lockstep_join(name, b.len);
	}
	return LS_OK;
}
