//go:build !unix

package daemon

import (
	"fmt"
	"os"
)

// lockDir takes the data directory's lock: one daemon per directory. On
// systems without flock the lock file is created exclusively and removed
// at Close; a crash leaves it behind, and the error says to remove it.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s exists: another agenthost serve runs on this data directory, or one crashed (then remove the file): %w", path, err)
	}
	return f, nil
}

// lockIsFlock: the lock is the file; Close removes it.
const lockIsFlock = false
