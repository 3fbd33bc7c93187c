package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
)

// TestNewProjects is a user's own project, outside the repository: for each
// guest language, agenthost new scaffolds an agent in a temporary
// directory (its go.mod replacing Lockstep with this checkout), its
// build.sh builds it with the SDK, agenthost keygen and sign sign it, go
// test runs its unit test (the test kit, sdk/agenttest, on the built
// module), and agenthost run runs its topology trusting the key.
func TestNewProjects(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four agents and four Go test binaries")
	}
	root := guests.Root()
	for _, lang := range []string{"c", "rust", "as", "go"} {
		t.Run(lang, func(t *testing.T) {
			name := "ag_" + lang
			dir := filepath.Join(t.TempDir(), name)
			if out, err := agenthost(t, "new", "--lang", lang, "--lockstep", root, dir); err != nil {
				t.Fatalf("new: %v\n%s", err, out)
			}
			sh := func(args ...string) string {
				t.Helper()
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
				out, err := cmd.CombinedOutput()
				if err != nil {
					if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" && args[0] == "./build.sh" {
						t.Skipf("cannot build the %s agent (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead): %v\n%s", lang, err, out)
					}
					t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			sh("./build.sh")
			wasm := filepath.Join(dir, "bin", name+".wasm")
			key := filepath.Join(dir, name+".key")
			if out, err := agenthost(t, "keygen", "--out", key); err != nil {
				t.Fatalf("keygen: %v\n%s", err, out)
			}
			if out, err := agenthost(t, "sign", "--key", key, "--name", name, "--version", "0.1.0", "--cap", "auto", wasm); err != nil {
				t.Fatalf("sign: %v\n%s", err, out)
			}
			sh("go", "mod", "tidy")
			if out := sh("go", "test", "./..."); !strings.Contains(out, "ok  \texample.com/"+name) {
				t.Fatalf("go test:\n%s", out)
			}
			topo := filepath.Join(dir, "topology.yaml")
			b, err := os.ReadFile(topo)
			if err != nil {
				t.Fatal(err)
			}
			signed := strings.Replace(string(b), "allow_unsigned: true", "trust: ["+name+".pub]", 1)
			if signed == string(b) {
				t.Fatal("the topology does not say allow_unsigned")
			}
			if err := os.WriteFile(topo, []byte(signed), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := agenthost(t, "run", "--topology", topo, "--progress", "never", "--wasm-cache", "", "--record", filepath.Join(dir, "run.replay"))
			if err != nil || !strings.Contains(out, "ticks: 20") || !strings.Contains(out, "failures: 0") {
				t.Fatalf("run: %v\n%s", err, out)
			}
			if out, err := agenthost(t, "verify", "--module-dir", filepath.Join(dir, "bin"), "--trust", key[:len(key)-4]+".pub", filepath.Join(dir, "run.replay")); err != nil {
				t.Fatalf("verify: %v\n%s", err, out)
			}
		})
	}
}
