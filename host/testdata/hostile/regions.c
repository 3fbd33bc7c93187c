/* regions: writes new state regions in an endless loop, a thousand a tick
 * and more (quota state_regions). */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint64_t next;

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (;;) {
		char name[32];
		ls_buf b = ls_buf_make(name, sizeof name);
		ls_buf_u64(ls_buf_str(&b, "r"), next++);
		lockstep_state_write(name, b.len, "v", 1);
	}
}
