package host_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// These tests treat the replay log as what an attacker may hand a
// verifier: trust, unsigned modules and file locations come from
// ReplayOptions, never from the log's header.

// buildCounter compiles examples/wasm/counter.c (the C SDK, no libc) into
// dir/counter.wasm.
func buildCounter(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "counter.wasm")
	root := guests.Root()
	cmd := exec.Command("clang-14", "--target=wasm32", "-nostdlib", "-O2", "-Wl,--no-entry", "-I"+filepath.Join(root, "sdk", "c"),
		"-o", out, filepath.Join(root, "examples", "wasm", "counter.c"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building counter.wasm (scripts/setup.sh installs clang-14): %v\n%s", err, msg)
	}
	return out
}

// recordCounter records 5 ticks of one counter agent from the module at
// path and returns the log.
func recordCounter(t *testing.T, path string, wasm host.WASMConfig, models ...host.Model) []byte {
	t.Helper()
	var log bytes.Buffer
	var mods []host.Module
	if path != "" {
		mods = []host.Module{{Name: "counter", Path: path, Grants: []string{"messaging.publish", "state.write"}}}
	}
	h, err := host.New(host.Options{Seed: 5, Logger: quiet(), Record: &log, Modules: mods, WASM: wasm, Models: models})
	if err != nil {
		t.Fatal(err)
	}
	if path != "" {
		if err := h.Spawn(host.AgentSpec{ID: "c1", Kind: "counter"}); err != nil {
			t.Fatal(err)
		}
	}
	agenttest.Steps(t, h, 5)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	return log.Bytes()
}

func verify(log []byte, opts host.ReplayOptions) (*host.VerifyResult, error) {
	opts.Logger = quiet()
	return host.Verify(bytes.NewReader(log), opts)
}

func wantErr(t *testing.T, what string, err error, says ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one saying %q", what, says)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: %v\nwant it to say %q", what, err, s)
		}
	}
}

func wantIdentical(t *testing.T, what string, res *host.VerifyResult, err error, ticks uint64) {
	t.Helper()
	if err != nil || !res.Identical() || !res.Complete || res.Ticks != ticks {
		t.Fatalf("%s: %+v %v", what, res, err)
	}
}

// TestVerifyUnsignedNeedsAllowUnsigned: a run recorded with allow_unsigned
// replays only when the verifier allows unsigned modules, and only from
// the verifier's module directories.
func TestVerifyUnsignedNeedsAllowUnsigned(t *testing.T) {
	dir := t.TempDir()
	mod := buildCounter(t, dir)
	log := recordCounter(t, mod, host.WASMConfig{AllowUnsigned: true})

	_, err := verify(log, host.ReplayOptions{ModuleDirs: []string{dir}})
	wantErr(t, "no --allow-unsigned", err, "recorded with allow_unsigned", "--allow-unsigned")
	_, err = verify(log, host.ReplayOptions{AllowUnsigned: true})
	wantErr(t, "no module directory", err, `module "counter"`, "counter.wasm", "--module-dir")
	empty := t.TempDir()
	_, err = verify(log, host.ReplayOptions{AllowUnsigned: true, ModuleDirs: []string{empty}})
	wantErr(t, "module not in the directory", err, `"counter.wasm" is not in `+empty, "--module-dir")

	res, err := verify(log, host.ReplayOptions{AllowUnsigned: true, ModuleDirs: []string{empty, dir}})
	wantIdentical(t, "module found in the second directory", res, err, 5)

	// VerifyFile looks in the log's own directory by default.
	path := filepath.Join(dir, "run.replay")
	if err := os.WriteFile(path, log, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = host.VerifyFile(path, host.ReplayOptions{AllowUnsigned: true, Logger: quiet()})
	wantIdentical(t, "VerifyFile beside its module", res, err, 5)

	// Another file of the same name is not the module the run used.
	other := t.TempDir()
	data, err := os.ReadFile(mod)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "counter.wasm"), append(data, 0, 4, 3, 'a', 'b', 'c'), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = verify(log, host.ReplayOptions{AllowUnsigned: true, ModuleDirs: []string{other}})
	wantErr(t, "changed module", err, `module "counter"`, "replay needs the same module")
	// A directory or device of that name is not read.
	if err := os.Mkdir(filepath.Join(empty, "counter.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = verify(log, host.ReplayOptions{AllowUnsigned: true, ModuleDirs: []string{empty}})
	wantErr(t, "a directory named like the module", err, "not a regular file")
}

// TestVerifySignedNeedsTrust: a run of a signed module replays only with
// the key given by the verifier; the error names the keys the run trusted.
func TestVerifySignedNeedsTrust(t *testing.T) {
	dir := t.TempDir()
	mod := buildCounter(t, dir)
	keyFile := func(name string) string {
		key, err := plugin.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		pub := filepath.Join(dir, name+".pub")
		if err := os.WriteFile(pub, plugin.MarshalPublicKey(key.Public()), 0o644); err != nil {
			t.Fatal(err)
		}
		if name == "author" {
			data, err := os.ReadFile(mod)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := plugin.Sign(data, plugin.Manifest{Name: "counter", Version: "1.0.0", ABIVersion: wasmagent.ABIVersion,
				Capabilities: []string{"messaging.publish", "state.write"}}, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(mod, signed, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return pub
	}
	author, stranger := keyFile("author"), keyFile("stranger")
	log := recordCounter(t, mod, host.WASMConfig{Trust: []string{author}})

	_, err := verify(log, host.ReplayOptions{ModuleDirs: []string{dir}})
	wantErr(t, "no --trust", err, "the run trusted the keys", `"author.pub"`, "--trust")
	_, err = verify(log, host.ReplayOptions{ModuleDirs: []string{dir}, Trust: []string{stranger}})
	wantErr(t, "another key", err, "untrusted key", `"author.pub"`, "--trust")
	_, err = verify(log, host.ReplayOptions{ModuleDirs: []string{dir}, AllowUnsigned: true})
	wantErr(t, "--allow-unsigned does not stand for a key", err, "untrusted key", "--trust")
	res, err := verify(log, host.ReplayOptions{ModuleDirs: []string{dir}, Trust: []string{author}})
	wantIdentical(t, "with the author's key", res, err, 5)
}

// craft rewrites log's header config with edit and writes a log whose
// config digest matches (unless keepDigest), with the same records.
func craft(t *testing.T, log []byte, keepDigest bool, edit func(cfg map[string]any)) []byte {
	t.Helper()
	return rewriteLog(t, log, func(hdr *replaylog.Header) {
		var cfg map[string]any
		if err := json.Unmarshal(hdr.Topology, &cfg); err != nil {
			t.Fatal(err)
		}
		edit(cfg)
		var err error
		if hdr.Topology, err = json.Marshal(cfg); err != nil {
			t.Fatal(err)
		}
		if !keepDigest {
			sum := sha256.Sum256(hdr.Topology)
			hdr.ConfigDigest = sum[:]
		}
	}, nil)
}

func module0(cfg map[string]any) map[string]any { return cfg["modules"].([]any)[0].(map[string]any) }

// TestVerifyCraftedHeader: a header written to make the verifier read
// other files, trust other keys or run without fuel is refused, and never
// read from.
func TestVerifyCraftedHeader(t *testing.T) {
	dir := t.TempDir()
	mod := buildCounter(t, dir)
	log := recordCounter(t, mod, host.WASMConfig{AllowUnsigned: true})
	opts := host.ReplayOptions{AllowUnsigned: true, ModuleDirs: []string{dir}}

	// Paths in the header are never opened: only their base names are
	// looked up in ModuleDirs (reading /dev/zero would never end).
	evil := craft(t, log, false, func(cfg map[string]any) { module0(cfg)["path"] = "/dev/zero" })
	_, err := verify(evil, opts)
	wantErr(t, "module path /dev/zero", err, `"zero" is not in `+dir)
	evil = craft(t, log, false, func(cfg map[string]any) { module0(cfg)["path"] = "/tmp/.." })
	_, err = verify(evil, opts)
	wantErr(t, "module path ..", err, "names no file")
	// Recorded trust keys are not loaded: the key path in the header is
	// only named in errors.
	evil = craft(t, log, false, func(cfg map[string]any) {
		cfg["wasm"].(map[string]any)["trust"] = []any{"/dev/stdin"}
		cfg["wasm"].(map[string]any)["allow_unsigned"] = false
	})
	res, err := verify(evil, opts)
	wantIdentical(t, "header trust ignored", res, err, 5)
	// No digest: nothing to check a file against.
	evil = craft(t, log, false, func(cfg map[string]any) { delete(module0(cfg), "digest") })
	_, err = verify(evil, opts)
	wantErr(t, "module without digest", err, "records no SHA-256")
	// Without fuel metering a replay could run forever.
	evil = craft(t, log, false, func(cfg map[string]any) { cfg["wasm"].(map[string]any)["unmetered"] = true })
	_, err = verify(evil, opts)
	wantErr(t, "unmetered", err, "without fuel metering")
	// Nor may a log grant itself more fuel than the verifier does, or
	// turn the quotas off.
	evil = craft(t, log, false, func(cfg map[string]any) { cfg["wasm"].(map[string]any)["fuel"] = 1 << 40 })
	_, err = verify(evil, opts)
	wantErr(t, "fuel over the verifier's limit", err, "wasm.fuel = 1099511627776, over the 4294967296", "--max-fuel")
	if !errors.Is(err, host.ErrReplayInput) {
		t.Fatalf("fuel over the limit: %v, want host.ErrReplayInput (exit 3)", err)
	}
	lifted := opts
	lifted.MaxFuel = 1 << 41
	res, err = verify(evil, lifted)
	wantIdentical(t, "fuel within a raised limit", res, err, 5)
	evil = craft(t, log, false, func(cfg map[string]any) { cfg["quotas"] = map[string]any{"unenforced": true} })
	_, err = verify(evil, opts)
	wantErr(t, "unenforced", err, "without quotas")
	evil = rewriteLog(t, log, nil, func(r *replaylog.Record) {
		if s := r.GetCommand().GetSpawn(); s != nil {
			s.Fuel = 1 << 50
		}
	})
	res, err = verify(evil, opts)
	if err != nil || res.Divergence == nil || !strings.Contains(res.Divergence.What, "over the 4294967296 this replay grants") {
		t.Fatalf("a spawn asking for 2^50 fuel: %+v %v", res, err)
	}
	// A config that does not match its digest is a corrupt header.
	evil = craft(t, log, true, func(cfg map[string]any) { cfg["seed"] = 6 })
	_, err = verify(evil, opts)
	if !errors.Is(err, replaylog.ErrCorrupt) || !strings.Contains(err.Error(), "config digest") {
		t.Fatalf("config not matching its digest: %v, want replaylog.ErrCorrupt", err)
	}
}

// TestVerifyFindsModels: every answer is in the log; a deterministic
// model's file is needed to check its answers, so its absence refuses the
// log (ErrReplayInput) unless UncheckedModels makes it a warning; a
// recorded model's file is never looked for.
func TestVerifyFindsModels(t *testing.T) {
	dir := t.TempDir()
	data := []byte("not really onnx: never loaded, no agent infers")
	sum := sha256.Sum256(data)
	if err := os.WriteFile(filepath.Join(dir, "m.onnx"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	det := host.Model{ID: "m", Version: "1", Path: filepath.Join(dir, "m.onnx"), SHA256: hex.EncodeToString(sum[:])}
	fast := det
	fast.ID, fast.Mode = "f", "fast"
	log := recordCounter(t, "", host.WASMConfig{}, det, fast)

	res, err := verify(log, host.ReplayOptions{ModuleDirs: []string{dir}})
	wantIdentical(t, "models found", res, err, 5)
	// Where ONNX Runtime is missing nothing can be checked, and no file is
	// needed (TestReplayNeedsDeterministicModels).
	lib := host.InferenceConfig{Library: modeltest.Library(t)}
	empty := t.TempDir()
	_, err = verify(log, host.ReplayOptions{ModuleDirs: []string{empty}, Inference: lib})
	if !errors.Is(err, host.ErrReplayInput) {
		t.Fatalf("deterministic model missing: %v, want host.ErrReplayInput", err)
	}
	wantErr(t, "deterministic model missing", err, `model "m@1"`, `"m.onnx" is not in `+empty, "--unchecked-models")
	res, err = verify(log, host.ReplayOptions{ModuleDirs: []string{empty}, UncheckedModels: true, Inference: lib})
	wantIdentical(t, "deterministic model missing, unchecked", res, err, 5)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `model "m@1": "m.onnx" is not in `+empty) {
		t.Fatalf("warnings %q, want one naming the deterministic model only", res.Warnings)
	}
	log = recordCounter(t, "", host.WASMConfig{}, fast)
	res, err = verify(log, host.ReplayOptions{ModuleDirs: []string{empty}, Inference: lib})
	wantIdentical(t, "recorded model missing", res, err, 5)
	if len(res.Warnings) != 0 {
		t.Fatalf("recorded model missing: warnings %q, want none", res.Warnings)
	}
}

// TestLogsNameFilesNotPaths: a replay log records modules, models and
// trusted keys by file name only, so it names nothing of the recording
// machine's directories and verifies wherever its files are given.
func TestLogsNameFilesNotPaths(t *testing.T) {
	dir := t.TempDir()
	mod := buildCounter(t, dir)
	key, err := plugin.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "a.pub")
	if err := os.WriteFile(pub, plugin.MarshalPublicKey(key.Public()), 0o644); err != nil {
		t.Fatal(err)
	}
	log := recordCounter(t, mod, host.WASMConfig{AllowUnsigned: true, Trust: []string{pub}})
	rd, err := replaylog.NewReader(bytes.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := string(rd.Header().Topology); strings.Contains(cfg, dir) || !strings.Contains(cfg, `"path":"counter.wasm"`) || !strings.Contains(cfg, `"trust":["a.pub"]`) {
		t.Fatalf("the recorded config names the recording machine's paths: %s", cfg)
	}
	_, err = verify(log, host.ReplayOptions{AllowUnsigned: true, ModuleDirs: []string{t.TempDir()}})
	if !errors.Is(err, host.ErrReplayInput) {
		t.Fatalf("a missing module: %v, want host.ErrReplayInput", err)
	}
}

// rewriteLog returns log with editHeader applied to its header and
// editRecord to each of its records (either may be nil).
func rewriteLog(t *testing.T, log []byte, editHeader func(*replaylog.Header), editRecord func(*replaylog.Record)) []byte {
	t.Helper()
	rd, err := replaylog.NewReader(bytes.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	hdr := rd.Header()
	if editHeader != nil {
		editHeader(hdr)
	}
	var out bytes.Buffer
	w, err := replaylog.NewWriter(&out, hdr)
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := rd.Next()
		if err != nil {
			break
		}
		if editRecord != nil {
			editRecord(r)
		}
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
