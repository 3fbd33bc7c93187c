package plugin

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Key file headers: a key file is one line "<header> <base64>\n", where the
// base64 (standard alphabet, padded) holds the 32-byte ed25519 public key or
// the 32-byte private key seed. Blank lines and lines starting with # are
// ignored.
const (
	PublicKeyHeader  = "lockstep-ed25519-public"
	PrivateKeyHeader = "lockstep-ed25519-private"
)

// maxKeyFile bounds what ParsePublicKey and LoadTrust read.
const maxKeyFile = 64 << 10

// PublicKey is a key a host may trust.
type PublicKey struct {
	// ID is the first 16 hex digits of the SHA-256 of Key; manifests name
	// their signing key by it.
	ID  string
	Key ed25519.PublicKey
}

// PrivateKey is an author's signing key. Keep it out of the module and out
// of the trust directory.
type PrivateKey struct {
	ID  string // the ID of its public key
	Key ed25519.PrivateKey
}

// KeyID returns the ID of an ed25519 public key: the first 16 hex digits of
// its SHA-256.
func KeyID(key ed25519.PublicKey) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey makes a new key pair from 32 bytes of rand; nil means
// crypto/rand. The same bytes give the same key.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("plugin: generating a key: %w", err)
	}
	return &PrivateKey{ID: KeyID(pub), Key: priv}, nil
}

// Public returns the public half of k (the zero PublicKey if k does not
// hold an ed25519 private key).
func (k *PrivateKey) Public() PublicKey {
	if k == nil || len(k.Key) != ed25519.PrivateKeySize {
		return PublicKey{}
	}
	pub := k.Key.Public().(ed25519.PublicKey)
	return PublicKey{ID: KeyID(pub), Key: pub}
}

// MarshalPrivateKey encodes k as a private key file.
func MarshalPrivateKey(k *PrivateKey) []byte {
	return keyLine(PrivateKeyHeader, k.Key.Seed())
}

// MarshalPublicKey encodes k as a public key file.
func MarshalPublicKey(k PublicKey) []byte {
	return keyLine(PublicKeyHeader, k.Key)
}

func keyLine(header string, key []byte) []byte {
	return fmt.Appendf(nil, "%s %s\n", header, base64.StdEncoding.EncodeToString(key))
}

// ParsePrivateKey decodes a private key file. name is the file's name for
// error messages. Errors never quote the key material.
func ParsePrivateKey(data []byte, name string) (*PrivateKey, error) {
	seed, err := parseKeyFile(data, name, PrivateKeyHeader, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &PrivateKey{ID: KeyID(priv.Public().(ed25519.PublicKey)), Key: priv}, nil
}

// ParsePublicKey decodes a public key file. name is the file's name for
// error messages. Errors do not quote words of the file that could be key
// material either: a private key may be put where a public one belongs.
func ParsePublicKey(data []byte, name string) (PublicKey, error) {
	key, err := parseKeyFile(data, name, PublicKeyHeader, ed25519.PublicKeySize)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{ID: KeyID(key), Key: key}, nil
}

// parseKeyFile returns the decoded key of a one-line key file.
func parseKeyFile(data []byte, name, header string, size int) ([]byte, error) {
	if name == "" {
		name = "(unnamed)"
	}
	kind, other := "public", PrivateKeyHeader
	if header == PrivateKeyHeader {
		kind, other = "private", PublicKeyHeader
	}
	fail := func(format string, args ...any) error {
		return malformed("%s key file %s: %s", kind, name, fmt.Sprintf(format, args...))
	}
	want := fmt.Sprintf("one line %q followed by the base64 of the %d-byte key", header+" ", size)
	if len(data) > maxKeyFile {
		return nil, fail("%d bytes is too large for a key file; it should be %s", len(data), want)
	}
	var line string
	lines := 0
	for l := range strings.Lines(string(data)) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		line = l
		lines++
	}
	fields := strings.Fields(line)
	switch {
	case lines == 0:
		return nil, fail("the file is empty; it should be %s", want)
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")):
		return nil, fail("this is a PEM file; Lockstep key files are %s (generate the pair with plugin.GenerateKey and MarshalPublicKey/MarshalPrivateKey)", want)
	case strings.HasPrefix(line, "ssh-ed25519 "):
		return nil, fail("this is an OpenSSH key; Lockstep key files are %s", want)
	case lines > 1:
		return nil, fail("%d key lines; a key file holds exactly one key: split it into one file per key", lines)
	case fields[0] == other && header == PublicKeyHeader:
		return nil, fail("this is a private key; give the public key file instead (%s ...), and keep the private key secret", header)
	case fields[0] == other:
		return nil, fail("this is a public key; signing needs the private key file (%s ...)", header)
	case fields[0] != header && headerShaped(fields[0]):
		return nil, fail("it starts with %q; it should be %s", fields[0], want)
	case fields[0] != header:
		// The word may be a key without its header: never quote it.
		return nil, fail("its first word is not %q (the word is not shown: it may be a key); it should be %s", header, want)
	case len(fields) != 2:
		return nil, fail("%d fields on the key line; it should be %s", len(fields), want)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(fields[1])
	if err != nil {
		return nil, fail("the key is not valid base64 (%v); it should be %s", err, want)
	}
	if len(key) != size {
		return nil, fail("the key is %d bytes; an ed25519 %s key is %d bytes (the file is truncated or not an ed25519 key)", len(key), kind, size)
	}
	return key, nil
}

// headerShaped reports whether w has the shape of a key file header:
// lowercase letters and digits in words joined by hyphens, at most 40
// bytes. Keys do not: base64 and hex have no hyphens, and a 32-byte key in
// base64url has an upper case letter or an underscore but for a chance
// of about 1 in 10^10. So an error may quote such a word.
func headerShaped(w string) bool {
	if len(w) == 0 || len(w) > 40 || w[0] < 'a' || w[0] > 'z' || !strings.Contains(w, "-") {
		return false
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// TrustStore is the set of public keys a host trusts. Several keys may be
// trusted at once, e.g. the old and the new key while an author rotates.
// A TrustStore is immutable and safe for concurrent use.
type TrustStore struct {
	keys map[string][]PublicKey // by ID; several only if IDs collide
}

// NewTrust returns a store trusting keys. Each key's ID is recomputed from
// its Key; duplicates are kept once. Keys of the wrong length are skipped.
func NewTrust(keys ...PublicKey) *TrustStore {
	t := &TrustStore{keys: map[string][]PublicKey{}}
	for _, k := range keys {
		if len(k.Key) != ed25519.PublicKeySize {
			continue
		}
		k = PublicKey{ID: KeyID(k.Key), Key: slices.Clone(k.Key)}
		if !slices.ContainsFunc(t.keys[k.ID], func(o PublicKey) bool { return o.Key.Equal(k.Key) }) {
			t.keys[k.ID] = append(t.keys[k.ID], k)
		}
	}
	return t
}

// LoadTrust reads public key files. Each path is a key file or a directory,
// whose *.pub files are read (other files and subdirectories are ignored);
// a directory without any is an error, so a wrong path does not silently
// trust nothing. No paths give an empty store.
func LoadTrust(paths ...string) (*TrustStore, error) {
	var keys []PublicKey
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("plugin: trusted keys: %w", err)
		}
		files := []string{p}
		if st.IsDir() {
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("plugin: trusted keys: %w", err)
			}
			files = files[:0]
			for _, e := range entries {
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".pub") {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
			if len(files) == 0 {
				return nil, malformed("trusted key directory %s holds no *.pub files; put the authors' public key files (%s ...) there, one key per file", p, PublicKeyHeader)
			}
		}
		for _, f := range files {
			data, err := readLimited(f)
			if err != nil {
				return nil, err
			}
			k, err := ParsePublicKey(data, f)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	return NewTrust(keys...), nil
}

// readLimited reads a key file, refusing one larger than maxKeyFile.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plugin: trusted keys: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("plugin: trusted keys: %s: %w", path, err)
	}
	return data, nil
}

// Lookup returns the trusted keys with the given ID (normally one).
func (t *TrustStore) Lookup(id string) []PublicKey {
	if t == nil {
		return nil
	}
	return slices.Clone(t.keys[id])
}

// Keys returns every trusted key, sorted by ID.
func (t *TrustStore) Keys() []PublicKey {
	if t == nil {
		return nil
	}
	var out []PublicKey
	for _, ks := range t.keys {
		out = append(out, ks...)
	}
	slices.SortFunc(out, func(a, b PublicKey) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return bytes.Compare(a.Key, b.Key)
	})
	return out
}

// ids lists the trusted key IDs for error messages.
func (t *TrustStore) ids() string {
	keys := t.Keys()
	if len(keys) == 0 {
		return "the trust store is empty"
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return "trusted: " + strings.Join(ids, ", ")
}
