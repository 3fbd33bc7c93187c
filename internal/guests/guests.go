// Package guests builds Lockstep's example guest agents (examples/wasm) from
// source for tests and benchmarks, with the real toolchains: clang-14 and
// wasm-ld for C and C++, Go's wasip1 port for Go. It runs scripts/guests.sh
// once per process into a temporary directory.
//
// The directories it makes are named after the process (tempDir): a test
// binary has no hook to remove them when it exits, so each process removes
// those of processes that are gone before it makes its first.
package guests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// tempPrefix starts the name of every directory the package makes, then
// the making process's id and a dash.
const tempPrefix = "lockstep-guests-"

// lockName is the file in each such directory that its process holds a
// lock on (Unix) while it runs.
const lockName = ".lock"

var sweep sync.Once

// tempDir makes a new temporary directory named after this process, and
// locked by it, having first removed (once per process) those of processes
// that have exited.
func tempDir() (string, error) {
	sweep.Do(sweepTemp)
	d, err := os.MkdirTemp("", tempPrefix+strconv.Itoa(os.Getpid())+"-")
	if err == nil {
		if err = lockDir(d); err != nil {
			os.RemoveAll(d)
		}
	}
	return d, err
}

// sweepTemp removes the directories of tempDir made by processes that no
// longer run: their process id is not running here, and no process holds
// their lock (one in another PID namespace sharing the directory, whose id
// means nothing here, does). A directory whose process runs, or cannot be
// told, stays.
func sweepTemp() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempPrefix)
		pid, _, ok2 := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		d := filepath.Join(os.TempDir(), e.Name())
		if !ok || !ok2 || err != nil || !e.IsDir() || n == os.Getpid() || running(n) || locked(d) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// running says whether process pid may still run: only a process the
// system says is done is not.
func running(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return !errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

var (
	once sync.Once
	dir  string
	err  error
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Dir builds every example guest (once per process) and returns the
// directory holding the .wasm files.
func Dir() (string, error) {
	once.Do(func() {
		dir, err = tempDir()
		if err != nil {
			return
		}
		cmd := exec.Command("bash", filepath.Join(Root(), "scripts", "guests.sh"), dir)
		cmd.Dir = Root()
		out, runErr := cmd.CombinedOutput()
		if runErr != nil {
			err = fmt.Errorf("guests: building the example agents failed (run scripts/setup.sh to install the toolchains): %v\n%s", runErr, out)
		}
	})
	return dir, err
}

// Read returns the bytes of the built guest name (e.g. "counter.wasm").
func Read(name string) ([]byte, error) {
	d, err := Dir()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(d, name))
}

// BuildDir compiles every .c file of src (clang-14, wasm32, no libc, with
// sdk/c on the include path) and
// every .wat file (wat2wasm) into a new temporary directory, which it
// returns. Tests use it for their own small modules.
func BuildDir(src string) (string, error) {
	out, err := tempDir()
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		name := e.Name()
		in := filepath.Join(src, name)
		var cmd *exec.Cmd
		switch filepath.Ext(name) {
		case ".c":
			cmd = exec.Command("clang-14", "--target=wasm32", "-nostdlib", "-O2", "-Wl,--no-entry", "-I", filepath.Join(Root(), "sdk", "c"), "-o",
				filepath.Join(out, name[:len(name)-2]+".wasm"), in)
		case ".wat":
			cmd = exec.Command("wat2wasm", in, "-o", filepath.Join(out, name[:len(name)-4]+".wasm"))
		default:
			continue
		}
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("guests: %s: %v (run scripts/setup.sh for clang-14 and wabt)\n%s", in, err, msg)
		}
	}
	return out, nil
}
