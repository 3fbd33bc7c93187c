package host_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
)

// TestInferenceSettings: the model manager's settings (per-request output
// limit, workers, warm-up) and a model's session options (threads, graph
// optimisation, CUDA device) are read from a topology into host.Options and
// the JSON schema; a bad one is refused at its line with the field, the
// reason and the fix.
func TestInferenceSettings(t *testing.T) {
	const agents = "agents:\n  - {id: a, kind: idle}\n"
	const model = `{id: m, version: "1", path: m.onnx, sha256: "` + "0000000000000000000000000000000000000000000000000000000000000000" + `"`
	doc := "models:\n  - " + model + ", mode: fast, intra_op_threads: 2, inter_op_threads: 1, graph_optimization: basic}\n" +
		"  - " + strings.Replace(model, "id: m", "id: g", 1) + ", device: cuda, cuda_device: 1}\n" +
		"inference: {max_output_bytes: 4096, workers: 3, no_warm_up: true}\n" + agents
	top, err := host.ParseTopology("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	opts := top.Options(host.Options{})
	if inf := opts.Inference; inf.MaxOutputBytes != 4096 || inf.Workers != 3 || !inf.NoWarmUp {
		t.Errorf("Options.Inference = %+v", inf)
	}
	if m := opts.Models[0]; m.IntraOpThreads != 2 || m.InterOpThreads != 1 || m.GraphOptimization != "basic" || opts.Models[1].CUDADevice != 1 {
		t.Errorf("Options.Models = %+v", opts.Models)
	}

	for _, c := range []struct{ doc, want string }{
		{"models:\n  - " + model + ", intra_op_threads: 4}\n" + agents,
			`t.yaml:2:135: models[0]: model m@1: intra_op_threads 4 applies to mode fast only (deterministic mode runs one thread); remove it or set mode: fast`},
		{"models:\n  - " + model + ", graph_optimization: max}\n" + agents,
			`t.yaml:2:137: models[0]: model m@1: graph_optimization "max" is not one of disable, basic, extended, all; leave it out for all`},
		{"models:\n  - " + model + ", cuda_device: 2}\n" + agents,
			`t.yaml:2:130: models[0]: model m@1: cuda_device 2 applies to device cuda only; remove it or set device: cuda`},
		{"inference:\n  workers: 5000\n" + agents,
			`t.yaml:2:12: inference: workers 5000 is not between 0 (one per CPU core) and 1024`},
		{"inference:\n  budgets: {tpu: 5}\n" + agents,
			`t.yaml:2:12: inference: budgets: device "tpu" is not cpu or cuda`},
		{"inference:\n  max_output_bytes: -1\n" + agents,
			`t.yaml:2:21: inference: max_output_bytes -1 is negative; give a limit in bytes, or leave it out for 67108864`},
	} {
		_, err := host.ParseTopology("t.yaml", []byte(c.doc))
		if err == nil || err.Error() != c.want {
			t.Errorf("got  %v\nwant %s", err, c.want)
		}
	}

	data, err := host.TopologySchema()
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	for def, fields := range map[string][]string{
		"Model":           {"intra_op_threads", "inter_op_threads", "graph_optimization", "cuda_device"},
		"InferenceConfig": {"max_output_bytes", "workers", "no_warm_up"},
	} {
		for _, f := range fields {
			if p := schema.Defs[def].Properties[f]; p == nil || p["description"] == nil {
				t.Errorf("schema: %s.%s is missing or undescribed: %v", def, f, p)
			}
		}
	}
}
