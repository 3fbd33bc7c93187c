/* Imports a host function ABI v1 does not have. */
#include "abi.h"
IMPORT("teleport") int32_t teleport(int32_t where);
EXPORT("agent_init") int32_t agent_init(void) { return 0; }
EXPORT("agent_receive") int32_t agent_receive(int32_t msg) { return 0; }
EXPORT("agent_step") int32_t agent_step(int32_t ctx) { return teleport(ctx); }
EXPORT("agent_shutdown") int32_t agent_shutdown(void) { return 0; }
