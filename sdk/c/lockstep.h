/*
 * lockstep.h — guest SDK for Lockstep agents written in C or C++ (ABI v1).
 *
 * The contract is sdk/ABI.md; this header is a thin, dependency-free view of
 * it. It needs no libc: it works with
 *
 *   clang-14 --target=wasm32 -nostdlib -O2 -Wl,--no-entry -Wl,--stack-first
 *   clang-14 --target=wasm32-wasi -mexec-model=reactor -O2      (wasi-libc)
 *
 * and from C++ (clang++-14 ... -fno-exceptions -fno-rtti; with wasi-libc add
 * -nostdlib++, as Debian has no libc++ for wasm32). No export flags are
 * needed: every ABI export carries __attribute__((export_name(...))).
 *
 * An agent is one translation unit that expands LOCKSTEP_AGENT() once (or
 * defines LOCKSTEP_IMPLEMENTATION before including this header) and defines
 * any of four hooks:
 *
 *   #include "lockstep.h"
 *   LOCKSTEP_AGENT()
 *
 *   LS_AGENT_INIT          { return LS_OK; }
 *   LS_AGENT_RECEIVE(msg)  { ...; return LS_OK; }
 *   LS_AGENT_STEP(ctx)     { ...; return LS_OK; }
 *   LS_AGENT_SHUTDOWN      { return LS_OK; }
 *
 * The macros only spell the hook signatures; plain functions work as well:
 *
 *   int32_t ls_agent_init(void);
 *   int32_t ls_agent_receive(const ls_msg *msg);
 *   int32_t ls_agent_step(const ls_ctx *ctx);
 *   int32_t ls_agent_shutdown(void);
 *
 * A hook returns LS_OK (0) for success; any other value is a failure of the
 * agent at that tick. A hook you do not define behaves as `return LS_OK;`.
 * (In C++ a plain hook must match the declared signature exactly, or it is an
 * unrelated overload; the macros cannot get this wrong.)
 *
 * LOCKSTEP_AGENT() emits the ABI exports `lockstep_abi_version`,
 * `agent_alloc` (one grow-only scratch buffer: without libc on fresh pages
 * from memory.grow, no malloc; with wasi-libc from malloc, which would
 * otherwise claim those pages), `agent_init`, `agent_receive`, `agent_step`
 * and `agent_shutdown`. Without wasi-libc (when __wasi__ is not defined; override
 * with -DLOCKSTEP_FREESTANDING=0/1) it also emits `_initialize`, which runs
 * C++ global constructors, and weak memcpy/memmove/memset/memcmp/strlen,
 * which the compiler may call on its own.
 *
 * Strings passed to the ls_* wrappers are NUL-terminated C strings (their
 * lengths of literals fold at compile time); the lockstep_* raw imports take
 * (pointer, length) pairs exactly as in ABI.md. Every function returning
 * int32_t returns an LS_* code (state_read, config: a length >= 0 or a code).
 *
 * An agent reads its config (its topology agent's `config:`, a string as is,
 * anything else as JSON with sorted keys) with ls_config or ls_config_str:
 *
 *   char cfg[256];
 *   LS_AGENT_INIT { return ls_config_str(cfg, sizeof cfg) < 0 ? 1 : LS_OK; }
 */
#ifndef LOCKSTEP_H
#define LOCKSTEP_H

#if !defined(__wasm32__)
#error "lockstep.h is for wasm32 guests: compile with clang --target=wasm32 (or wasm32-wasi)"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define LS__EXTERN_C extern "C"
#define LS__STATIC_ASSERT(c, m) static_assert(c, m)
extern "C" {
#else
#define LS__EXTERN_C
#define LS__STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* A hook that falls off its end returns garbage in C and traps (or worse) in
 * C++: make the mistake a compile error. Define LOCKSTEP_NO_PRAGMAS to skip. */
#ifndef LOCKSTEP_NO_PRAGMAS
#pragma clang diagnostic error "-Wreturn-type"
#endif

/* ---------------------------------------------------------------- codes --- */

#define LOCKSTEP_ABI_VERSION 1

#define LS_OK 0
#define LS_ERR_INVALID_NAME (-1)  /* id, channel or region not 1-128 of [A-Za-z0-9._-/:] */
#define LS_ERR_TOO_LARGE (-2)     /* payload over the host's message size limit */
#define LS_ERR_OUT_OF_BOUNDS (-3) /* a (ptr, len) pair points outside memory */
#define LS_ERR_NOT_FOUND (-4)     /* no such state region */
#define LS_ERR_UNAVAILABLE (-6)   /* the host does not offer this (yet) */
#define LS_ERR_DENIED (-7)        /* the agent lacks the capability */
/* Statuses of inference results (ls_result.status), besides the above: */
#define LS_ERR_UNKNOWN_MODEL (-10)   /* no model with that id */
#define LS_ERR_UNKNOWN_VERSION (-11) /* no such version, or no default version */
#define LS_ERR_BAD_INPUT (-12)       /* malformed tensors, or wrong count, dtype or shape */
#define LS_ERR_LOAD_FAILED (-13)     /* model file missing, corrupt or not its sha256 */
#define LS_ERR_RUN_FAILED (-14)      /* ONNX Runtime failed */

/* Tensor element types (ONNX's TensorProto.DataType numbers). */
#define LS_F32 1
#define LS_U8 2
#define LS_I8 3
#define LS_U16 4
#define LS_I16 5
#define LS_I32 6
#define LS_I64 7
#define LS_STR 8 /* strings: see ls_tensor_str */
#define LS_BOOL 9
#define LS_F16 10 /* IEEE half, 16 bits: see ls_tensor_f16 */
#define LS_F64 11
#define LS_U32 12
#define LS_U64 13
#define LS_BF16 16 /* bfloat16, 16 bits: see ls_tensor_bf16 */

/* Kinds of values in a tensor list (ls_tensor.kind). */
#define LS_TENSOR 0 /* a dense tensor */
#define LS_SEQ 1    /* a sequence of values: ls_seq_count, ls_seq_item */
#define LS_MAP 2    /* a map: ls_map_keys, ls_map_values */

/* Result flags. */
#define LS_RESULT_RECORDED 1u /* from a non-deterministic model; replay feeds it back */
#define LS_RESULT_BATCHED 2u  /* computed in one run with other agents' requests */

#define LS_LOG_ERROR 2
#define LS_LOG_WARN 3
#define LS_LOG_INFO 4
#define LS_LOG_DEBUG 5

/* ------------------------------------------------------- raw imports ----- */

#define LS__IMPORT(name) __attribute__((import_module("lockstep"), import_name(name)))
#define LS_EXPORT(name) __attribute__((export_name(name)))

LS__IMPORT("send")
int32_t lockstep_send(const void *to, uint32_t to_len, const void *p, uint32_t p_len);
LS__IMPORT("publish")
int32_t lockstep_publish(const void *ch, uint32_t ch_len, const void *p, uint32_t p_len);
LS__IMPORT("join")
int32_t lockstep_join(const void *ch, uint32_t ch_len);
LS__IMPORT("leave")
int32_t lockstep_leave(const void *ch, uint32_t ch_len);
LS__IMPORT("log")
void lockstep_log(int32_t level, const void *p, uint32_t len);
LS__IMPORT("tick")
int64_t lockstep_tick(void);
LS__IMPORT("random")
int64_t lockstep_random(void);
LS__IMPORT("state_write")
int32_t lockstep_state_write(const void *name, uint32_t name_len, const void *data, uint32_t data_len);
LS__IMPORT("state_read")
int32_t lockstep_state_read(const void *owner, uint32_t owner_len, const void *name, uint32_t name_len,
                            void *buf, uint32_t buf_cap);
LS__IMPORT("infer")
int32_t lockstep_infer(const void *model, uint32_t model_len, const void *version, uint32_t version_len,
                       const void *input, uint32_t input_len);
LS__IMPORT("config")
int32_t lockstep_config(void *buf, uint32_t cap);

/* ------------------------------------------------ context and message ---- */

/* The context at ctx_ptr (24 bytes). */
typedef struct ls_ctx {
	uint64_t tick;
	uint32_t self_ptr, self_len;
	uint32_t delivered;
	uint32_t reserved;
} ls_ctx;

/* The message header at msg_ptr (32 bytes); its bytes follow it. They are
 * valid only during the agent_receive call: copy what you keep. */
typedef struct ls_msg {
	uint64_t sent;
	uint32_t from_ptr, from_len;       /* from_len 0: an external input */
	uint32_t channel_ptr, channel_len; /* channel_len 0: a direct send */
	uint32_t payload_ptr, payload_len;
} ls_msg;

LS__STATIC_ASSERT(sizeof(ls_ctx) == 24, "ls_ctx must be 24 bytes");
LS__STATIC_ASSERT(sizeof(ls_msg) == 32, "ls_msg must be 32 bytes");
LS__STATIC_ASSERT(offsetof(ls_msg, payload_len) == 28, "ls_msg layout");
LS__STATIC_ASSERT(offsetof(ls_ctx, delivered) == 16, "ls_ctx layout");

#define LS__PTR(T, p) ((T)(uintptr_t)(p))

static inline uint64_t ls_ctx_tick(const ls_ctx *c) { return c->tick; }
static inline uint32_t ls_ctx_delivered(const ls_ctx *c) { return c->delivered; }
/* The agent's own id (not NUL-terminated). */
static inline const char *ls_ctx_self(const ls_ctx *c, uint32_t *len) {
	if (len) *len = c->self_len;
	return LS__PTR(const char *, c->self_ptr);
}

static inline uint64_t ls_msg_sent(const ls_msg *m) { return m->sent; }
/* Sender id (not NUL-terminated); length 0 for an external input. */
static inline const char *ls_msg_from(const ls_msg *m, uint32_t *len) {
	if (len) *len = m->from_len;
	return LS__PTR(const char *, m->from_ptr);
}
/* Channel (not NUL-terminated); length 0 for a direct send. */
static inline const char *ls_msg_channel(const ls_msg *m, uint32_t *len) {
	if (len) *len = m->channel_len;
	return LS__PTR(const char *, m->channel_ptr);
}
static inline const uint8_t *ls_msg_payload(const ls_msg *m, uint32_t *len) {
	if (len) *len = m->payload_len;
	return LS__PTR(const uint8_t *, m->payload_ptr);
}
static inline int ls_msg_is_direct(const ls_msg *m) { return m->channel_len == 0; }
static inline int ls_msg_is_external(const ls_msg *m) { return m->from_len == 0; }

/* ------------------------------------------------------------ helpers ---- */

static inline uint32_t ls_strlen(const char *s) { return s ? (uint32_t)__builtin_strlen(s) : 0; }

/* 1 if the n bytes at p equal the C string s. */
static inline int ls_eq(const void *p, uint32_t n, const char *s) {
	const char *a = (const char *)p;
	uint32_t i = 0;
	for (; i < n; i++)
		if (s[i] == 0 || s[i] != a[i]) return 0;
	return s[i] == 0;
}

static inline uint64_t ls_get_u64le(const void *p) {
	uint64_t v;
	__builtin_memcpy(&v, p, 8); /* wasm is little-endian */
	return v;
}
static inline void ls_put_u64le(void *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }

/* A bounded text builder for log lines and payloads (no printf needed).
 * Appends that do not fit are truncated. */
typedef struct ls_buf {
	char *p;
	uint32_t len, cap;
} ls_buf;

static inline ls_buf ls_buf_make(char *mem, uint32_t cap) {
	ls_buf b;
	b.p = mem;
	b.len = 0;
	b.cap = cap;
	return b;
}
static inline ls_buf *ls_buf_bytes(ls_buf *b, const void *p, uint32_t n) {
	const char *s = (const char *)p;
	for (uint32_t i = 0; i < n && b->len < b->cap; i++) b->p[b->len++] = s[i];
	return b;
}
static inline ls_buf *ls_buf_str(ls_buf *b, const char *s) { return ls_buf_bytes(b, s, ls_strlen(s)); }
static inline ls_buf *ls_buf_u64(ls_buf *b, uint64_t v) {
	char d[20];
	uint32_t n = 0;
	do d[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
	while (n > 0 && b->len < b->cap) b->p[b->len++] = d[--n];
	return b;
}
static inline ls_buf *ls_buf_i64(ls_buf *b, int64_t v) {
	if (v < 0) {
		ls_buf_bytes(b, "-", 1);
		return ls_buf_u64(b, (uint64_t)0 - (uint64_t)v);
	}
	return ls_buf_u64(b, (uint64_t)v);
}
/* 16 lowercase hex digits. */
static inline ls_buf *ls_buf_hex64(ls_buf *b, uint64_t v) {
	for (int s = 60; s >= 0 && b->len < b->cap; s -= 4) b->p[b->len++] = "0123456789abcdef"[(v >> s) & 15];
	return b;
}

/* ----------------------------------------------------------- wrappers ---- */

static inline int32_t ls_send(const char *to, const void *p, uint32_t n) {
	return lockstep_send(to, ls_strlen(to), p, n);
}
static inline int32_t ls_send_str(const char *to, const char *s) { return ls_send(to, s, ls_strlen(s)); }
/* Send to the sender of msg (fails with LS_ERR_INVALID_NAME for an external input). */
static inline int32_t ls_reply(const ls_msg *m, const void *p, uint32_t n) {
	return lockstep_send(LS__PTR(const void *, m->from_ptr), m->from_len, p, n);
}
static inline int32_t ls_publish(const char *ch, const void *p, uint32_t n) {
	return lockstep_publish(ch, ls_strlen(ch), p, n);
}
static inline int32_t ls_publish_str(const char *ch, const char *s) { return ls_publish(ch, s, ls_strlen(s)); }
static inline int32_t ls_join(const char *ch) { return lockstep_join(ch, ls_strlen(ch)); }
static inline int32_t ls_leave(const char *ch) { return lockstep_leave(ch, ls_strlen(ch)); }

static inline void ls_log_n(int32_t level, const void *p, uint32_t n) { lockstep_log(level, p, n); }
static inline void ls_log(int32_t level, const char *s) { lockstep_log(level, s, ls_strlen(s)); }
static inline void ls_log_buf(int32_t level, const ls_buf *b) { lockstep_log(level, b->p, b->len); }
static inline void ls_error(const char *s) { ls_log(LS_LOG_ERROR, s); }
static inline void ls_warn(const char *s) { ls_log(LS_LOG_WARN, s); }
static inline void ls_info(const char *s) { ls_log(LS_LOG_INFO, s); }
static inline void ls_debug(const char *s) { ls_log(LS_LOG_DEBUG, s); }

/* Logs msg at error level and traps (wasm `unreachable`): the agent fails at
 * this tick, its supervisor restarts or stops it, and the failure's reason
 * quotes msg (the tick's last error log line, its first 256 bytes). The log
 * shows the failure with its wasm stack trace. Capability `log`. */
__attribute__((noreturn)) static inline void ls_abort(const char *msg) {
	ls_error(msg);
	__builtin_trap();
}
/* LS_ASSERT(cond): ls_abort("assertion failed: cond (file.c:LINE)") unless
 * cond holds. */
#define LS__STR2(x) #x
#define LS__STR(x) LS__STR2(x)
#define LS_ASSERT(cond) \
	((cond) ? (void)0 : ls_abort("assertion failed: " #cond " (" __FILE__ ":" LS__STR(__LINE__) ")"))

static inline uint64_t ls_tick(void) { return (uint64_t)lockstep_tick(); }
static inline uint64_t ls_random(void) { return (uint64_t)lockstep_random(); }

static inline int32_t ls_state_write(const char *name, const void *data, uint32_t n) {
	return lockstep_state_write(name, ls_strlen(name), data, n);
}
/* Copies owner's frozen previous-tick region `name` into buf if it fits in
 * cap; returns its full length (> cap: nothing copied) or an LS_ERR_* code. */
static inline int32_t ls_state_read(const char *owner, const char *name, void *buf, uint32_t cap) {
	return lockstep_state_read(owner, ls_strlen(owner), name, ls_strlen(name), buf, cap);
}
/* Copies the agent's config (sdk/ABI.md, "Config": its topology `config:`)
 * into buf, its first cap bytes if it is longer, and returns its full length
 * (> cap: truncated) or an LS_ERR_* code. ls_config(NULL, 0) returns the
 * length only. No capability needed; works in every hook. */
static inline int32_t ls_config(void *buf, uint32_t cap) { return lockstep_config(buf, cap); }

/* The config as a NUL-terminated string in buf (cap bytes, the NUL
 * included): returns its length, or LS_ERR_TOO_LARGE (buf then holds "")
 * when it needs more than cap - 1 bytes, or another LS_ERR_* code. */
static inline int32_t ls_config_str(char *buf, uint32_t cap) {
	if (cap == 0) return LS_ERR_TOO_LARGE;
	int32_t n = lockstep_config(buf, cap - 1);
	if (n >= 0 && (uint32_t)n > cap - 1) n = LS_ERR_TOO_LARGE;
	buf[n < 0 ? 0 : n] = 0;
	return n;
}

/* ---------------------------------------------------------- inference --- */

/* Requests an inference of model (version "" or NULL: its default version) on
 * the tensor list at in (see ls_tensors below). Returns the request's number
 * (>= 0) or an LS_ERR_* code (LS_ERR_DENIED without the inference capability
 * for the model). The result arrives at the next tick as a message for which
 * ls_msg_is_result() is true; ls_result_parse() reads it. */
static inline int32_t ls_infer(const char *model, const char *version, const void *in, uint32_t n) {
	return lockstep_infer(model, ls_strlen(model), version, ls_strlen(version), in, n);
}

/* Writes a tensor list into a caller-provided buffer:
 *
 *   uint8_t mem[256]; ls_tensors w = ls_tensors_make(mem, sizeof mem);
 *   int64_t dims[2] = {1, 4};
 *   ls_tensors_f32(&w, 2, dims, x, 4);
 *   if (!w.overflow) ls_infer("clf", "1", w.p, w.len);
 */
typedef struct ls_tensors {
	uint8_t *p;
	uint32_t len, cap;
	uint32_t count;
	int overflow; /* set when an add did not fit: the list is unusable */
} ls_tensors;

static inline void ls__put_u32(uint8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static inline uint32_t ls__get_u32(const uint8_t *p) {
	uint32_t v;
	__builtin_memcpy(&v, p, 4);
	return v;
}

static inline ls_tensors ls_tensors_make(void *mem, uint32_t cap) {
	ls_tensors w;
	w.p = (uint8_t *)mem;
	w.cap = cap;
	w.count = 0;
	w.overflow = cap < 4;
	w.len = w.overflow ? 0 : 4;
	if (!w.overflow) ls__put_u32(w.p, 0);
	return w;
}

/* Reserves a tensor of dtype with rank dims and nbytes of data, writing its
 * header; returns where its data goes, or NULL (and sets overflow) when it
 * does not fit. */
static inline uint8_t *ls__tensors_reserve(ls_tensors *w, uint8_t dtype, uint32_t rank, const int64_t *dims, uint64_t nbytes) {
	uint64_t need = 8 + 8 * (uint64_t)rank + nbytes;
	if (w->overflow || rank > 8 || w->len + need > w->cap) {
		w->overflow = 1;
		return NULL;
	}
	uint8_t *q = w->p + w->len;
	q[0] = dtype;
	q[1] = (uint8_t)rank;
	q[2] = q[3] = 0;
	ls__put_u32(q + 4, (uint32_t)nbytes);
	__builtin_memcpy(q + 8, dims, 8 * rank);
	w->len += (uint32_t)need;
	ls__put_u32(w->p, ++w->count);
	return q + 8 + 8 * rank;
}

/* Appends a tensor of dtype (LS_F32...) with rank dims and nbytes of row-major
 * data. Returns LS_OK, or LS_ERR_TOO_LARGE when it does not fit (and sets
 * overflow). */
static inline int32_t ls_tensors_add(ls_tensors *w, uint8_t dtype, uint32_t rank, const int64_t *dims,
                                     const void *data, uint32_t nbytes) {
	uint8_t *q = ls__tensors_reserve(w, dtype, rank, dims, nbytes);
	if (!q) return LS_ERR_TOO_LARGE;
	__builtin_memcpy(q, data, nbytes);
	return LS_OK;
}
static inline int32_t ls_tensors_f32(ls_tensors *w, uint32_t rank, const int64_t *dims, const float *v, uint32_t n) {
	return ls_tensors_add(w, LS_F32, rank, dims, v, 4 * n);
}
static inline int32_t ls_tensors_i64(ls_tensors *w, uint32_t rank, const int64_t *dims, const int64_t *v, uint32_t n) {
	return ls_tensors_add(w, LS_I64, rank, dims, v, 8 * n);
}
static inline int32_t ls_tensors_i32(ls_tensors *w, uint32_t rank, const int64_t *dims, const int32_t *v, uint32_t n) {
	return ls_tensors_add(w, LS_I32, rank, dims, v, 4 * n);
}
static inline int32_t ls_tensors_u8(ls_tensors *w, uint32_t rank, const int64_t *dims, const uint8_t *v, uint32_t n) {
	return ls_tensors_add(w, LS_U8, rank, dims, v, n);
}

/* Half-precision conversions: ls_f16_to_f32 is exact; ls_f32_to_f16 rounds
 * to the nearest half, ties to even (as ONNX Runtime's Cast does). */
static inline float ls_f16_to_f32(uint16_t h) {
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0x1f) bits = sign | 0x7f800000u | man << 13;
	else if (exp != 0) bits = sign | (exp + 112) << 23 | man << 13;
	else if (man == 0) bits = sign;
	else {
		uint32_t e = 113;
		while (!(man & 0x400)) man <<= 1, e--;
		bits = sign | e << 23 | (man & 0x3ff) << 13;
	}
	float f;
	__builtin_memcpy(&f, &bits, 4);
	return f;
}
static inline uint16_t ls_f32_to_f16(float f) {
	uint32_t b;
	__builtin_memcpy(&b, &f, 4);
	uint16_t sign = (uint16_t)(b >> 16) & 0x8000;
	int32_t exp = (int32_t)(b >> 23) & 0xff, e = exp - 112;
	uint32_t man = b & 0x7fffff;
	if (exp == 0xff) return sign | 0x7c00 | (man ? 0x200 | (uint16_t)(man >> 13) : 0);
	if (e >= 0x1f) return sign | 0x7c00;
	if (e <= 0) {
		if (e < -10) return sign;
		man |= 0x800000;
		uint32_t shift = (uint32_t)(14 - e), half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (half & 1))) half++;
		return sign | (uint16_t)half;
	}
	uint32_t h = (uint32_t)e << 10 | man >> 13, rem = man & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
	return sign | (uint16_t)h;
}
static inline float ls_bf16_to_f32(uint16_t h) {
	uint32_t bits = (uint32_t)h << 16;
	float f;
	__builtin_memcpy(&f, &bits, 4);
	return f;
}

/* Appends a float16 tensor of n elements converted from v (ls_f32_to_f16). */
static inline int32_t ls_tensors_f16(ls_tensors *w, uint32_t rank, const int64_t *dims, const float *v, uint32_t n) {
	uint8_t *q = ls__tensors_reserve(w, LS_F16, rank, dims, 2 * (uint64_t)n);
	if (!q) return LS_ERR_TOO_LARGE;
	for (uint32_t i = 0; i < n; i++) {
		uint16_t h = ls_f32_to_f16(v[i]);
		__builtin_memcpy(q + 2 * i, &h, 2);
	}
	return LS_OK;
}

/* Appends a string tensor of the n NUL-terminated strings s. */
static inline int32_t ls_tensors_str(ls_tensors *w, uint32_t rank, const int64_t *dims, const char *const *s, uint32_t n) {
	uint64_t text = 0;
	for (uint32_t i = 0; i < n; i++) text += ls_strlen(s[i]);
	uint8_t *q = ls__tensors_reserve(w, LS_STR, rank, dims, 4 * (uint64_t)n + text);
	if (!q) return LS_ERR_TOO_LARGE;
	uint32_t end = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = ls_strlen(s[i]);
		__builtin_memcpy(q + 4 * n + end, s[i], k);
		end += k;
		ls__put_u32(q + 4 * i, end);
	}
	return LS_OK;
}

/* A value inside a result (a dense tensor, a sequence or a map); dims and
 * data point into the message (valid only during agent_receive) and may be
 * unaligned: read them with the accessors. For a sequence or map, data is
 * its body and dtype and rank are 0. */
typedef struct ls_tensor {
	uint8_t dtype;
	uint8_t kind; /* LS_TENSOR, LS_SEQ or LS_MAP */
	uint32_t rank;
	const uint8_t *dims; /* rank little-endian int64 */
	const uint8_t *data;
	uint32_t nbytes;
} ls_tensor;

/* Reads the value at p (len bytes left) into t; returns its encoded size, or
 * 0 when it does not fit. */
static inline uint32_t ls__value(const uint8_t *p, uint64_t len, ls_tensor *t) {
	if (len < 8) return 0;
	uint32_t rank = p[1], nbytes = ls__get_u32(p + 4);
	uint64_t size = 8 + 8 * (uint64_t)rank + nbytes;
	if (size > len) return 0;
	t->dtype = p[0];
	t->kind = p[2];
	t->rank = rank;
	t->dims = p + 8;
	t->data = p + 8 + 8 * rank;
	t->nbytes = nbytes;
	return (uint32_t)size;
}

/* Finds value i of the value list at p (len bytes). */
static inline int32_t ls__list_item(const uint8_t *p, uint32_t len, uint32_t i, ls_tensor *t) {
	uint32_t n = len >= 4 ? ls__get_u32(p) : 0, off = 4;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t size = ls__value(p + off, len - off, t);
		if (size == 0) return LS_ERR_NOT_FOUND;
		if (k == i) return LS_OK;
		off += size;
	}
	return LS_ERR_NOT_FOUND;
}

/* Dimension i (< t->rank): unchecked. */
static inline int64_t ls_tensor_dim(const ls_tensor *t, uint32_t i) { return (int64_t)ls_get_u64le(t->dims + 8 * i); }

/* The number of elements of a dense tensor (1 for a scalar). */
static inline uint64_t ls_tensor_count(const ls_tensor *t) {
	uint64_t n = 1;
	for (uint32_t i = 0; i < t->rank; i++) n *= (uint64_t)ls_tensor_dim(t, i);
	return n;
}

/* Element i (< ls_tensor_count) of a tensor of the accessor's dtype:
 * unchecked. ls_tensor_f16 and ls_tensor_bf16 convert to float exactly. */
static inline float ls_tensor_f32(const ls_tensor *t, uint32_t i) {
	float f;
	__builtin_memcpy(&f, t->data + 4 * i, 4);
	return f;
}
static inline double ls_tensor_f64(const ls_tensor *t, uint32_t i) {
	double f;
	__builtin_memcpy(&f, t->data + 8 * i, 8);
	return f;
}
static inline int64_t ls_tensor_i64(const ls_tensor *t, uint32_t i) { return (int64_t)ls_get_u64le(t->data + 8 * i); }
static inline int32_t ls_tensor_i32(const ls_tensor *t, uint32_t i) { return (int32_t)ls__get_u32(t->data + 4 * i); }
static inline uint8_t ls_tensor_u8(const ls_tensor *t, uint32_t i) { return t->data[i]; }
static inline float ls_tensor_f16(const ls_tensor *t, uint32_t i) {
	uint16_t h;
	__builtin_memcpy(&h, t->data + 2 * i, 2);
	return ls_f16_to_f32(h);
}
static inline float ls_tensor_bf16(const ls_tensor *t, uint32_t i) {
	uint16_t h;
	__builtin_memcpy(&h, t->data + 2 * i, 2);
	return ls_bf16_to_f32(h);
}

/* String i (< ls_tensor_count) of an LS_STR tensor: its bytes (not
 * NUL-terminated) and their number in *len. Unchecked. */
static inline const char *ls_tensor_str(const ls_tensor *t, uint32_t i, uint32_t *len) {
	uint32_t n = (uint32_t)ls_tensor_count(t), start = i == 0 ? 0 : ls__get_u32(t->data + 4 * (i - 1));
	*len = ls__get_u32(t->data + 4 * i) - start;
	return (const char *)t->data + 4 * n + start;
}

/* The number of values of a sequence (LS_SEQ), and value i of it. */
static inline uint32_t ls_seq_count(const ls_tensor *s) {
	return s->kind == LS_SEQ && s->nbytes >= 4 ? ls__get_u32(s->data) : 0;
}
static inline int32_t ls_seq_item(const ls_tensor *s, uint32_t i, ls_tensor *t) {
	if (s->kind != LS_SEQ) return LS_ERR_NOT_FOUND;
	return ls__list_item(s->data, s->nbytes, i, t);
}

/* A map's (LS_MAP) keys and values: two rank-1 tensors of one length, the
 * keys integers or strings. */
static inline int32_t ls_map_keys(const ls_tensor *m, ls_tensor *keys) {
	if (m->kind != LS_MAP || ls__value(m->data, m->nbytes, keys) == 0) return LS_ERR_NOT_FOUND;
	return LS_OK;
}
static inline int32_t ls_map_values(const ls_tensor *m, ls_tensor *values) {
	ls_tensor keys;
	uint32_t size = m->kind == LS_MAP ? ls__value(m->data, m->nbytes, &keys) : 0;
	if (size == 0 || ls__value(m->data + size, m->nbytes - size, values) == 0) return LS_ERR_NOT_FOUND;
	return LS_OK;
}
/* The number of entries of a map (0 when m is not one). */
static inline uint32_t ls_map_count(const ls_tensor *m) {
	ls_tensor keys;
	return ls_map_keys(m, &keys) == LS_OK && keys.rank == 1 ? (uint32_t)ls_tensor_dim(&keys, 0) : 0;
}

/* An inference result (sdk/ABI.md, "Results"). */
typedef struct ls_result {
	uint32_t request; /* the number ls_infer returned */
	int32_t status;   /* LS_OK or an LS_ERR_* code */
	uint32_t flags;   /* LS_RESULT_* */
	const uint8_t *body; /* status LS_OK: the output value list; else the error text */
	uint32_t body_len;
} ls_result;

/* 1 if msg is an inference result (its sender is "@model"). */
static inline int ls_msg_is_result(const ls_msg *m) { return ls_eq(LS__PTR(const void *, m->from_ptr), m->from_len, "@model"); }

/* Reads the result in msg. Returns LS_OK or LS_ERR_BAD_INPUT if msg is not a result. */
static inline int32_t ls_result_parse(const ls_msg *m, ls_result *r) {
	const uint8_t *p = LS__PTR(const uint8_t *, m->payload_ptr);
	if (!ls_msg_is_result(m) || m->payload_len < 16 || ls__get_u32(p) != 0x5249534cu) return LS_ERR_BAD_INPUT;
	r->request = ls__get_u32(p + 4);
	r->status = (int32_t)ls__get_u32(p + 8);
	r->flags = ls__get_u32(p + 12);
	r->body = p + 16;
	r->body_len = m->payload_len - 16;
	return LS_OK;
}

/* The number of outputs of a successful result (0 otherwise). */
static inline uint32_t ls_result_count(const ls_result *r) {
	return r->status == LS_OK && r->body_len >= 4 ? ls__get_u32(r->body) : 0;
}

/* Finds output i of a successful result: a dense tensor, or a sequence or map
 * (t->kind). Returns LS_OK or LS_ERR_NOT_FOUND. */
static inline int32_t ls_result_output(const ls_result *r, uint32_t i, ls_tensor *t) {
	if (r->status != LS_OK) return LS_ERR_NOT_FOUND;
	return ls__list_item(r->body, r->body_len, i, t);
}

/* -------------------------------------------------------------- hooks ---- */

__attribute__((weak)) int32_t ls_agent_init(void);
__attribute__((weak)) int32_t ls_agent_receive(const ls_msg *msg);
__attribute__((weak)) int32_t ls_agent_step(const ls_ctx *ctx);
__attribute__((weak)) int32_t ls_agent_shutdown(void);

#define LS_AGENT_INIT LS__EXTERN_C int32_t ls_agent_init(void)
#define LS_AGENT_RECEIVE(msg) LS__EXTERN_C int32_t ls_agent_receive(const ls_msg *msg)
#define LS_AGENT_STEP(ctx) LS__EXTERN_C int32_t ls_agent_step(const ls_ctx *ctx)
#define LS_AGENT_SHUTDOWN LS__EXTERN_C int32_t ls_agent_shutdown(void)

#ifdef __cplusplus
} /* extern "C" */
#endif

/* ------------------------------------------------------ implementation --- */

#ifndef LOCKSTEP_FREESTANDING
#ifdef __wasi__
#define LOCKSTEP_FREESTANDING 0
#else
#define LOCKSTEP_FREESTANDING 1
#endif
#endif

#ifndef LOCKSTEP_SCRATCH_MALLOC
#define LOCKSTEP_SCRATCH_MALLOC (!LOCKSTEP_FREESTANDING)
#endif

#if LOCKSTEP_FREESTANDING
/* No crt: run global constructors from the ABI's optional `_initialize`
 * (referencing __wasm_call_ctors also stops wasm-ld from wrapping every export
 * in a constructor call), and give the compiler the memory functions it may
 * emit calls to. They are weak: a definition of your own wins. */
#define LS__FREESTANDING_IMPL                                                                     \
	LS__EXTERN_C void __wasm_call_ctors(void);                                                    \
	LS__EXTERN_C LS_EXPORT("_initialize") void lockstep__initialize(void) { __wasm_call_ctors(); } \
	LS__EXTERN_C __attribute__((weak, no_builtin)) void *memcpy(void *d, const void *s, size_t n) { \
		unsigned char *dp = (unsigned char *)d;                                                   \
		const unsigned char *sp = (const unsigned char *)s;                                       \
		while (n--) *dp++ = *sp++;                                                                \
		return d;                                                                                 \
	}                                                                                             \
	LS__EXTERN_C __attribute__((weak, no_builtin)) void *memmove(void *d, const void *s, size_t n) { \
		unsigned char *dp = (unsigned char *)d;                                                   \
		const unsigned char *sp = (const unsigned char *)s;                                       \
		if (dp < sp)                                                                              \
			while (n--) *dp++ = *sp++;                                                            \
		else                                                                                      \
			while (n--) dp[n] = sp[n];                                                            \
		return d;                                                                                 \
	}                                                                                             \
	LS__EXTERN_C __attribute__((weak, no_builtin)) void *memset(void *d, int c, size_t n) {       \
		unsigned char *dp = (unsigned char *)d;                                                   \
		while (n--) *dp++ = (unsigned char)c;                                                     \
		return d;                                                                                 \
	}                                                                                             \
	LS__EXTERN_C __attribute__((weak, no_builtin)) int memcmp(const void *a, const void *b, size_t n) { \
		const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;         \
		for (; n; n--, x++, y++)                                                                  \
			if (*x != *y) return *x - *y;                                                         \
		return 0;                                                                                 \
	}                                                                                             \
	LS__EXTERN_C __attribute__((weak, no_builtin)) size_t strlen(const char *s) {                 \
		size_t n = 0;                                                                             \
		while (s[n]) n++;                                                                         \
		return n;                                                                                 \
	}
#else
#define LS__FREESTANDING_IMPL
#endif

/* agent_alloc, freestanding: one scratch buffer on pages it grew itself with
 * memory.grow (extended in place when it is last in memory, never shrunk), so
 * an allocator of your own must also take its pages from memory.grow rather
 * than claim all memory above __heap_base. With libc: malloc, because
 * wasi-libc's malloc claims all memory above __heap_base on first use, pages
 * grown earlier included. */
#if LOCKSTEP_SCRATCH_MALLOC
#include <stdlib.h>
#define LS__AGENT_ALLOC_IMPL                                                                      \
	static void *lockstep__scratch;                                                               \
	static uint32_t lockstep__scratch_cap;                                                        \
	LS__EXTERN_C LS_EXPORT("agent_alloc") uint32_t lockstep__agent_alloc(uint32_t size) {         \
		if (size <= lockstep__scratch_cap && lockstep__scratch) return LS__PTR(uint32_t, lockstep__scratch); \
		uint32_t cap = size > 2 * lockstep__scratch_cap ? size : 2 * lockstep__scratch_cap;        \
		void *p = malloc(cap < 64 ? 64 : cap); /* malloc aligns to 16 */                          \
		if (!p) return 0;                                                                         \
		free(lockstep__scratch);                                                                  \
		lockstep__scratch = p;                                                                    \
		lockstep__scratch_cap = cap < 64 ? 64 : cap;                                              \
		return LS__PTR(uint32_t, p);                                                              \
	}
#else
#define LS__AGENT_ALLOC_IMPL                                                                      \
	static uint32_t lockstep__scratch_base, lockstep__scratch_cap;                                \
	LS__EXTERN_C LS_EXPORT("agent_alloc") uint32_t lockstep__agent_alloc(uint32_t size) {         \
		if (size <= lockstep__scratch_cap && lockstep__scratch_cap != 0) return lockstep__scratch_base; \
		uint32_t pages = size / 65536u + (size % 65536u != 0 || size == 0);                       \
		uint32_t end = (uint32_t)__builtin_wasm_memory_size(0) * 65536u;                          \
		int extend = lockstep__scratch_cap != 0 && lockstep__scratch_base + lockstep__scratch_cap == end; \
		if (extend) pages = (size - lockstep__scratch_cap) / 65536u + ((size - lockstep__scratch_cap) % 65536u != 0); \
		size_t old = __builtin_wasm_memory_grow(0, pages);                                        \
		if (old == (size_t)-1 || old == 0) return 0;                                              \
		if (!extend) {                                                                            \
			lockstep__scratch_base = (uint32_t)old * 65536u;                                      \
			lockstep__scratch_cap = 0;                                                            \
		}                                                                                         \
		lockstep__scratch_cap += pages * 65536u;                                                  \
		return lockstep__scratch_base;                                                            \
	}
#endif

/* Emits the ABI exports; expand it exactly once per module, at file scope
 * (no semicolon needed). */
#define LOCKSTEP_AGENT()                                                                          \
	LS__EXTERN_C LS_EXPORT("lockstep_abi_version") int32_t lockstep__abi_version(void) {          \
		return LOCKSTEP_ABI_VERSION;                                                              \
	}                                                                                             \
	LS__AGENT_ALLOC_IMPL                                                                          \
	LS__EXTERN_C LS_EXPORT("agent_init") int32_t lockstep__agent_init(void) {                     \
		return ls_agent_init ? ls_agent_init() : LS_OK;                                           \
	}                                                                                             \
	LS__EXTERN_C LS_EXPORT("agent_receive") int32_t lockstep__agent_receive(const ls_msg *msg) {  \
		return ls_agent_receive ? ls_agent_receive(msg) : LS_OK;                                  \
	}                                                                                             \
	LS__EXTERN_C LS_EXPORT("agent_step") int32_t lockstep__agent_step(const ls_ctx *ctx) {        \
		return ls_agent_step ? ls_agent_step(ctx) : LS_OK;                                        \
	}                                                                                             \
	LS__EXTERN_C LS_EXPORT("agent_shutdown") int32_t lockstep__agent_shutdown(void) {             \
		return ls_agent_shutdown ? ls_agent_shutdown() : LS_OK;                                   \
	}                                                                                             \
	LS__FREESTANDING_IMPL

#ifdef LOCKSTEP_IMPLEMENTATION
LOCKSTEP_AGENT()
#endif

#endif /* LOCKSTEP_H */
