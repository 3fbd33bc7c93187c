package wasmagent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unsafe"

	"github.com/tetratelabs/wazero/api"

	"github.com/lockstep-rt/lockstep/actors/agent"
)

// Return codes of host functions (sdk/ABI.md).
const (
	codeOK          = 0
	codeInvalidName = -1
	codeTooLarge    = -2
	codeOutOfBounds = -3
	codeNotFound    = -4
	codeUnavailable = -6
	codeDenied      = -7
)

type hostFunc struct {
	sig signature
	fn  func(in *instance, stack []uint64)
}

func sig(params int, result api.ValueType) signature {
	s := signature{params: make([]api.ValueType, params)}
	for i := range s.params {
		s.params[i] = i32
	}
	if result != 0 {
		s.results = []api.ValueType{result}
	}
	return s
}

var hostFuncs = map[string]hostFunc{
	"send": {sig(4, i32), func(in *instance, s []uint64) {
		s[0] = in.emit(s, func(c agent.Context, target string, p []byte) error { return c.Send(target, p) })
	}},
	"publish": {sig(4, i32), func(in *instance, s []uint64) {
		s[0] = in.emit(s, func(c agent.Context, target string, p []byte) error { return c.Publish(target, p) })
	}},
	"state_write": {sig(4, i32), func(in *instance, s []uint64) {
		s[0] = in.emit(s, func(c agent.Context, name string, p []byte) error { return c.WriteState(name, p) })
	}},
	"join": {sig(2, i32), func(in *instance, s []uint64) {
		s[0] = in.member(s, agent.Context.Join)
	}},
	"leave": {sig(2, i32), func(in *instance, s []uint64) {
		s[0] = in.member(s, agent.Context.Leave)
	}},
	"log": {sig(3, 0), func(in *instance, s []uint64) {
		msg, ok := in.mem.Read(uint32(s[1]), uint32(s[2]))
		in.charge(len(msg))
		if ok && in.actx != nil {
			in.actx.Log(agent.Level(clampLevel(uint32(s[0]))), string(msg))
			in.checkQuota()
		}
	}},
	"tick": {sig(0, i64), func(in *instance, s []uint64) {
		in.charge(0)
		if in.actx != nil {
			s[0] = uint64(in.actx.Tick())
		} else {
			s[0] = 0
		}
	}},
	"random": {sig(0, i64), func(in *instance, s []uint64) {
		in.charge(0)
		if in.actx != nil {
			s[0] = in.actx.Rand().Uint64()
		} else {
			s[0] = 0
		}
	}},
	"state_read": {sig(6, i32), func(in *instance, s []uint64) { s[0] = in.stateRead(s) }},
	"infer":      {sig(6, i32), func(in *instance, s []uint64) { s[0] = in.infer(s) }},
	"config":     {sig(2, i32), func(in *instance, s []uint64) { s[0] = in.readConfig(s) }},
}

// hostSignatures is what checkABI compares imports with.
var hostSignatures = func() map[string]signature {
	m := map[string]signature{}
	for n, f := range hostFuncs {
		m[n] = f.sig
	}
	return m
}()

func hostNames() string {
	names := make([]string, 0, len(hostFuncs))
	for n := range hostFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func code(c int32) uint64 { return uint64(uint32(c)) }

func clampLevel(l uint32) uint32 {
	return min(max(l, uint32(agent.LevelError)), uint32(agent.LevelDebug))
}

func (r *Runtime) instantiateHost(ctx context.Context) error {
	b := r.rt.NewHostModuleBuilder(HostModule)
	for name, f := range hostFuncs {
		fn, what := f.fn, "the host function "+name
		b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			in := ctx.Value(instanceKey{}).(*instance)
			in.observe(what)
			fn(in, stack)
		}), f.sig.params, f.sig.results).Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("wasmagent: instantiating the host module: %w", err)
	}
	return nil
}

// str reads a (ptr, len) name from guest memory. Every name (agent id,
// channel, region, model, version) has at most agent.MaxNameLen bytes: of a
// longer one only enough is copied for the name check to refuse it.
func (in *instance) str(ptr, n uint64) (string, bool) {
	b, ok := in.mem.Read(uint32(ptr), uint32(n))
	return string(b[:min(len(b), agent.MaxNameLen+1)]), ok
}

// errHostFuel is the panic of a host function that charged the caller more
// fuel than it had: the call traps, and the fuel global (< 0) says why.
var errHostFuel = errors.New("wasmagent: fuel exhausted in a host call")

// charge takes the fuel of a host call that moves n bytes from the fuel
// global, which the calling guest function reloads when the call returns
// (package meter's contract). When the fuel runs out, the guest traps here,
// before the call has any effect.
func (in *instance) charge(n int) {
	if in.fuel == nil {
		return
	}
	left := int64(in.fuel.Get()) - HostCallFuel - int64(n/BulkBytesPerFuel)
	in.fuel.Set(uint64(left))
	if left < 0 {
		panic(errHostFuel)
	}
}

// violator is the agent.Context of the engine (engine.Outbox), which
// records the first quota the agent went over.
type violator interface{ Violation() error }

// checkQuota traps the guest once it went over a quota: the runner then
// fails the agent with the quota's reason, and the guest does no more work
// that tick.
func (in *instance) checkQuota() {
	if v, ok := in.actx.(violator); ok {
		if err := v.Violation(); err != nil {
			panic(err)
		}
	}
}

// view is str without the copy, for names the host only looks up.
func (in *instance) view(ptr, n uint64) (string, bool) {
	b, ok := in.mem.Read(uint32(ptr), uint32(n))
	if len(b) == 0 {
		return "", ok
	}
	return unsafe.String(&b[0], min(len(b), agent.MaxNameLen+1)), ok
}

func errCode(err error) uint64 {
	switch {
	case errors.Is(err, agent.ErrQuota):
		panic(err) // see checkQuota
	case err == nil:
		return codeOK
	case errors.Is(err, agent.ErrInvalidName):
		return code(codeInvalidName)
	case errors.Is(err, agent.ErrTooLarge):
		return code(codeTooLarge)
	}
	return code(codeUnavailable)
}

// emit handles (target_ptr, target_len, data_ptr, data_len) calls.
func (in *instance) emit(s []uint64, f func(agent.Context, string, []byte) error) uint64 {
	if in.actx == nil {
		return code(codeUnavailable)
	}
	target, ok := in.str(s[0], s[1])
	data, ok2 := in.mem.Read(uint32(s[2]), uint32(s[3]))
	if !ok || !ok2 {
		return code(codeOutOfBounds)
	}
	in.charge(len(target) + len(data))
	return errCode(f(in.actx, target, data))
}

func (in *instance) member(s []uint64, f func(agent.Context, string) error) uint64 {
	if in.actx == nil {
		return code(codeUnavailable)
	}
	ch, ok := in.str(s[0], s[1])
	if !ok {
		return code(codeOutOfBounds)
	}
	in.charge(len(ch))
	return errCode(f(in.actx, ch))
}

func (in *instance) stateRead(s []uint64) uint64 {
	if in.actx == nil {
		return code(codeUnavailable)
	}
	// Views, not copies: the lookup keeps neither string, and guest memory
	// does not change during the call.
	owner, ok := in.view(s[0], s[1])
	name, ok2 := in.view(s[2], s[3])
	buf, ok3 := in.mem.Read(uint32(s[4]), uint32(s[5]))
	if !ok || !ok2 || !ok3 {
		return code(codeOutOfBounds)
	}
	v, found := in.actx.ReadState(owner, name)
	n := len(owner) + len(name)
	if found && len(v) <= len(buf) {
		n += len(v)
	}
	in.charge(n)
	if !found {
		return code(codeNotFound)
	}
	if len(v) <= len(buf) {
		copy(buf, v)
	}
	return uint64(uint32(len(v)))
}

// infer handles (model, version, input) requests: it returns the request's
// number (>= 0) or a negative code.
func (in *instance) infer(s []uint64) uint64 {
	if in.actx == nil {
		return code(codeUnavailable)
	}
	model, ok := in.str(s[0], s[1])
	version, ok2 := in.str(s[2], s[3])
	input, ok3 := in.mem.Read(uint32(s[4]), uint32(s[5]))
	if !ok || !ok2 || !ok3 {
		return code(codeOutOfBounds)
	}
	in.charge(len(model) + len(version) + len(input))
	if in.m.AllowModel == nil || !in.m.AllowModel(model) {
		return code(codeDenied)
	}
	n, err := in.actx.Infer(model, version, input)
	if err != nil {
		return errCode(err)
	}
	return uint64(n)
}

// readConfig handles config(buf_ptr, cap): it copies the first cap bytes of
// the agent's config to buf_ptr and returns the config's full length, so
// that a call with cap 0 (whose pointer is not looked at) learns the size.
// It needs no agent.Context: the config is the instance's, readable from
// the start function on.
func (in *instance) readConfig(s []uint64) uint64 {
	c := in.config
	if len(c) > math.MaxInt32 {
		in.charge(0)
		return code(codeTooLarge) // cannot be returned as an i32 length
	}
	capacity := uint32(s[1])
	var buf []byte
	if capacity != 0 {
		var ok bool
		if buf, ok = in.mem.Read(uint32(s[0]), capacity); !ok {
			in.charge(0)
			return code(codeOutOfBounds)
		}
	}
	n := min(len(c), len(buf))
	in.charge(n)
	copy(buf, c[:n])
	return uint64(uint32(len(c)))
}
