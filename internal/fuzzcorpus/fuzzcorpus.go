// Package fuzzcorpus keeps a package's committed seed corpora
// (testdata/fuzz/<FuzzTarget>/<name>, in go test's "go test fuzz v1" format)
// in step with the seeds its tests build.
package fuzzcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Check compares testdata/fuzz/target with seeds (file name → input). With
// update it rewrites the files instead; otherwise a missing or stale file
// fails t and says to run again with fix (the flag that sets update).
func Check(t testing.TB, target string, seeds map[string][]byte, update bool, fix string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	for name, data := range seeds {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale; run the test again with %s", path, fix)
		}
	}
}
