/* grow: grows its memory until memory.grow fails, then keeps asking. */
#include "lockstep.h"

LOCKSTEP_AGENT()

LS_AGENT_STEP(ctx) {
	(void)ctx;
	while (__builtin_wasm_memory_grow(0, 16) != (__SIZE_TYPE__)-1) {
	}
	return 7;
}
