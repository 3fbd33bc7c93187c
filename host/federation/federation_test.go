package federation_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	wasmtopo "github.com/lockstep-rt/lockstep/examples/wasm/topology"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/federation"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

var token = []byte("a test token of 32 bytes, at ...")

func quiet() *logrus.Logger {
	l := logrus.New()
	if os.Getenv("FEDLOG") == "debug" {
		l.SetLevel(logrus.DebugLevel)
	}
	if os.Getenv("FEDLOG") == "" {
		l.SetOutput(io.Discard)
	}
	return l
}

// demo is the default WebAssembly topology (C, C++, Rust, AssemblyScript
// and Go agents; messages, a channel, state reads, a supervised agent that
// traps every 7th step) and the directory of its modules.
func demo(t *testing.T) (*host.Topology, string) {
	t.Helper()
	mods, err := guests.Dir()
	if err != nil {
		if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
			t.Skipf("%v (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead)", err)
		}
		t.Fatal(err)
	}
	topo, err := host.ParseTopology("wasm demo", wasmtopo.Topology)
	if err != nil {
		t.Fatal(err)
	}
	topo.ResolveModules(mods)
	topo.WASM.CacheDir = filepath.Join(os.TempDir(), "lockstep-test-wazero-cache")
	return topo, mods
}

// oneHost runs topo on one host and returns every tick's digest.
func oneHost(t *testing.T, topo *host.Topology, ticks int) [][32]byte {
	t.Helper()
	h, err := topo.Start(host.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var out [][32]byte
	for range ticks {
		res, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Digest)
	}
	return out
}

// federated is a coordinator's host with its members running in this
// process (each on its own actor system and TCP port).
type federated struct {
	c       *federation.Coordinator
	h       *host.Host
	log     bytes.Buffer
	members chan error
	n       int
}

func startFederated(t *testing.T, topo *host.Topology, mods string, members []string, timeout time.Duration) *federated {
	t.Helper()
	c, err := federation.Listen(federation.CoordinatorConfig{Config: federation.Config{Token: token, Logger: quiet(), Timeout: timeout},
		Listen: "127.0.0.1:0", Members: len(members)})
	if err != nil {
		t.Fatal(err)
	}
	f := &federated{c: c, members: make(chan error, len(members)), n: len(members)}
	f.h, err = topo.Start(host.Options{Logger: quiet(), Federation: c, Record: &f.log, Workers: 2})
	if err != nil {
		c.Close("setup failed")
		t.Fatal(err)
	}
	for _, name := range members {
		go func() {
			f.members <- federation.Join(context.Background(), c.Addr(), federation.MemberConfig{
				Config: federation.Config{Token: token, Logger: quiet(), Timeout: timeout}, Name: name,
				Replay: host.ReplayOptions{ModuleDirs: []string{mods}, AllowUnsigned: true, Workers: 2, Logger: quiet()}})
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx, f.h.LogHeader()); err != nil {
		f.h.Close()
		c.Close("setup failed")
		t.Fatal(err)
	}
	return f
}

// close ends the run and returns the members' results.
func (f *federated) close(t *testing.T) []error {
	t.Helper()
	if err := f.h.Close(); err != nil {
		t.Error(err)
	}
	f.c.Close("the test is over")
	var errs []error
	for range f.n {
		errs = append(errs, <-f.members)
	}
	return errs
}

// TestFederatedDigests runs the demo on one host, then on a coordinator
// and two members over real TCP sockets, and compares every tick's digest;
// then verifies the federated run's log on one host.
func TestFederatedDigests(t *testing.T) {
	const ticks = 40
	topo, mods := demo(t)
	want := oneHost(t, topo, ticks)

	f := startFederated(t, topo, mods, []string{"m2", "m1"}, federation.DefaultTimeout)
	roster := f.c.Roster()
	placed := map[int][]string{}
	for _, a := range topo.Agents {
		i := federation.Place(a.ID, roster, nil)
		placed[i] = append(placed[i], a.ID)
	}
	if len(placed) != 3 {
		t.Fatalf("placement %v over %v leaves a process without agents: the test shows nothing", placed, roster)
	}
	t.Logf("placement over %v: %v", roster, placed)
	for i := range ticks {
		res, err := f.h.Step()
		if err != nil {
			t.Fatal(err)
		}
		if res.Digest != want[i] {
			t.Fatalf("%s: federated digest %x, one host %x", res.Tick, res.Digest, want[i])
		}
	}
	for _, err := range f.close(t) {
		if err != nil {
			t.Errorf("member: %v", err)
		}
	}
	res, err := host.Verify(&f.log, host.ReplayOptions{ModuleDirs: []string{mods}, AllowUnsigned: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || res.Ticks != ticks {
		t.Fatalf("verify of the federated log on one host: %d ticks, identical %v (%v %v)", res.Ticks, res.Identical(), res.Divergence, res.Corrupt)
	}
}
