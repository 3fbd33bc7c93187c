package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
)

// diffRuns records the same topology twice, with the released counter
// (testdata/diff/v1) and with one that counts a second message twice (v2),
// and returns the module directories and the two logs.
func diffRuns(t *testing.T) (v1, v2, a, b string) {
	t.Helper()
	var err error
	if v1, err = guests.BuildDir("testdata/diff/v1"); err != nil {
		t.Fatal(err)
	}
	if v2, err = guests.BuildDir("testdata/diff/v2"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, run := range []struct{ mods, log string }{{v1, "a.replay"}, {v2, "b.replay"}} {
		topo := filepath.Join(dir, "t-"+run.log+".yaml")
		yaml := "name: diff\nseed: 3\nticks: 10\nwasm: {allow_unsigned: true}\n" +
			"modules:\n  - {name: counter, path: " + filepath.Join(run.mods, "counter.wasm") + ", grants: [messaging.publish, state.write]}\n" +
			"agents:\n  - {id: c1, kind: counter}\n  - {id: c2, kind: counter}\n" +
			"inputs:\n  - {tick: 3, to: c1, payload: hello}\n  - {tick: 5, to: c1, payload: again}\n  - {tick: 5, to: c2, payload: once}\n"
		if err := os.WriteFile(topo, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := agenthost(t, "run", "--topology", topo, "--record", filepath.Join(dir, run.log), "--progress", "never", "--wasm-cache", ""); err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
	}
	return v1, v2, filepath.Join(dir, "a.replay"), filepath.Join(dir, "b.replay")
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *lsUpdate {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/agenthost -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (if the change is intended: go test ./cmd/agenthost -run %s -update):\n--- got\n%s\n--- want\n%s", name, t.Name(), got, want)
	}
}

// TestDiffNamesTheChangedAction: the run with the changed module diverges
// at t5, where c1 gets its second message; diff names the tick, the agent
// and the action that differs (what it publishes).
func TestDiffNamesTheChangedAction(t *testing.T) {
	v1, v2, a, b := diffRuns(t)
	out, err := agenthost(t, "diff", "--module-dir", v1, "--b-module-dir", v2, "--allow-unsigned", a, b)
	if exitCode(err) != 1 {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	for _, want := range []string{
		"configs differ: module counter",
		"identical for 3 ticks; at t3 agent \"c1\"'s report differs",
		"agent \"c1\" at t3 received and did the same, with other fuel",
		"agent \"c1\" at t5, from its first difference",
		"> publish counts 0x0200000000000000",
		"> publish counts 0x0300000000000000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	if out, err := agenthost(t, "diff", "--module-dir", v1, "--allow-unsigned", a, a); err != nil || !strings.Contains(out, "identical: 10 ticks") {
		t.Errorf("diff of a log with itself: %v\n%s", err, out)
	}
	// B's modules are not v1's: a setup problem, said as such.
	out, err = agenthost(t, "diff", "--module-dir", v1, "--allow-unsigned", a, b)
	if exitCode(err) != 1 || !strings.Contains(out, "give the logs' modules") {
		t.Errorf("diff without B's modules: %v\n%s", err, out)
	}
	// verify of B against v1's module: not a divergence, a missing input.
	if _, err := agenthost(t, "verify", "--module-dir", v1, "--allow-unsigned", b); exitCode(err) != 3 {
		t.Errorf("verify with the other module: exit %d (%v), want 3", exitCode(err), err)
	}
}

// TestTraceGolden: trace's text and JSON output on a real log, pinned.
func TestTraceGolden(t *testing.T) {
	v1, _, a, _ := diffRuns(t)
	out, err := agenthost(t, "trace", "--module-dir", v1, "--allow-unsigned", a, "--from", "3", "--to", "4")
	if err != nil {
		t.Fatalf("trace: %v\n%s", err, out)
	}
	golden(t, "trace.golden", out)
	out, err = agenthost(t, "trace", "--module-dir", v1, "--allow-unsigned", a, "--from", "5", "--to", "5", "--agent", "c1", "-o", "json")
	if err != nil {
		t.Fatalf("trace -o json: %v\n%s", err, out)
	}
	golden(t, "trace-json.golden", out)
	sc := bufio.NewScanner(strings.NewReader(out))
	types := map[string]int{}
	for sc.Scan() {
		var v struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		types[v.Type]++
	}
	if types["agent"] != 1 || types["tick"] != 1 {
		t.Errorf("trace -o json of one agent and one tick: %v", types)
	}
}

// TestStateOfEveryGuest: state at the end of a tick of the default
// topology shows the state regions of the Go, Rust and AssemblyScript
// summers and of the C counter, their linear memory, and writes it out.
func TestStateOfEveryGuest(t *testing.T) {
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "run.replay")
	if out, err := agenthost(t, "run", "--module-dir", mods, "--ticks", "12", "--record", log, "--progress", "never", "--wasm-cache", filepath.Join(os.TempDir(), "lockstep-test-wazero-cache")); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	out, err := agenthost(t, "state", "--module-dir", mods, "--allow-unsigned", log, "--tick", "10", "--out", filepath.Join(dir, "mem"))
	if err != nil {
		t.Fatalf("state: %v\n%s", err, out)
	}
	for _, want := range []string{
		"state at the end of t10",
		"agent counter (kind counter): running, 0 restarts",
		"region count: 8 bytes 0x0100000000000000", // "hello" at t10
		"agent summer (kind summer)", "region sum:", "agent rsummer (kind rsummer)", "region rsum:", "agent assummer (kind assummer)", "region assum:",
		"agent faulty (kind faulty): running, 1 restarts, group flaky",
		"group flaky: restarts in its window at ticks [6]",
		"wrote " + filepath.Join(dir, "mem", "summer.memory"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("state lacks %q:\n%s", want, out)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "mem", "summer.memory"))
	if err != nil || fi.Size()%65536 != 0 || fi.Size() == 0 {
		t.Errorf("summer's memory file: %v %v", fi, err)
	}
	if _, err := agenthost(t, "state", "--module-dir", mods, "--allow-unsigned", log, "--tick", "40"); err == nil {
		t.Error("state past the end of the log: no error")
	}
}
