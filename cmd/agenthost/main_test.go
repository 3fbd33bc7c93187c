package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
)

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
// embedded default topology twice with different worker counts, records it,
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
	out2, err := agenthost(t, "run", "--module-dir", mods, "--workers", "4", "--progress", "never", "--wasm-cache", "")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out2)
	}
	d1, d2 := digestRE.FindStringSubmatch(out1), digestRE.FindStringSubmatch(out2)
	if d1 == nil || d2 == nil || d1[1] != d2[1] {
		t.Fatalf("digests differ between 1 and 4 workers:\n%s\n%s", out1, out2)
	}
	if !strings.Contains(out1, "ticks: 200") || !strings.Contains(out1, "restarts: 28") {
		t.Fatalf("unexpected run summary:\n%s", out1)
	}
	out, err := agenthost(t, "verify", log)
	if err != nil || !strings.Contains(out, "identical: 200 ticks, digest "+d1[1]) {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "torn.replay")
	if err := os.WriteFile(torn, data[:len(data)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = agenthost(t, "verify", torn)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(out, "verified 200 ticks identical") || !strings.Contains(out, "corrupt log at byte") {
		t.Fatalf("torn log: %v\n%s", err, out)
	}
}

func TestRunRejectsBadTopology(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"seed: 1\nagents:\n  - {id: a, kind: sensor}\n  - {id: a, kind: sensor}\n": `:4: agents[1]: duplicate agent id "a"`,
		"seed: 1\nticks: 5\nagents:\n  - {id: a, kind: warp-drive}\n":              `unknown kind "warp-drive"`,
		"seed: 1\nagentz: []\n": "field agentz not found",
		"ticks: 5\nagents:\n  - {id: a, kind: sensor, group: nope}\n": `unknown supervision group: "nope"`,
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
	out, err := agenthost(t, "verify", log)
	if err == nil || !strings.Contains(err.Error(), `module "counter"`) || !strings.Contains(err.Error(), "replay needs the same module") {
		t.Fatalf("verify with a changed module: %v\n%s", err, out)
	}
}
