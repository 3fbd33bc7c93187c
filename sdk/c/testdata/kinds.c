/* kinds: a test agent for every kind of value (internal/modeltest,
 * CheckKinds). At its first step it asks model "kinds" about typed inputs
 * written with ls_tensors_*; when the result comes it renders every output
 * as read with ls_result_output, ls_seq_*, ls_map_* and ls_tensor_* into its
 * state region "seen". Grants: inference:kinds, state.write. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint8_t in[512];
static char out[4096];

LS_AGENT_STEP(ctx) {
	if (ctx->tick != 0) return LS_OK;
	ls_tensors w = ls_tensors_make(in, sizeof in);
	int64_t x_dims[2] = {1, 4}, two[1] = {2}, three[1] = {3};
	float x[4] = {0.5f, -1.25f, 2.0f, 0.75f}, h[2] = {1.5f, -0.1f};
	int64_t n[2] = {-5, (int64_t)1 << 40};
	int32_t i[2] = {-7, 123456};
	uint8_t b[3] = {1, 2, 255};
	const char *s[2] = {"ab", "\xe2\x9c\xbf\xcf\x82"}; /* "✿ς" */
	ls_tensors_f32(&w, 2, x_dims, x, 4);
	ls_tensors_f16(&w, 1, two, h, 2);
	ls_tensors_i64(&w, 1, two, n, 2);
	ls_tensors_i32(&w, 1, two, i, 2);
	ls_tensors_u8(&w, 1, three, b, 3);
	ls_tensors_str(&w, 1, two, s, 2);
	if (w.overflow) return 10;
	int32_t r = ls_infer("kinds", "1", w.p, w.len);
	return r < 0 ? r : LS_OK;
}

static void hex32(ls_buf *b, float f) {
	uint32_t v;
	__builtin_memcpy(&v, &f, 4);
	char d[8];
	for (int k = 7; k >= 0; k--, v >>= 4) d[k] = "0123456789abcdef"[v & 15];
	ls_buf_bytes(b, d, 8);
}

static const char *dtype_name(uint8_t d) {
	switch (d) {
	case LS_F32: return "float32";
	case LS_F16: return "float16";
	case LS_I64: return "int64";
	case LS_I32: return "int32";
	case LS_U8: return "uint8";
	case LS_STR: return "string";
	}
	return "?";
}

/* element i of a dense tensor, as modeltest.Render writes it */
static void elem(ls_buf *b, const ls_tensor *t, uint32_t i) {
	switch (t->dtype) {
	case LS_F32: hex32(b, ls_tensor_f32(t, i)); return;
	case LS_F16: hex32(b, ls_tensor_f16(t, i)); return;
	case LS_I64: ls_buf_i64(b, ls_tensor_i64(t, i)); return;
	case LS_I32: ls_buf_i64(b, ls_tensor_i32(t, i)); return;
	case LS_U8: ls_buf_u64(b, ls_tensor_u8(t, i)); return;
	case LS_STR: {
		uint32_t len;
		const char *p = ls_tensor_str(t, i, &len);
		ls_buf_u64(b, len);
		ls_buf_str(b, ":");
		ls_buf_bytes(b, p, len);
		return;
	}
	}
	ls_buf_str(b, "?");
}

static void render(ls_buf *b, const ls_tensor *v) {
	if (v->kind == LS_SEQ) {
		uint32_t n = ls_seq_count(v);
		ls_buf_str(b, "seq ");
		ls_buf_u64(b, n);
		for (uint32_t i = 0; i < n; i++) {
			ls_tensor e;
			if (ls_seq_item(v, i, &e) != LS_OK) return;
			ls_buf_str(b, " (");
			render(b, &e);
			ls_buf_str(b, ")");
		}
		return;
	}
	if (v->kind == LS_MAP) {
		ls_tensor keys, values;
		uint32_t n = ls_map_count(v);
		if (ls_map_keys(v, &keys) != LS_OK || ls_map_values(v, &values) != LS_OK) return;
		ls_buf_str(b, "map ");
		ls_buf_u64(b, n);
		for (uint32_t i = 0; i < n; i++) {
			ls_buf_str(b, " ");
			elem(b, &keys, i);
			ls_buf_str(b, "=");
			elem(b, &values, i);
		}
		return;
	}
	ls_buf_str(b, dtype_name(v->dtype));
	ls_buf_str(b, " [");
	for (uint32_t i = 0; i < v->rank; i++) {
		if (i > 0) ls_buf_str(b, ",");
		ls_buf_i64(b, ls_tensor_dim(v, i));
	}
	ls_buf_str(b, "]");
	uint64_t n = ls_tensor_count(v);
	for (uint32_t i = 0; i < n; i++) {
		ls_buf_str(b, " ");
		elem(b, v, i);
	}
}

LS_AGENT_RECEIVE(msg) {
	ls_result r;
	if (ls_result_parse(msg, &r) != LS_OK) return LS_OK;
	if (r.status != LS_OK) return 11;
	ls_buf b = ls_buf_make(out, sizeof out);
	for (uint32_t i = 0; i < ls_result_count(&r); i++) {
		ls_tensor v;
		if (ls_result_output(&r, i, &v) != LS_OK) return 12;
		if (i > 0) ls_buf_str(&b, "\n");
		render(&b, &v);
	}
	return ls_state_write("seen", b.p, b.len);
}
