package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
)

// requireGuests reports whether a missing toolchain fails the test rather
// than skipping it (LOCKSTEP_REQUIRE_GUESTS, as in the SDKs' tests).
func requireGuests() bool { return os.Getenv("LOCKSTEP_REQUIRE_GUESTS") != "" }

// failingAgent is one test agent of TestRunShowsFailures: a module built
// from an SDK's testdata that fails at t5, and what its failure line says.
type failingAgent struct {
	lang, id string
	// module is the .wasm file; "" when its toolchain is missing (the
	// subtest skips, with skip as the reason).
	module, skip string
	grants       string   // the module's grants, YAML
	msg          []string // in the line's msg, after the common prefix
	stack        []string // in the line's wasm_stack
}

// buildCAgents builds sdk/c/testdata (oob.c, aborter.c, ...) with clang-14
// and returns the directory of the .wasm files, or "" and why not.
func buildCAgents(t *testing.T) (dir, skip string) {
	t.Helper()
	dir, err := guests.BuildDir(filepath.Join(guests.Root(), "sdk", "c", "testdata"))
	if err != nil {
		if requireGuests() {
			t.Fatalf("building the C test agents: %v", err)
		}
		return "", fmt.Sprintf("cannot build the C test agents (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead): %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir, ""
}

// buildRustPanicker builds sdk/rust/testdata/panicker.rs with
// sdk/rust/build.sh (Debian's rustc) and returns panicker.wasm's path, or ""
// and why not.
func buildRustPanicker(t *testing.T) (path, skip string) {
	t.Helper()
	rustc := os.Getenv("RUSTC")
	if rustc == "" {
		rustc = "/usr/bin/rustc"
	}
	if _, err := os.Stat(rustc); err != nil && !requireGuests() {
		return "", fmt.Sprintf("%s is missing (apt-get install rustc libstd-rust-dev-wasm32; set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead)", rustc)
	}
	sdk := filepath.Join(guests.Root(), "sdk", "rust")
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(sdk, "build.sh"), out, filepath.Join(sdk, "testdata", "panicker.rs"))
	cmd.Env = append(os.Environ(), "RUSTFLAGS_EXTRA=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sdk/rust/build.sh panicker.rs: %v\n%s", err, msg)
	}
	return filepath.Join(out, "panicker.wasm"), ""
}

// buildASAborter builds sdk/assemblyscript/testdata/aborter.ts with
// sdk/assemblyscript/build.sh (the default abort handler, lockstepAbortLog)
// and returns aborter.wasm's path, or "" and why not.
func buildASAborter(t *testing.T) (path, skip string) {
	t.Helper()
	_, errNode := exec.LookPath("node")
	_, errNPM := exec.LookPath("npm")
	if (errNode != nil || errNPM != nil) && !requireGuests() {
		return "", "node and npm are not installed (scripts/setup.sh); set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead"
	}
	sdk := filepath.Join(guests.Root(), "sdk", "assemblyscript")
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(sdk, "build.sh"), out, filepath.Join(sdk, "testdata", "aborter.ts"))
	cmd.Env = append(os.Environ(), "LOCKSTEP_AS_ABORT=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sdk/assemblyscript/build.sh aborter.ts: %v\n%s", err, msg)
	}
	return filepath.Join(out, "aborter.wasm"), ""
}

// logLine parses a line of logrus's text format (key=value, values quoted
// with Go's rules where needed) into its fields; nil if it is not one.
func logLine(line string) map[string]string {
	fields := map[string]string{}
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimLeft(rest, " ") {
		key, val, ok := strings.Cut(rest, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"") {
			return nil
		}
		if strings.HasPrefix(val, `"`) {
			q, err := strconv.QuotedPrefix(val)
			if err != nil {
				return nil
			}
			fields[key], _ = strconv.Unquote(q)
			rest = val[len(q):]
		} else {
			v, after, _ := strings.Cut(val, " ")
			fields[key] = v
			rest = after
		}
	}
	return fields
}

// TestRunShowsFailures: a C out-of-bounds access, a C ls_abort, a Rust panic
// and an AssemblyScript abort (the SDKs' test agents, each failing at t5)
// each show in the output of `agenthost run` at the default log level
// (warning) as one warning line naming the agent and the tick, with the
// failure's message (for ls_abort, the panic and the abort, what the agent
// said, the panic with its file:line) and the wasm stack trace of where it
// happened, function names from the module's name section.
func TestRunShowsFailures(t *testing.T) {
	cDir, cSkip := buildCAgents(t)
	cModule := func(name string) string {
		if cDir == "" {
			return ""
		}
		return filepath.Join(cDir, name+".wasm")
	}
	rust, rustSkip := buildRustPanicker(t)
	as, asSkip := buildASAborter(t)
	agents := []failingAgent{
		{lang: "C/oob", id: "coob", module: cModule("oob"), skip: cSkip, grants: "[]",
			msg:   []string{"wasm error: out of bounds memory access"},
			stack: []string{"read_at(i32) i32 <- ls_agent_step(i32) i32 <- lockstep__agent_step(i32) i32"}},
		{lang: "C/abort", id: "cabort", module: cModule("aborter"), skip: cSkip, grants: "[log]",
			msg:   []string{`wasm error: unreachable (its last error log line: "config: rate is missing")`},
			stack: []string{"ls_abort() <- check_config(i64) <- ls_agent_step(i32) i32 <- lockstep__agent_step(i32) i32"}},
		{lang: "Rust/panic", id: "rustpanic", module: rust, skip: rustSkip, grants: "[log]",
			msg: []string{"wasm error: unreachable (its last error log line: \"panicked at ",
				"index out of bounds: the len is 4 but the index is 9", "sdk/rust/testdata/panicker.rs:19:9"},
			stack: []string{"panicker::Panicker::pick(", " <- agent_step(i32) i32"}},
		{lang: "AssemblyScript/abort", id: "asabort", module: as, skip: asSkip, grants: "[log]",
			msg:   []string{`wasm error: unreachable (its last error log line: "abort: Index out of range at ~lib/array.ts:`},
			stack: []string{"sdk/assemblyscript/lockstep/lockstepAbortLog(i32,i32,i32,i32) <- sdk/assemblyscript/lockstep/agent_step(i32) i32"}},
	}

	var topo strings.Builder
	topo.WriteString("name: failures\nseed: 1\nwasm:\n  allow_unsigned: true\nmodules:\n")
	var ran []failingAgent
	for _, a := range agents {
		if a.module != "" {
			fmt.Fprintf(&topo, "  - {name: %s, path: %s, grants: %s}\n", a.id, strconv.Quote(a.module), a.grants)
			ran = append(ran, a)
		}
	}
	if len(ran) == 0 {
		t.Skipf("no test agent could be built: %s; %s; %s", cSkip, rustSkip, asSkip)
	}
	topo.WriteString("agents:\n")
	for _, a := range ran {
		fmt.Fprintf(&topo, "  - {id: %s, kind: %s}\n", a.id, a.id)
	}
	path := filepath.Join(t.TempDir(), "failures.yaml")
	if err := os.WriteFile(path, []byte(topo.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := agenthost(t, "run", "--topology", path, "--ticks", "8", "--progress", "never", "--wasm-cache", "")
	t.Logf("agenthost run output:\n%s", out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, s := range []string{"ticks: 8", fmt.Sprintf("failures: %d, restarts: %d,", len(ran), len(ran))} {
		if !strings.Contains(out, s) {
			t.Errorf("run summary lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "level=info") || strings.Contains(out, "level=debug") {
		t.Errorf("output at the default log level has info or debug lines:\n%s", out)
	}

	for _, a := range agents {
		t.Run(a.lang, func(t *testing.T) {
			if a.module == "" {
				t.Skip(a.skip)
			}
			var lines []map[string]string
			for _, l := range strings.Split(out, "\n") {
				if f := logLine(l); f != nil && f["agent"] == a.id {
					lines = append(lines, f)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d log lines of agent %s, want 1:\n%s", len(lines), a.id, out)
			}
			f := lines[0]
			prefix := fmt.Sprintf("agent %q failed at t5 in step: agent_step: ", a.id)
			if f["level"] != "warning" || f["tick"] != "5" || f["event"] != "failed" || !strings.HasPrefix(f["msg"], prefix) {
				t.Errorf("line %q: want level=warning, tick=5, event=failed, msg starting %q", f, prefix)
			}
			for _, s := range a.msg {
				if !strings.Contains(f["msg"], s) {
					t.Errorf("msg lacks %q: %q", s, f["msg"])
				}
			}
			for _, s := range a.stack {
				if !strings.Contains(f["wasm_stack"], s) {
					t.Errorf("wasm_stack lacks %q: %q", s, f["wasm_stack"])
				}
			}
		})
	}
}
