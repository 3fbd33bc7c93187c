package host

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// position is a place in a topology file: line and column, from 1.
type position struct{ line, col int }

// yamlField is a field of a struct as a topology file names it.
type yamlField struct {
	name  string
	field reflect.StructField
}

// yamlFields lists the fields of struct type t that YAML decodes, in
// order, by their yaml names (yaml.v3's rules: the tag's name, else the
// field's name in lower case; inline structs flattened; "-" and unexported
// fields left out).
func yamlFields(t reflect.Type) []yamlField {
	var out []yamlField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct {
			out = append(out, yamlFields(f.Type)...)
			continue
		}
		if f.PkgPath != "" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, yamlField{name, f})
	}
	return out
}

func fieldNames(fs []yamlField) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// custom reports whether values of t decode themselves.
func custom(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(textUnmarshaler) || p.Implements(yamlUnmarshaler) || t.Implements(yamlUnmarshaler)
}

// maxTopologyErrors bounds the errors one parse reports.
const maxTopologyErrors = 10

// topologyWalker walks a topology document beside the Go types it decodes
// into: it records where each item and field is, and explains what the
// decoder refuses (unknown fields, duplicate keys, values of the wrong
// type) with their line and column.
type topologyWalker struct {
	t    *Topology
	errs []error
	more int
	seen map[walkKey]bool // aliased nodes already walked as a type
}

type walkKey struct {
	n *yaml.Node
	t reflect.Type
}

func (w *topologyWalker) errorf(n *yaml.Node, item, format string, args ...any) {
	if len(w.errs) >= maxTopologyErrors {
		w.more++
		return
	}
	loc := fmt.Sprintf("%s:%d:%d", w.t.source, n.Line, n.Column)
	if item != "" {
		loc += ": " + item
	}
	w.errs = append(w.errs, fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, args...)))
}

func (w *topologyWalker) err() error {
	if w.more > 0 {
		w.errs = append(w.errs, fmt.Errorf("%s: and %d more errors", w.t.source, w.more))
	}
	return errors.Join(w.errs...)
}

func (w *topologyWalker) record(path string, n *yaml.Node) {
	if _, ok := w.t.pos[path]; !ok && path != "" {
		w.t.pos[path] = position{n.Line, n.Column}
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// walk checks node n as a value of type t at path ("" for the document,
// "agents[2]", "agents[2].channels[0]", "inference.budgets.cpu").
func (w *topologyWalker) walk(n *yaml.Node, t reflect.Type, path string) {
	w.record(path, n)
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		k := walkKey{n.Alias, t}
		if w.seen[k] {
			return
		}
		w.seen[k] = true
		n = n.Alias
	}
	if isNull(n) || n.Kind == 0 {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if custom(t) {
		w.leaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.wrongType(n, t, path)
			return
		}
		w.mapping(n, t, path, map[string]*yaml.Node{})
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			w.leaf(n, t, path)
			return
		}
		if n.Kind != yaml.SequenceNode {
			w.wrongType(n, t, path)
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.wrongType(n, t, path)
			return
		}
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if w.duplicate(k, path, seen) {
				continue
			}
			w.leaf(k, t.Key(), path)
			w.walk(v, t.Elem(), join(path, k.Value))
		}
	case reflect.Interface:
		// Anything: an agent's config.
	default:
		w.leaf(n, t, path)
	}
}

// mapping checks the keys of mapping n against the fields of struct t,
// following merge keys (<<: *anchor) as the decoder does.
func (w *topologyWalker) mapping(n *yaml.Node, t reflect.Type, path string, seen map[string]*yaml.Node) {
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			w.merge(v, t, path)
			continue
		}
		if w.duplicate(k, path, seen) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.errorf(k, path, "a key must be a name, not %s", describeNode(k))
			continue
		}
		j := slices.IndexFunc(fields, func(f yamlField) bool { return f.name == k.Value })
		if j < 0 {
			w.errorf(k, path, "unknown field %q%s", k.Value, suggest(k.Value, fieldNames(fields)))
			continue
		}
		w.walk(v, fields[j].field.Type, join(path, k.Value))
	}
}

func (w *topologyWalker) merge(v *yaml.Node, t reflect.Type, path string) {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		k := walkKey{v.Alias, t}
		if w.seen[k] {
			return
		}
		w.seen[k] = true
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		w.mapping(v, t, path, map[string]*yaml.Node{})
	case yaml.SequenceNode:
		for _, m := range v.Content {
			w.merge(m, t, path)
		}
	default:
		w.errorf(v, path, "a merge (<<) takes a mapping or a list of mappings, not %s", describeNode(v))
	}
}

// duplicate reports (and refuses) a key already in the mapping.
func (w *topologyWalker) duplicate(k *yaml.Node, path string, seen map[string]*yaml.Node) bool {
	if k.Kind != yaml.ScalarNode {
		return false
	}
	if prev, ok := seen[k.Value]; ok {
		w.errorf(k, path, "%q is given twice (also at line %d); keep one", k.Value, prev.Line)
		return true
	}
	seen[k.Value] = k
	return false
}

// leaf decodes n alone as a t, to say where and why it does not fit.
func (w *topologyWalker) leaf(n *yaml.Node, t reflect.Type, path string) {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		w.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	w.wrongType(n, t, path)
}

func (w *topologyWalker) wrongType(n *yaml.Node, t reflect.Type, path string) {
	w.errorf(n, path, "got %s, want %s", describeNode(n), describeType(t))
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// describeNode says what a node holds, for an error.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40]
		for !utf8.ValidString(v) {
			v = v[:len(v)-1]
		}
		v += "…"
	}
	return strconv.Quote(v)
}

// describeType says what a topology field takes, for an error.
func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 500ms or 2s"
	case custom(t):
		return "a name (a string)"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return fmt.Sprintf("an integer from %d to %d", -(int64(1) << (t.Bits() - 1)), int64(1)<<(t.Bits()-1)-1)
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return "a whole number (0 or more)"
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(math.MaxUint64)>>(64-t.Bits()))
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping (key: value)"
	}
	return "a " + t.String()
}

// suggest returns ` (did you mean "x"?)` for the known name closest to
// name, when one is close enough to be a typo, and else the known names.
func suggest(name string, known []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	n := norm(name)
	best, bestD := "", math.MaxInt
	for _, k := range known {
		d := editDistance(n, norm(k))
		if len(n) >= 3 && (strings.HasPrefix(k, n) || strings.HasPrefix(n, k)) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= min(3, 1+utf8.RuneCountInString(name)/5) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sorted := slices.Sorted(slices.Values(known))
	return "; the fields here are " + strings.Join(sorted, ", ")
}

// editDistance is the edit distance between a and b in runes: insertions,
// deletions, substitutions and transpositions of neighbours ("fule" is one
// edit from "fuel").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError rewrites an error of the YAML parser or decoder as
// "file:LINE: reason", one line per error.
func (t *Topology) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	var errs []error
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if m := yamlLineRE.FindStringSubmatch(line); m != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", t.source, m[1], m[2]))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", t.source, strings.TrimPrefix(line, "yaml: ")))
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("%s: %w", t.source, err)
	}
	return errors.Join(errs...)
}

// fieldPos returns the path of the field of the struct at path (of type
// typ) that msg names first, e.g. "wasm.fuel" for "wasmagent: fuel 9 is
// over ...", or path when msg names none.
func fieldPos(path string, typ reflect.Type, msg string) string {
	names := fieldNames(yamlFields(typ))
	for _, tok := range strings.FieldsFunc(msg, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) {
		if slices.Contains(names, tok) {
			return join(path, tok)
		}
	}
	return path
}

// errorAt returns an error at the position of where (a path as
// topologyWalker records them; if it has none, of item), labelled item
// ("agents[3]", or "" for none).
func (t *Topology) errorAt(where, item, format string, args ...any) error {
	loc := t.source
	p, ok := t.pos[where]
	if !ok {
		p, ok = t.pos[item]
	}
	if ok {
		loc = fmt.Sprintf("%s:%d:%d", t.source, p.line, p.col)
	}
	if item != "" {
		loc += ": " + item
	}
	return fmt.Errorf("%s: %w", loc, fmt.Errorf(format, args...))
}

// errorf returns an error at item ("agents[3]").
func (t *Topology) errorf(item string, format string, args ...any) error {
	return t.errorAt(item, item, format, args...)
}
