/* statebytes: writes 1 MiB regions, a few new ones each tick, so its state
 * grows until the state_bytes quota stops it. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint8_t big[1 << 20];
static uint64_t next;

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (int i = 0; i < 3; i++) {
		char name[32];
		ls_buf b = ls_buf_make(name, sizeof name);
		ls_buf_u64(ls_buf_str(&b, "blob"), next++);
		lockstep_state_write(name, b.len, big, sizeof big);
	}
	return LS_OK;
}
