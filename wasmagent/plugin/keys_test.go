package plugin_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

func TestKeyFiles(t *testing.T) {
	k := testKey(t, 1)
	if len(k.ID) != 16 || k.ID != k.Public().ID || k.ID != plugin.KeyID(k.Public().Key) {
		t.Fatalf("IDs %q %q", k.ID, k.Public().ID)
	}
	priv := plugin.MarshalPrivateKey(k)
	if !bytes.HasPrefix(priv, []byte("lockstep-ed25519-private ")) || !bytes.HasSuffix(priv, []byte("\n")) {
		t.Fatalf("%q", priv)
	}
	k2, err := plugin.ParsePrivateKey(priv, "author.key")
	if err != nil || k2.ID != k.ID || !k2.Key.Equal(k.Key) {
		t.Fatalf("%v %+v", err, k2)
	}
	pub := plugin.MarshalPublicKey(k.Public())
	if !bytes.HasPrefix(pub, []byte("lockstep-ed25519-public ")) {
		t.Fatalf("%q", pub)
	}
	p2, err := plugin.ParsePublicKey(append([]byte("# alice, 2025\n\n"), pub...), "alice.pub")
	if err != nil || p2.ID != k.ID || !p2.Key.Equal(k.Public().Key) {
		t.Fatalf("%v %+v", err, p2)
	}
	// GenerateKey(nil) uses crypto/rand.
	a, err := plugin.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := plugin.GenerateKey(nil)
	if a.ID == b.ID {
		t.Fatal("two random keys are equal")
	}
	if (&plugin.PrivateKey{}).Public().Key != nil {
		t.Fatal("Public of an empty key")
	}
}

func TestMalformedKeyFiles(t *testing.T) {
	k := testKey(t, 1)
	pub := string(plugin.MarshalPublicKey(k.Public()))
	priv := string(plugin.MarshalPrivateKey(k))
	secret := strings.Fields(priv)[1]
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	cases := []struct {
		name, data string
		private    bool
		says       string
	}{
		{"empty", "", false, "empty"},
		{"comments only", "# nothing\n\n", false, "empty"},
		{"private as public", priv, false, "this is a private key"},
		{"public as private", pub, true, "this is a public key"},
		{"PEM", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n", false, "PEM"},
		{"OpenSSH", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host\n", false, "OpenSSH"},
		{"two keys", pub + pub, false, "2 key lines"},
		{"wrong header", "lockstep-rsa-public " + b64(32) + "\n", false, `"lockstep-rsa-public"`},
		{"no key", "lockstep-ed25519-public\n", false, "1 fields"},
		{"extra field", strings.TrimSpace(pub) + " alice\n", false, "3 fields"},
		{"bad base64", "lockstep-ed25519-public !!!!\n", false, "not valid base64"},
		{"unpadded base64", "lockstep-ed25519-public " + strings.TrimRight(b64(32), "=") + "\n", false, "not valid base64"},
		{"short key", "lockstep-ed25519-public " + b64(31) + "\n", false, "31 bytes"},
		{"long private", "lockstep-ed25519-private " + b64(64) + "\n", true, "64 bytes"},
		{"huge", strings.Repeat("#", 70000), false, "too large"},
		{"seed without its header, as public", secret + "\n", false, "first word is not"},
		{"seed without its header", secret + "\n", true, "first word is not"},
	}
	for _, c := range cases {
		var err error
		if c.private {
			_, err = plugin.ParsePrivateKey([]byte(c.data), "keys/"+c.name)
		} else {
			_, err = plugin.ParsePublicKey([]byte(c.data), "keys/"+c.name)
		}
		if err == nil || !errors.Is(err, plugin.ErrMalformed) || !strings.Contains(err.Error(), "keys/"+c.name) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrMalformed naming the file and saying %q", c.name, err, c.says)
		}
		if err != nil && strings.Contains(err.Error(), secret[:12]) {
			t.Errorf("%s: the error quotes the private key", c.name)
		}
	}
}

func TestLoadTrust(t *testing.T) {
	dir := t.TempDir()
	alice, bob, carol := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	write := func(path string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keys := filepath.Join(dir, "trusted")
	write(filepath.Join(keys, "alice.pub"), plugin.MarshalPublicKey(alice.Public()))
	write(filepath.Join(keys, "bob.pub"), plugin.MarshalPublicKey(bob.Public()))
	write(filepath.Join(keys, "README"), []byte("not a key"))
	write(filepath.Join(keys, "sub", "x.pub"), []byte("not read"))
	write(filepath.Join(dir, "carol.pub"), plugin.MarshalPublicKey(carol.Public()))
	write(filepath.Join(dir, "dup.pub"), plugin.MarshalPublicKey(alice.Public()))

	ts, err := plugin.LoadTrust(keys, filepath.Join(dir, "carol.pub"), filepath.Join(dir, "dup.pub"))
	if err != nil {
		t.Fatal(err)
	}
	got := ts.Keys()
	if len(got) != 3 {
		t.Fatalf("%d keys", len(got))
	}
	for _, k := range []*plugin.PrivateKey{alice, bob, carol} {
		if l := ts.Lookup(k.ID); len(l) != 1 || !l[0].Key.Equal(k.Public().Key) {
			t.Errorf("Lookup(%s) = %v", k.ID, l)
		}
		if _, err := plugin.Verify(mustSign(t, sendLog(), manifest("messaging.send", "log"), k), plugin.Policy{Trust: ts, Grants: allCaps}); err != nil {
			t.Error(err)
		}
	}
	if ts, err := plugin.LoadTrust(); err != nil || len(ts.Keys()) != 0 {
		t.Fatalf("LoadTrust(): %v %v", ts, err)
	}

	write(filepath.Join(dir, "empty", "README"), nil)
	write(filepath.Join(dir, "bad", "mallory.pub"), plugin.MarshalPrivateKey(carol))
	for _, c := range []struct {
		path, says string
	}{
		{filepath.Join(dir, "missing"), "no such file"},
		{filepath.Join(dir, "empty"), "holds no *.pub files"},
		{filepath.Join(dir, "bad"), "mallory.pub: this is a private key"},
	} {
		if _, err := plugin.LoadTrust(c.path); err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: %v, want it to say %q", c.path, err, c.says)
		}
	}
}

func TestNewTrust(t *testing.T) {
	k := testKey(t, 1).Public()
	forged := plugin.PublicKey{ID: "0000000000000000", Key: k.Key}
	ts := plugin.NewTrust(forged, k, plugin.PublicKey{ID: "x", Key: ed25519.PublicKey{1, 2}})
	if keys := ts.Keys(); len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("%+v", keys)
	}
	if ts.Lookup("0000000000000000") != nil {
		t.Fatal("NewTrust believed a caller's ID")
	}
	var none *plugin.TrustStore
	if none.Keys() != nil || none.Lookup(k.ID) != nil {
		t.Fatal("nil store")
	}
}
