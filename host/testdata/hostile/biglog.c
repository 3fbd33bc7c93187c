/* biglog: logs an 8 MiB line every step (quota log_line_bytes). */
#include "lockstep.h"

LOCKSTEP_AGENT()

static char line[8 << 20];

LS_AGENT_STEP(ctx) {
	(void)ctx;
	for (uint32_t i = 0; i < sizeof line; i += 4096) line[i] = 'x';
	for (;;) ls_log_n(LS_LOG_INFO, line, sizeof line);
}
