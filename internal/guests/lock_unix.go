//go:build unix

package guests

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// locks are the lock files of this process's directories, open (and
// locked) until it exits: an os.File that is no longer referenced is
// closed by its finalizer, which would drop the lock.
var locks []*os.File

// lockDir takes the lock of directory dir for as long as this process
// runs: processes in other PID namespaces, which cannot see it run, see
// the lock (sweepTemp).
func lockDir(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return err
	}
	locks = append(locks, f)
	return nil
}

// locked says whether a running process holds directory dir's lock.
func locked(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return false // none: made before locks, or its process never got that far
	}
	defer f.Close()
	return errors.Is(syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB), syscall.EWOULDBLOCK)
}
