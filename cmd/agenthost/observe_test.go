package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

var observeRE = regexp.MustCompile(`(?m)^observe: http://(127\.0\.0\.1:[0-9]+)$`)

// TestRunObserve runs the embedded default topology with --observe on a
// free port (and --record) and without: the address is printed, the
// digests agree and the final view is written beside the replay log.
// (Package host/observe tests the endpoints themselves.)
func TestRunObserve(t *testing.T) {
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cache, log := filepath.Join(dir, "cache"), filepath.Join(dir, "run.replay")
	observed, err := agenthost(t, "run", "--module-dir", mods, "--ticks", "50", "--observe", "127.0.0.1:0", "--record", log, "--progress", "never", "--wasm-cache", cache)
	if err != nil {
		t.Fatalf("run --observe: %v\n%s", err, observed)
	}
	plain, err := agenthost(t, "run", "--module-dir", mods, "--ticks", "50", "--progress", "never", "--wasm-cache", cache)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, plain)
	}
	m := observeRE.FindStringSubmatch(observed)
	if m == nil || strings.HasSuffix(m[1], ":0") {
		t.Fatalf("no observe: line with a port:\n%s", observed)
	}
	d1, d2 := digestRE.FindStringSubmatch(observed), digestRE.FindStringSubmatch(plain)
	if d1 == nil || d2 == nil || d1[1] != d2[1] {
		t.Fatalf("digests differ with and without --observe:\n%s\n%s", observed, plain)
	}
	// The final view is written beside the replay log.
	b, err := os.ReadFile(log + ".final.json")
	if err != nil {
		t.Fatal(err)
	}
	var final observe.Snapshot
	if err := json.Unmarshal(b, &final); err != nil || !final.Ended || final.Digest != d1[1] || final.Counts.Ticks != 50 || final.Length != 50 ||
		len(final.History) != 50 || len(final.Agents) == 0 || final.History[49].WorkSeconds <= 0 {
		t.Fatalf("%s.final.json: %v\n%s", log, err, b)
	}
	// The server is shut down when the run ends.
	if c, err := net.Dial("tcp", m[1]); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the run", m[1])
	}
}

// TestRunObserveBadAddress: a listen that fails names the address.
func TestRunObserveBadAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	out, err := agenthost(t, "run", "--observe", addr, "--module-dir", t.TempDir(), "--progress", "never")
	if err == nil || !strings.Contains(err.Error(), "--observe "+addr) {
		t.Fatalf("run --observe on a busy address: err = %v\n%s", err, out)
	}
}
