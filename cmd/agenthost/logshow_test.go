package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

var lsUpdate = flag.Bool("update", false, "rewrite the golden files (testdata/*.golden) of log show, trace, diff and model inspect")

// logShow runs agenthost log show in-process and returns its standard
// output and error apart.
func logShow(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(append([]string{"log", "show"}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// lsRecord records testdata/logshow-topology.yaml (Go-native kinds)
// for 12 ticks into dir/run.replay.
func lsRecord(t *testing.T, dir string) string {
	t.Helper()
	log := filepath.Join(dir, "run.replay")
	out, err := agenthost(t, "run", "--topology", filepath.Join("testdata", "logshow-topology.yaml"), "--ticks", "12", "--record", log,
		"--progress", "never", "--wasm-cache", "")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	return log
}

// TestLogShowGolden records a run of Go-native agents and compares log
// show's text and JSON, whole and filtered, with the golden files.
func TestLogShowGolden(t *testing.T) {
	dir := t.TempDir()
	log := lsRecord(t, dir)
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"logshow.golden", nil},
		{"logshow-json.golden", []string{"-o", "json"}},
		{"logshow-tick7.golden", []string{"--tick", "7"}},
		{"logshow-tick7-json.golden", []string{"--tick", "7", "-o", "json"}},
		{"logshow-agent.golden", []string{"--agent", "sensor-2", "--from", "2", "--to", "4"}},
		{"logshow-agent-json.golden", []string{"--agent", "monitor", "-o", "json"}},
		{"logshow-end.golden", []string{"--from", "11"}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			out, errOut, err := logShow(t, append(c.args, log)...)
			if err != nil {
				t.Fatalf("log show %v: %v\n%s", c.args, err, errOut)
			}
			// created_by names the build (agenthost --version): the golden
			// files have "agenthost run" alone.
			out = strings.ReplaceAll(out, createdBy("run"), "agenthost run")
			golden(t, c.golden, strings.ReplaceAll(out, dir, "TMP"))
		})
	}
}

// TestLogShowSynthetic shows a log written record by record, with what a
// run of Go-native agents does not record: inference results (one the
// same as another), idempotency keys, stop and leave, unnamed agents, a
// segment, an unknown record, and a damaged record after them.
func TestLogShowSynthetic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "synthetic.replay")
	var buf bytes.Buffer
	digest := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	w, err := replaylog.NewWriter(&buf, &replaylog.Header{AbiVersion: 1, Seed: 1 << 60, ConfigDigest: digest(0xc0), Topology: []byte("seed: 1\n"),
		TopologyFormat: "yaml", ModuleDigests: map[string][]byte{"m": digest(0xaa), "a": digest(0xbb)}, CreatedBy: "logshow_test", UnsignedAllowed: true, Workers: 3,
		Segment: &replaylog.Segment{Index: 2, StartTick: 40, StartDigest: digest(0x11)}})
	if err != nil {
		t.Fatal(err)
	}
	var unknown replaylog.Record
	if err := proto.Unmarshal([]byte{0x98, 0x06, 0x01}, &unknown); err != nil { // field 99, unknown to this build
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0xfe}, 40)
	for _, r := range []*replaylog.Record{
		{Kind: &replaylog.Record_Command{Command: &replaylog.Command{Tick: 40, Op: &replaylog.Command_Spawn{Spawn: &replaylog.Spawn{Id: "clf", Kind: "classifier", Config: []byte(`{"model":"m"}`), Priority: -2, Group: "g", Fuel: 1000}}}}},
		{Kind: &replaylog.Record_Command{Command: &replaylog.Command{Tick: 40, Op: &replaylog.Command_Input{Input: &replaylog.Input{To: "clf", Payload: []byte("héllo\tworld")}}, Key: "req-1"}}},
		{Kind: &replaylog.Record_Inference{Inference: &replaylog.InferenceOutput{Tick: 40, Agent: "clf", Seq: 1, Output: big}}},
		{Kind: &replaylog.Record_Inference{Inference: &replaylog.InferenceOutput{Tick: 40, Agent: "other", Seq: 1, Output: []byte{1, 2}}}},
		{Kind: &replaylog.Record_Output{Output: &replaylog.Output{Tick: 40, From: "clf", To: "ops", Payload: []byte(strings.Repeat("é", 40))}}},
		{Kind: &replaylog.Record_Tick{Tick: &replaylog.TickDigest{Tick: 40, Digest: digest(0x40), AgentDigests: []uint64{1, 2}, DeadLetters: 3,
			Events: []*replaylog.Event{{Kind: replaylog.Event_DEAD_LETTER, Agent: "clf", Detail: "to nobody"}, {Kind: replaylog.Event_HALTED, Agent: "other", Detail: "line\nbreak"}, {Kind: 42}}}}},
		{Kind: &replaylog.Record_Inference{Inference: &replaylog.InferenceOutput{Tick: 41, Agent: "clf", Seq: 2, SameAs: 1}}},
		{Kind: &replaylog.Record_Command{Command: &replaylog.Command{Tick: 41, Op: &replaylog.Command_Leave{Leave: &replaylog.Membership{Agent: "clf", Channel: "news"}}}}},
		{Kind: &replaylog.Record_Command{Command: &replaylog.Command{Tick: 41, Op: &replaylog.Command_Stop{Stop: &replaylog.Stop{Id: "other"}}}}},
		{Kind: &replaylog.Record_Command{Command: &replaylog.Command{Tick: 41, Op: &replaylog.Command_Input{Input: &replaylog.Input{Channel: "news", Payload: nil}}, Key: "k \"2\""}}},
		&unknown,
		{Kind: &replaylog.Record_Tick{Tick: &replaylog.TickDigest{Tick: 41, Digest: digest(0x41), AgentDigests: []uint64{0xdead}, Agents: []string{"clf"}}}},
		{Kind: &replaylog.Record_End{End: &replaylog.End{Ticks: 42, FinalDigest: digest(0x41), Reason: "model fell back to the CPU"}}},
	} {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	data := append(buf.Bytes(), 0x05, 1, 2, 3, 4, 5, 0, 0, 0, 0) // a record with a wrong checksum
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"logshow-synthetic.golden", nil},
		{"logshow-synthetic-json.golden", []string{"-o", "json"}},
		{"logshow-synthetic-clf.golden", []string{"--agent", "clf"}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			out, errOut, err := logShow(t, append(c.args, path)...)
			if exitCode(err) != 2 || !strings.Contains(errOut+err.Error(), "damaged at byte") {
				t.Fatalf("log show %v of a damaged log: exit %d, %v\n%s%s", c.args, exitCode(err), err, out, errOut)
			}
			golden(t, c.golden, strings.ReplaceAll(out, dir, "TMP"))
		})
	}
}

// lsJSONLines parses log show's JSON output, checking that every line is
// an object with a type and that the first is the header.
func lsJSONLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
		}
		if _, ok := m["type"].(string); !ok {
			t.Fatalf("line %d has no type: %s", i+1, line)
		}
		lines = append(lines, m)
	}
	if len(lines) == 0 || lines[0]["type"] != "header" {
		t.Fatalf("the first line is not the header:\n%s", out)
	}
	return lines
}

// lsOfType returns the lines of one type.
func lsOfType(lines []map[string]any, typ string) []map[string]any {
	var r []map[string]any
	for _, l := range lines {
		if l["type"] == typ {
			r = append(r, l)
		}
	}
	return r
}

// TestLogShowJSON checks the JSON of the golden run as a program reads
// it: lines parse, payloads are exact.
func TestLogShowJSON(t *testing.T) {
	log := lsRecord(t, t.TempDir())
	out, errOut, err := logShow(t, "-o", "json", log)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	lines := lsJSONLines(t, out)
	if n := len(lsOfType(lines, "tick")); n != 12 {
		t.Errorf("%d tick lines, want 12", n)
	}
	end := lsOfType(lines, "end")
	if len(end) != 1 || end[0]["ticks"] != 12.0 || lines[len(lines)-1]["type"] != "end" {
		t.Errorf("end lines: %v", end)
	}
	var long bool
	for _, c := range lsOfType(lines, "command") {
		if c["op"] != "input" {
			continue
		}
		p, err := base64.StdEncoding.DecodeString(c["payload"].(string))
		if err != nil || float64(len(p)) != c["size"] {
			t.Errorf("input payload %v: %v", c, err)
		}
		long = long || strings.HasSuffix(string(p), "a preview shows")
	}
	if !long {
		t.Errorf("the long input is not given in full:\n%s", out)
	}
}

// TestLogShowTorn: a log cut short prints its intact records, then an
// error line with the byte offset, and exits 2; a file that is not a log,
// a directory without one and a bad flag are refused.
func TestLogShowTorn(t *testing.T) {
	dir := t.TempDir()
	log := lsRecord(t, dir)
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	full, _, err := logShow(t, log)
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "torn.replay")
	if err := os.WriteFile(torn, data[:len(data)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := logShow(t, torn)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	last := lines[len(lines)-1]
	if exitCode(err) != 2 || !strings.HasPrefix(last, "error: "+torn+": ") || !strings.Contains(last, "corrupt log at byte ") || !strings.Contains(errOut+err.Error(), "torn at byte") {
		t.Fatalf("torn log: exit %d, %v\n%s%s", exitCode(err), err, out, errOut)
	}
	// Everything but the End record (the last, cut) is there.
	good := strings.Join(lines[:len(lines)-1], "\n") + "\n"
	if want, _, _ := strings.Cut(strings.ReplaceAll(full, log, torn), "end: "); good != want {
		t.Errorf("the torn log's records differ from the whole log's:\n%s\n---\n%s", good, want)
	}
	out, _, err = logShow(t, "-o", "json", torn)
	jl := lsJSONLines(t, out)
	if e := jl[len(jl)-1]; exitCode(err) != 2 || e["type"] != "error" || e["torn"] != true || e["offset"].(float64) <= 0 || e["offset"].(float64) >= float64(len(data)) {
		t.Errorf("torn log in JSON: exit %d, last line %v", exitCode(err), e)
	}

	wasm := filepath.Join(dir, "agent.wasm")
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a log at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, want string
	}{
		{wasm, "is a WebAssembly module, not a replay log"},
		{text, "not a Lockstep replay log"},
		{filepath.Join(dir, "empty"), "empty file"},
		{t.TempDir(), "is a directory without a replay log"},
	} {
		if strings.HasSuffix(c.path, "empty") {
			if err := os.WriteFile(c.path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, errOut, err := logShow(t, c.path)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) || out != "" {
			t.Errorf("log show %s: exit %d, %v, want %q\n%s%s", c.path, exitCode(err), err, c.want, out, errOut)
		}
	}
	for _, args := range [][]string{{"--tick", "3", "--from", "2"}, {"--from", "5", "--to", "3"}, {"-o", "yaml"}, {"--agent", ""}} {
		if _, _, err := logShow(t, append(args, log)...); exitCode(err) != 1 || err == nil {
			t.Errorf("log show %v: %v, want a flag error", args, err)
		}
	}
	if _, _, err := logShow(t, filepath.Join(dir, "missing.replay")); exitCode(err) != 1 {
		t.Errorf("a missing file: %v", err)
	}
}

// TestLogShowDataDir runs the golden topology under agenthost serve with
// small segments and shows its data directory: the same records as the
// run's log, each segment announced; then with its last segment torn.
func TestLogShowDataDir(t *testing.T) {
	tmp := t.TempDir()
	log := lsRecord(t, tmp)
	dir := filepath.Join(tmp, "d")
	out, err := agenthost(t, "serve", "--topology", filepath.Join("testdata", "logshow-topology.yaml"), "--data-dir", dir, "--clock", "free", "--ticks", "12",
		"--checkpoint-every", "0", "--segment-size", "1000", "--keep-log", "--wasm-cache", "")
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, out)
	}
	segs, err := filepath.Glob(filepath.Join(dir, "log", "seg-*.replay"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("want at least 3 segments, got %v (%v)", segs, err)
	}
	records := func(out string) []string { // the lines after the header, less segment lines
		var r []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "tick ") || strings.HasPrefix(l, "  agent ") || strings.HasPrefix(l, "  event ") || strings.HasPrefix(l, "end: ") {
				r = append(r, l)
			}
		}
		return r
	}
	fileOut, _, err := logShow(t, log)
	if err != nil {
		t.Fatal(err)
	}
	dirOut, errOut, err := logShow(t, dir)
	if err != nil {
		t.Fatalf("log show of the data directory: %v\n%s", err, errOut)
	}
	if got, want := records(dirOut), records(fileOut); !slices.Equal(got, want) {
		t.Errorf("the data directory's records differ from the run's:\n%s\n---\n%s", dirOut, fileOut)
	}
	for i, s := range segs {
		if !strings.Contains(dirOut, fmt.Sprintf("\nsegment %d: %s, start tick ", i+1, s)) {
			t.Errorf("no segment line for %s:\n%s", s, dirOut)
		}
	}

	out, _, err = logShow(t, "-o", "json", "--tick", "11", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := lsJSONLines(t, out)
	if sl := lsOfType(lines, "segment"); len(sl) != 1 || sl[0]["file"] != segs[len(segs)-1] {
		t.Errorf("--tick 11: want the last segment's line alone:\n%s", out)
	}
	if tl := lsOfType(lines, "tick"); len(tl) != 1 || tl[0]["tick"] != 11.0 || len(tl[0]["agents"].([]any)) != 5 || tl[0]["agents"].([]any)[0].(map[string]any)["agent"] != "controller" {
		t.Errorf("--tick 11: want tick 11 with its agents named from segment 1:\n%s", out)
	}

	last := segs[len(segs)-1]
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(last, data[:len(data)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = logShow(t, dir)
	if exitCode(err) != 2 || !strings.Contains(out, "\nerror: "+last+": replaylog: corrupt log at byte ") || strings.Contains(out, "\nend: ") ||
		!strings.Contains(out, "\ntick 11 digest ") || !strings.Contains(errOut+err.Error(), last) {
		t.Errorf("torn last segment: exit %d, %v\n%s%s", exitCode(err), err, out, errOut)
	}
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := logShow(t, dir); exitCode(err) != 2 || !strings.Contains(err.Error(), "a segment is missing") {
		t.Errorf("a missing segment: %v", err)
	}
}

// TestLogShowWASM records the embedded default topology of WebAssembly
// agents (built from source) and checks what its log shows: modules with
// the SHA-256 of the files, inputs, filters, JSON that parses.
func TestLogShowWASM(t *testing.T) {
	mods, err := guests.Dir()
	if err != nil {
		if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
			t.Skipf("%v (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead)", err)
		}
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "run.replay")
	out, err := agenthost(t, "run", "--module-dir", mods, "--record", log, "--ticks", "12", "--progress", "never", "--wasm-cache", filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	out, errOut, err := logShow(t, "-o", "json", log)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	lines := lsJSONLines(t, out)
	h := lines[0]
	if h["abi_version"].(float64) < 1 || h["unsigned_allowed"] != true || h["seed"] != 42.0 || h["config"].(map[string]any)["seed"] != 42.0 {
		t.Errorf("header: %v", h)
	}
	modules := h["modules"].([]any)
	if len(modules) == 0 {
		t.Fatalf("no modules in the header: %v", h)
	}
	for _, m := range modules {
		m := m.(map[string]any)
		cfgMods := h["config"].(map[string]any)["modules"].([]any)
		file := ""
		for _, cm := range cfgMods {
			if cm := cm.(map[string]any); cm["name"] == m["name"] {
				file, _ = cm["path"].(string)
			}
		}
		b, err := os.ReadFile(filepath.Join(mods, file))
		if sum := sha256.Sum256(b); err != nil || m["sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("module %v (file %q): sha256 is not the file's: %v", m, file, err)
		}
	}
	if n := len(lsOfType(lines, "tick")); n != 12 {
		t.Errorf("%d ticks, want 12", n)
	}
	if e := lsOfType(lines, "end"); len(e) != 1 || e[0]["ticks"] != 12.0 {
		t.Errorf("end: %v", e)
	}

	text, _, err := logShow(t, "--tick", "10", "--agent", "counter", log)
	if err != nil || !strings.Contains(text, "\ntick 10 command input to counter: \"hello\"\n") || !strings.Contains(text, "\ntick 10 digest ") ||
		!strings.Contains(text, "\n  agent counter ") || strings.Contains(text, "\n  agent pinger ") || strings.Contains(text, "\ntick 9 ") {
		t.Errorf("--tick 10 --agent counter: %v\n%s", err, text)
	}
	wasm := filepath.Join(mods, "counter.wasm")
	if _, _, err := logShow(t, wasm); exitCode(err) != 2 || !strings.Contains(err.Error(), "WebAssembly module, not a replay log") {
		t.Errorf("log show of a module: %v", err)
	}
}
