package host_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
)

// TestTopologyLimits: every number of a topology is checked when it is
// parsed, and the error names the file, the line and column, and the fix.
func TestTopologyLimits(t *testing.T) {
	const agents = "agents:\n  - {id: a, kind: idle}\n"
	cases := []struct{ name, doc, want string }{
		{"max_pages", "wasm: {max_pages: 65537}\n" + agents, "t.yaml:1:19: wasm: wasmagent: max_pages 65537 is over 65536"},
		{"fuel wraps", "wasm: {fuel: 9223372036854775808}\n" + agents, "fuel 9223372036854775808 is over 4611686018427387904"},
		{"fuel max", "wasm: {fuel: 18446744073709551615}\n" + agents, "is over 4611686018427387904"},
		{"init_fuel", "wasm: {init_fuel: 18446744073709551615}\n" + agents, "init_fuel"},
		{"watchdog", "wasm: {watchdog: -1s}\n" + agents, "watchdog -1s is outside"},
		{"engine", "wasm: {engine: jit}\n" + agents, `engine "jit": use "compiler" or "interpreter"`},
		{"module max_pages", "modules:\n  - {name: m, path: m.wasm, max_pages: 100000}\n" + agents, "t.yaml:2:40: modules[0]: module \"m\": max_pages 100000 is over 65536"},
		{"module fuel", "modules:\n  - {name: m, path: m.wasm, fuel: 9223372036854775807}\n" + agents, "t.yaml:2:35: modules[0]: module \"m\": fuel"},
		{"agent fuel", "agents:\n  - {id: a, kind: idle, fuel: 9223372036854775807}\n", "t.yaml:2:31: agents[0]: agent \"a\": fuel"},
		{"negative size", "max_message_size: -1\n" + agents, "t.yaml:1:19: max_message_size is -1"},
		{"huge size", "max_message_size: 1000000000\n" + agents, "max_message_size is 1000000000"},
		{"ticks", "ticks: 2000000000000\n" + agents, "t.yaml:1:8: ticks is 2000000000000"},
		{"quota", "quotas: {actions_per_tick: -5}\n" + agents, "t.yaml:1:28: quotas.actions_per_tick is -5"},
		{"quota huge", "quotas: {bytes_per_tick: 4294967296}\n" + agents, "quotas.bytes_per_tick is 4294967296"},
		{"restarts", "groups:\n  - {name: g, max_restarts: -1}\n" + agents, "t.yaml:2:29: groups[0]: max_restarts is -1"},
		{"group cycle", "groups:\n  - {name: g, parent: h}\n  - {name: h, parent: g}\n" + agents, `t.yaml:2:23: groups[0]: group "g" is its own ancestor`},
		{"group self", "groups:\n  - {name: g, parent: g}\n" + agents, `group "g" is its own ancestor`},
		{"group parent", "groups:\n  - {name: g, parent: nope}\n" + agents, `parent "nope", which is not declared`},
		{"group duplicate", "groups:\n  - {name: g}\n  - {name: g}\n" + agents, `t.yaml:3:12: groups[1]: duplicate group "g"`},
		{"group name", "groups:\n  - {name: \"\"}\n" + agents, "empty group name"},
		{"agent group", "agents:\n  - {id: a, kind: idle, group: nope}\n", `t.yaml:2:32: agents[0]: agent "a" is in group "nope", which is not declared`},
		{"input channel", agents + "inputs:\n  - {tick: 1, channel: \"bad channel!\", payload: x}\n", "t.yaml:4:24: inputs[0]: agent: invalid name: channel"},
		{"input tick", agents + "inputs:\n  - {tick: 2000000000000, to: a, payload: x}\n", "t.yaml:4:12: inputs[0]: tick 2000000000000 is over"},
		{"input size", "max_message_size: 2\n" + agents + "inputs:\n  - {tick: 1, to: a, payload: xyz}\n", "payload of 3 bytes is over max_message_size (2)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := host.ParseTopology("t.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ParseTopology = %v\nwant an error saying %q", err, c.want)
			}
		})
	}
}

// TestOptionsLimits: host.New checks what a Go caller, or a replay log's
// header, passes, and refuses it before anything starts.
func TestOptionsLimits(t *testing.T) {
	cases := []struct {
		name string
		opts host.Options
		want string
	}{
		{"workers", host.Options{Workers: 100000}, "workers is 100000; give 1..1024"},
		{"negative workers", host.Options{Workers: -1}, "workers is -1"},
		{"size", host.Options{MaxMessageSize: -1}, "max_message_size is -1"},
		{"max_pages", host.Options{WASM: host.WASMConfig{MaxPages: 70000}}, "max_pages 70000 is over 65536"},
		{"fuel", host.Options{WASM: host.WASMConfig{Fuel: 1 << 63}}, "fuel 9223372036854775808 is over"},
		{"module", host.Options{Modules: []host.Module{{Name: "m", Path: "m.wasm", MaxPages: 1 << 20}}}, `module 0 ("m"): max_pages 1048576`},
		{"quota", host.Options{Quotas: host.Quotas{Channels: -1}}, "quotas.channels is -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Kinds, c.opts.Logger = testkinds.Kinds(), quiet()
			h, err := host.New(c.opts)
			if err == nil {
				h.Close()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v\nwant an error saying %q", err, c.want)
			}
		})
	}
	h, err := host.New(host.Options{Kinds: testkinds.Kinds(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Spawn(host.AgentSpec{ID: "a", Kind: "idle", Fuel: 1 << 63}); err == nil || !strings.Contains(err.Error(), "fuel 9223372036854775808 is over") {
		t.Fatalf("Spawn with fuel 2^63 = %v", err)
	}
}

// TestFilesAreRegularAndBounded: modules and topologies are read only from
// regular files: a device (which would never end), a directory or a FIFO is
// refused before a byte is read.
func TestFilesAreRegularAndBounded(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{"/dev/zero", dir} {
		_, err := host.New(host.Options{Logger: quiet(), WASM: host.WASMConfig{AllowUnsigned: true},
			Modules: []host.Module{{Name: "m", Path: path}}})
		if err == nil || !strings.Contains(err.Error(), "is not a regular file") || !strings.Contains(err.Error(), `module "m"`) {
			t.Errorf("module at %s: %v", path, err)
		}
		if _, err := host.LoadTopology(path); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
			t.Errorf("topology at %s: %v", path, err)
		}
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, host.MaxTopologySize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := host.LoadTopology(big); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("oversized topology: %v", err)
	}
}

// fullDisk accepts limit bytes, then writes what fits of the next write and
// fails: a disk filling up mid-run.
type fullDisk struct {
	buf   bytes.Buffer
	limit int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	room := d.limit - d.buf.Len()
	if len(p) <= room {
		return d.buf.Write(p)
	}
	d.buf.Write(p[:room])
	return room, errors.New("no space left on device")
}

// TestUnrecordableTickStopsTheRun: when the replay log cannot take a tick,
// the run stops with an error that says so, Close writes no End record,
// and every tick the log holds still verifies.
func TestUnrecordableTickStopsTheRun(t *testing.T) {
	disk := &fullDisk{limit: 300 << 10}
	h, err := host.New(host.Options{Kinds: testkinds.Kinds(), Logger: quiet(), Record: disk})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Spawn(host.AgentSpec{ID: "a", Kind: "idle"}); err != nil {
		t.Fatal(err)
	}
	var stepErr error
	for i := 0; i < 100 && stepErr == nil; i++ {
		if stepErr = h.Send("a", make([]byte, 32<<10)); stepErr == nil {
			_, stepErr = h.Step()
		}
	}
	if !errors.Is(stepErr, host.ErrHalted) || !strings.Contains(stepErr.Error(), "no space left on device") || !strings.Contains(stepErr.Error(), "the replay log ends before") {
		t.Fatalf("the run went on or stopped with %v", stepErr)
	}
	if _, err := h.Step(); !errors.Is(err, host.ErrHalted) {
		t.Fatalf("a step after the log failed: %v", err)
	}
	if err := h.Close(); err == nil {
		t.Fatal("Close reports no error after the log failed")
	}
	res, err := host.Verify(bytes.NewReader(disk.buf.Bytes()), host.ReplayOptions{Kinds: testkinds.Kinds(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || res.Divergence != nil || res.Ticks == 0 {
		t.Fatalf("verify: %d ticks, complete %v, divergence %v", res.Ticks, res.Complete, res.Divergence)
	}
}
