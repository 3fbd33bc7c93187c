// reader (C++): every step reads the state region "count" of agent "counter"
// (the value frozen at the previous tick) and publishes the bytes unchanged on
// channel "mirror". Before the region exists (LS_ERR_NOT_FOUND) it publishes
// nothing.
#include "lockstep.h"

LOCKSTEP_AGENT()

namespace {

constexpr const char *kOwner = "counter";
constexpr const char *kRegion = "count";
constexpr const char *kChannel = "mirror";

struct Reader {
	uint8_t buf[64];

	int32_t step() {
		int32_t n = ls_state_read(kOwner, kRegion, buf, sizeof buf);
		if (n == LS_ERR_NOT_FOUND) return LS_OK;
		if (n < 0) return n;
		if (static_cast<uint32_t>(n) > sizeof buf) {
			ls_warn("reader: region larger than 64 bytes, skipped");
			return LS_OK;
		}
		return ls_publish(kChannel, buf, static_cast<uint32_t>(n));
	}
};

Reader reader;

} // namespace

LS_AGENT_STEP(ctx) {
	(void)ctx;
	return reader.step();
}
