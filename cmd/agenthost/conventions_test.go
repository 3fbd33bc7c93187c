package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// code is the exit status main gives err.
func code(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

// firstJSON decodes the first JSON value of out (stdout, then stderr's
// logs).
func firstJSON(out string, v any) error { return json.NewDecoder(strings.NewReader(out)).Decode(v) }

// pipelineTopology is a topology of Go kinds only: run and verify need no
// module.
const pipelineTopology = "../../examples/pipeline/topology.yaml"

// TestVersion: --version and version print the module version, the VCS
// state ("devel" without one), the Go version, OS and architecture; -o
// json the same as an object; a replay log's header records it.
func TestVersion(t *testing.T) {
	want := readBuildInfo().String()
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := agenthost(t, args...)
		if err != nil || out != "agenthost "+want+"\n" || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, runtime.GOOS+"/"+runtime.GOARCH) || !strings.HasPrefix(out, "agenthost lockstep ") {
			t.Errorf("%v: %v\n%q", args, err, out)
		}
	}
	out, err := agenthost(t, "version", "-o", "json")
	var b buildInfo
	if err != nil || json.Unmarshal([]byte(out), &b) != nil || b.Go != runtime.Version() || b.Version == "" || b.Module != "github.com/lockstep-rt/lockstep" {
		t.Errorf("version -o json: %v\n%s", err, out)
	}
	if by := createdBy("run"); !strings.HasPrefix(by, "agenthost run (lockstep "+b.Version) {
		t.Errorf("createdBy = %q", by)
	}
	if s := (buildInfo{Version: "devel", Revision: "0123456789abcdef", Time: "2025-01-02T03:04:05Z", Modified: true, Go: "go1.26", OS: "linux", Arch: "amd64"}).String(); s != "lockstep devel (rev 0123456789ab, 2025-01-02T03:04:05Z, modified) go1.26 linux/amd64" {
		t.Errorf("String = %q", s)
	}

	log := filepath.Join(t.TempDir(), "run.replay")
	if out, err := agenthost(t, "run", "--topology", pipelineTopology, "--ticks", "3", "--record", log, "--progress", "never"); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := replaylog.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := rd.Header().CreatedBy; got != createdBy("run") {
		t.Errorf("created_by = %q, want %q", got, createdBy("run"))
	}
}

// TestUsageErrors: cobra's usage errors (an unknown command or flag, a
// flag value that does not parse, a wrong number of arguments) exit 64,
// saying how the command is used; agenthost alone prints its help.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rnu"}, `unknown command "rnu" (did you mean "run"?)`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"; see agenthost --help`},
		{[]string{"run", "--tick", "5"}, "unknown flag: --tick (usage: agenthost run [flags])"},
		{[]string{"run", "--ticks", "many"}, `invalid argument "many" for "--ticks"`},
		{[]string{"run", "extra"}, `unknown command "extra" for "agenthost run" (usage: agenthost run [flags])`},
		{[]string{"inspect"}, "accepts 1 arg(s), received 0 (usage: agenthost inspect MODULE.wasm"},
		{[]string{"verify", "a", "b"}, "accepts 1 arg(s), received 2"},
		{[]string{"check"}, "accepts 1 arg(s), received 0"},
		{[]string{"log"}, "give a subcommand: agenthost log show"},
		{[]string{"log", "show", "--bogus", "x"}, "unknown flag: --bogus"},
		{[]string{"--log-levle", "info", "run"}, "unknown flag: --log-levle"},
		{[]string{"keygen", "-x"}, "unknown shorthand flag: 'x' in -x"},
	} {
		out, err := agenthost(t, c.args...)
		if code(err) != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: exit %d, %v\nwant exit 64 saying %q\n%s", c.args, code(err), err, c.want, out)
		}
	}
	out, err := agenthost(t)
	if err != nil || !strings.Contains(out, "Available Commands:") || !strings.Contains(out, "64  usage error") {
		t.Errorf("agenthost alone: %v\n%s", err, out)
	}
}

// TestHelpConventions: every command's help has examples, and the root's
// lists the exit statuses.
func TestHelpConventions(t *testing.T) {
	root := newRoot(io.Discard, io.Discard)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Example == "" {
			t.Errorf("%s has no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, want := range []string{"0   success", "1   failure", "2   damaged input", "3   cannot replay", "64  usage error"} {
		if !strings.Contains(root.Long, want) {
			t.Errorf("the root's help lacks %q", want)
		}
	}
	for _, name := range []string{"run", "verify", "inspect", "check", "version"} {
		c, _, err := root.Find([]string{name})
		if err != nil || c.Flags().Lookup("output") == nil || c.Flags().ShorthandLookup("o") == nil || !strings.Contains(c.Long, "-o json") {
			t.Errorf("%s: no documented -o json", name)
		}
	}
}

// TestRunVerifyJSON: run -o json and verify -o json print one object with
// the summary; text stays the default; a torn log is corrupt (exit 2)
// in JSON too.
func TestRunVerifyJSON(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "run.replay")
	text, err := agenthost(t, "run", "--topology", pipelineTopology, "--ticks", "130", "--progress", "never")
	if err != nil || !strings.HasPrefix(text, "topology: sensor-pipeline (6 agents)\nticks: 130\n") {
		t.Fatalf("run: %v\n%s", err, text)
	}
	out, err := agenthost(t, "run", "--topology", pipelineTopology, "--ticks", "130", "--record", log, "--progress", "never", "-o", "json")
	if err != nil {
		t.Fatalf("run -o json: %v\n%s", err, out)
	}
	var r map[string]any // the first line; the run's logs follow on stderr
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&r); err != nil {
		t.Fatalf("run -o json: %v\n%s", err, out)
	}
	d := digestRE.FindStringSubmatch(text)
	if d == nil || r["digest"] != d[1] || r["topology"] != "sensor-pipeline" || r["agents"] != 6.0 || r["ticks"] != 130.0 || r["replay_log"] != log ||
		r["failures"] != 1.0 || r["restarts"] != 1.0 || r["dead_letters"] == nil || r["inferences"] != 0.0 || r["models"] == nil || r["error"] != nil {
		t.Errorf("run -o json = %s\ntext:\n%s", out, text)
	}
	if !strings.Contains(text, "failures: 1, restarts: 1") {
		t.Errorf("text summary: %s", text)
	}

	out, err = agenthost(t, "verify", "-o", "json", log)
	var v verifyJSON
	if err != nil || firstJSON(out, &v) != nil {
		t.Fatalf("verify -o json: %v\n%s", err, out)
	}
	if !v.Identical || !v.Complete || v.Ticks != 130 || v.Digest != d[1] || v.Divergence != nil || v.Corrupt != nil || v.Warnings == nil || v.File != log ||
		!strings.Contains(out, `"divergence":null`) || !strings.Contains(out, `"corrupt":null`) || !strings.Contains(out, `"warnings":[]`) {
		t.Errorf("verify -o json = %s", out)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "torn.replay")
	if err := os.WriteFile(torn, data[:len(data)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = agenthost(t, "verify", "-o", "json", torn)
	v = verifyJSON{}
	if code(err) != exitCorrupt || firstJSON(out, &v) != nil || v.Identical || v.Corrupt == nil || !strings.Contains(*v.Corrupt, "corrupt log at byte") || v.Ticks != 130 {
		t.Errorf("verify -o json of a torn log: exit %d %v\n%s", code(err), err, out)
	}
	if out, err := agenthost(t, "run", "--topology", pipelineTopology, "-o", "yaml"); err == nil || !strings.Contains(err.Error(), `-o "yaml": use text or json`) {
		t.Errorf("run -o yaml: %v\n%s", err, out)
	}
}

// copyGuest copies a guest module of internal/guests into dir.
func copyGuest(t *testing.T, dir, name string) string {
	t.Helper()
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(mods, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeygenSignInspect: keygen refuses to overwrite either key file
// without --force; sign refuses capabilities that do not cover the
// imports, naming the missing one, and --cap auto declares exactly what
// they need; inspect -o json shows it.
func TestKeygenSignInspect(t *testing.T) {
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "a.key"), filepath.Join(dir, "a.pub")
	if out, err := agenthost(t, "keygen", "--out", key); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	k1, _ := os.ReadFile(key)
	out, err := agenthost(t, "keygen", "--out", key)
	if err == nil || !strings.Contains(err.Error(), key+" already exists") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("keygen over an existing key: %v\n%s", err, out)
	}
	if k, _ := os.ReadFile(key); !bytes.Equal(k, k1) {
		t.Error("a refused keygen changed the key")
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if out, err := agenthost(t, "keygen", "--out", key); err == nil || !strings.Contains(err.Error(), pub+" already exists") {
		t.Errorf("keygen over an existing public key: %v\n%s", err, out)
	}
	if _, err := os.Stat(key); err == nil {
		t.Error("a refused keygen wrote the private key")
	}
	if out, err := agenthost(t, "keygen", "--out", key, "--force"); err != nil {
		t.Fatalf("keygen --force: %v\n%s", err, out)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key after --force: %v %v", st.Mode(), err)
	}

	counter := copyGuest(t, dir, "counter")
	src, _ := os.ReadFile(counter)
	out, err = agenthost(t, "sign", "--key", key, "--name", "counter", "--version", "1.0.0", "--cap", "messaging.publish", counter)
	if code(err) != exitFailed || !strings.Contains(err.Error(), "lockstep.state_write") || !strings.Contains(err.Error(), "needs capability state.write") || !strings.Contains(err.Error(), "--cap state.write, or --cap auto") {
		t.Errorf("sign without state.write: exit %d %v\n%s", code(err), err, out)
	}
	if b, _ := os.ReadFile(counter); !bytes.Equal(b, src) {
		t.Error("a refused sign changed the module")
	}
	if out, err := agenthost(t, "sign", "--key", key, "--name", "counter", "--version", "1.0.0", "--cap", "auto", "--cap", "log", counter); err == nil || !strings.Contains(err.Error(), "give it alone") {
		t.Errorf("--cap auto with --cap log: %v\n%s", err, out)
	}
	out, err = agenthost(t, "sign", "--key", key, "--name", "counter", "--version", "1.0.0", "--cap", "auto", counter)
	if err != nil || !strings.Contains(out, "capabilities (what the imports need): messaging.publish, state.write\n") {
		t.Fatalf("sign --cap auto: %v\n%s", err, out)
	}
	if out, err := agenthost(t, "verify", "--trust", pub, counter); err != nil || !strings.Contains(out, "capabilities: messaging.publish, state.write") {
		t.Errorf("verify after --cap auto: %v\n%s", err, out)
	}

	out, err = agenthost(t, "inspect", "-o", "json", counter)
	var in inspectJSON
	if err != nil || json.Unmarshal([]byte(out), &in) != nil {
		t.Fatalf("inspect -o json: %v\n%s", err, out)
	}
	if in.Manifest == nil || in.Manifest.Name != "counter" || in.Manifest.Version != "1.0.0" || strings.Join(in.Manifest.Capabilities, ",") != "messaging.publish,state.write" ||
		in.Signature != "present" || strings.Join(in.NeededCapabilities, ",") != "messaging.publish,state.write" || len(in.Imports) == 0 || in.UnknownImports == nil || len(in.Manifest.ModuleDigest) != 64 {
		t.Errorf("inspect -o json = %s", out)
	}
	text, err := agenthost(t, "inspect", counter)
	if err != nil || !strings.Contains(text, "manifest: counter 1.0.0, ABI") || !strings.Contains(text, "signature: present") {
		t.Errorf("inspect: %v\n%s", err, text)
	}
	out, err = agenthost(t, "inspect", "-o", "json", copyGuest(t, t.TempDir(), "counter"))
	if err != nil || !strings.Contains(out, `"manifest":null`) || !strings.Contains(out, `"signature":"none"`) {
		t.Errorf("inspect -o json of an unsigned module: %v\n%s", err, out)
	}
	out, err = agenthost(t, "verify", "--trust", pub, "-o", "json", counter)
	if err != nil || !strings.Contains(out, `"verified":true`) || !strings.Contains(out, `"name":"counter"`) {
		t.Errorf("verify -o json of a module: %v\n%s", err, out)
	}
}

// TestCheck: check validates a topology and what it names without running
// it: exit 0 and a count, 2 for an invalid file (at its line and column),
// 3 for what is missing, 1 for what is refused.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "t.yaml")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(topo, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := agenthost(t, "check", pipelineTopology)
	if err != nil || out != "ok: 6 agents, 0 modules\n" {
		t.Errorf("check of the pipeline: %v\n%s", err, out)
	}

	write("seed: 1\nticks: 5\ntick: 3\nagents:\n  - {id: a, knd: sensor}\n")
	out, err = agenthost(t, "check", topo)
	if code(err) != exitCorrupt || !strings.Contains(out, topo+`:3:1: unknown field "tick" (did you mean "ticks"?)`+"\n") ||
		!strings.Contains(out, topo+`:5:13: agents[0]: unknown field "knd" (did you mean "kind"?)`+"\n") || !strings.Contains(err.Error(), "is not valid (2 errors)") {
		t.Errorf("check of a typo: exit %d %v\n%s", code(err), err, out)
	}
	out, err = agenthost(t, "check", "-o", "json", topo)
	var j checkJSON
	if code(err) != exitCorrupt || json.Unmarshal([]byte(out), &j) != nil || j.OK || len(j.Errors) != 2 {
		t.Errorf("check -o json of a typo: exit %d %v\n%s", code(err), err, out)
	}

	write("agents:\n  - {id: a, kind: sensor}\n  - {id: b, kind: warp-drive}\n")
	if out, err := agenthost(t, "check", topo); code(err) != exitMissing || !strings.Contains(out, topo+`:3:19: agents[1]: agent "b": unknown kind "warp-drive" (known kinds: aggregator, controller, monitor, sensor)`) {
		t.Errorf("check of an unknown kind: exit %d %v\n%s", code(err), err, out)
	}

	// Modules: unsigned, missing, not granted, signed.
	copyGuest(t, dir, "counter")
	modules := func(grants string) string {
		return "wasm: {trust: [a.pub]}\nmodules:\n  - {name: counter, path: counter.wasm, grants: [" + grants + "]}\n  - {name: gone, path: gone.wasm}\nagents:\n  - {id: c, kind: counter}\n"
	}
	write(modules("messaging.publish, state.write"))
	out, err = agenthost(t, "check", "--allow-unsigned", topo)
	if code(err) != exitMissing || !strings.Contains(out, topo+":1:15: wasm: trust: ") || strings.Contains(out, "counter.wasm") {
		t.Errorf("check without the trusted key: exit %d %v\n%s", code(err), err, out)
	}
	write(strings.Replace(modules("messaging.publish, state.write"), "wasm: {trust: [a.pub]}\n", "", 1))
	out, err = agenthost(t, "check", topo)
	if code(err) != exitMissing || !strings.Contains(out, "no trusted keys") {
		t.Errorf("check of unsigned modules without --allow-unsigned: exit %d %v\n%s", code(err), err, out)
	}
	out, err = agenthost(t, "check", "--allow-unsigned", topo)
	if code(err) != exitMissing || !strings.Contains(out, topo+":3:24: modules[1]: module gone: open ") || strings.Contains(out, "modules[0]") {
		t.Errorf("check of a missing module: exit %d %v\n%s", code(err), err, out)
	}
	write(strings.Replace(strings.Replace(modules("messaging.publish"), "wasm: {trust: [a.pub]}\n", "", 1), "  - {name: gone, path: gone.wasm}\n", "", 1))
	out, err = agenthost(t, "check", "--allow-unsigned", topo)
	if code(err) != exitFailed || !strings.Contains(out, topo+":2:5: modules[0]: module \"counter\"") || !strings.Contains(out, "state.write") {
		t.Errorf("check of a module not granted what it imports: exit %d %v\n%s", code(err), err, out)
	}
	write(strings.Replace(strings.Replace(modules("messaging.publish, state.write"), "wasm: {trust: [a.pub]}\n", "", 1), "  - {name: gone, path: gone.wasm}\n", "", 1))
	if out, err := agenthost(t, "check", "--allow-unsigned", topo); err != nil || out != "ok: 1 agents, 1 modules\n" {
		t.Errorf("check of an unsigned module with --allow-unsigned: %v\n%s", err, out)
	}
	if out, err := agenthost(t, "keygen", "--out", filepath.Join(dir, "a.key")); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if out, err := agenthost(t, "sign", "--key", filepath.Join(dir, "a.key"), "--name", "counter", "--version", "1.0.0", "--cap", "auto", filepath.Join(dir, "counter.wasm")); err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	write(strings.Replace(modules("messaging.publish, state.write"), "  - {name: gone, path: gone.wasm}\n", "", 1))
	if out, err := agenthost(t, "check", topo); err != nil || out != "ok: 1 agents, 1 modules\n" {
		t.Errorf("check of a signed module: %v\n%s", err, out)
	}

	// Models: their files and sha256, without loading them.
	model := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(model, []byte("not really onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("not really onnx"))
	models := func(sha string) string {
		return "models:\n  - {id: m, version: \"1\", path: m.onnx, sha256: " + sha + "}\nagents:\n  - {id: a, kind: sensor}\n"
	}
	write(models(hex.EncodeToString(sum[:])))
	if out, err := agenthost(t, "check", topo); err != nil || out != "ok: 1 agents, 0 modules, 1 models\n" {
		t.Errorf("check of a model: %v\n%s", err, out)
	}
	write(models(strings.Repeat("ab", 32)))
	if out, err := agenthost(t, "check", topo); code(err) != exitFailed || !regexp.MustCompile(regexp.QuoteMeta(topo)+`:2:49: models\[0\]: model m@1: .*m.onnx has sha256 `+hex.EncodeToString(sum[:])).MatchString(out) {
		t.Errorf("check of a model with another sha256: exit %d %v\n%s", code(err), err, out)
	}
	os.Remove(model)
	if out, err := agenthost(t, "check", topo); code(err) != exitMissing || !strings.Contains(out, topo+":2:33: models[0]: model m@1: open ") {
		t.Errorf("check of a missing model: exit %d %v\n%s", code(err), err, out)
	}
	if out, err := agenthost(t, "check", filepath.Join(dir, "nope.yaml")); code(err) != exitFailed || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("check of no file: exit %d %v\n%s", code(err), err, out)
	}
}

// TestSchemaCommand: schema prints the JSON Schema of host.TopologySchema.
func TestSchemaCommand(t *testing.T) {
	out, err := agenthost(t, "schema")
	var s struct {
		Schema     string                    `json:"$schema"`
		Properties map[string]map[string]any `json:"properties"`
		Defs       map[string]any            `json:"$defs"`
	}
	if err != nil || json.Unmarshal([]byte(out), &s) != nil {
		t.Fatalf("schema: %v\n%s", err, out)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.Properties["agents"] == nil || s.Properties["ticks"]["description"] == nil || s.Defs["TopologyAgent"] == nil {
		t.Errorf("schema:\n%s", out)
	}
}
