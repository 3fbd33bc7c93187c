/* configured: a test agent that reads its config (the topology's config:)
 * with ls_config_str at init and writes it to its state region "config"
 * at every step; it checks that ls_config(NULL, 0) gives the same length.
 * Grants: state.write. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static char cfg[256];
static int32_t cfg_len;

LS_AGENT_INIT {
	cfg_len = ls_config_str(cfg, sizeof cfg);
	if (cfg_len < 0) return cfg_len;
	return ls_config(NULL, 0) == cfg_len ? LS_OK : 9;
}

LS_AGENT_STEP(ctx) {
	(void)ctx;
	return ls_state_write("config", cfg, (uint32_t)cfg_len);
}
