/* Faults on command: the payload's first byte says which.
 * 't' trap, 'l' endless loop, 's' shadow-stack overflow, 'g' grow memory until it
 * fails (then report -1 via a non-zero return), 'r' return code 3,
 * 'b' a send with an out-of-bounds pointer (must return -3). */
#include "abi.h"
static volatile int32_t sink;
static int32_t deep(int32_t n) { volatile char pad[256]; pad[0] = (char)n; return n == 0 ? 0 : deep(n + 1) + pad[0]; }
EXPORT("agent_init") int32_t agent_init(void) { return 0; }
EXPORT("agent_receive") int32_t agent_receive(int32_t msg) {
	const uint32_t *h = (const uint32_t *)(uintptr_t)msg;
	const char *p = (const char *)(uintptr_t)h[6];
	switch (h[7] ? p[0] : 0) {
	case 't': __builtin_trap();
	case 'l': for (;;) sink++;
	case 's': return deep(1);
	case 'g': for (;;) if (__builtin_wasm_memory_grow(0, 16) == (__SIZE_TYPE__)-1) return 7;
	case 'r': return 3;
	case 'b': return ls_send("x", 1, (const void *)0x7ffffff0, 64) == -3 ? 0 : 9;
	}
	return 0;
}
EXPORT("agent_step") int32_t agent_step(int32_t ctx) { return 0; }
EXPORT("agent_shutdown") int32_t agent_shutdown(void) { return 0; }
