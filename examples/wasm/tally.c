/* tally: joins channel "labels" and counts the classes the classifiers
 * publish there (one byte each); every step it writes its state region
 * "tally" (three little-endian u32 counts) and every 50 ticks logs them. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint32_t counts[3];

LS_AGENT_INIT {
	for (int i = 0; i < 3; i++) counts[i] = 0;
	return ls_join("labels");
}

LS_AGENT_RECEIVE(msg) {
	uint32_t n;
	const uint8_t *p = ls_msg_payload(msg, &n);
	if (n == 1 && p[0] < 3) counts[p[0]]++;
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	if (ctx->tick > 0 && ctx->tick % 50 == 0) {
		char line[128];
		ls_buf b = ls_buf_make(line, sizeof line);
		ls_buf_str(&b, "labels so far:");
		for (int i = 0; i < 3; i++) {
			ls_buf_str(&b, " class ");
			ls_buf_u64(&b, (uint64_t)i);
			ls_buf_str(&b, "=");
			ls_buf_u64(&b, counts[i]);
		}
		ls_log_buf(LS_LOG_INFO, &b);
	}
	return ls_state_write("tally", counts, sizeof counts);
}
