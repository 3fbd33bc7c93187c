/* nanfloat: float arithmetic whose bits differ between CPUs and wazero
 * engines unless the runtime makes them agree. Every step applies each of
 * the operations below to pairs of values drawn from a table of special
 * values (NaNs with and without payloads, of both signs, signalling ones,
 * infinities, zeros of both signs, subnormals) and from the tick, in f64
 * and f32, then iterates the logistic map and a polynomial (no NaNs, but
 * many roundings), and publishes the raw bits of every result on channel
 * "floats" as little-endian u64 words (142 a tick) with, last, a hash
 * chained over every result of every tick.
 *
 * Where the bits would differ without NaN canonicalisation (sdk/ABI.md):
 *   - a NaN made by an operation is 0xfff8... on amd64 and 0x7ff8... on
 *     arm64 (the sign bit);
 *   - with two NaN operands, wazero's compiler keeps the first's payload
 *     and its interpreter the second's.
 * Built freestanding (no libc): the __builtin_* below are single wasm
 * instructions (f64.sqrt, f64.min, f64.nearest, ...). */
#include "lockstep.h"

LOCKSTEP_AGENT()

#define NVAL 16
#define NRES 255 /* results at most; the hash follows them */

static const uint64_t special64[NVAL] = {
    0x7ff8000000000000ull, /* canonical quiet NaN */
    0xfff8000000000000ull, /* negative quiet NaN (amd64's default NaN) */
    0x7ff8000000000123ull, /* quiet NaN with a payload */
    0xfff4000000000abcull, /* negative signalling NaN with a payload */
    0x7ff0000000000001ull, /* signalling NaN, smallest payload */
    0x7ff0000000000000ull, /* +inf */
    0xfff0000000000000ull, /* -inf */
    0x0000000000000000ull, /* +0 */
    0x8000000000000000ull, /* -0 */
    0x0000000000000001ull, /* smallest subnormal */
    0x7fefffffffffffffull, /* largest finite */
    0x3ff8000000000000ull, /* 1.5 */
    0xc004000000000000ull, /* -2.5 */
    0x3fe0000000000000ull, /* 0.5 */
    0x0010000000000000ull, /* smallest normal */
    0x400921fb54442d18ull, /* pi */
};

static const uint32_t special32[NVAL] = {
    0x7fc00000u, 0xffc00000u, 0x7fc00123u, 0xffa00abcu, 0x7f800001u, 0x7f800000u, 0xff800000u, 0x00000000u,
    0x80000000u, 0x00000001u, 0x7f7fffffu, 0x3fc00000u, 0xc0200000u, 0x3f000000u, 0x00800000u, 0x40490fdbu,
};

static double f64of(uint64_t u) {
	double d;
	__builtin_memcpy(&d, &u, 8);
	return d;
}
static uint64_t bits64(double d) {
	uint64_t u;
	__builtin_memcpy(&u, &d, 8);
	return u;
}
static float f32of(uint32_t u) {
	float f;
	__builtin_memcpy(&f, &u, 4);
	return f;
}
static uint64_t bits32(float f) {
	uint32_t u;
	__builtin_memcpy(&u, &f, 4);
	return u;
}

/* volatile reads: nothing below folds at compile time. */
static volatile uint64_t v64[NVAL];
static volatile uint32_t v32[NVAL];

static uint64_t res[NRES + 1];
static uint64_t chain = 0xcbf29ce484222325ull; /* FNV-1a over every result of every tick */
static uint32_t nres;

static void put(uint64_t u) {
	if (nres < NRES) res[nres++] = u;
	for (int i = 0; i < 8; i++) {
		chain ^= (u >> (8 * i)) & 0xff;
		chain *= 0x100000001b3ull;
	}
}

LS_AGENT_INIT {
	for (int i = 0; i < NVAL; i++) {
		v64[i] = special64[i];
		v32[i] = special32[i];
	}
	chain = 0xcbf29ce484222325ull;
	return LS_OK;
}

static void ops64(double a, double b) {
	put(bits64(a + b));
	put(bits64(a - b));
	put(bits64(a * b));
	put(bits64(a / b));
	put(bits64(__builtin_wasm_min_f64(a, b)));
	put(bits64(__builtin_wasm_max_f64(a, b)));
	put(bits64(__builtin_sqrt(a)));
	put(bits64(__builtin_nearbyint(a * b)));
	put(bits64(__builtin_ceil(a - b)));
	put(bits64(-(a + b)));
	put(bits64(__builtin_fabs(a * b)));
	put(bits64(__builtin_copysign(a / b, b)));
	put(bits32((float)(a * b))); /* demote */
}

static void ops32(float a, float b) {
	put(bits32(a + b));
	put(bits32(a * b));
	put(bits32(a / b));
	put(bits32(__builtin_wasm_min_f32(a, b)));
	put(bits32(__builtin_wasm_max_f32(a, b)));
	put(bits32(__builtin_sqrtf(a - b)));
	put(bits32(__builtin_floorf(a * b)));
	put(bits64((double)(a - b))); /* promote */
}

LS_AGENT_STEP(ctx) {
	uint64_t t = ls_ctx_tick(ctx);
	nres = 0;
	/* Five pairs of table values per tick (every pair within 52 ticks) and
	 * one pair made from the tick. */
	for (uint32_t k = 0; k < 5; k++) {
		uint32_t i = (uint32_t)(t * 5 + k) % NVAL, j = (uint32_t)((t * 5 + k) / NVAL + k) % NVAL;
		ops64(f64of(v64[i]), f64of(v64[j]));
		ops32(f32of(v32[i]), f32of(v32[j]));
	}
	double x = (double)(t + 1) * 0.1, y = 1.0 / (double)(t + 3);
	ops64(x, y);
	ops64(x - x, x - x); /* 0/0: a NaN made at run time, then NaN op NaN */
	ops32((float)x, (float)y);
	/* No NaNs: the logistic map and a Horner polynomial, many roundings. */
	double r = 3.7 + y * 0.29, z = y;
	for (int n = 0; n < 200; n++) z = r * z * (1.0 - z);
	put(bits64(z));
	double p = 0;
	for (int n = 0; n < 50; n++) p = p * x * 0.01 + 1.0 / (double)(n + 1);
	put(bits64(p));
	res[nres++] = chain;
	return ls_publish("floats", res, nres * 8);
}
