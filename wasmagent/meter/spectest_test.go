package meter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/lockstep-rt/lockstep/wasmagent/meter"
)

// specFuel is the fuel every rewritten instance gets before each invocation:
// far more than any spec test uses, so fuel never runs out.
const specFuel = int64(1) << 62

// specCallTimeout bounds one invocation, so that a rewrite that turns a
// terminating loop into an endless one fails the test instead of hanging it.
const specCallTimeout = 20 * time.Second

// valueTypeV128 is the binary encoding of v128 (the api package has no name for it).
const valueTypeV128 api.ValueType = 0x7b

// specRewriteOptions are the host's: start functions get fuel, as wasmagent
// gives them InitFuel, and calls nest at most DefaultMaxCallDepth deep.
var specRewriteOptions = meter.Options{Fuel: true, CanonicalizeNaN: true, StartFuel: 1 << 62, MaxCallDepth: meter.DefaultMaxCallDepth}

type specSuite struct {
	name     string
	features api.CoreFeatures
	short    []string // the files -short runs
}

var specSuites = []specSuite{
	{name: "v1", features: api.CoreFeaturesV1, short: []string{
		"f32", "f64", "f32_bitwise", "f64_bitwise", "float_exprs", "float_misc",
		"float_memory", "conversions", "i32", "i64", "loop", "br_table",
		"memory_grow", "call_indirect", "start", "linking", "call",
	}},
	{name: "v2", features: api.CoreFeaturesV2, short: []string{
		"f32", "f64", "f32_bitwise", "f64_bitwise", "float_exprs", "float_misc",
		"float_memory", "conversions", "i32", "i64", "loop", "br_table",
		"memory_grow", "call_indirect", "bulk", "memory_copy", "memory_fill",
		"memory_init", "table_init", "table_copy", "linking",
		"simd_f32x4_arith", "simd_f64x2", "simd_f32x4_rounding", "simd_lane",
	}},
}

type specEngine struct {
	name   string
	config func() wazero.RuntimeConfig
}

func specEngines() []specEngine {
	var engines []specEngine
	// wazero's optimizing compiler exists for amd64 and arm64 only.
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
		engines = append(engines, specEngine{"compiler", wazero.NewRuntimeConfigCompiler})
	}
	return append(engines, specEngine{"interpreter", wazero.NewRuntimeConfigInterpreter})
}

// Exception categories. A failure on the rewritten module of an assertion that
// passes on the original is allowed only when an entry of specExceptions
// matches it.
const (
	catNaN        = "nan-canonicalised"
	catExhaustion = "exhaustion"
)

type specException struct {
	category string
	suite    string   // "" = every suite
	file     string   // "" = every file
	fields   []string // exported functions; nil = every function
	reason   string
	// applies checks that the failure really is of this kind.
	applies func(c *specCommand, orig, rew *specOutcome) bool
}

// specCategories are the kinds of allowed exception, in summary order.
var specCategories = []string{catNaN, catExhaustion}

// specExceptions is the allow-list. It has no catNaN entry because none is
// needed: Options.CanonicalizeNaN canonicalises only NaNs produced by float
// arithmetic, from which the spec expects nan:canonical or nan:arithmetic
// (both met by the canonical NaN), while the operations whose NaN bits the
// spec pins down exactly (neg, abs, copysign, loads, stores, reinterpret,
// select, locals, globals, constants, lane moves) keep their bits. Should
// Rewrite's documentation ever list such an operation as canonicalised, the
// entry to add is
//
//	{category: catNaN, suite: "v1", file: "f32_bitwise", fields: []string{"neg"},
//		reason: "...", applies: nanBitsOnly}
//
// naming each file and exported function concerned.
var specExceptions = []specException{
	{
		category: catExhaustion,
		reason: "assert_exhaustion expects a call-stack overflow from unbounded recursion; " +
			"without Options.MaxCallDepth, metering adds locals and operand-stack slots to each " +
			"frame, so which runtime limit is hit first may change. Allowed only while the " +
			"rewritten call still traps without having run out of fuel (it must never return " +
			"normally). With MaxCallDepth the rewritten call must end in the depth trap instead, " +
			"which exec checks, so this entry goes unused.",
		applies: func(c *specCommand, orig, rew *specOutcome) bool {
			return c.Type == "assert_exhaustion" && rew.err != nil && !rew.fuelExhausted
		},
	},
}

// nanBitsOnly is the check of a catNaN exception: the rewritten call returned
// and differs from the expectation only where a specific NaN bit pattern was
// expected and another NaN came back.
func nanBitsOnly(c *specCommand, orig, rew *specOutcome) bool {
	return c.Type == "assert_return" && rew.err == nil && onlyNaNBitsDiffer(c.Expected, rew.results)
}

func (x *specException) match(suite, file string, c *specCommand, orig, rew *specOutcome) bool {
	if x.suite != "" && x.suite != suite || x.file != "" && x.file != file {
		return false
	}
	if x.fields != nil {
		found := false
		for _, f := range x.fields {
			found = found || f == c.Action.Field
		}
		if !found {
			return false
		}
	}
	return x.applies(c, orig, rew)
}

// ---------------------------------------------------------------------------
// wast2json command files

type specScript struct {
	SourceFilename string        `json:"source_filename"`
	Commands       []specCommand `json:"commands"`
}

type specCommand struct {
	Type       string      `json:"type"`
	Line       int         `json:"line"`
	Name       string      `json:"name"`        // module, register
	Filename   string      `json:"filename"`    // module, assert_{invalid,malformed,unlinkable,uninstantiable}
	As         string      `json:"as"`          // register
	ModuleType string      `json:"module_type"` // "binary" or "text"
	Text       string      `json:"text"`        // expected failure
	Action     specAction  `json:"action"`
	Expected   []specValue `json:"expected"`
}

type specAction struct {
	Type   string      `json:"type"` // invoke, get
	Module string      `json:"module"`
	Field  string      `json:"field"`
	Args   []specValue `json:"args"`
}

// specValue is a typed value: "value" is a decimal string (the bits, for
// floats), "nan:canonical"/"nan:arithmetic", "null", a list of lane strings
// for v128, or absent (any reference).
type specValue struct {
	Type     string          `json:"type"`
	LaneType string          `json:"lane_type"`
	Value    json.RawMessage `json:"value"`
}

func (v specValue) scalar() (string, bool) {
	var s string
	if len(v.Value) == 0 || json.Unmarshal(v.Value, &s) != nil {
		return "", false
	}
	return s, true
}

func (v specValue) lanes() ([]string, error) {
	var ls []string
	if err := json.Unmarshal(v.Value, &ls); err != nil {
		return nil, fmt.Errorf("v128 value %s: %w", v.Value, err)
	}
	return ls, nil
}

func (v specValue) String() string {
	if v.Type == "v128" {
		ls, _ := v.lanes()
		return fmt.Sprintf("v128:%s[%s]", v.LaneType, strings.Join(ls, " "))
	}
	s, ok := v.scalar()
	if !ok {
		s = "*"
	}
	return v.Type + ":" + s
}

// words is how many uint64s wazero uses for a value of this type.
func (v specValue) words() int {
	if v.Type == "v128" {
		return 2
	}
	return 1
}

func laneWidth(laneType string) (int, error) {
	switch laneType {
	case "i8":
		return 8, nil
	case "i16":
		return 16, nil
	case "i32", "f32":
		return 32, nil
	case "i64", "f64":
		return 64, nil
	}
	return 0, fmt.Errorf("unknown lane type %q", laneType)
}

// parseBits parses an integer literal (wast2json writes unsigned decimals;
// other converters write signed ones) into its low width bits.
func parseBits(s string, width int) (uint64, error) {
	var u uint64
	if strings.HasPrefix(s, "-") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		u = uint64(i)
	} else {
		var err error
		if u, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, err
		}
	}
	if width < 64 {
		u &= 1<<width - 1
	}
	return u, nil
}

// encode turns an argument into wazero's uint64 words.
func (v specValue) encode() ([]uint64, error) {
	switch v.Type {
	case "v128":
		ls, err := v.lanes()
		if err != nil {
			return nil, err
		}
		w, err := laneWidth(v.LaneType)
		if err != nil {
			return nil, err
		}
		if len(ls)*w != 128 {
			return nil, fmt.Errorf("v128 with %d %s lanes", len(ls), v.LaneType)
		}
		var out [2]uint64
		for i, l := range ls {
			b, err := parseBits(l, w)
			if err != nil {
				return nil, err
			}
			bit := i * w
			out[bit/64] |= b << (bit % 64)
		}
		return out[:], nil
	case "externref", "funcref":
		s, ok := v.scalar()
		if !ok || s == "null" {
			return []uint64{0}, nil
		}
		if v.Type == "funcref" {
			return nil, fmt.Errorf("non-null funcref argument %q", s)
		}
		n, err := strconv.ParseUint(s, 10, 64)
		// wazero's externref is an opaque pointer where 0 is null, so
		// (ref.extern N) is passed as N+1, as wazero's own runner does.
		return []uint64{n + 1}, err
	}
	s, ok := v.scalar()
	if !ok {
		return nil, fmt.Errorf("%s argument without a value", v.Type)
	}
	switch v.Type {
	case "i32", "f32":
		b, err := parseBits(s, 32)
		return []uint64{b}, err
	case "i64", "f64":
		b, err := parseBits(s, 64)
		return []uint64{b}, err
	}
	return nil, fmt.Errorf("unsupported argument type %q", v.Type)
}

// matchFloat reports whether bits (of the given width) meet an expected float:
// "nan:canonical" (either sign), "nan:arithmetic" (quiet bit set), or exact
// bits otherwise (so -0 ≠ +0 and NaN payloads are compared too).
func matchFloat(exp string, bits uint64, width int) (bool, error) {
	var sign, quiet uint64
	if width == 32 {
		bits &= math.MaxUint32
		sign, quiet = 0x8000_0000, 0x7fc0_0000
	} else {
		sign, quiet = 0x8000_0000_0000_0000, 0x7ff8_0000_0000_0000
	}
	switch exp {
	case "nan:canonical":
		return bits&^sign == quiet, nil
	case "nan:arithmetic":
		return bits&quiet == quiet, nil
	}
	want, err := parseBits(exp, width)
	return bits == want, err
}

// match reports whether got (v.words() uint64s) meets the expectation v.
func (v specValue) match(got []uint64) (bool, error) {
	switch v.Type {
	case "i32":
		s, _ := v.scalar()
		want, err := parseBits(s, 32)
		// The compiler may leave garbage above an i32 result.
		return uint32(got[0]) == uint32(want), err
	case "i64":
		s, _ := v.scalar()
		want, err := parseBits(s, 64)
		return got[0] == want, err
	case "f32", "f64":
		s, _ := v.scalar()
		w := 32
		if v.Type == "f64" {
			w = 64
		}
		return matchFloat(s, got[0], w)
	case "externref", "funcref":
		s, ok := v.scalar()
		if !ok {
			return got[0] != 0, nil // any non-null reference
		}
		if s == "null" {
			return got[0] == 0, nil
		}
		n, err := strconv.ParseUint(s, 10, 64)
		return got[0] == n+1, err
	case "v128":
		ls, err := v.lanes()
		if err != nil {
			return false, err
		}
		w, err := laneWidth(v.LaneType)
		if err != nil {
			return false, err
		}
		for i, l := range ls {
			bit := i * w
			lane := got[bit/64] >> (bit % 64)
			if w < 64 {
				lane &= 1<<w - 1
			}
			var ok bool
			if v.LaneType[0] == 'f' {
				ok, err = matchFloat(l, lane, w)
			} else {
				var want uint64
				want, err = parseBits(l, w)
				ok = lane == want
			}
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("unsupported result type %q", v.Type)
}

// mask keeps the meaningful bits of a result word of this type.
func (v specValue) mask(w uint64) uint64 {
	if v.Type == "i32" || v.Type == "f32" {
		return w & math.MaxUint32
	}
	return w
}

func formatWords(exps []specValue, got []uint64) string {
	var parts []string
	pos := 0
	for _, e := range exps {
		if pos+e.words() > len(got) {
			break
		}
		switch e.Type {
		case "i32", "f32":
			parts = append(parts, fmt.Sprintf("%s:%#x", e.Type, uint32(got[pos])))
		case "v128":
			parts = append(parts, fmt.Sprintf("v128:%#016x_%016x", got[pos+1], got[pos]))
		default:
			parts = append(parts, fmt.Sprintf("%s:%#x", e.Type, got[pos]))
		}
		pos += e.words()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func matchResults(exps []specValue, got []uint64) (bool, string) {
	n := 0
	for _, e := range exps {
		n += e.words()
	}
	if n != len(got) {
		return false, fmt.Sprintf("got %d result words, want %d", len(got), n)
	}
	pos := 0
	for _, e := range exps {
		ok, err := e.match(got[pos : pos+e.words()])
		if err != nil {
			return false, "bad expectation: " + err.Error()
		}
		if !ok {
			return false, fmt.Sprintf("got %s, want %v", formatWords(exps, got), exps)
		}
		pos += e.words()
	}
	return true, ""
}

func isNaNBits(b uint64, width int) bool {
	if width == 32 {
		f := math.Float32frombits(uint32(b))
		return f != f
	}
	return math.IsNaN(math.Float64frombits(b))
}

// onlyNaNBitsDiffer reports whether got fails exps only at float results (or
// float lanes) where a specific NaN bit pattern was expected and another NaN
// was returned.
func onlyNaNBitsDiffer(exps []specValue, got []uint64) bool {
	n := 0
	for _, e := range exps {
		n += e.words()
	}
	if n != len(got) {
		return false
	}
	pos, differs := 0, false
	for _, e := range exps {
		w := got[pos : pos+e.words()]
		pos += e.words()
		if ok, err := e.match(w); ok || err != nil {
			if err != nil {
				return false
			}
			continue
		}
		var exp []string
		var gotBits []uint64
		width := 32
		switch {
		case e.Type == "f32" || e.Type == "f64":
			s, _ := e.scalar()
			exp, gotBits = []string{s}, []uint64{w[0]}
			if e.Type == "f64" {
				width = 64
			}
		case e.Type == "v128" && (e.LaneType == "f32" || e.LaneType == "f64"):
			exp, _ = e.lanes()
			if e.LaneType == "f64" {
				width = 64
				gotBits = []uint64{w[0], w[1]}
			} else {
				gotBits = []uint64{w[0] & math.MaxUint32, w[0] >> 32, w[1] & math.MaxUint32, w[1] >> 32}
			}
		default:
			return false
		}
		for i, l := range exp {
			if ok, _ := matchFloat(l, gotBits[i], width); ok {
				continue
			}
			want, err := parseBits(l, width)
			if err != nil || !isNaNBits(want, width) || !isNaNBits(gotBits[i], width) {
				return false
			}
			differs = true
		}
	}
	return differs
}

// ---------------------------------------------------------------------------
// one runtime executing one command file

// specOutcome is what one command did in one environment.
type specOutcome struct {
	pass          bool
	why           string // why it did not pass
	results       []uint64
	err           error
	fuelUsed      int64 // rewritten invocations only; -1 otherwise
	fuelExhausted bool  // the fuel global was negative after the call
	depthTrap     bool  // a depth global was left at MaxCallDepth+1: the call limit trapped
	rewriteErr    error // meter.Rewrite refused the module
	noFuel        bool  // a rewritten module instantiated without the fuel export
	noDepth       bool  // … or without the depth export
}

type specEnv struct {
	ctx       context.Context
	rt        wazero.Runtime
	rewritten bool
	files     *specFiles
	named     map[string]api.Module
	last      api.Module
	fuel      []api.MutableGlobal
	depth     []api.MutableGlobal
}

func newSpecEnv(ctx context.Context, cfg wazero.RuntimeConfig, files *specFiles, rewritten bool) (*specEnv, error) {
	e := &specEnv{ctx: ctx, rt: wazero.NewRuntimeWithConfig(ctx, cfg), rewritten: rewritten, files: files, named: map[string]api.Module{}}
	// The host module is never rewritten: it is the test harness, not a guest.
	if _, err := e.rt.InstantiateWithConfig(ctx, files.spectest, wazero.NewModuleConfig().WithName("spectest").WithStartFunctions()); err != nil {
		e.rt.Close(ctx)
		return nil, fmt.Errorf("instantiating the spectest host module: %w", err)
	}
	return e, nil
}

func (e *specEnv) close() { e.rt.Close(e.ctx) }

// specFiles reads the modules of one command file and rewrites each once.
type specFiles struct {
	dir      string
	spectest []byte
	mu       sync.Mutex
	orig     map[string][]byte
	rew      map[string]rewritten
	panics   []string
}

type rewritten struct {
	bin []byte
	err error
}

func (f *specFiles) get(name string, rewrite bool) ([]byte, error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bin, ok := f.orig[name]
	if !ok {
		var err error
		if bin, err = os.ReadFile(filepath.Join(f.dir, name)); err != nil {
			return nil, nil, err
		}
		f.orig[name] = bin
	}
	if !rewrite {
		return bin, nil, nil
	}
	r, ok := f.rew[name]
	if !ok {
		r.bin, r.err = safeRewrite(bytes.Clone(bin))
		if r.err != nil && strings.HasPrefix(r.err.Error(), "PANIC") {
			f.panics = append(f.panics, name+": "+r.err.Error())
		}
		f.rew[name] = r
	}
	return r.bin, r.err, nil
}

func safeRewrite(bin []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("PANIC in meter.Rewrite: %v\n%s", p, debug.Stack())
		}
	}()
	return meter.Rewrite(bin, specRewriteOptions)
}

// load compiles and instantiates a module file under name.
func (e *specEnv) load(file, name string) (api.Module, specOutcome) {
	var o specOutcome
	o.fuelUsed = -1
	bin, rerr, err := e.files.get(file, e.rewritten)
	if err != nil {
		o.err, o.why = err, "reading module: "+err.Error()
		return nil, o
	}
	if rerr != nil {
		o.err, o.rewriteErr, o.why = rerr, rerr, "meter.Rewrite: "+rerr.Error()
		return nil, o
	}
	compiled, err := e.rt.CompileModule(e.ctx, bin)
	if err != nil {
		o.err, o.why = err, "compile: "+firstLine(err)
		return nil, o
	}
	mod, err := e.rt.InstantiateModule(e.ctx, compiled, wazero.NewModuleConfig().WithName(name).WithStartFunctions())
	if err != nil {
		o.err, o.why = err, "instantiate: "+firstLine(err)
		return nil, o
	}
	if e.rewritten {
		if g, ok := mod.ExportedGlobal(meter.FuelExport).(api.MutableGlobal); ok {
			e.fuel = append(e.fuel, g)
		} else {
			o.noFuel = true
		}
		if g, ok := mod.ExportedGlobal(meter.DepthExport).(api.MutableGlobal); ok {
			e.depth = append(e.depth, g)
		} else {
			o.noDepth = specRewriteOptions.MaxCallDepth > 0
		}
	}
	return mod, o
}

func (e *specEnv) module(name string) (api.Module, error) {
	if name == "" {
		if e.last == nil {
			return nil, errors.New("no module instantiated")
		}
		return e.last, nil
	}
	m, ok := e.named[name]
	if !ok {
		return nil, fmt.Errorf("no module %s", name)
	}
	return m, nil
}

// invoke calls an exported function with fresh fuel in every rewritten instance.
func (e *specEnv) invoke(a *specAction) specOutcome {
	o := specOutcome{fuelUsed: -1}
	fail := func(err error) specOutcome {
		o.err, o.why = err, err.Error()
		return o
	}
	m, err := e.module(a.Module)
	if err != nil {
		return fail(err)
	}
	switch a.Type {
	case "get":
		g := m.ExportedGlobal(a.Field)
		if g == nil {
			return fail(fmt.Errorf("no exported global %q", a.Field))
		}
		o.results = []uint64{g.Get()}
		if t := g.Type(); t == api.ValueTypeI32 || t == api.ValueTypeF32 {
			o.results[0] &= math.MaxUint32
		}
		return o
	case "invoke":
	default:
		return fail(fmt.Errorf("unsupported action %q", a.Type))
	}
	fn := m.ExportedFunction(a.Field)
	if fn == nil {
		return fail(fmt.Errorf("no exported function %q", a.Field))
	}
	var args []uint64
	for _, v := range a.Args {
		w, err := v.encode()
		if err != nil {
			return fail(err)
		}
		args = append(args, w...)
	}
	for _, g := range e.fuel {
		g.Set(uint64(specFuel))
	}
	for _, g := range e.depth {
		g.Set(0) // as a host does before each call: a trap leaves it where it was
	}
	ctx, cancel := context.WithTimeout(e.ctx, specCallTimeout)
	o.results, o.err = fn.Call(ctx, args...)
	cancel()
	pos := 0
	for _, t := range fn.Definition().ResultTypes() {
		if pos < len(o.results) && (t == api.ValueTypeI32 || t == api.ValueTypeF32) {
			// The compiler may leave garbage above a 32-bit result.
			o.results[pos] &= math.MaxUint32
		}
		pos++
		if t == valueTypeV128 {
			pos++ // a v128 is two words
		}
	}
	if o.err != nil {
		o.why = "trap: " + firstLine(o.err)
	}
	if e.rewritten {
		o.fuelUsed = 0
		for _, g := range e.fuel {
			left := int64(g.Get())
			o.fuelUsed += specFuel - left
			o.fuelExhausted = o.fuelExhausted || left < 0
		}
		if o.fuelExhausted {
			o.why += " (fuel exhausted)"
		}
		for _, g := range e.depth {
			o.depthTrap = o.depthTrap || uint32(g.Get()) == specRewriteOptions.MaxCallDepth+1
		}
		if o.depthTrap {
			o.why += " (call depth limit)"
		}
	}
	return o
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// trapText maps the spec's trap messages to wazero's.
func trapText(spec string) string {
	switch spec {
	case "undefined element", "undefined", "out of bounds table access":
		return "invalid table access"
	case "indirect call type mismatch", "indirect call":
		return "indirect call type mismatch"
	case "null", "null reference", "null function reference", "null function":
		return "null reference"
	}
	if strings.HasPrefix(spec, "uninitialized") {
		return "invalid table access"
	}
	return spec // "out of bounds memory access", "unreachable", "integer overflow", ...
}

// exec runs command c; register is the name under which the following
// "register" command exports the module ("" if none).
func (e *specEnv) exec(c *specCommand, register string) specOutcome {
	switch c.Type {
	case "module":
		m, o := e.load(c.Filename, register)
		e.last = m // a failed module leaves no current module
		if m != nil {
			if c.Name != "" {
				e.named[c.Name] = m
			}
			o.pass = !o.noFuel && !o.noDepth
			if o.noFuel {
				o.why = fmt.Sprintf("the rewritten module does not export the mutable i64 global %q", meter.FuelExport)
			}
			if o.noDepth {
				o.why = fmt.Sprintf("the rewritten module does not export the mutable i32 global %q", meter.DepthExport)
			}
		}
		return o

	case "action":
		o := e.invoke(&c.Action)
		o.pass = o.err == nil
		return o

	case "assert_return":
		o := e.invoke(&c.Action)
		if o.err == nil {
			o.pass, o.why = matchResults(c.Expected, o.results)
		}
		return o

	case "assert_trap", "assert_exhaustion":
		o := e.invoke(&c.Action)
		want := "stack overflow"
		if c.Type == "assert_trap" {
			want = trapText(c.Text)
		}
		limited := e.rewritten && specRewriteOptions.MaxCallDepth > 0
		switch {
		case o.err == nil:
			o.why = fmt.Sprintf("returned %s, want trap %q", formatWords(c.Expected, o.results), c.Text)
		case o.fuelExhausted:
			// The metering trap is not the trap the spec expects.
		case c.Type == "assert_exhaustion" && limited:
			// The call depth limit must stop the recursion before
			// the engine does, the same way on every engine.
			o.pass = o.depthTrap
			if !o.pass {
				o.why = fmt.Sprintf("trap %q, want the call depth limit's", firstLine(o.err))
			}
		case o.depthTrap:
			// The depth limit's unreachable is not the spec's trap.
		case strings.Contains(o.err.Error(), want):
			o.pass = true
		default:
			o.why = fmt.Sprintf("trap %q, want %q", firstLine(o.err), want)
		}
		return o

	case "assert_invalid", "assert_malformed", "assert_unlinkable", "assert_uninstantiable":
		_, o := e.load(c.Filename, "")
		if c.Type == "assert_uninstantiable" && c.Text == "out of bounds table access" {
			// wazero keeps instances whose active element segment is out of
			// bounds (the functions already placed in a table stay usable),
			// and its own spec runner expects no error here; we follow it.
			o.pass = o.err == nil
			return o
		}
		o.pass = o.err != nil
		if !o.pass {
			o.why = "module accepted, want " + c.Text
		} else if c.Type == "assert_uninstantiable" || c.Type == "assert_unlinkable" {
			o.pass = o.rewriteErr == nil // the module is valid: Rewrite must take it
		}
		return o
	}
	return specOutcome{why: "unsupported command " + c.Type, fuelUsed: -1}
}

// ---------------------------------------------------------------------------
// counting

type specIssue struct {
	file, command, field, why, category string
	line                                int
}

func (i specIssue) String() string {
	s := fmt.Sprintf("%s:%d %s", i.file, i.line, i.command)
	if i.field != "" {
		s += " " + strconv.Quote(i.field)
	}
	return s + ": " + i.why
}

type specCounts struct {
	files, assertions, passOrig, passRew, skippedText int
	modulesOrig, modulesRew, actionsOrig, actionsRew  int
	invalidAccepted                                   int // invalid/malformed: the original is rejected, the rewritten one accepted
	rewriteRejected                                   int // invalid/malformed rejected by meter.Rewrite itself
	fixed                                             int // fails on the original, passes rewritten
	nanBitsChanged                                    int // passes on both, NaN bits differ
	fuel                                              int64
	exceptions                                        map[string]int
	regressions, excepted, mismatches                 []specIssue
}

func (s *specCounts) add(o *specCounts) {
	s.files += o.files
	s.assertions += o.assertions
	s.passOrig += o.passOrig
	s.passRew += o.passRew
	s.skippedText += o.skippedText
	s.modulesOrig += o.modulesOrig
	s.modulesRew += o.modulesRew
	s.actionsOrig += o.actionsOrig
	s.actionsRew += o.actionsRew
	s.invalidAccepted += o.invalidAccepted
	s.rewriteRejected += o.rewriteRejected
	s.fixed += o.fixed
	s.nanBitsChanged += o.nanBitsChanged
	s.fuel += o.fuel
	if s.exceptions == nil {
		s.exceptions = map[string]int{}
	}
	for k, v := range o.exceptions {
		s.exceptions[k] += v
	}
	s.regressions = append(s.regressions, o.regressions...)
	s.excepted = append(s.excepted, o.excepted...)
	s.mismatches = append(s.mismatches, o.mismatches...)
}

// specTrace records every invocation for comparing engines, but, for the
// original modules, assert_exhaustion's: the depth they reach depends on the
// engine. The rewritten modules stop at the call depth limit.
type specTrace struct{ orig, rew, fuel []string }

// runSpecFile runs one command file on one engine, original and rewritten
// side by side.
func runSpecFile(ctx context.Context, suite specSuite, eng specEngine, file string, script *specScript, files *specFiles) (counts specCounts, tr specTrace, err error) {
	cfg := eng.config().WithCoreFeatures(suite.features).WithCloseOnContextDone(true)
	orig, err := newSpecEnv(ctx, cfg, files, false)
	if err != nil {
		return counts, tr, err
	}
	defer orig.close()
	rew, err := newSpecEnv(ctx, cfg, files, true)
	if err != nil {
		return counts, tr, err
	}
	defer rew.close()

	counts.files = 1
	counts.exceptions = map[string]int{}
	cmds := script.Commands
	for i := 0; i < len(cmds); i++ {
		c := &cmds[i]
		if c.ModuleType == "text" {
			counts.skippedText++ // .wat source: we have no text parser
			continue
		}
		register := ""
		if c.Type == "module" && i+1 < len(cmds) && cmds[i+1].Type == "register" {
			register = cmds[i+1].As
			i++
		} else if c.Type == "register" {
			return counts, tr, fmt.Errorf("line %d: register not right after its module is unsupported", c.Line)
		}
		o, r := orig.exec(c, register), rew.exec(c, register)
		if r.fuelUsed > 0 {
			counts.fuel += r.fuelUsed
		}
		if c.Action.Type == "invoke" && (c.Type != "assert_exhaustion" || specRewriteOptions.MaxCallDepth > 0) {
			at := fmt.Sprintf("line %d %q", c.Line, c.Action.Field)
			if c.Type != "assert_exhaustion" {
				tr.orig = append(tr.orig, at+" -> "+formatOutcome(&o))
			}
			tr.rew = append(tr.rew, at+" -> "+formatOutcome(&r))
			if r.fuelUsed >= 0 {
				tr.fuel = append(tr.fuel, fmt.Sprintf("%s -> fuel %d", at, r.fuelUsed))
			}
		}
		issue := specIssue{file: file, line: c.Line, command: c.Type, field: c.Action.Field, why: r.why}
		if c.Filename != "" && c.Type != "module" {
			issue.why = c.Filename + ": " + r.why
		}
		switch c.Type {
		case "module", "action":
			if c.Type == "module" {
				counts.modulesOrig += b2i(o.pass)
				counts.modulesRew += b2i(r.pass)
			} else {
				counts.actionsOrig += b2i(o.pass)
				counts.actionsRew += b2i(r.pass)
			}
			if o.pass && !r.pass {
				if c.Type == "module" {
					issue.why = c.Filename + ": " + r.why
				}
				counts.regressions = append(counts.regressions, issue)
			}
			continue
		}
		counts.assertions++
		counts.passOrig += b2i(o.pass)
		counts.passRew += b2i(r.pass)
		if (c.Type == "assert_invalid" || c.Type == "assert_malformed") && r.rewriteErr != nil {
			counts.rewriteRejected++
		}
		switch {
		case o.pass && r.pass:
			if c.Type == "assert_return" && !sameResults(c.Expected, o.results, r.results) {
				counts.nanBitsChanged++
				if !diffsAreCanonicalNaN(c.Expected, o.results, r.results) {
					issue.why = fmt.Sprintf("result %s differs from the original's %s other than by a canonical NaN",
						formatWords(c.Expected, r.results), formatWords(c.Expected, o.results))
					counts.regressions = append(counts.regressions, issue)
				}
			}
		case !o.pass && r.pass:
			counts.fixed++
		case o.pass && !r.pass:
			if c.Type == "assert_invalid" || c.Type == "assert_malformed" {
				counts.invalidAccepted++
				counts.mismatches = append(counts.mismatches, issue)
				continue
			}
			excepted := false
			for k := range specExceptions {
				x := &specExceptions[k]
				if x.match(suite.name, file, c, &o, &r) {
					counts.exceptions[x.category]++
					issue.category = x.category
					counts.excepted = append(counts.excepted, issue)
					excepted = true
					break
				}
			}
			if !excepted {
				counts.regressions = append(counts.regressions, issue)
			}
		}
	}
	for _, p := range files.panics {
		counts.regressions = append(counts.regressions, specIssue{file: file, command: "rewrite", why: p})
	}
	return counts, tr, nil
}

func sameResults(exps []specValue, a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	pos := 0
	for _, e := range exps {
		for k := 0; k < e.words(); k++ {
			if pos < len(a) && e.mask(a[pos]) != e.mask(b[pos]) {
				return false
			}
			pos++
		}
	}
	return true
}

// diffsAreCanonicalNaN reports whether every result of rew that differs from
// orig is a float (or float lane) holding the canonical NaN of its type, the
// only value CanonicalizeNaN may introduce.
func diffsAreCanonicalNaN(exps []specValue, orig, rew []uint64) bool {
	pos := 0
	for _, e := range exps {
		a, b := orig[pos:pos+e.words()], rew[pos:pos+e.words()]
		pos += e.words()
		if e.mask(a[0]) == e.mask(b[0]) && (len(a) == 1 || a[1] == b[1]) {
			continue
		}
		switch {
		case e.Type == "f32":
			if uint32(b[0]) != 0x7fc0_0000 {
				return false
			}
		case e.Type == "f64":
			if b[0] != 0x7ff8_0000_0000_0000 {
				return false
			}
		case e.Type == "v128" && e.LaneType == "f32":
			for k := 0; k < 4; k++ {
				la, lb := uint32(a[k/2]>>(32*(k%2))), uint32(b[k/2]>>(32*(k%2)))
				if la != lb && lb != 0x7fc0_0000 {
					return false
				}
			}
		case e.Type == "v128" && e.LaneType == "f64":
			for k := 0; k < 2; k++ {
				if a[k] != b[k] && b[k] != 0x7ff8_0000_0000_0000 {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

func formatOutcome(o *specOutcome) string {
	switch {
	case o.depthTrap:
		return "trap: call depth limit: " + firstLine(o.err)
	case o.err != nil:
		return "trap: " + firstLine(o.err)
	}
	return fmt.Sprintf("%#x", o.results)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---------------------------------------------------------------------------
// locating the suite

func wazeroModuleDir(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero").Output()
	if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
		return dir
	}
	// Fall back to the module cache and the version this binary was built with.
	version := "v1.12.0"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				version = d.Version
			}
		}
	}
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Logf("go env GOMODCACHE: %v", err)
		return ""
	}
	return filepath.Join(strings.TrimSpace(string(cache)), "github.com", "tetratelabs", "wazero@"+version)
}

// TestSpecSuite runs the WebAssembly core specification tests (the copy that
// wazero v1.12.0 ships, already converted by wast2json into a .json command
// file plus .wasm modules per .wast) twice per engine: once on the original
// modules and once on the modules rewritten by meter.Rewrite with fuel
// metering and NaN canonicalisation on. Every assertion that passes on the
// original must pass on the rewritten module too, traps included, unless an
// entry of specExceptions (below) says why not.
//
// The runner is our own: wazero's is internal. It follows wazero's in two
// places, both commented where they happen: externref N is passed as N+1
// (wazero's null externref is 0), and a module whose active element segment
// is out of bounds instantiates (wazero keeps the instance).
//
// Run:
//
//	go test -run TestSpecSuite -v ./wasmagent/meter          # both suites, both engines
//	go test -run TestSpecSuite -v -short ./wasmagent/meter   # a representative subset
//
// Beyond the spec's own assertions it checks, with both engines present, that
// the rewritten modules give the compiler and the interpreter identical
// results, traps and fuel charges (the originals may differ in NaN bits);
// that a result of a rewritten module differs from the original's only by
// being the canonical NaN; and that every rewritten module exports the fuel
// and depth globals. The rewrite sets MaxCallDepth, so an assert_exhaustion
// must end in the depth limit's trap on the rewritten module, with the same
// fuel on both engines. Invalid or malformed modules that wazero rejects but accepts once
// rewritten are counted and listed, not failed; a panic in Rewrite fails.
func TestSpecSuite(t *testing.T) {
	modDir := wazeroModuleDir(t)
	base := filepath.Join(modDir, "internal", "integration_test", "spectest")
	spectest, err := os.ReadFile(filepath.Join(base, "testdata", "spectest.wasm"))
	if err != nil {
		t.Skipf("wazero's converted spec tests are not available (%v); they come with the wazero module in the module cache (go mod download github.com/tetratelabs/wazero)", err)
	}
	engines := specEngines()
	ctx := context.Background()

	type key struct{ suite, engine string }
	var mu sync.Mutex
	totals := map[key]*specCounts{}
	var slow []string
	crossOrig, crossRew, crossFuel := map[string]int{}, map[string]int{}, map[string]int{}

	for _, suite := range specSuites {
		dir := filepath.Join(base, suite.name, "testdata")
		names, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil || len(names) == 0 {
			t.Fatalf("no .json command files in %s (%v)", dir, err)
		}
		if testing.Short() {
			names = names[:0]
			for _, s := range suite.short {
				if p := filepath.Join(dir, s+".json"); fileExists(p) {
					names = append(names, p)
				}
			}
		}
		for _, e := range engines {
			totals[key{suite.name, e.name}] = &specCounts{exceptions: map[string]int{}}
		}
		t.Run(suite.name, func(t *testing.T) {
			for _, path := range names {
				file := strings.TrimSuffix(filepath.Base(path), ".json")
				t.Run(file, func(t *testing.T) {
					t.Parallel()
					start := time.Now()
					raw, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					var script specScript
					if err := json.Unmarshal(raw, &script); err != nil {
						t.Fatalf("%s: %v", path, err)
					}
					files := &specFiles{dir: dir, spectest: spectest, orig: map[string][]byte{}, rew: map[string]rewritten{}}
					var traces []specTrace
					for _, e := range engines {
						counts, trace, err := runSpecFile(ctx, suite, e, file, &script, files)
						if err != nil {
							t.Fatalf("%s: %v", e.name, err)
						}
						files.panics = nil // report each panic once
						traces = append(traces, trace)
						for _, r := range counts.regressions {
							t.Errorf("%s: passes on the original, fails rewritten: %v", e.name, r)
						}
						for _, r := range counts.excepted {
							t.Logf("%s: allowed exception [%s]: %v", e.name, r.category, r)
						}
						mu.Lock()
						totals[key{suite.name, e.name}].add(&counts)
						mu.Unlock()
					}
					if len(traces) == 2 {
						// Determinism across engines: the rewritten modules must
						// agree on every result, trap and fuel charge; the
						// original ones may differ (NaN bits), which we count.
						a, b := &traces[0], &traces[1]
						n := diffTraces(a.orig, b.orig)
						for _, d := range [][2][]string{{a.rew, b.rew}, {a.fuel, b.fuel}} {
							if len(d[0]) != len(d[1]) {
								t.Errorf("%s and %s traces differ in length: %d vs %d", engines[0].name, engines[1].name, len(d[0]), len(d[1]))
								continue
							}
							for k := range d[0] {
								if d[0][k] != d[1][k] {
									t.Errorf("rewritten modules differ between engines: %s: %s, %s: %s", engines[0].name, d[0][k], engines[1].name, d[1][k])
								}
							}
						}
						mu.Lock()
						crossOrig[suite.name] += n
						crossRew[suite.name] += diffTraces(a.rew, b.rew)
						crossFuel[suite.name] += diffTraces(a.fuel, b.fuel)
						mu.Unlock()
					}
					if d := time.Since(start); d > 3*time.Second {
						mu.Lock()
						slow = append(slow, fmt.Sprintf("%s/%s %v", suite.name, file, d.Round(time.Millisecond)))
						mu.Unlock()
					}
				})
			}
		})
	}

	// Summary.
	var sb strings.Builder
	fmt.Fprintf(&sb, "WebAssembly core spec suite, original vs meter.Rewrite(%+v), wazero %s\n", specRewriteOptions, filepath.Base(modDir))
	fmt.Fprintf(&sb, "%-5s %-12s %5s %10s %10s %10s %8s %8s %8s %8s %7s %-28s %s\n",
		"suite", "engine", "files", "assertions", "pass-orig", "pass-rew", "regress", "inv-acc", "rw-rej", "fixed", "nanbits", "exceptions", "fuel")
	keys := make([]key, 0, len(totals))
	for k := range totals {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].suite != keys[j].suite {
			return keys[i].suite < keys[j].suite
		}
		return keys[i].engine < keys[j].engine
	})
	var excepted, mismatches []string
	for _, k := range keys {
		c := totals[k]
		var ex []string
		for _, cat := range specCategories {
			ex = append(ex, fmt.Sprintf("%s=%d", cat, c.exceptions[cat]))
		}
		fmt.Fprintf(&sb, "%-5s %-12s %5d %10d %10d %10d %8d %8d %8d %8d %7d %-28s %d\n",
			k.suite, k.engine, c.files, c.assertions, c.passOrig, c.passRew, len(c.regressions),
			c.invalidAccepted, c.rewriteRejected, c.fixed, c.nanBitsChanged, strings.Join(ex, ","), c.fuel)
		fmt.Fprintf(&sb, "      %-12s modules %d/%d instantiated (orig/rew), actions %d/%d ok, %d text-format assertions skipped\n",
			"", c.modulesOrig, c.modulesRew, c.actionsOrig, c.actionsRew, c.skippedText)
		for _, x := range c.excepted {
			excepted = append(excepted, fmt.Sprintf("%s/%s [%s] %v", k.suite, k.engine, x.category, x))
		}
		for _, x := range c.mismatches {
			mismatches = append(mismatches, fmt.Sprintf("%s/%s %v", k.suite, k.engine, x))
		}
	}
	if len(engines) == 2 {
		for _, s := range specSuites {
			fmt.Fprintf(&sb, "%-5s %s vs %s: invocations with different results or traps: original %d, rewritten %d; different fuel: %d\n",
				s.name, engines[0].name, engines[1].name, crossOrig[s.name], crossRew[s.name], crossFuel[s.name])
		}
	}
	sb.WriteString("columns: regress = commands (assertions, modules, actions) that pass on the original and fail rewritten, not allowed (fail the test); inv-acc = invalid/malformed module rejected by wazero but accepted after rewriting (counted, not fatal); rw-rej = invalid/malformed rejected by meter.Rewrite itself; fixed = fail on the original, pass rewritten; nanbits = pass on both with different NaN bits; fuel = total fuel charged\n")
	if len(excepted) > 0 {
		fmt.Fprintf(&sb, "allowed exceptions (%d):\n", len(excepted))
		for _, x := range excepted {
			sb.WriteString("  " + x + "\n")
		}
	}
	if len(mismatches) > 0 {
		fmt.Fprintf(&sb, "invalid/malformed modules accepted after rewriting (%d):\n", len(mismatches))
		for i, x := range mismatches {
			if i == 50 {
				fmt.Fprintf(&sb, "  ... %d more\n", len(mismatches)-i)
				break
			}
			sb.WriteString("  " + x + "\n")
		}
	}
	if len(slow) > 0 {
		sort.Strings(slow)
		sb.WriteString("slow files: " + strings.Join(slow, ", ") + "\n")
	}
	t.Log("\n" + sb.String())
}

func diffTraces(a, b []string) int {
	n := 0
	for k := range a {
		if k >= len(b) || a[k] != b[k] {
			n++
		}
	}
	return n
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
