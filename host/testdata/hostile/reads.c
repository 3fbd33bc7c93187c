/* reads: calls state_read in an endless loop (no quota: fuel, which every
 * host call pays, bounds it). */
#include "lockstep.h"

LOCKSTEP_AGENT()

LS_AGENT_STEP(ctx) {
	(void)ctx;
	char buf[16];
	for (;;) ls_state_read("nobody", "nothing", buf, sizeof buf);
}
