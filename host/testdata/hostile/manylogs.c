/* manylogs: logs short lines in an endless loop (quota actions_per_tick). */
#include "lockstep.h"

LOCKSTEP_AGENT()

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (;;) ls_info("spam");
}
