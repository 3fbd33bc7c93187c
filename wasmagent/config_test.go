package wasmagent_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// configAgent is an instance of testdata/configured.c with its outbox.
type configAgent struct {
	t   *testing.T
	a   agent.Agent
	out *engine.Outbox
}

func newConfigAgent(t *testing.T, m *wasmagent.Module, config []byte) *configAgent {
	t.Helper()
	a, err := m.New("c", 1, 0, config)
	if err != nil {
		t.Fatal(err)
	}
	c := &configAgent{t: t, a: a, out: engine.NewOutbox(&engine.Agent{ID: "c"}, 0)}
	if err := a.Init(c.out); err != nil {
		t.Fatal(err)
	}
	return c
}

// read has the agent call config(ptr, capacity) (ptr 0: a buffer of its
// own) and returns what the call returned and copied into its buffer.
func (c *configAgent) read(ptr, capacity uint32) (int32, []byte) {
	c.t.Helper()
	c.out.Reset(1)
	p := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, ptr), capacity)
	if err := c.a.Receive(c.out, agent.Message{Payload: append(p, 1)}); err != nil {
		c.t.Fatalf("config(%#x, %d): %v", ptr, capacity, err)
	}
	acts := c.out.Report().Actions
	if len(acts) != 1 || acts[0].Target != "out" || len(acts[0].Payload) < 4 {
		c.t.Fatalf("config(%#x, %d): actions %+v, want one publish on out", ptr, capacity, acts)
	}
	return int32(binary.LittleEndian.Uint32(acts[0].Payload)), acts[0].Payload[4:]
}

func loadConfigured(t *testing.T) *wasmagent.Module {
	t.Helper()
	ctx := context.Background()
	rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	m, err := rt.Load(ctx, "configured", mod(t, "configured"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestConfig: lockstep.config copies the first cap bytes of the agent's
// config (Module.New's) and returns its full length; cap 0 only asks the
// length, whatever the pointer. A buffer outside memory is OUT_OF_BOUNDS
// (-3), an error code like every other import's, not a trap: the agent
// goes on. An agent spawned without a config reads 0 bytes.
func TestConfig(t *testing.T) {
	m := loadConfigured(t)
	config := `{"name":"x","rate":3}`
	c := newConfigAgent(t, m, []byte(config))
	n := int32(len(config))
	for _, tc := range []struct {
		ptr, capacity uint32
		rc            int32
		copied        string
	}{
		{0, 0, n, ""},
		{0x7ffffff0, 0, n, ""}, // cap 0: the pointer is not looked at
		{0, 5, n, config[:5]},
		{0, uint32(n), n, config},
		{0, 4096, n, config},
		{0x7ffffff0, 16, -3, ""},
		{0xfffffff0, 32, -3, ""}, // ptr + cap wraps around 2^32
		{1 << 16, 0xffffffff, -3, ""},
		{0, 8, n, config[:8]}, // fine again after the errors
	} {
		rc, copied := c.read(tc.ptr, tc.capacity)
		if rc != tc.rc || string(copied) != tc.copied {
			t.Errorf("config(%#x, %d) = %d, copied %q; want %d, %q", tc.ptr, tc.capacity, rc, copied, tc.rc, tc.copied)
		}
	}
	if rc, copied := newConfigAgent(t, m, nil).read(0, 64); rc != 0 || len(copied) != 0 {
		t.Errorf("no config: config = %d, copied %q; want 0, nothing", rc, copied)
	}
}

// TestConfigFuel: a config call costs HostCallFuel plus one unit per
// BulkBytesPerFuel bytes it copies, like every host call that moves bytes.
func TestConfigFuel(t *testing.T) {
	m := loadConfigured(t)
	c := newConfigAgent(t, m, bytes.Repeat([]byte("k"), 4096))
	metered := c.a.(agent.Metered)
	fuel := func(capacity uint32) uint64 {
		c.out.Reset(1)
		p := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0), capacity)
		if err := c.a.Receive(c.out, agent.Message{Payload: append(p, 0)}); err != nil {
			t.Fatal(err)
		}
		return metered.TakeFuel()
	}
	fuel(0) // the first message calls agent_alloc
	none, all, more := fuel(0), fuel(4096), fuel(8192)
	if want := uint64(4096 / wasmagent.BulkBytesPerFuel); all-none != want || more != all {
		t.Fatalf("fuel: cap 0 %d, cap 4096 %d, cap 8192 %d; want the copy of 4096 bytes to cost %d more, and no more past them", none, all, more, want)
	}
	if none < wasmagent.HostCallFuel {
		t.Fatalf("a call with cap 0 used %d fuel, less than HostCallFuel (%d)", none, wasmagent.HostCallFuel)
	}
}

// TestConfigAfterRestore: the config is the instance's (from Module.New,
// which the host calls with the same agent's config before Restore), not
// part of the snapshot: a restored instance reads it.
func TestConfigAfterRestore(t *testing.T) {
	m := loadConfigured(t)
	config := []byte("rate: 3")
	a := newConfigAgent(t, m, config)
	a.read(0, 64)
	snap, err := a.a.(agent.Snapshotter).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.New("c", 1, 0, config)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.(agent.Snapshotter).Restore(snap); err != nil {
		t.Fatal(err)
	}
	r := &configAgent{t: t, a: b, out: engine.NewOutbox(&engine.Agent{ID: "c"}, 0)}
	if rc, copied := r.read(0, 64); rc != int32(len(config)) || !bytes.Equal(copied, config) {
		t.Fatalf("restored: config = %d, %q; want %q", rc, copied, config)
	}
}

// TestConfigFreeModules: a module that does not import lockstep.config
// runs as before the import existed, with or without a config: its digests
// are pinned (computed before config was added to the ABI).
func TestConfigFreeModules(t *testing.T) {
	h, err := host.New(host.Options{
		Seed: 11, Logger: quiet(),
		Modules: []host.Module{{Name: "plain", Path: filepath.Join(modDir, "plain.wasm"), Grants: []string{"messaging.publish"}}},
		WASM:    host.WASMConfig{AllowUnsigned: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range []host.AgentSpec{
		{ID: "p1", Kind: "plain", Config: []byte(`{"name":"x","rate":3}`)},
		{ID: "p2", Kind: "plain"},
	} {
		if err := h.Spawn(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Join("p2", "out"); err != nil {
		t.Fatal(err)
	}
	var digests []string
	for range 10 {
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Events) != 0 && r.Tick > 0 {
			t.Fatalf("%s: events %+v", r.Tick, r.Events)
		}
		digests = append(digests, r.DigestHex())
	}
	const want = "ccfeec7d5b484e38 2765682446555c83"
	if got := digests[0][:16] + " " + digests[9][:16]; got != want {
		t.Fatalf("digests of t0 and t9: %s, want %s (pinned before lockstep.config existed)\nall: %s", got, want, strings.Join(digests, "\n"))
	}
}
