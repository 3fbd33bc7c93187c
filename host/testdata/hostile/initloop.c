/* initloop: agent_init never returns (the instantiation budget). */
#include "lockstep.h"

LOCKSTEP_AGENT()

static volatile uint64_t sink;

LS_AGENT_INIT {
	for (;;) sink++;
}
