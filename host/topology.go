package host

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/fsutil"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// Topology is a run described in a file: what agentHost runs.
//
//	seed: 42
//	ticks: 500            # default length of `agenthost run`
//	groups:
//	  - {name: sensors, strategy: one-for-one, on_failure: restart, max_restarts: 3, window: 100}
//	agents:
//	  - {id: s1, kind: sensor, group: sensors, channels: [readings], config: {base: 20}}
//	inputs:
//	  - {tick: 10, to: s1, payload: "calibrate"}
//	models:               # ONNX models agents infer with (paths relative to the file)
//	  - {id: clf, version: "1", path: clf.onnx, sha256: 3f2a..., eager: true}
//	inference:
//	  budgets: {cpu: 268435456}
//	  max_output_bytes: 1048576  # per request
//	  workers: 4                 # models running at once
//	external:             # the daemon's subscribers get what agents emit here
//	  channels: [alerts]  # publishes on these channels
//	  addresses: [out]    # sends to these addresses (no agent may use the id)
type Topology struct {
	Name           string          `yaml:"name"`
	Seed           uint64          `yaml:"seed"`
	Ticks          int             `yaml:"ticks"`
	MaxMessageSize int             `yaml:"max_message_size"`
	Groups         []Group         `yaml:"groups"`
	Modules        []Module        `yaml:"modules"`
	WASM           WASMConfig      `yaml:"wasm"`
	Models         []Model         `yaml:"models"`
	Inference      InferenceConfig `yaml:"inference"`
	Quotas         Quotas          `yaml:"quotas"`
	External       External        `yaml:"external"`
	Agents         []TopologyAgent `yaml:"agents"`
	Inputs         []TopologyInput `yaml:"inputs"`

	source string
	pos    map[string]position // "agents[3]", "agents[3].group", "ticks" -> where it is
}

// TopologyAgent is one agent of a topology.
type TopologyAgent struct {
	ID       string   `yaml:"id"`
	Kind     string   `yaml:"kind"`
	Priority int32    `yaml:"priority"`
	Group    string   `yaml:"group"`
	Channels []string `yaml:"channels"`
	// Config is handed to the kind's factory: a string as is, anything else
	// as JSON with sorted keys.
	Config any `yaml:"config"`
	// Fuel is a WebAssembly agent's fuel per tick (0: its module's).
	Fuel uint64 `yaml:"fuel"`
}

// TopologyInput is an external message applied before tick Tick.
type TopologyInput struct {
	Tick    uint64 `yaml:"tick"`
	To      string `yaml:"to"`
	Channel string `yaml:"channel"`
	Payload string `yaml:"payload"`
}

// MaxTopologySize is the largest topology file LoadTopology reads.
const MaxTopologySize = 16 << 20

// MaxTicks bounds a topology's ticks and the ticks of its inputs.
const MaxTicks = 1 << 40

// LoadTopology reads and checks a topology file.
func LoadTopology(path string) (*Topology, error) {
	data, err := fsutil.ReadRegular(path, "host: reading topology", MaxTopologySize)
	if err != nil {
		return nil, err
	}
	t, err := ParseTopology(path, data)
	if err != nil {
		return nil, err
	}
	t.ResolveModules(filepath.Dir(path))
	return t, nil
}

// ResolveModules makes relative module, model and trusted-key paths relative
// to dir, and absolute, so that a replay log names files that a verify from
// anywhere can find.
func (t *Topology) ResolveModules(dir string) {
	resolve := func(p string) string {
		// "/x" is absolute on every OS (on Windows: the current drive's
		// root), never a path under the topology's directory.
		if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "/") {
			return p
		}
		p = filepath.Join(dir, p)
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p
	}
	for i := range t.Modules {
		t.Modules[i].Path = resolve(t.Modules[i].Path)
	}
	for i := range t.WASM.Trust {
		t.WASM.Trust[i] = resolve(t.WASM.Trust[i])
	}
	for i := range t.Models {
		t.Models[i].Path = resolve(t.Models[i].Path)
	}
}

// ParseTopology parses a topology document; name is used in errors.
// Unknown fields are errors. Every error starts with name and, where the
// document says it, name:LINE:COLUMN (a YAML syntax error: name:LINE),
// then the item ("agents[3]"): an unknown field names the fields it could
// have meant.
func ParseTopology(name string, data []byte) (*Topology, error) {
	t := &Topology{source: name, pos: map[string]position{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	decErr := dec.Decode(t)
	if errors.Is(decErr, io.EOF) {
		return nil, fmt.Errorf("%s: the topology is empty; see the README (or agenthost schema) for the format", name)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, t.yamlError(err) // a syntax error: the decoder's too
	}
	// Walk the document beside the types: where each item and field is,
	// and, when the decoder refused the document, where and why.
	w := &topologyWalker{t: t, seen: map[walkKey]bool{}}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		w.walk(root.Content[0], reflect.TypeFor[Topology](), "")
	}
	if decErr != nil {
		if err := w.err(); err != nil {
			return nil, err
		}
		return nil, t.yamlError(decErr)
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

// check validates what can be checked without a host.
func (t *Topology) check() error {
	switch {
	case t.Ticks < 0 || t.Ticks > MaxTicks:
		return t.errorAt("ticks", "", "ticks is %d; give a number of ticks from 1 to %d (0: give --ticks)", t.Ticks, int64(MaxTicks))
	case checkMaxMessageSize(t.MaxMessageSize) != nil:
		return t.errorAt("max_message_size", "", "%w", checkMaxMessageSize(t.MaxMessageSize))
	case len(t.Agents) == 0:
		return t.errorAt("agents", "", "no agents; add at least one under agents:")
	}
	if err := t.Quotas.Validate(); err != nil {
		return t.errorAt(fieldPos("quotas", reflect.TypeFor[Quotas](), err.Error()), "", "%w", err)
	}
	if err := t.WASM.validate(); err != nil {
		return t.errorAt(fieldPos("wasm", reflect.TypeFor[WASMConfig](), err.Error()), "wasm", "%w", err)
	}
	if err := t.checkGroups(); err != nil {
		return err
	}
	for i, m := range t.Modules {
		item := fmt.Sprintf("modules[%d]", i)
		if m.Name == "" || m.Path == "" {
			return t.errorf(item, "a module needs a name (the kind agents use) and a path to its .wasm file")
		}
		if err := m.validate(); err != nil {
			return t.errorAt(fieldPos(item, reflect.TypeFor[Module](), err.Error()), item, "module %q: %v", m.Name, err)
		}
		for j, g := range m.Grants {
			if err := plugin.CheckCapability(g); err != nil {
				return t.errorAt(fmt.Sprintf("%s.grants[%d]", item, j), item, "module %q: grant %v", m.Name, err)
			}
		}
		if err := (plugin.Policy{Version: m.Version}).Validate(); err != nil {
			return t.errorAt(item+".version", item, "module %q: version: %v", m.Name, strings.TrimPrefix(err.Error(), "plugin: policy: "))
		}
	}
	for i, m := range t.Models {
		if err := m.Validate(); err != nil {
			item := fmt.Sprintf("models[%d]", i)
			return t.errorAt(fieldPos(item, reflect.TypeFor[Model](), err.Error()), item, "%v", err)
		}
	}
	if err := t.Inference.Validate(); err != nil {
		return t.errorAt(fieldPos("inference", reflect.TypeFor[InferenceConfig](), err.Error()), "inference", "%v", err)
	}
	ids := map[string]int{}
	for i, a := range t.Agents {
		item := fmt.Sprintf("agents[%d]", i)
		if err := agent.ValidateName("agent id", a.ID); err != nil {
			return t.errorAt(item+".id", item, "%v", err)
		}
		if j, dup := ids[a.ID]; dup {
			return t.errorAt(item+".id", item, "duplicate agent id %q (also agents[%d]); give each agent its own id", a.ID, j)
		}
		ids[a.ID] = i
		if a.Kind == "" {
			return t.errorf(item, "agent %q has no kind", a.ID)
		}
		if a.Group != "" && !slices.ContainsFunc(t.Groups, func(g Group) bool { return g.Name == a.Group }) {
			return t.errorAt(item+".group", item, "agent %q is in group %q, which is not declared; add it under groups: (or leave group out: the root group)", a.ID, a.Group)
		}
		if err := wasmagent.CheckFuel("fuel", a.Fuel, "its module's"); err != nil {
			return t.errorAt(item+".fuel", item, "agent %q: %v", a.ID, err)
		}
		for j, ch := range a.Channels {
			if err := agent.ValidateName("channel", ch); err != nil {
				return t.errorAt(fmt.Sprintf("%s.channels[%d]", item, j), item, "agent %q: %v", a.ID, err)
			}
		}
		if _, err := a.configBytes(); err != nil {
			return t.errorAt(item+".config", item, "agent %q: config: %v", a.ID, err)
		}
	}
	for i, in := range t.Inputs {
		item := fmt.Sprintf("inputs[%d]", i)
		if (in.To == "") == (in.Channel == "") {
			return t.errorf(item, "give exactly one of to: (an agent id) or channel:")
		}
		if in.Channel != "" {
			if err := agent.ValidateName("channel", in.Channel); err != nil {
				return t.errorAt(item+".channel", item, "%v", err)
			}
		}
		if in.Tick > MaxTicks {
			return t.errorAt(item+".tick", item, "tick %d is over %d", in.Tick, int64(MaxTicks))
		}
		if limit := cmp.Or(t.MaxMessageSize, engine.DefaultMaxMessageSize); len(in.Payload) > limit {
			return t.errorAt(item+".payload", item, "payload of %d bytes is over max_message_size (%d)", len(in.Payload), limit)
		}
		if _, ok := ids[in.To]; in.To != "" && !ok {
			return t.errorAt(item+".to", item, "input to unknown agent %q; declare it under agents:", in.To)
		}
	}
	return nil
}

// checkGroups checks the supervision tree: named, unique, with declared
// parents and no cycle.
func (t *Topology) checkGroups() error {
	index := map[string]int{}
	for i, g := range t.Groups {
		item := fmt.Sprintf("groups[%d]", i)
		if err := agent.ValidateName("group name", g.Name); err != nil {
			return t.errorAt(item+".name", item, "%v", err)
		}
		if j, dup := index[g.Name]; dup {
			return t.errorAt(item+".name", item, "duplicate group %q (also groups[%d]); give each group its own name", g.Name, j)
		}
		index[g.Name] = i
		if g.MaxRestarts < 0 {
			return t.errorAt(item+".max_restarts", item, "max_restarts is %d; give 0 or more", g.MaxRestarts)
		}
	}
	for i, g := range t.Groups {
		seen := map[string]bool{g.Name: true}
		for p := g.Parent; p != ""; p = t.Groups[index[p]].Parent {
			item := fmt.Sprintf("groups[%d]", i)
			if _, ok := index[p]; !ok {
				return t.errorAt(item+".parent", item, "group %q has parent %q, which is not declared; declare it, or leave parent out (the root group)", g.Name, p)
			}
			if seen[p] {
				return t.errorAt(item+".parent", item, "group %q is its own ancestor (through %q); parents must form a tree", g.Name, p)
			}
			seen[p] = true
		}
	}
	return nil
}

func (a TopologyAgent) configBytes() ([]byte, error) {
	switch c := a.Config.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(c), nil
	default:
		return json.Marshal(c)
	}
}

// Options completes opts with what the topology says: its seed, groups,
// message size, quotas, external doors, modules, models, WASM and
// inference settings (opts keeps its kinds, logger, workers, replay log,
// ONNX Runtime library and module cache).
func (t *Topology) Options(opts Options) Options {
	opts.Seed, opts.Groups, opts.MaxMessageSize, opts.Quotas = t.Seed, t.Groups, t.MaxMessageSize, t.Quotas
	opts.External = t.External
	opts.Modules = t.Modules
	opts.Models = t.Models
	lib := opts.Inference.Library
	opts.Inference = t.Inference
	if lib != "" {
		opts.Inference.Library = lib
	}
	cache := opts.WASM.CacheDir
	opts.WASM = t.WASM
	if cache != "" {
		opts.WASM.CacheDir = cache
	}
	return opts
}

// Start starts a host for the topology. opts supplies the kinds, logger,
// workers and replay log; the rest comes from the topology (Options). The
// agents are spawned and joined at tick 0; inputs are applied before their
// ticks.
func (t *Topology) Start(opts Options) (*Host, error) {
	h, err := New(t.Options(opts))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.source, err)
	}
	if err := t.SpawnAgents(h); err != nil {
		h.Close()
		return nil, err
	}
	t.Schedule(h, 0, 0)
	return h, nil
}

// SpawnAgents spawns the topology's agents and joins them to their
// channels, from the host's next tick.
func (t *Topology) SpawnAgents(h *Host) error {
	for i, a := range t.Agents {
		cfg, _ := a.configBytes()
		if err := h.Spawn(AgentSpec{ID: a.ID, Kind: a.Kind, Config: cfg, Priority: a.Priority, Group: a.Group, Fuel: a.Fuel}); err != nil {
			return t.errorf(fmt.Sprintf("agents[%d]", i), "%v", err)
		}
		for _, ch := range a.Channels {
			if err := h.Join(a.ID, ch); err != nil {
				return t.errorf(fmt.Sprintf("agents[%d]", i), "%v", err)
			}
		}
	}
	return nil
}

// Resume starts a host for the topology from a checkpoint of its run (cp
// nil: from before tick 0, for a run whose log is replayed from its start,
// or that records to a log given later: the log holds the spawns). Nothing
// is spawned and no input scheduled: call SpawnAgents for a new run, and
// Schedule once the run is where it goes on live.
func (t *Topology) Resume(opts Options, cp *Checkpoint) (*Host, error) {
	h, err := start(t.Options(opts), cp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.source, err)
	}
	return h, nil
}

// Schedule schedules the topology's inputs of ticks from `from` on, but
// the first skip of tick from's (a resumed run that recorded them already).
func (t *Topology) Schedule(h *Host, from clock.Tick, skip int) {
	h.scheduled = map[clock.Tick][]engine.Command{}
	for _, in := range t.Inputs {
		if clock.Tick(in.Tick) < from {
			continue
		}
		if clock.Tick(in.Tick) == from && skip > 0 {
			skip--
			continue
		}
		c := engine.Command{Input: &engine.Input{To: in.To, Channel: in.Channel, Payload: []byte(in.Payload)}}
		h.scheduled[clock.Tick(in.Tick)] = append(h.scheduled[clock.Tick(in.Tick)], c)
	}
}

// CheckSnapshots makes one agent of each Go kind the topology uses and
// says which cannot be checkpointed: checkpoints need every agent to
// implement agent.Snapshotter (WebAssembly agents always do).
func (t *Topology) CheckSnapshots(kinds map[string]Factory) error {
	modules := map[string]bool{}
	for _, m := range t.Modules {
		modules[m.Name] = true
	}
	seen := map[string]bool{}
	for i, a := range t.Agents {
		f := kinds[a.Kind]
		if modules[a.Kind] || f == nil || seen[a.Kind] {
			continue
		}
		seen[a.Kind] = true
		cfg, _ := a.configBytes()
		if err := goSnapshotter(a.Kind, f, a.ID, cfg); err != nil {
			return t.errorf(fmt.Sprintf("agents[%d]", i), "%v", err)
		}
	}
	return nil
}
