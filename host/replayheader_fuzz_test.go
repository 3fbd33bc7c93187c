package host_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// recordedConfig returns the run config (the header's topology document)
// that a run of the topology file at path records, with its modules and
// models left out (their files are not built here) and every kind an idle
// agent.
func recordedConfig(tb testing.TB, path string) []byte {
	tb.Helper()
	topo, err := host.LoadTopology(path)
	if err != nil {
		tb.Fatal(err)
	}
	topo.Modules, topo.Models = nil, nil
	kinds := map[string]host.Factory{}
	for _, a := range topo.Agents {
		kinds[a.Kind] = testkinds.Kinds()["idle"]
	}
	var log bytes.Buffer
	h, err := topo.Start(host.Options{Kinds: kinds, Logger: quiet(), Record: &log})
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.Close(); err != nil {
		tb.Fatal(err)
	}
	r, err := replaylog.NewReader(&log)
	if err != nil {
		tb.Fatal(err)
	}
	return r.Header().Topology
}

// FuzzReplayHeader verifies replay logs whose header carries an arbitrary
// run config (with the config digest made to match, so the config itself
// is what gets checked), as a verifier meets a log someone else wrote. It
// must not panic, and must return quickly: the config names no module or
// model file this test has (the module directory is empty), and
// ReplayOptions trusts no key. An error must say something and not be a panic; a config that
// does not parse must be refused as corrupt; a log without ticks that
// replays has replayed nothing. A wrong config digest is always refused as
// corrupt.
func FuzzReplayHeader(f *testing.F) {
	for _, p := range topologySeeds {
		f.Add(recordedConfig(f, p), false)
	}
	digest := strings.Repeat("ab", 32)
	for _, s := range []string{
		`{"seed":1,"groups":[{"name":"g","parent":"g"}],"max_message_size":0,"wasm":{},"quotas":{}}`,
		`{"seed":1,"groups":null,"max_message_size":-1,"wasm":{},"quotas":{}}`,
		`{"seed":1,"wasm":{"max_pages":70000}}`,
		`{"seed":1,"wasm":{"fuel":18446744073709551615,"watchdog":-1}}`,
		`{"seed":1,"max_message_size":1099511627776}`,
		`{"seed":1,"modules":[{"name":"counter","path":"counter.wasm","digest":"` + digest + `","max_pages":70000}],"wasm":{"allow_unsigned":true}}`,
		`{"seed":1,"modules":[{"name":"counter","path":"../../etc/passwd","digest":"` + digest + `"}],"wasm":{"trust":["/"]}}`,
		`{"seed":1,"models":[{"id":"clf","version":"1","path":"clf.onnx","sha256":"` + digest + `","mode":"fast"}]}`,
		`{"seed":1,"models":[{"id":"clf","version":"1","path":"clf.onnx","sha256":"` + digest + `"}]}`,
		`{"seed":1,"quotas":{"max_actions":-1}}`,
		`{"seed":1,"wasm":{"unmetered":true},"modules":[{"name":"m","path":"m.wasm","digest":"` + digest + `"}]}`,
		`[]`, `null`, `{}`, ``,
	} {
		f.Add([]byte(s), true)
	}
	kinds := testkinds.Kinds()
	// The module directory is empty: every module and model is missing.
	dir, err := os.MkdirTemp("", "fuzzreplayheader")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	f.Fuzz(func(t *testing.T, config []byte, unsignedAllowed bool) {
		// The verifier allows unsigned modules when the log says the run
		// did, so that such logs get as far as looking for their files.
		opts := host.ReplayOptions{Kinds: kinds, Logger: quiet(), AllowUnsigned: unsignedAllowed, ModuleDirs: []string{dir}}
		sum := sha256.Sum256(config)
		hdr := &replaylog.Header{Seed: 1, ConfigDigest: sum[:], Topology: config, TopologyFormat: "json", UnsignedAllowed: unsignedAllowed, CreatedBy: "FuzzReplayHeader"}
		log, err := writeHeader(hdr)
		if err != nil {
			return // too large for one record: no such log can be written
		}
		res, err := host.Verify(log, opts)
		switch {
		case err != nil && !json.Valid(config) && !errors.Is(err, replaylog.ErrCorrupt):
			t.Fatalf("Verify of a config that is not JSON: %v, want ErrCorrupt", err)
		case err != nil:
			if msg := err.Error(); msg == "" || strings.Contains(strings.ToLower(msg), "panic") {
				t.Fatalf("Verify: error %q", msg)
			}
		case res == nil || res.Ticks != 0 || res.Divergence != nil || res.Corrupt != nil || res.Complete:
			t.Fatalf("Verify of a log without ticks: %+v", res)
		case !jsonObject(config):
			t.Fatalf("Verify accepted the config %q", config)
		}

		// The same log with another config digest is corrupt.
		bad := proto.CloneOf(hdr)
		bad.ConfigDigest[0] ^= 1
		badLog, err := writeHeader(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := host.Verify(badLog, opts); !errors.Is(err, replaylog.ErrCorrupt) {
			t.Fatalf("a wrong config digest: %v, want ErrCorrupt", err)
		}
	})
}

// writeHeader returns a replay log that holds only hdr.
func writeHeader(hdr *replaylog.Header) (*bytes.Buffer, error) {
	var log bytes.Buffer
	w, err := replaylog.NewWriter(&log, hdr)
	if err == nil {
		err = w.Flush()
	}
	return &log, err
}

// jsonObject reports whether b could be a run config: a JSON object, or
// null (which json.Unmarshal takes as the zero config).
func jsonObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return bytes.HasPrefix(b, []byte("{")) || string(b) == "null"
}

// TestFuzzReplayHeaderSeeds keeps FuzzReplayHeader's first seeds what
// a run records: they verify.
func TestFuzzReplayHeaderSeeds(t *testing.T) {
	for _, p := range topologySeeds {
		cfg := recordedConfig(t, p)
		sum := sha256.Sum256(cfg)
		log, err := writeHeader(&replaylog.Header{Seed: 1, ConfigDigest: sum[:], Topology: cfg, TopologyFormat: "json"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := host.Verify(log, host.ReplayOptions{Kinds: testkinds.Kinds(), Logger: quiet()}); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
