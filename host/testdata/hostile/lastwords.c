/* lastwords: logs a 4000-byte error line, then traps: the failure's reason
 * quotes the line, clipped. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static char line[4000];

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (uint32_t i = 0; i < sizeof line; i++) line[i] = (char)('a' + i % 26);
	ls_log_n(LS_LOG_ERROR, line, sizeof line);
	__builtin_trap();
}
