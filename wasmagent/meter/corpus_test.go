package meter

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// specModules lists the .wasm files of the spec test suites that wazero's
// module zip carries (see NOTES.md), or skips.
func specModules(t testing.TB) []string {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "github.com/tetratelabs/wazero@v1.12.0/internal/integration_test/spectest")
	var files []string
	for _, suite := range []string{"v1", "v2"} {
		f, _ := filepath.Glob(filepath.Join(dir, suite, "testdata", "*.wasm"))
		files = append(files, f...)
	}
	if len(files) == 0 {
		t.Skipf("no spec test modules under %s", dir)
	}
	return files
}

// TestRewriteSpecModules rewrites every module of the spec test suites: each
// one wazero compiles must rewrite, and its rewrite must compile. (The
// semantics are checked by TestSpecSuite, which runs the assertions.)
func TestRewriteSpecModules(t *testing.T) {
	files := specModules(t)
	var valid, rejected int
	for _, f := range files {
		bin, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []Options{{}, fuelAndNaN, {Fuel: true, CanonicalizeNaN: true, MaxCallDepth: DefaultMaxCallDepth}} {
			out, rerr := Rewrite(bin, opts)
			if rerr != nil && !errors.Is(rerr, ErrMalformed) {
				t.Errorf("%s: error not wrapping ErrMalformed: %v", filepath.Base(f), rerr)
			}
			if compiles(bin) != nil {
				if rerr != nil {
					rejected++
				}
				continue
			}
			valid++
			if rerr != nil {
				t.Errorf("%s: wazero compiles it, Rewrite(%+v) fails: %v", filepath.Base(f), opts, rerr)
				continue
			}
			if err := compiles(out); err != nil {
				t.Errorf("%s: the rewrite does not compile: %v", filepath.Base(f), err)
			}
		}
	}
	t.Logf("%d files: %d valid rewrites, %d invalid modules rejected by Rewrite too", len(files), valid, rejected)
}
