package host

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// TopologySchemaID is the $id of [TopologySchema].
const TopologySchemaID = "https://github.com/lockstep-rt/lockstep/topology.schema.json"

// TopologySchema returns a JSON Schema (draft 2020-12) of the topology
// format, for editors: one definition per type ([Topology], [Group],
// [Module], ...), one property per yaml field, with its description,
// type, bounds and allowed names. It is made from the Go types by
// reflection, so it has every field ParseTopology accepts; what it cannot
// say (an input's to or channel, unique ids, declared groups) ParseTopology
// still checks.
func TopologySchema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeFor[Topology]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = TopologySchemaID
	root["title"] = "Lockstep topology"
	root["$defs"] = g.defs
	return json.MarshalIndent(root, "", "  ")
}

type schemaGen struct{ defs map[string]any }

// object is the schema of struct t: its yaml fields, no others.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range yamlFields(t) {
		key := t.Name() + "." + f.name
		p := g.schema(f.field.Type)
		if d, ok := schemaDocs[key]; ok {
			p["description"] = d
		}
		for k, v := range schemaExtra[key] {
			p[k] = v
		}
		props[f.name] = p
		if schemaRequired[key] {
			required = append(required, f.name)
		}
	}
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if d, ok := schemaDocs[t.Name()]; ok {
		o["description"] = d
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// schema is the schema of a field of type t.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return map[string]any{"type": "string", "pattern": `^(0|-?([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$`}
	case custom(t):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Struct:
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = nil // a recursive type refers to itself
			g.defs[t.Name()] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return map[string]any{"type": "integer", "minimum": -(int64(1) << (t.Bits() - 1)), "maximum": int64(1)<<(t.Bits()-1) - 1}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer", "minimum": 0, "maximum": uint64(1)<<t.Bits() - 1}
	case reflect.Uint, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	}
	panic(fmt.Sprintf("host: TopologySchema: no schema for %v", t))
}

// nameSchema is the schema of agent, channel, group and model names
// (agent.ValidateName); optionalName's may be "".
var (
	nameSchema   = map[string]any{"type": "string", "pattern": fmt.Sprintf(`^[A-Za-z0-9][A-Za-z0-9._/:-]{0,%d}$`, agent.MaxNameLen-1)}
	optionalName = map[string]any{"type": "string", "pattern": fmt.Sprintf(`^([A-Za-z0-9][A-Za-z0-9._/:-]{0,%d})?$`, agent.MaxNameLen-1)}
)

// schemaDocs describes each type ("Topology") and field ("Topology.seed").
// TestTopologySchema checks that every field has a description.
var schemaDocs = map[string]string{
	"Topology":                  "A Lockstep run: its agents, their modules and models, supervision groups, inputs and limits.",
	"Topology.name":             "The run's name, shown by agenthost and its observers.",
	"Topology.seed":             "Seeds every agent's random stream.",
	"Topology.ticks":            "Default length of agenthost run, 1 to 2^40 (0: give --ticks).",
	"Topology.max_message_size": "Largest message payload in bytes (0: the default, 1 MiB).",
	"Topology.groups":           "Supervision groups: which agents a failure restarts or stops.",
	"Topology.modules":          "WebAssembly agent modules; each adds a kind of its name.",
	"Topology.wasm":             "The WebAssembly runtime: memory, fuel, trusted keys.",
	"Topology.models":           "ONNX models agents may infer with.",
	"Topology.inference":        "The model manager: ONNX Runtime library, memory budgets, output limit, workers.",
	"Topology.quotas":           "What every agent may do per tick and keep (0: the defaults).",
	"Topology.external":         "Channels and addresses through which agents speak to the daemon's subscribers.",
	"Topology.agents":           "The agents spawned at tick 0.",
	"Topology.inputs":           "Messages from outside applied before their ticks.",

	"Group":              "A supervision group. Agents without a group are in the root group.",
	"Group.name":         "The group's name (agents name it in group).",
	"Group.parent":       "The parent group (default: the root group).",
	"Group.strategy":     "Which agents a failure restarts: one-for-one (the failed one, default) or all-for-one.",
	"Group.on_failure":   "What a failure does: restart (default), stop or escalate.",
	"Group.max_restarts": "Restarts allowed within window ticks; one more escalates.",
	"Group.window":       "The window of max_restarts in ticks (default 100).",

	"Module":           "A WebAssembly agent module: agents of kind name run it.",
	"Module.name":      "The kind agents of this module have.",
	"Module.path":      "The .wasm file, relative to the topology file.",
	"Module.fuel":      "Fuel per tick of this module's agents, 1 to 2^62 (0: wasm.fuel).",
	"Module.max_pages": "Memory limit of this module's agents in 64 KiB pages, 1 to 65536 (0: wasm.max_pages).",
	"Module.grants":    "Capabilities granted to this module's agents; what the module declares must be granted.",
	"Module.version":   "A requirement on the signed module's version: 1.2.0, ^1.2, >=1.0.0 <2.0.0.",

	"WASMConfig":                "The WebAssembly runtime of the run.",
	"WASMConfig.max_pages":      "Every agent's memory limit in 64 KiB pages, 1 to 65536 (0: the default, 256).",
	"WASMConfig.fuel":           "An agent's fuel per tick, 1 to 2^62 (0: the default, 50 000 000).",
	"WASMConfig.init_fuel":      "Fuel of an agent's instantiation (0: the default, 20 000 000).",
	"WASMConfig.cache_dir":      "Directory of compiled modules kept between runs.",
	"WASMConfig.unmetered":      "Turns fuel metering off (benchmarks only: such a run is not replayed).",
	"WASMConfig.trust":          "Public key files, or directories of .pub files, that sign the modules.",
	"WASMConfig.allow_unsigned": "Runs unsigned modules: a developer flag, recorded in the replay log.",
	"WASMConfig.engine":         "wazero's engine: compiler, interpreter or \"\" (wazero's choice); never changes results.",
	"WASMConfig.watchdog":       "Wall-clock bound of each guest call, e.g. 2s (0: off); if it fires, the run is marked not reproducible.",

	"Model":                    "One version of an ONNX model.",
	"Model.id":                 "The model's name: what agents pass to infer.",
	"Model.version":            "This version's name.",
	"Model.path":               "The .onnx file, relative to the topology file.",
	"Model.sha256":             "The file's SHA-256 in hex (sha256sum); another file is refused.",
	"Model.default":            "The version a request without a version gets (needed only with several versions).",
	"Model.eager":              "Load the model when the run starts, not at its first request.",
	"Model.device":             "cpu (default) or cuda (falls back to the cpu, logged).",
	"Model.mode":               "deterministic (default: recomputed on replay) or fast (recorded).",
	"Model.no_batch":           "Deprecated: batching is off unless max_batch is set.",
	"Model.max_batch":          "Up to this many requests of a tick share one run (0: each runs alone); off if the load-time probe finds batching changes answers.",
	"Model.intra_op_threads":   "Threads within an operator in fast mode (0: ONNX Runtime's default); deterministic mode runs one.",
	"Model.inter_op_threads":   "Threads across operators in fast mode (0: ONNX Runtime's default); deterministic mode runs one.",
	"Model.graph_optimization": "ONNX Runtime's graph optimisation level (default all); part of what a replay checks.",
	"Model.cuda_device":        "The CUDA device a cuda model runs on (default 0).",
	"Model.outputs":            "The outputs requests get, in this order (default: all, in the model's order).",

	"InferenceConfig":                  "The model manager.",
	"InferenceConfig.library":          "The ONNX Runtime shared library (default: $LOCKSTEP_ORT_LIB, or --ort-lib).",
	"InferenceConfig.budgets":          "Memory budget per device (cpu, cuda) in bytes; least recently used models are unloaded past it.",
	"InferenceConfig.max_output_bytes": "The most bytes of outputs one request may get (default 64 MiB); a request over it is answered with an error.",
	"InferenceConfig.workers":          "How many models may run at the same time (default: one per CPU core).",
	"InferenceConfig.no_warm_up":       "Skip the warm-up run eager models get at start on seeded inputs.",

	"Quotas":                     "Bounds on every agent (0: the default); going over fails the agent at that tick.",
	"Quotas.actions_per_tick":    "Actions of one agent in one tick (default 1024).",
	"Quotas.bytes_per_tick":      "Payload bytes one agent emits in one tick (default 4 MiB).",
	"Quotas.deliveries_per_tick": "Messages one agent's sends and publishes of one tick deliver (default 65536).",
	"Quotas.log_line_bytes":      "Length of one log line (default 4096).",
	"Quotas.state_regions":       "State regions an agent owns (default 256).",
	"Quotas.state_bytes":         "Total size of an agent's state regions (default 16 MiB).",
	"Quotas.channels":            "Channels an agent is a member of (default 256).",
	"Quotas.unenforced":          "Turns every quota off (measurements only: such a run is not replayed).",

	"External":           "The run's doors to the outside world, for agenthost serve's subscribers.",
	"External.channels":  "Channels whose publishes go to subscribers too.",
	"External.addresses": "Addresses whose sends go to subscribers only (no agent may have the id).",

	"TopologyAgent":          "An agent spawned at tick 0.",
	"TopologyAgent.id":       "The agent's id, unique in the run.",
	"TopologyAgent.kind":     "Its kind: a module's name or a Go kind of the program.",
	"TopologyAgent.priority": "Its priority: higher steps first within a tick.",
	"TopologyAgent.group":    "Its supervision group (default: the root group).",
	"TopologyAgent.channels": "Channels it joins at spawn.",
	"TopologyAgent.config":   "Handed to the kind: a string as is, anything else as JSON with sorted keys.",
	"TopologyAgent.fuel":     "A WebAssembly agent's fuel per tick (0: its module's).",

	"TopologyInput":         "A message from outside, applied before tick.",
	"TopologyInput.tick":    "The tick it is applied before, 0 to 2^40.",
	"TopologyInput.to":      "The agent it is sent to (or give channel).",
	"TopologyInput.channel": "The channel it is published on (or give to).",
	"TopologyInput.payload": "The message.",
}

var maxFuel = map[string]any{"maximum": uint64(wasmagent.MaxFuel)}
var maxPages = map[string]any{"maximum": wasmagent.MaxPagesLimit}
var quota = map[string]any{"minimum": 0, "maximum": engine.MaxQuota}

// schemaExtra adds keywords to fields: bounds, allowed names.
var schemaExtra = map[string]map[string]any{
	"Topology.ticks":            {"minimum": 0, "maximum": int64(MaxTicks)},
	"Topology.max_message_size": {"minimum": 0, "maximum": MaxMessageSizeLimit},
	"Topology.agents":           {"minItems": 1},
	"Group.name":                nameSchema,
	"Group.parent":              optionalName,
	"Group.strategy":            {"enum": []string{"one-for-one", "all-for-one"}},
	"Group.on_failure":          {"enum": []string{"restart", "stop", "escalate"}},
	"Group.max_restarts":        {"minimum": 0},
	"Module.name":               nameSchema,
	"Module.fuel":               maxFuel,
	"Module.max_pages":          maxPages,
	"Module.grants": {"items": map[string]any{"anyOf": []any{
		map[string]any{"enum": plugin.Capabilities()},
		map[string]any{"type": "string", "pattern": `^inference:[A-Za-z0-9._/:-]{1,128}$`},
	}}},
	"WASMConfig.max_pages":             maxPages,
	"WASMConfig.fuel":                  maxFuel,
	"WASMConfig.init_fuel":             maxFuel,
	"WASMConfig.engine":                {"enum": []string{"", wasmagent.EngineCompiler, wasmagent.EngineInterpreter}},
	"Model.id":                         nameSchema,
	"Model.version":                    nameSchema,
	"Model.sha256":                     {"pattern": "^[0-9a-fA-F]{64}$"},
	"Model.device":                     {"enum": []string{"", modelactor.DeviceCPU, modelactor.DeviceCUDA}},
	"Model.mode":                       {"enum": []string{"", modelactor.ModeDeterministic, modelactor.ModeFast}},
	"Model.max_batch":                  {"minimum": 0, "maximum": modelactor.MaxBatchLimit},
	"Model.intra_op_threads":           {"minimum": 0, "maximum": modelactor.MaxThreads},
	"Model.inter_op_threads":           {"minimum": 0, "maximum": modelactor.MaxThreads},
	"Model.graph_optimization":         {"enum": append([]string{""}, modelactor.GraphOptimizations...)},
	"Model.cuda_device":                {"minimum": 0, "maximum": modelactor.MaxCUDADevice},
	"Quotas.actions_per_tick":          quota,
	"Quotas.bytes_per_tick":            quota,
	"Quotas.deliveries_per_tick":       quota,
	"Quotas.log_line_bytes":            quota,
	"Quotas.state_regions":             quota,
	"Quotas.state_bytes":               quota,
	"Quotas.channels":                  quota,
	"TopologyAgent.id":                 nameSchema,
	"TopologyAgent.group":              optionalName,
	"TopologyAgent.channels":           {"items": nameSchema},
	"TopologyAgent.fuel":               maxFuel,
	"TopologyInput.tick":               {"maximum": int64(MaxTicks)},
	"TopologyInput.channel":            optionalName,
	"InferenceConfig.budgets":          {"propertyNames": map[string]any{"enum": []string{modelactor.DeviceCPU, modelactor.DeviceCUDA}}, "additionalProperties": map[string]any{"type": "integer", "minimum": 0}},
	"InferenceConfig.max_output_bytes": {"minimum": 0},
	"InferenceConfig.workers":          {"minimum": 0, "maximum": modelactor.MaxWorkers},
}

// schemaRequired are the fields a topology must give.
var schemaRequired = map[string]bool{
	"Topology.agents": true,
	"Group.name":      true, "Module.name": true, "Module.path": true,
	"Model.id": true, "Model.version": true, "Model.path": true, "Model.sha256": true,
	"TopologyAgent.id": true, "TopologyAgent.kind": true,
}
