/* Reads its config with lockstep.config on command. A message's payload is
 * (ptr u32, cap u32, publish u8): it calls config(ptr, cap), ptr 0 standing
 * for a buffer of its own, and with publish set publishes on "out" the
 * returned i32 followed by the bytes the call copied (min(returned, cap)
 * when it copied into its own buffer). */
#include "abi.h"
IMPORT("config") int32_t ls_config(void *buf, uint32_t cap);
static unsigned char buf[8192], out[4 + sizeof buf];
EXPORT("agent_init") int32_t agent_init(void) { return 0; }
EXPORT("agent_receive") int32_t agent_receive(int32_t msg) {
	const uint32_t *h = (const uint32_t *)(uintptr_t)msg;
	const unsigned char *p = (const unsigned char *)(uintptr_t)h[6];
	if (h[7] < 9) return 1;
	uint32_t ptr, cap;
	__builtin_memcpy(&ptr, p, 4);
	__builtin_memcpy(&cap, p + 4, 4);
	int publish = p[8];
	void *dst = ptr ? (void *)(uintptr_t)ptr : (void *)buf;
	int32_t n = ls_config(dst, cap);
	if (!publish) return 0;
	uint32_t copied = 0;
	if (dst == buf && n > 0) copied = (uint32_t)n < cap ? (uint32_t)n : cap;
	if (copied > sizeof buf) copied = sizeof buf;
	__builtin_memcpy(out, &n, 4);
	volatile unsigned char *o = out + 4; /* not a memcpy call: there is no libc */
	for (uint32_t i = 0; i < copied; i++) o[i] = buf[i];
	return ls_publish("out", 3, out, 4 + copied);
}
EXPORT("agent_step") int32_t agent_step(int32_t ctx) { return 0; }
EXPORT("agent_shutdown") int32_t agent_shutdown(void) { return 0; }
