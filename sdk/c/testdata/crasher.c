/* crasher: a test agent that gives up with ls_abort at every step from
 * tick 5 on: the root group restarts it 10 times, and its 11th failure (at
 * t15) escalates past the root and halts the run. Grants: log. */
#include "lockstep.h"

LOCKSTEP_AGENT()

LS_AGENT_STEP(ctx) {
	if (ls_ctx_tick(ctx) >= 5) ls_abort("crasher: giving up");
	return LS_OK;
}
