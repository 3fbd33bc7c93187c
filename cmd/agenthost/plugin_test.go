package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// TestSignRunTamper builds a module from source, signs it, runs it under a
// topology that trusts the key, then sees tampered, over-reaching and
// under-granted variants refused.
func TestSignRunTamper(t *testing.T) {
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(mods, "counter.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	counter := filepath.Join(dir, "counter.wasm")
	if err := os.WriteFile(counter, src, 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "author.key")
	pub := filepath.Join(dir, "author.pub")
	run := func(args ...string) (string, error) { return agenthost(t, args...) }
	if out, err := run("keygen", "--out", key); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if out, err := run("sign", "--key", key, "--name", "counter", "--version", "1.2.0",
		"--cap", "messaging.publish", "--cap", "state.write", counter); err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	if out, err := run("verify", "--trust", pub, counter); err != nil || !strings.Contains(out, "verified: counter 1.2.0") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err := run("inspect", counter)
	if err != nil || !strings.Contains(out, "manifest: counter 1.2.0") || !strings.Contains(out, "lockstep.publish") {
		t.Fatalf("inspect: %v\n%s", err, out)
	}

	topo := func(grants, version string) string {
		p := filepath.Join(dir, "t.yaml")
		doc := "seed: 1\nticks: 5\nwasm: {trust: [author.pub]}\n" +
			"modules:\n  - {name: counter, path: counter.wasm, version: \"" + version + "\", grants: [" + grants + "]}\n" +
			"agents:\n  - {id: c, kind: counter}\n"
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	runTopo := func(grants, version string) (string, error) {
		return run("run", "--topology", topo(grants, version), "--progress", "never", "--wasm-cache", "")
	}
	if out, err := runTopo("messaging.publish, state.write", "^1.2"); err != nil || !strings.Contains(out, "ticks: 5") {
		t.Fatalf("signed run: %v\n%s", err, out)
	}
	if _, err := runTopo("messaging.publish", "^1.2"); err == nil || !strings.Contains(err.Error(), "state.write") {
		t.Fatalf("a declared capability the host does not grant: %v", err)
	}
	if _, err := runTopo("messaging.publish, state.write", "^2"); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("a version requirement not met: %v", err)
	}

	// Declaring less than the imports need is refused: by sign, naming the
	// import and the capability to declare, and by a host, of a module
	// signed without agenthost sign's check.
	before, _ := os.ReadFile(counter)
	if out, err := run("sign", "--key", key, "--name", "counter", "--version", "1.2.0", "--cap", "log", counter); err == nil ||
		!strings.Contains(err.Error(), "not signed") || !strings.Contains(err.Error(), "lockstep.publish") || !strings.Contains(err.Error(), "--cap messaging.publish") {
		t.Fatalf("sign declaring less than the imports need: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(counter); !bytes.Equal(before, after) {
		t.Fatal("a refused sign changed the module")
	}
	keyData, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := plugin.ParsePrivateKey(keyData, key)
	if err != nil {
		t.Fatal(err)
	}
	under, err := plugin.Sign(src, plugin.Manifest{Name: "counter", Version: "1.2.0", ABIVersion: wasmagent.ABIVersion, Capabilities: []string{"log"}}, pk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(counter, under, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runTopo("log, messaging.publish, state.write", ""); err == nil || !strings.Contains(err.Error(), "lockstep.publish") {
		t.Fatalf("an undeclared import: %v", err)
	}

	// One flipped byte in the code is refused.
	if out, err := run("sign", "--key", key, "--name", "counter", "--version", "1.2.0",
		"--cap", "messaging.publish", "--cap", "state.write", counter); err != nil {
		t.Fatalf("re-sign: %v\n%s", err, out)
	}
	signed, _ := os.ReadFile(counter)
	signed[len(src)/2] ^= 0x01
	if err := os.WriteFile(counter, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runTopo("messaging.publish, state.write", ""); err == nil {
		t.Fatal("a tampered module ran")
	}
	if _, err := run("verify", "--trust", pub, counter); err == nil {
		t.Fatal("verify accepted a tampered module")
	}
	// An unsigned module needs the developer flag.
	if err := os.WriteFile(counter, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runTopo("messaging.publish, state.write", ""); err == nil || !strings.Contains(err.Error(), "unsigned") {
		t.Fatalf("an unsigned module without the flag: %v", err)
	}
	if out, err := run("run", "--topology", topo("messaging.publish, state.write", ""), "--allow-unsigned", "--progress", "never", "--wasm-cache", ""); err != nil {
		t.Fatalf("unsigned with --allow-unsigned: %v\n%s", err, out)
	}
}
