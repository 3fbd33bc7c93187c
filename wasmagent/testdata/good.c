/* A well-formed agent: echoes every payload to channel "out", counts steps. */
#include "abi.h"
static uint32_t steps;
EXPORT("agent_init") int32_t agent_init(void) { return ls_join("in", 2); }
EXPORT("agent_receive") int32_t agent_receive(int32_t msg) {
	const uint32_t *h = (const uint32_t *)(uintptr_t)msg;
	return ls_publish("out", 3, (const void *)(uintptr_t)h[6], h[7]);
}
EXPORT("agent_step") int32_t agent_step(int32_t ctx) { steps++; return 0; }
EXPORT("agent_shutdown") int32_t agent_shutdown(void) { return 0; }
