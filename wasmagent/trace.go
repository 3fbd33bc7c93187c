package wasmagent

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/wasmagent/meter"
)

// traced is a failure of a guest call with the wasm stack trace of where it
// happened. Its Error is the failure alone.
type traced struct {
	err   error
	trace string
}

func (e *traced) Error() string      { return e.err.Error() }
func (e *traced) Unwrap() error      { return e.err }
func (e *traced) StackTrace() string { return e.trace }

var _ agent.StackTracer = (*traced)(nil)

// withTrace returns failure with the stack trace of wazero's error werr,
// if it has one.
func (m *Module) withTrace(failure, werr error) error {
	if werr == nil {
		return failure
	}
	if t := stackTrace(werr.Error(), m.exportNames); t != "" {
		return &traced{failure, t}
	}
	return failure
}

// stackTraceHeader starts the stack trace in wazero's errors.
const stackTraceHeader = "\nwasm stack trace:\n"

// stackTrace returns the frames of the wasm stack trace in a wazero error's
// text, innermost first, one per line: "name(params) results" with the
// function's name from the module's name section (the rewrite keeps it and
// every function index as they are; "$N" when a function has no name),
// host functions as "lockstep.NAME(...)", Rust's mangled names demangled
// ("panicker::Panicker::pick"). A function the name section does not name
// (or a module without one) is named by its export name, if exported, or
// else "$INDEX". wazero lists at most 30 frames.
// Source positions are left out: the runtime reads no DWARF, which the
// rewrite makes stale.
func stackTrace(text string, exports map[uint32]string) string {
	_, t, ok := strings.Cut(text, stackTraceHeader)
	if !ok {
		return ""
	}
	t, _, _ = strings.Cut(t, "\n\n") // a Go runtime stack trace may follow
	var frames []string
	for _, line := range strings.Split(t, "\n") {
		if strings.HasPrefix(line, "\t\t") { // a source position
			continue
		}
		line = strings.TrimPrefix(line, "\t")
		if strings.HasPrefix(line, ".") && !strings.HasPrefix(line, "...") {
			line = line[1:] // the guest's module name is ""
		}
		if line != "" {
			frames = append(frames, frameName(line, exports))
		}
	}
	// The outermost frame is the rewrite's dispatch function when the host
	// called through it: not the guest's.
	if n := len(frames); n > 0 && strings.HasPrefix(frames[n-1], meter.DispatchExport+"(") {
		frames = frames[:n-1]
	}
	// Runs of one frame (recursion) are one line: "f(i32) i32 (29 times)".
	var b strings.Builder
	for i := 0; i < len(frames); {
		j := i + 1
		for j < len(frames) && frames[j] == frames[i] {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(frames[i])
		if j-i > 1 {
			fmt.Fprintf(&b, " (%d times)", j-i)
		}
		i = j
	}
	return b.String()
}

// frameName names the function of a frame "NAME(params) results": Rust
// names demangled, "$INDEX" replaced by the function's export name if it
// has one.
func frameName(frame string, exports map[uint32]string) string {
	name, sig, ok := strings.Cut(frame, "(")
	if !ok {
		return frame
	}
	if i, err := strconv.ParseUint(strings.TrimPrefix(name, "$"), 10, 32); err == nil && name[0] == '$' {
		if e, ok := exports[uint32(i)]; ok {
			name = e
		}
	}
	return demangleRust(name) + "(" + sig
}

// exportIndex maps the index of every exported function to its export
// name (the first in order, if it has several).
func exportIndex(exports map[string]api.FunctionDefinition) map[uint32]string {
	m := make(map[uint32]string, len(exports))
	for name, def := range exports {
		if old, ok := m[def.Index()]; !ok || name < old {
			m[def.Index()] = name
		}
	}
	return m
}

// rustEscapes are the escapes of Rust's legacy symbol mangling.
var rustEscapes = strings.NewReplacer(
	"$SP$", "@", "$BP$", "*", "$RF$", "&", "$LT$", "<", "$GT$", ">",
	"$LP$", "(", "$RP$", ")", "$C$", ",", "$u20$", " ", "$u22$", "\"",
	"$u27$", "'", "$u2b$", "+", "$u3b$", ";", "$u5b$", "[", "$u5d$", "]",
	"$u7b$", "{", "$u7d$", "}", "$u7e$", "~", "..", "::",
)

// demangleRust demangles a Rust legacy symbol, _ZN 3foo 3bar 17h<hash> E
// (the scheme of rustc before v0 mangling), into foo::bar; any other name,
// and a name it cannot parse, is returned as it is. An LLVM suffix
// (".llvm.123") is dropped.
func demangleRust(name string) string {
	s, _, _ := strings.Cut(name, ".llvm.")
	if !strings.HasPrefix(s, "_ZN") || !strings.HasSuffix(s, "E") {
		return name
	}
	s = s[3 : len(s)-1]
	var parts []string
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n, err := strconv.Atoi(s[:i])
		if err != nil || n == 0 || n > len(s)-i {
			return name
		}
		parts = append(parts, s[i:i+n])
		s = s[i+n:]
	}
	// The last part is a hash: h and 16 hex digits.
	if last := parts[len(parts)-1]; len(parts) > 1 && len(last) == 17 && last[0] == 'h' {
		if _, err := strconv.ParseUint(last[1:], 16, 64); err == nil {
			parts = parts[:len(parts)-1]
		}
	}
	for i, p := range parts {
		if strings.HasPrefix(p, "_$") {
			p = p[1:] // a leading _ escapes a $ that starts a part
		}
		parts[i] = rustEscapes.Replace(p)
	}
	return strings.Join(parts, "::")
}
