/* pinger: every step sends "ping N" (N = 1, 2, ...) to PEER and logs each
 * message it receives as "reply from <sender>: <payload>". */
#include "lockstep.h"

#ifndef PEER
#define PEER "pong" /* override with -DPEER='"other"' */
#endif

LOCKSTEP_AGENT()

static uint64_t sent;

LS_AGENT_INIT {
	sent = 0;
	return LS_OK;
}

LS_AGENT_RECEIVE(msg) {
	uint32_t from_len, n;
	const char *from = ls_msg_from(msg, &from_len);
	const uint8_t *p = ls_msg_payload(msg, &n);
	char line[256];
	ls_buf b = ls_buf_make(line, sizeof line);
	ls_buf_str(&b, "reply from ");
	ls_buf_bytes(&b, from, from_len);
	ls_buf_str(&b, ": ");
	ls_buf_bytes(&b, p, n);
	ls_log_buf(LS_LOG_INFO, &b);
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	(void)ctx;
	char text[32];
	ls_buf b = ls_buf_make(text, sizeof text);
	ls_buf_u64(ls_buf_str(&b, "ping "), ++sent);
	return ls_send(PEER, b.p, b.len);
}
