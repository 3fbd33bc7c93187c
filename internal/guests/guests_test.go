package guests

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// TestSweepTemp: the directories of exited processes go, those of this
// process and of running ones stay, and so do those whose lock a process
// holds (Unix: one in another PID namespace) and anything not named like
// tempDir's.
func TestSweepTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{ // name: kept
		tempPrefix + strconv.Itoa(gone.Process.Pid) + "-1": false,
		tempPrefix + strconv.Itoa(os.Getpid()) + "-2":      true,
		tempPrefix + strconv.Itoa(os.Getppid()) + "-3":     true,
		tempPrefix + "123456789":                           true, // no pid: not tempDir's
		"lockstep-testmods-4":                              true,
	}
	held := tempPrefix + strconv.Itoa(gone.Process.Pid) + "-5" // an exited id, but locked
	names[held] = runtime.GOOS != "windows"
	for name := range names {
		if err := os.Mkdir(filepath.Join(tmp, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := lockDir(filepath.Join(tmp, held)); err != nil {
		t.Fatal(err)
	}
	sweepTemp()
	for name, kept := range names {
		_, err := os.Stat(filepath.Join(tmp, name))
		if (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", name, err == nil, kept)
		}
	}
	d, err := tempDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(tmp, tempPrefix+strconv.Itoa(os.Getpid())+"-"); filepath.Dir(d) != tmp || len(d) <= len(want) || d[:len(want)] != want {
		t.Errorf("tempDir made %s, want a directory %s…", d, want)
	}
}
