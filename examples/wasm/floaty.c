/* floaty (built with wasi-libc to show that path): every step computes
 * float results, most of them NaNs made at run time, and publishes their raw
 * bits on channel "floats" as 8 little-endian u64 words:
 *   0: 0.0/0.0   1: sqrt(-x)   2: inf-inf   3: 0*inf   4: (0.0/0.0)+1
 *   5: log(-x) (libm)   6: f32 0.0f/0.0f (zero-extended)   7: sqrt(x+1), no NaN
 * with x = tick+1. libm's log runs in software; the rest are single wasm
 * instructions. On amd64 without canonicalisation the NaNs come out as
 * 0xfff8.../0xffc0... (sign set); ABI.md canonicalises them to 0x7ff8.../0x7fc0.... */
#include <math.h>
#include <string.h>

#include "lockstep.h"

LOCKSTEP_AGENT()

static volatile double vzero = 0.0; /* volatile: nothing below folds at compile time */

static uint64_t bits64(double d) {
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static uint64_t bits32(float f) {
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

LS_AGENT_STEP(ctx) {
	double zero = vzero, x = (double)ls_ctx_tick(ctx) + 1.0, inf = 1.0 / zero;
	float zf = (float)zero;
	uint64_t r[8] = {
	    bits64(zero / zero), bits64(sqrt(-x)),         bits64(inf - inf), bits64(zero * inf),
	    bits64(zero / zero + 1.0), bits64(log(-x)), bits32(zf / zf),   bits64(sqrt(x + 1.0)),
	};
	char line[64];
	ls_buf b = ls_buf_make(line, sizeof line);
	ls_buf_hex64(ls_buf_str(&b, "floaty: 0/0 = 0x"), r[0]);
	ls_log_buf(LS_LOG_DEBUG, &b);
	return ls_publish("floats", r, sizeof r);
}
