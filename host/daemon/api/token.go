package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tokenBytes is the size of a token before hex encoding: 256 bits.
const tokenBytes = 32

// EnsureTokens returns the full and the read-only token of the data
// directory dataDir (files TokenFile and ReadTokenFile), making the
// directory (mode 0700) and each missing token first: 32 random bytes,
// hex-encoded, in a file of mode 0600, written whole before it appears
// under its name, so a concurrent EnsureTokens or a client never reads half
// a token. An existing token file is read, not replaced; it is refused if
// it is not a regular file (a symbolic link included), if group or others
// have any access to it, or if it is empty. The two tokens must differ.
func EnsureTokens(dataDir string) (full, read string, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", fmt.Errorf("data directory: %w", err)
	}
	if full, err = ensureToken(filepath.Join(dataDir, TokenFile)); err != nil {
		return "", "", err
	}
	if read, err = ensureToken(filepath.Join(dataDir, ReadTokenFile)); err != nil {
		return "", "", err
	}
	if full == read {
		return "", "", fmt.Errorf("%s and %s hold the same token, so the read-only token would allow every call: delete %s to have a new one made",
			filepath.Join(dataDir, TokenFile), filepath.Join(dataDir, ReadTokenFile), filepath.Join(dataDir, ReadTokenFile))
	}
	return full, read, nil
}

// ensureToken reads the token at path, or makes it if there is none.
func ensureToken(path string) (string, error) {
	tok, err := readToken(path, false)
	if !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	// Write a temporary file and link it into place: the token appears
	// whole or not at all, and a token made meanwhile by another process
	// is kept (the link fails) and read.
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(b) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("token %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("token %s: %w", path, err)
	}
	return readToken(path, false)
}

// ReadToken reads a token file, such as a copy of the data directory's
// TokenFile or ReadTokenFile on a client machine: the file (after symbolic
// links) must be a regular file that group and others have no access to,
// and its content, without surrounding white space, is the token.
func ReadToken(path string) (string, error) {
	return readToken(path, true)
}

func readToken(path string, follow bool) (string, error) {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(path)
	if err != nil {
		return "", err // fs.ErrNotExist for ensureToken
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file (%v): a token file must be a plain file of mode 0600", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("token file %s is accessible to group or others (mode %04o): chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return "", fmt.Errorf("token file %s: a token is one word of printable ASCII", path)
	}
	return tok, nil
}
