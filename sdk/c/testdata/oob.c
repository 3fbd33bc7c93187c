/* oob: a test agent whose step reads outside its linear memory at tick 5
 * (wasm "out of bounds memory access"), in a function of its own so that
 * the failure's stack trace names it. Needs no grants. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static volatile uint32_t sink;

__attribute__((noinline)) static uint32_t read_at(uintptr_t addr) {
	return *(volatile const uint32_t *)addr;
}

LS_AGENT_STEP(ctx) {
	sink = read_at(ls_ctx_tick(ctx) == 5 ? 0x7ffffff0u : (uintptr_t)&sink);
	return LS_OK;
}
