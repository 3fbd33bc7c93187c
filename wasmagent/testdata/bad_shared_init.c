/* Declares shared initialisation with an export that takes an argument: the
 * declaration must take and return nothing. */
#include "abi.h"
EXPORT("agent_init") int32_t agent_init(void) { return 0; }
EXPORT("agent_receive") int32_t agent_receive(int32_t msg) { return 0; }
EXPORT("agent_step") int32_t agent_step(int32_t ctx) { return 0; }
EXPORT("agent_shutdown") int32_t agent_shutdown(void) { return 0; }
EXPORT("lockstep_shared_init") void lockstep_shared_init(int32_t x) {}
