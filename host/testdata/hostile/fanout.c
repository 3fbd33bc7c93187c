/* fanout: publishes on "news", which every agent of the suite joins, in an
 * endless loop of small messages: each publish delivers one message per
 * member (quota deliveries_per_tick at the barrier, or actions_per_tick). */
#include "lockstep.h"

LOCKSTEP_AGENT()

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (int i = 0; i < 1000; i++) ls_publish("news", "x", 1);
	return LS_OK;
}
