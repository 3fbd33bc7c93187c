package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// TestMain lets a test run agenthost as a process of its own: the test
// binary re-executed with LOCKSTEP_AGENTHOST_MAIN=1 is agenthost, its
// arguments agenthost's.
func TestMain(m *testing.M) {
	if os.Getenv("LOCKSTEP_AGENTHOST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func agenthost(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String() + errOut.String(), err
}

var digestRE = regexp.MustCompile(`digest: ([0-9a-f]{64})`)

// TestRunRecordVerify builds the example guests from source, runs the
// embedded default topology twice with different worker counts and wazero
// engines (the default, the compiler on amd64 and arm64, then the
// interpreter), records it,
// verifies the log, and sees a damaged log refused with its offset.
func TestRunRecordVerify(t *testing.T) {
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "run.replay")
	out1, err := agenthost(t, "run", "--module-dir", mods, "--record", log, "--workers", "1", "--progress", "never", "--wasm-cache", filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out1)
	}
	out2, err := agenthost(t, "run", "--module-dir", mods, "--workers", "4", "--engine", "interpreter", "--progress", "never", "--wasm-cache", "")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out2)
	}
	d1, d2 := digestRE.FindStringSubmatch(out1), digestRE.FindStringSubmatch(out2)
	if d1 == nil || d2 == nil || d1[1] != d2[1] {
		t.Fatalf("digests differ between 1 and 4 workers, default engine and interpreter:\n%s\n%s", out1, out2)
	}
	if !strings.Contains(out1, "ticks: 200") || !strings.Contains(out1, "restarts: 28") {
		t.Fatalf("unexpected run summary:\n%s", out1)
	}
	out, err := agenthost(t, "verify", "--module-dir", mods, "--allow-unsigned", log)
	if err != nil || !strings.Contains(out, "identical: 200 ticks, digest "+d1[1]) {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = agenthost(t, "verify", "--module-dir", mods, "--allow-unsigned", "--engine", "interpreter", log)
	if err != nil || !strings.Contains(out, "identical: 200 ticks, digest "+d1[1]) {
		t.Fatalf("verify on the interpreter: %v\n%s", err, out)
	}
	// The log is untrusted: the modules come from --module-dir (by default
	// the log's directory, which lacks them), unsigned ones run only with
	// --allow-unsigned, whatever the header says.
	// Either is exit 3, not a divergence.
	var missing *exitError
	out, err = agenthost(t, "verify", "--allow-unsigned", log)
	if !errors.As(err, &missing) || missing.code != 3 || !strings.Contains(err.Error(), `"counter.wasm" is not in `+dir) || !strings.Contains(err.Error(), "--module-dir") || strings.Contains(out, "diverged") {
		t.Fatalf("verify without --module-dir: %v\n%s", err, out)
	}
	out, err = agenthost(t, "verify", "--module-dir", mods, log)
	if !errors.As(err, &missing) || missing.code != 3 || !strings.Contains(err.Error(), "recorded with allow_unsigned") || !strings.Contains(err.Error(), "--allow-unsigned") {
		t.Fatalf("verify without --allow-unsigned: %v\n%s", err, out)
	}

	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "torn.replay")
	if err := os.WriteFile(torn, data[:len(data)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = agenthost(t, "verify", "--module-dir", mods, "--allow-unsigned", torn)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(out, "verified 200 ticks identical") || !strings.Contains(out, "corrupt log at byte") {
		t.Fatalf("torn log: %v\n%s", err, out)
	}

	// A damaged header exits 2 like any corrupt log: torn, a flipped byte
	// (checksum), a config that does not match its digest.
	flipped := bytes.Clone(data)
	flipped[20] ^= 0x40
	for name, log := range map[string][]byte{"torn header": data[:12], "flipped byte in the header": flipped, "config not matching its digest": badConfig(t, data)} {
		path := filepath.Join(dir, "bad.replay")
		if err := os.WriteFile(path, log, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err = agenthost(t, "verify", "--module-dir", mods, "--allow-unsigned", path)
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "corrupt log at byte 8 (header)") {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
}

// badConfig rewrites log's header with another seed in its config, keeping
// the config digest.
func badConfig(t *testing.T, log []byte) []byte {
	t.Helper()
	rd, err := replaylog.NewReader(bytes.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	hdr := rd.Header()
	hdr.Topology = bytes.Replace(hdr.Topology, []byte(`"seed":42`), []byte(`"seed":43`), 1)
	var out bytes.Buffer
	w, err := replaylog.NewWriter(&out, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(hdr.Topology, []byte(`"seed":43`)) {
		t.Fatalf("no seed in the config: %s", hdr.Topology)
	}
	return out.Bytes()
}

func TestRunRejectsBadTopology(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"seed: 1\nagents:\n  - {id: a, kind: sensor}\n  - {id: a, kind: sensor}\n": `t.yaml:4:10: agents[1]: duplicate agent id "a"`,
		"seed: 1\nticks: 5\nagents:\n  - {id: a, kind: warp-drive}\n":              `unknown kind "warp-drive"`,
		"seed: 1\nagentz: []\n": `t.yaml:2:1: unknown field "agentz" (did you mean "agents"?)`,
		"ticks: 5\nagents:\n  - {id: a, kind: sensor, group: nope}\n": `t.yaml:3:34: agents[0]: agent "a" is in group "nope", which is not declared`,
	}
	for doc, want := range cases {
		path := filepath.Join(dir, "t.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := agenthost(t, "run", "--topology", path, "--progress", "never")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "t.yaml") {
			t.Errorf("topology %q: err = %v, want it to mention %q and the file\n%s", doc, err, want, out)
		}
	}
}

// TestVerifyRefusesChangedModule records a run, changes one module (a valid
// change: an extra custom section) and sees verify refuse it.
func TestVerifyRefusesChangedModule(t *testing.T) {
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, e := range []string{"counter", "pinger", "faulty", "reader", "floaty", "goagent", "rustagent", "asagent"} {
		b, err := os.ReadFile(filepath.Join(mods, e+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e+".wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(dir, "run.replay")
	if out, err := agenthost(t, "run", "--module-dir", dir, "--ticks", "20", "--record", log, "--progress", "never", "--wasm-cache", ""); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(dir, "counter.wasm"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0x00, 0x04, 0x03, 'a', 'b', 'c'}) // custom section "abc"
	f.Close()
	out, err := agenthost(t, "verify", "--allow-unsigned", log) // modules: the log's directory
	if err == nil || !strings.Contains(err.Error(), `module "counter"`) || !strings.Contains(err.Error(), "replay needs the same module") {
		t.Fatalf("verify with a changed module: %v\n%s", err, out)
	}
}

// TestRunSIGTERM runs agenthost as a process, paced so that it is still
// running, sends it SIGTERM once an agent has logged at a barrier (ticks are
// running), and sees the run end cleanly: the summary printed, the replay
// log complete (with its End record) and verified.
func TestRunSIGTERM(t *testing.T) {
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "run.replay")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a bound, not a wait
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "run", "--module-dir", mods, "--record", log, "--ticks", "1000000", "--pace", "50",
		"--progress", "never", "--log-level", "info", "--wasm-cache", filepath.Join(dir, "cache"))
	cmd.Env = append(os.Environ(), "LOCKSTEP_AGENTHOST_MAIN=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	sc := bufio.NewScanner(stderr)
	running := false
	for !running && sc.Scan() {
		errOut.WriteString(sc.Text() + "\n")
		running = strings.Contains(sc.Text(), "agent=") && strings.Contains(sc.Text(), "tick=")
	}
	if running {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for sc.Scan() { // to the end: the process has exited
		errOut.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	if !running {
		t.Fatalf("no agent logged a line: %v\n%s%s", err, stdout.String(), errOut.String())
	}
	if err != nil {
		t.Fatalf("agenthost run after SIGTERM: %v\n%s%s", err, stdout.String(), errOut.String())
	}
	m := regexp.MustCompile(`(?m)^ticks: ([0-9]+)$`).FindStringSubmatch(stdout.String())
	if m == nil || m[1] == "0" || m[1] == "1000000" || !strings.Contains(errOut.String(), "terminated") || !strings.Contains(stdout.String(), "replay log: "+log) {
		t.Fatalf("summary after SIGTERM:\n%s%s", stdout.String(), errOut.String())
	}
	out, err := agenthost(t, "verify", "--module-dir", mods, "--allow-unsigned", log)
	if err != nil || !strings.Contains(out, "identical: "+m[1]+" ticks") || strings.Contains(out, "no end record") {
		t.Fatalf("verify after SIGTERM: %v\n%s", err, out)
	}
}

// TestRunFlagValidation: numeric and enumerated flags out of range are
// refused before anything is loaded, naming the flag and what to give.
func TestRunFlagValidation(t *testing.T) {
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--pace", "NaN"}, "--pace NaN: give at most how many ticks per second"},
		{[]string{"--pace", "Inf"}, "--pace +Inf:"},
		{[]string{"--pace", "-Inf"}, "--pace -Inf:"},
		{[]string{"--pace", "-1"}, "--pace -1:"},
		{[]string{"--pace", "1e-12"}, "--pace 1e-12:"},
		{[]string{"--pace", "2e9"}, "--pace 2e+09:"},
		{[]string{"--ticks", "-1"}, "--ticks -1: give a number of ticks from 1 to 1099511627776"},
		{[]string{"--ticks", "1099511627777"}, "--ticks 1099511627777:"},
		{[]string{"--workers", "0"}, "--workers 0: give 1 to 1024 worker goroutines"},
		{[]string{"--workers", "-3"}, "--workers -3:"},
		{[]string{"--workers", "1025"}, "--workers 1025:"},
		{[]string{"--progress", "sometimes"}, `--progress "sometimes": use auto`},
		{[]string{"--engine", "jit"}, `--engine "jit": use compiler or interpreter`},
	} {
		args := append([]string{"run", "--module-dir", empty, "--wasm-cache", ""}, c.args...)
		out, err := agenthost(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q\n%s", c.args, err, c.want, out)
		}
	}
	// The topology's ticks are bounded too (checked by host.ParseTopology).
	topo := filepath.Join(empty, "t.yaml")
	if err := os.WriteFile(topo, []byte("ticks: 1099511627777\nagents:\n  - {id: a, kind: sensor}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := agenthost(t, "run", "--topology", topo, "--progress", "never"); err == nil || !strings.Contains(err.Error(), "1099511627776") || !strings.Contains(err.Error(), "t.yaml") {
		t.Errorf("topology ticks over 2^40: %v\n%s", err, out)
	}
	log := filepath.Join(empty, "x.replay")
	if err := os.WriteFile(log, []byte("LOCKSTEP"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := agenthost(t, "verify", "--workers", "0", log); err == nil || !strings.Contains(err.Error(), "--workers 0:") {
		t.Errorf("verify --workers 0: %v\n%s", err, out)
	}
	if out, err := agenthost(t, "verify", "--engine", "jit", log); err == nil || !strings.Contains(err.Error(), `--engine "jit":`) {
		t.Errorf("verify --engine jit: %v\n%s", err, out)
	}
}
