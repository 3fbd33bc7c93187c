//go:build !unix

package guests

// lockDir does nothing here: only the process id tells sweepTemp that a
// directory is in use.
func lockDir(string) error { return nil }

// locked is always false here (lockDir takes no lock).
func locked(string) bool { return false }
