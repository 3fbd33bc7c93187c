/* work: a CPU-bound agent for the metering benchmarks
 * (internal/benchkit/wasm.go). Every step runs WORK_ITERS rounds of an
 * integer hash and a FLOAT_ITERS-round float kernel, folds both into its
 * state and publishes nothing. gowork/main.go is the same agent in Go: keep
 * the two in step. */
#include "../../../sdk/c/lockstep.h"

#define WORK_ITERS 20000
#define FLOAT_ITERS 256

LOCKSTEP_AGENT()

static uint64_t acc;

LS_AGENT_INIT {
	acc = 0;
	return LS_OK;
}

LS_AGENT_STEP(ctx) {
	/* Integer hash: FNV-style multiply plus xorshift, a serial dependency
	 * chain the compiler cannot fold or vectorise. */
	uint64_t h = acc ^ ls_ctx_tick(ctx);
	for (uint32_t i = 0; i < WORK_ITERS; i++) {
		h ^= i;
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	/* Float kernel: a damped recurrence (every result goes through the NaN
	 * canonicalisation, metered or not). */
	double x = (double)(h & 0xffff) / 65536.0, s = 0;
	for (uint32_t i = 0; i < FLOAT_ITERS; i++) {
		s = s * 0.5 + x * x;
		x = x * 0.999 + 0.001;
	}
	acc = h ^ (uint64_t)(s * 1e6);
	return LS_OK;
}
