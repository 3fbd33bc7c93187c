package plugin_test

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// hostSigs are ABI v1's host functions for the stub host module.
var hostSigs = map[string][2][]api.ValueType{}

func init() {
	vt := func(b []byte) []api.ValueType {
		out := make([]api.ValueType, len(b))
		for i, c := range b {
			out[i] = api.ValueType(c)
		}
		return out
	}
	for full, ft := range importTypes {
		hostSigs[full[len("lockstep."):]] = [2][]api.ValueType{vt(ft.params), vt(ft.results)}
	}
}

// stubHost instantiates a "lockstep" module whose functions return 0 and
// record the payloads of publish and state_write.
func stubHost(ctx context.Context, t *testing.T, rt wazero.Runtime, got map[string][]byte) {
	t.Helper()
	b := rt.NewHostModuleBuilder(plugin.HostModule)
	for fn, sig := range hostSigs {
		b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, stack []uint64) {
			if fn == "publish" || fn == "state_write" {
				name, _ := m.Memory().Read(uint32(stack[0]), uint32(stack[1]))
				data, _ := m.Memory().Read(uint32(stack[2]), uint32(stack[3]))
				got[fn+" "+string(name)] = slices.Clone(data)
			}
			if len(sig[1]) > 0 {
				stack[0] = 0
			}
		}), sig[0], sig[1]).Export(fn)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSignedModulesRun checks that signing keeps a module valid: the
// hand-assembled test module and, when clang-14 is installed, the counter
// example compile and run in wazero with the manifest section in place.
func TestSignedModulesRun(t *testing.T) {
	ctx := context.Background()
	key := testKey(t, 1)

	t.Run("hand-assembled", func(t *testing.T) {
		signed := mustSign(t, sendLog(), manifest("messaging.send", "log"), key)
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		stubHost(ctx, t, rt, map[string][]byte{})
		mod, err := rt.Instantiate(ctx, signed)
		if err != nil {
			t.Fatal(err)
		}
		res, err := mod.ExportedFunction("f").Call(ctx)
		if err != nil || res[0] != 7 {
			t.Fatalf("f() = %v, %v", res, err)
		}
	})

	t.Run("counter.c", func(t *testing.T) {
		clang, err := exec.LookPath("clang-14")
		if err != nil {
			t.Skip("clang-14 is not installed (scripts/setup.sh installs it)")
		}
		root := filepath.Join("..", "..")
		out := filepath.Join(t.TempDir(), "counter.wasm")
		cmd := exec.Command(clang, "--target=wasm32", "-nostdlib", "-O2", "-Wl,--no-entry",
			"-I", filepath.Join(root, "sdk", "c"), "-o", out, filepath.Join(root, "examples", "wasm", "counter.c"))
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, msg)
		}
		wasm, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		info, err := plugin.Inspect(wasm)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Unsigned || !slices.Contains(info.Imports, "lockstep.publish") || !slices.Contains(info.Imports, "lockstep.state_write") ||
			len(info.UnknownImports) != 0 {
			t.Fatalf("Inspect: %+v", info)
		}
		signed := mustSign(t, wasm, plugin.Manifest{Name: "counter", Version: "1.0.0", ABIVersion: 1, Capabilities: info.NeededCapabilities}, key)
		m, err := plugin.Verify(signed, policy([]string{"messaging.publish", "state.write", "log"}, key))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.Capabilities, info.NeededCapabilities) {
			t.Fatalf("capabilities %v, want %v", m.Capabilities, info.NeededCapabilities)
		}
		if _, err := plugin.Verify(signed, policy([]string{"messaging.publish"}, key)); err == nil {
			t.Fatal("accepted without state.write granted")
		}

		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		got := map[string][]byte{}
		stubHost(ctx, t, rt, got)
		mod, err := rt.Instantiate(ctx, signed)
		if err != nil {
			t.Fatal(err)
		}
		call := func(name string, args ...uint64) uint64 {
			t.Helper()
			res, err := mod.ExportedFunction(name).Call(ctx, args...)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return res[0]
		}
		if v := call("lockstep_abi_version"); v != 1 {
			t.Fatalf("ABI %d", v)
		}
		call("agent_init")
		call("agent_receive", 0)
		call("agent_receive", 0)
		if rc := call("agent_step", 0); rc != 0 {
			t.Fatalf("agent_step returned %d", int32(rc))
		}
		for _, k := range []string{"publish counts", "state_write count"} {
			if len(got[k]) != 8 || binary.LittleEndian.Uint64(got[k]) != 2 {
				t.Errorf("%s: %x, want the count 2", k, got[k])
			}
		}
	})
}
