package plugin_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/fuzzcorpus"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// seedKeyFiles are FuzzLoadKey's seed corpus, named after what they
// exercise or what they broke: key files as MarshalPublicKey and
// MarshalPrivateKey write them, and the malformed ones of
// TestMalformedKeyFiles.
func seedKeyFiles() map[string][]byte {
	k := seedKey(0xb1)
	pub, priv := plugin.MarshalPublicKey(k.Public()), plugin.MarshalPrivateKey(k)
	seed := strings.Fields(string(priv))[1]
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	return map[string][]byte{
		"public":               pub,
		"private":              priv,
		"public_with_comments": append([]byte("# alice, rotated 2025\n\n"), pub...),
		"public_crlf":          bytes.ReplaceAll(pub, []byte("\n"), []byte("\r\n")),
		"two_keys":             append(bytes.Clone(pub), pub...),
		"pem":                  []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"),
		"openssh":              []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host\n"),
		"wrong_header":         []byte("lockstep-rsa-public " + b64(32) + "\n"),
		"no_key":               []byte("lockstep-ed25519-public\n"),
		"extra_field":          append(bytes.TrimSpace(pub), " alice\n"...),
		"bad_base64":           []byte("lockstep-ed25519-public !!!!\n"),
		"unpadded_base64":      []byte("lockstep-ed25519-public " + strings.TrimRight(b64(32), "=") + "\n"),
		"short_key":            []byte("lockstep-ed25519-public " + b64(31) + "\n"),
		"long_private":         []byte("lockstep-ed25519-private " + b64(64) + "\n"),
		"empty":                {},
		// A private key's seed without its header was quoted, 40 of its 44
		// base64 bytes, in the errors of both parsers.
		"quoted_private_seed_no_header": []byte(seed + "\n"),
		"quoted_private_seed_hex":       []byte(hex.EncodeToString(k.Key.Seed()) + "\n"),
	}
}

// TestFuzzCorpusKeys keeps testdata/fuzz/FuzzLoadKey in step with
// seedKeyFiles; run with -update-corpus after changing them.
func TestFuzzCorpusKeys(t *testing.T) {
	fuzzcorpus.Check(t, "FuzzLoadKey", seedKeyFiles(), *updateCorpus, "-update-corpus")
}

// keyErrorVocabulary is the text errors about key files are made of, to
// tell it apart from text they quote: the errors for the seed files with
// no key material in them.
func keyErrorVocabulary() string {
	var b strings.Builder
	for _, data := range []string{"", "-----BEGIN", "ssh-ed25519 x", "a\nb", "lockstep-ed25519-private x", "lockstep-ed25519-public x",
		"lockstep-ed25519-public x y", "lockstep-ed25519-public !!!!", "lockstep-ed25519-public AAAA", "lockstep-ed25519-private AAAA", "x"} {
		for _, name := range []string{"fuzz.pub", "fuzz.key"} {
			_, err := plugin.ParsePublicKey([]byte(data), name)
			b.WriteString(err.Error())
			_, err = plugin.ParsePrivateKey([]byte(data), name)
			b.WriteString(err.Error())
		}
	}
	b.WriteString(plugin.PublicKeyHeader + plugin.PrivateKeyHeader)
	return b.String()
}

// headerShaped reports whether an error may quote word: it has the shape
// of a key file header (lowercase words joined by hyphens), which base64,
// base64url and hex keys do not.
func headerShaped(w string) bool {
	if len(w) == 0 || len(w) > 40 || w[0] < 'a' || w[0] > 'z' || !strings.Contains(w, "-") {
		return false
	}
	for _, c := range []byte(w) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// FuzzLoadKey reads arbitrary bytes as a public key file, a private key
// file and a trusted key file or directory (LoadTrust), and as a raw key
// (NewTrust). Nothing may panic; every error matches ErrMalformed, names
// the file and quotes no words of it that could be key material; a key
// that parses re-encodes to a file that parses to the same key; LoadTrust
// (tried on one input in 64) agrees with ParsePublicKey.
func FuzzLoadKey(f *testing.F) {
	// Every 12 bytes of the errors' own text, to look windows up in.
	vocab := map[string]bool{}
	for text := keyErrorVocabulary(); len(text) >= 12; text = text[1:] {
		vocab[text[:12]] = true
	}
	dir, err := os.MkdirTemp("", "fuzzloadkey")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "k.pub")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkErr := func(what, name string, err error) {
			t.Helper()
			msg := err.Error()
			switch {
			case !errors.Is(err, plugin.ErrMalformed):
				t.Fatalf("%s: %v does not match ErrMalformed", what, err)
			case strings.Contains(strings.ToLower(msg), "panic"):
				t.Fatalf("%s: %q", what, msg)
			case !strings.Contains(msg, name):
				t.Fatalf("%s: %q does not name the file %s", what, msg, name)
			}
			// No 12 bytes of a word that could be a key, unless they are
			// the errors' own text: cut out the words the error may quote,
			// then look for what is left in the file.
			for _, w := range strings.Fields(string(data)) {
				if headerShaped(w) {
					msg = strings.ReplaceAll(msg, strconv.Quote(w), "\x00")
				}
			}
			for i := 0; i+12 <= len(msg); i++ {
				win := msg[i : i+12]
				if vocab[win] || strings.ContainsAny(win, " \t\r\n\x00") {
					continue
				}
				if bytes.Contains(data, []byte(win)) {
					t.Fatalf("%s: %q quotes %q from the file", what, err, win)
				}
			}
		}

		pub, pubErr := plugin.ParsePublicKey(data, "fuzz.pub")
		if pubErr != nil {
			checkErr("ParsePublicKey", "fuzz.pub", pubErr)
		} else {
			if len(pub.Key) != ed25519.PublicKeySize || pub.ID != plugin.KeyID(pub.Key) {
				t.Fatalf("ParsePublicKey: %+v", pub)
			}
			again, err := plugin.ParsePublicKey(plugin.MarshalPublicKey(pub), "again.pub")
			if err != nil || !again.Key.Equal(pub.Key) || again.ID != pub.ID {
				t.Fatalf("public key does not round-trip: %+v, %v", again, err)
			}
		}

		priv, err := plugin.ParsePrivateKey(data, "fuzz.key")
		if err != nil {
			checkErr("ParsePrivateKey", "fuzz.key", err)
		} else {
			if pubErr == nil {
				t.Fatal("the same file parses as a public and a private key")
			}
			p := priv.Public()
			if len(priv.Key) != ed25519.PrivateKeySize || priv.ID != p.ID || p.ID != plugin.KeyID(p.Key) {
				t.Fatalf("ParsePrivateKey: ID %s, public %+v", priv.ID, p)
			}
			again, err := plugin.ParsePrivateKey(plugin.MarshalPrivateKey(priv), "again.key")
			if err != nil || !again.Key.Equal(priv.Key) || again.ID != priv.ID {
				t.Fatalf("private key does not round-trip: %v", err)
			}
			if !bytes.Equal(priv.Key.Seed(), again.Key.Seed()) || !p.Key.Equal(priv.Key.Public()) {
				t.Fatal("the parsed private key and its public half disagree")
			}
		}

		// LoadTrust, through a file or a directory, for one input in 64:
		// its file IO takes 50 times as long as the rest.
		if sum := crc32.ChecksumIEEE(data); sum%64 == 0 {
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			path := file
			if sum>>6%2 == 1 {
				path = dir
			}
			store, err := plugin.LoadTrust(path)
			switch {
			case (err == nil) != (pubErr == nil):
				t.Fatalf("LoadTrust(%s): %v, but ParsePublicKey: %v", path, err, pubErr)
			case err != nil:
				checkErr("LoadTrust", file, err)
			default:
				keys := store.Keys()
				if len(keys) != 1 || !keys[0].Key.Equal(pub.Key) || len(store.Lookup(pub.ID)) != 1 {
					t.Fatalf("LoadTrust(%s): %+v, want %+v", path, keys, pub)
				}
			}
		}

		raw := plugin.NewTrust(plugin.PublicKey{ID: "ignored", Key: data})
		if keys := raw.Keys(); len(data) == ed25519.PublicKeySize {
			if len(keys) != 1 || keys[0].ID != plugin.KeyID(data) || len(raw.Lookup(plugin.KeyID(data))) != 1 {
				t.Fatalf("NewTrust of a 32-byte key: %+v", keys)
			}
		} else if len(keys) != 0 {
			t.Fatalf("NewTrust kept a %d-byte key", len(data))
		}
	})
}
