/* aborter: a test agent that gives up with ls_abort at tick 5, from a
 * function of its own: the message is logged at error level and quoted in
 * the failure's reason, and the stack trace names the function. Grants:
 * log. */
#include "lockstep.h"

LOCKSTEP_AGENT()

__attribute__((noinline)) static void check_config(uint64_t tick) {
	if (tick == 5) ls_abort("config: rate is missing");
}

LS_AGENT_STEP(ctx) {
	check_config(ls_ctx_tick(ctx));
	return LS_OK;
}
