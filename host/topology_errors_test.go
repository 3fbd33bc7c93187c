package host_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lockstep-rt/lockstep/host"
)

// TestTopologyErrorPositions: what the decoder refuses (unknown fields,
// values of the wrong type, keys given twice) and what check refuses is
// reported at its line and column, with the item; an unknown field names
// the field it could have meant, or the fields there are.
func TestTopologyErrorPositions(t *testing.T) {
	const agents = "agents:\n  - {id: a, kind: idle}\n"
	cases := []struct{ name, doc string }{
		{"top-level typo", "seed: 1\nticks: 5\ntick: 3\n" + agents},
		{"agent typo", "agents:\n  - {id: a, knd: idle}\n"},
		{"block agent typo", "agents:\n  - id: a\n    kind: idle\n    chanels: [c]\n"},
		{"transposed", "wasm: {fule: 3}\n" + agents},
		{"dash for underscore", "groups: [{name: g, on-failure: stop}]\n" + agents},
		{"nothing close", agents + "zzzz: 1\n"},
		{"wrong type", "agents:\n  - {id: a, kind: idle, priority: high}\n"},
		{"negative unsigned", "agents:\n  - {id: a, kind: idle, fuel: -1}\n"},
		{"duration", "wasm: {watchdog: 5}\n" + agents},
		{"enum", "groups: [{name: g, strategy: bogus}]\n" + agents},
		{"mapping for a list", "modules: {a: b}\n" + agents},
		{"twice", "agents:\n  - {id: a, kind: idle, id: b}\n"},
		{"merged typo", "agents:\n  - <<: {kind: idle, fule: 1}\n    id: a\n"},
		{"map value", "inference: {budgets: {cpu: lots}}\n" + agents},
		{"grant", "modules:\n  - {name: m, path: m.wasm, grants: [log, network]}\n" + agents},
		{"version", "modules:\n  - {name: m, path: m.wasm, version: \">=x.y\"}\n" + agents},
		{"duplicate id", "agents:\n  - {id: a, kind: idle}\n  - {id: a, kind: idle}\n"},
		{"agent channel", "agents:\n  - {id: a, kind: idle, channels: [ok, \"bad one\"]}\n"},
		{"group parent", "groups:\n  - {name: g, parent: nope}\n" + agents},
		{"no agents", "seed: 1\nagents: []\n"},
		{"quota", "quotas:\n  channels: -4\n" + agents},
		{"input to", agents + "inputs:\n  - {tick: 1, to: b, payload: x}\n"},
		{"syntax", "agents: [{id: a, kind: idle}\n"},
	}
	want := map[string]string{
		"top-level typo":      `t.yaml:3:1: unknown field "tick" (did you mean "ticks"?)`,
		"agent typo":          `t.yaml:2:13: agents[0]: unknown field "knd" (did you mean "kind"?)`,
		"block agent typo":    `t.yaml:4:5: agents[0]: unknown field "chanels" (did you mean "channels"?)`,
		"transposed":          `t.yaml:1:8: wasm: unknown field "fule" (did you mean "fuel"?)`,
		"dash for underscore": `t.yaml:1:20: groups[0]: unknown field "on-failure" (did you mean "on_failure"?)`,
		"nothing close":       `t.yaml:3:1: unknown field "zzzz"; the fields here are agents, external, groups, inference, inputs, max_message_size, models, modules, name, quotas, seed, ticks, wasm`,
		"wrong type":          `t.yaml:2:35: agents[0].priority: got "high", want an integer from -2147483648 to 2147483647`,
		"negative unsigned":   `t.yaml:2:31: agents[0].fuel: got "-1", want a whole number (0 or more)`,
		"duration":            `t.yaml:1:18: wasm.watchdog: got "5", want a duration such as 500ms or 2s`,
		"enum":                `t.yaml:1:30: groups[0].strategy: unknown strategy "bogus"`,
		"mapping for a list":  `t.yaml:1:10: modules: got a mapping, want a list`,
		"twice":               `t.yaml:2:25: agents[0]: "id" is given twice (also at line 2); keep one`,
		"merged typo":         `t.yaml:2:22: agents[0]: unknown field "fule" (did you mean "fuel"?)`,
		"map value":           `t.yaml:1:28: inference.budgets.cpu: got "lots", want an integer`,
		"grant":               `t.yaml:2:43: modules[0]: module "m": grant "network" is not a capability`,
		"version":             `t.yaml:2:38: modules[0]: module "m": version: version requirement ">=x.y"`,
		"duplicate id":        `t.yaml:3:10: agents[1]: duplicate agent id "a" (also agents[0])`,
		"agent channel":       `t.yaml:2:40: agents[0]: agent "a": agent: invalid name: channel "bad one"`,
		"group parent":        `t.yaml:2:23: groups[0]: group "g" has parent "nope", which is not declared`,
		"no agents":           `t.yaml:2:9: no agents; add at least one under agents:`,
		"quota":               `t.yaml:2:13: quotas.channels is -4`,
		"input to":            `t.yaml:4:19: inputs[0]: input to unknown agent "b"`,
		"syntax":              `t.yaml:1: did not find expected ',' or ']'`,
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := host.ParseTopology("t.yaml", []byte(c.doc))
			if err == nil || !strings.HasPrefix(err.Error(), want[c.name]) {
				t.Fatalf("ParseTopology(%q) = %v\nwant an error starting %q", c.doc, err, want[c.name])
			}
			if strings.Contains(err.Error(), "host.") || strings.Contains(err.Error(), "!!") {
				t.Errorf("the error names a Go type or a YAML tag: %v", err)
			}
		})
	}
	// Every error of the document is reported, each at its place.
	doc := "tick: 1\nagents:\n  - {id: a, knd: idle, priority: x}\n"
	_, err := host.ParseTopology("t.yaml", []byte(doc))
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "t.yaml:1:1: ") || !strings.HasPrefix(lines[1], "t.yaml:3:13: agents[0]: ") || !strings.HasPrefix(lines[2], "t.yaml:3:34: agents[0].priority: ") {
		t.Errorf("three errors: %v", err)
	}
	// An error the walk does not explain still names the file.
	if _, err := host.ParseTopology("t.yaml", []byte("- a\n- b\n")); err == nil || !strings.HasPrefix(err.Error(), "t.yaml:1:1: got a list, want a mapping") {
		t.Errorf("a list for a topology: %v", err)
	}
}

// TestTopologyAliasesBounded: a document of nested aliases (a "billion
// laughs") is refused quickly: each aliased node is walked once per type.
func TestTopologyAliasesBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {id: x, kind: k, bad: 1}\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1)
	}
	b.WriteString("agents: *a29\n")
	if _, err := host.ParseTopology("t.yaml", []byte(b.String())); err == nil {
		t.Fatal("accepted")
	}
}

// TestTopologySchema: the schema is JSON Schema 2020-12 with every yaml
// field of host.Topology and the types under it, each described, and no
// other; and the repository's topologies are valid under it.
func TestTopologySchema(t *testing.T) {
	data, err := host.TopologySchema()
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	if schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", schema["$schema"])
	}
	defs, _ := schema["$defs"].(map[string]any)
	var check func(typ reflect.Type, def map[string]any)
	seen := map[reflect.Type]bool{}
	check = func(typ reflect.Type, def map[string]any) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		props, _ := def["properties"].(map[string]any)
		if def["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is not false", typ)
		}
		var names []string
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || tag == "-" {
				continue
			}
			names = append(names, tag)
			p, ok := props[tag].(map[string]any)
			switch {
			case !ok:
				t.Errorf("%s.%s: yaml field %q is not in the schema", typ, f.Name, tag)
				continue
			case p["description"] == nil || p["description"] == "":
				t.Errorf("%s.%s: %q has no description", typ, f.Name, tag)
			}
			ft := f.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.NumField() > 0 && ft.PkgPath() != "time" {
				sub, _ := defs[ft.Name()].(map[string]any)
				if sub == nil {
					t.Errorf("%s.%s: no $defs/%s", typ, f.Name, ft.Name())
					continue
				}
				check(ft, sub)
			}
		}
		for name := range props {
			if !slices.Contains(names, name) {
				t.Errorf("%s: the schema has %q, which is not a yaml field", typ, name)
			}
		}
	}
	check(reflect.TypeFor[host.Topology](), schema)
	if len(seen) < 10 {
		t.Errorf("checked %d types; want Topology and the 9 under it", len(seen))
	}

	for _, p := range append(slices.Clone(topologySeeds), "../examples/serve/topology.yaml", "../cmd/agenthost/testdata/logshow-topology.yaml") {
		doc, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			t.Fatal(err)
		}
		if err := validate(schema, schema, v, "$"); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	bad := map[string]any{"ticks": 5, "tick": 3, "agents": []any{map[string]any{"id": "a", "kind": "k", "group": "bad name!"}}}
	if err := validate(schema, schema, bad, "$"); err == nil {
		t.Error("the schema accepts an unknown field and a bad group name")
	}
}

// validate checks v against the subset of JSON Schema TopologySchema uses.
func validate(root, s map[string]any, v any, at string) error {
	if ref, ok := s["$ref"].(string); ok {
		def := root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")]
		return validate(root, def.(map[string]any), v, at)
	}
	if alts, ok := s["anyOf"].([]any); ok {
		for _, a := range alts {
			if validate(root, a.(map[string]any), v, at) == nil {
				return nil
			}
		}
		return fmt.Errorf("%s: %v matches none of anyOf", at, v)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, any(fmt.Sprint(v))) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	num := func(x any) float64 {
		switch n := x.(type) {
		case int:
			return float64(n)
		case uint64:
			return float64(n)
		case float64:
			return n
		}
		return math.NaN()
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T is not an object", at, v)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				return fmt.Errorf("%s: %s is required", at, r)
			}
		}
		for k, x := range m {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					ps = ap
				} else if props != nil {
					return fmt.Errorf("%s: %q is not allowed", at, k)
				} else {
					continue
				}
			}
			if err := validate(root, ps, x, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T is not an array", at, v)
		}
		if n, ok := s["minItems"].(float64); ok && float64(len(a)) < n {
			return fmt.Errorf("%s: fewer than %v items", at, n)
		}
		for i, x := range a {
			if err := validate(root, s["items"].(map[string]any), x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: %T is not a string", at, v)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", at, str, p)
		}
	case "integer", "number":
		n := num(v)
		if math.IsNaN(n) {
			return fmt.Errorf("%s: %T is not a number", at, v)
		}
		if lo, ok := s["minimum"].(float64); ok && n < lo {
			return fmt.Errorf("%s: %v < %v", at, n, lo)
		}
		if hi, ok := s["maximum"].(float64); ok && n > hi {
			return fmt.Errorf("%s: %v > %v", at, n, hi)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T is not a boolean", at, v)
		}
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
