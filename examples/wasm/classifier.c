/* classifier: every step it takes one "measurement" (four features drawn from
 * its random stream) and asks the host's model manager to classify it with
 * model "flowers" (examples/classify: an MLP with 4 inputs and 3 class
 * scores). The result arrives at the next tick; the classifier publishes the
 * winning class on channel "labels" as one byte and logs every 25th. A failed
 * inference is logged with the host's error text. */
#include "lockstep.h"

LOCKSTEP_AGENT()

static uint32_t classified;

LS_AGENT_INIT {
	classified = 0;
	return LS_OK;
}

/* A feature in [-1, 1) from the agent's seeded random stream. */
static float feature(void) { return (float)(ls_random() >> 40) / (float)(1 << 23) - 1.0f; }

LS_AGENT_STEP(ctx) {
	(void)ctx;
	float x[4];
	for (int i = 0; i < 4; i++) x[i] = feature();
	int64_t dims[2] = {1, 4};
	uint8_t mem[64];
	ls_tensors in = ls_tensors_make(mem, sizeof mem);
	ls_tensors_f32(&in, 2, dims, x, 4);
	int32_t rc = ls_infer("flowers", "", in.p, in.len);
	return rc < 0 ? rc : LS_OK; /* >= 0 is the request's number */
}

LS_AGENT_RECEIVE(msg) {
	ls_result r;
	if (ls_result_parse(msg, &r) != LS_OK) return LS_OK; /* not an inference result */
	char line[256];
	ls_buf b = ls_buf_make(line, sizeof line);
	if (r.status != LS_OK) {
		ls_buf_str(&b, "inference failed: ");
		ls_buf_bytes(&b, r.body, r.body_len);
		ls_log_buf(LS_LOG_WARN, &b);
		return LS_OK;
	}
	ls_tensor y;
	if (ls_result_output(&r, 0, &y) != LS_OK || y.dtype != LS_F32 || y.nbytes != 12) return LS_ERR_BAD_INPUT;
	uint8_t best = 0;
	for (uint8_t k = 1; k < 3; k++)
		if (ls_tensor_f32(&y, k) > ls_tensor_f32(&y, best)) best = k;
	int32_t rc = ls_publish("labels", &best, 1);
	if (rc != LS_OK) return rc;
	if (++classified % 25 == 0) {
		ls_buf_str(&b, "classified ");
		ls_buf_u64(&b, classified);
		ls_buf_str(&b, " samples; the last is class ");
		ls_buf_u64(&b, best);
		ls_buf_str(&b, " (score x1000: ");
		ls_buf_i64(&b, (int64_t)(ls_tensor_f32(&y, best) * 1000.0f));
		ls_buf_str(&b, ")");
		ls_log_buf(LS_LOG_INFO, &b);
	}
	return LS_OK;
}
