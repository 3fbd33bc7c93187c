package meter

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Proposals Lockstep does not run are refused by name, with what to do.

func TestProposalsRefused(t *testing.T) {
	ty := sec(secType, vec(functype("", "")))
	fn := sec(secFunction, vec(u32(0)))
	code := func(b ...[]byte) []byte { return sec(secCode, vec(fbody("", b...))) }
	const (
		threads    = "threads proposal"
		exceptions = "exception handling proposal"
		memory64   = "memory64 proposal"
	)
	cases := []struct {
		name string
		bin  []byte
		want []string
	}{
		{"atomic load", wasmModule(ty, fn, sec(secMemory, vec(op(0, 1))), code(i32c(0), op(0xfe, 0x10, 2, 0), drop, end)),
			[]string{threads, "atomic instruction", "function 0 (index 0): offset 0x1e", "-pthread"}},
		{"atomic.fence", wasmModule(ty, fn, code(op(0xfe, 0x03, 0), end)), []string{threads, "atomic"}},
		{"shared memory", wasmModule(sec(secMemory, vec(op(3, 1, 1)))), []string{threads, "memory 0 is shared", "--shared-memory"}},
		{"imported shared memory", wasmModule(sec(secImport, vec(cat(str("env"), str("memory"), op(2, 3, 1, 1))))),
			[]string{threads, "memory 0 is shared"}},
		{"second memory shared", wasmModule(
			sec(secImport, vec(cat(str("env"), str("memory"), op(2, 0, 1)))), sec(secMemory, vec(op(3, 1, 1)))),
			[]string{"memory 1 is shared"}},
		{"try", wasmModule(ty, fn, code(op(0x06, void), end, end)), []string{exceptions, "try:", "-fno-exceptions"}},
		{"catch", wasmModule(ty, fn, code(op(0x07, 0), end)), []string{exceptions, "catch:"}},
		{"throw", wasmModule(ty, fn, code(op(0x08, 0), end)), []string{exceptions, "throw:", "offset 0x17"}},
		{"rethrow", wasmModule(ty, fn, code(op(0x09, 0), end)), []string{exceptions, "rethrow:"}},
		{"throw_ref", wasmModule(ty, fn, code(op(0x0a), end)), []string{exceptions, "throw_ref:"}},
		{"delegate", wasmModule(ty, fn, code(op(0x18, 0), end)), []string{exceptions, "delegate:"}},
		{"catch_all", wasmModule(ty, fn, code(op(0x19), end)), []string{exceptions, "catch_all:"}},
		{"try_table", wasmModule(ty, fn, code(op(0x1f, void, 0), end, end)), []string{exceptions, "try_table:"}},
		{"tag section", wasmModule(ty, sec(secTag, vec(op(0, 0)))), []string{exceptions, "tag section (id 13)"}},
		{"tag import", wasmModule(ty, sec(secImport, vec(cat(str("env"), str("e"), op(4, 0, 0))))), []string{exceptions, "import 0 imports a tag"}},
		{"tag export", wasmModule(sec(secExport, vec(export("e", 4, 0)))), []string{exceptions, "export 0 exports a tag"}},
		{"memory64", wasmModule(sec(secMemory, vec(op(4, 1)))), []string{memory64, "memory 0 has 64-bit limits", "wasm32"}},
		{"memory64 with max", wasmModule(sec(secMemory, vec(op(5, 1, 2)))), []string{memory64}},
		{"shared memory64", wasmModule(sec(secMemory, vec(op(7, 1, 2)))), []string{memory64}},
		{"imported memory64", wasmModule(sec(secImport, vec(cat(str("env"), str("memory"), op(2, 4, 1))))), []string{memory64, "memory 0"}},
		{"table64", wasmModule(sec(secTable, vec(op(0x70, 4, 1)))), []string{memory64, "table 0 has 64-bit limits"}},
		{"GC prefix", wasmModule(ty, fn, code(op(0xfb, 0), end)), []string{"GC proposal"}},
		{"call_ref", wasmModule(ty, fn, code(op(0x14, 0), end)), []string{"function references"}},
	}
	for _, c := range cases {
		for _, opts := range []Options{{}, fuelAndNaN, {Fuel: true, MaxCallDepth: DefaultMaxCallDepth}} {
			_, err := Rewrite(c.bin, opts)
			if !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: %v, want ErrUnsupported and ErrMalformed", c.name, err)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %q does not say %q", c.name, err, w)
				}
			}
		}
		if compiles(c.bin) == nil {
			t.Errorf("%s: wazero (WebAssembly 2.0 features) compiles it", c.name)
		}
	}
	// Limits flags no proposal defines are still malformed, not unsupported.
	_, err := Rewrite(wasmModule(sec(secMemory, vec(op(8, 1)))), Options{})
	if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "limits flags 0x8") {
		t.Errorf("limits flags 8: %v", err)
	}
}

// TestProposalsFromClang: what clang emits for atomics, shared memory, C++
// exceptions and wasm64 is refused with the proposal named.
func TestProposalsFromClang(t *testing.T) {
	atomic := "int counter;\nint bump(void) { return __atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST); }\n"
	cases := []struct {
		name, src, ext string
		flags          []string
		want           string
	}{
		{"atomics", atomic, "c", []string{"-matomics", "-Wl,--export=bump"}, "atomic instruction"},
		{"shared memory", atomic, "c", []string{"-matomics", "-mbulk-memory", "-mmutable-globals", "-Wl,--export=bump",
			"-Wl,--shared-memory", "-Wl,--max-memory=131072", "-Wl,--import-memory"}, "memory 0 is shared"},
		{"C++ exceptions", "extern \"C\" void ext(int);\nextern \"C\" int catcher(int x) { try { ext(x); } catch (...) { return 1; } return 0; }\n",
			"cpp", []string{"-fwasm-exceptions", "-Wl,--export=catcher", "-Wl,--allow-undefined"}, "exception handling proposal"},
		{"wasm64", "int get(int *p) { return *p; }\n", "c", []string{"--target=wasm64", "-Wl,--export=get"}, "memory64 proposal"},
	}
	for _, c := range cases {
		bin := clangBuild(t, c.src, c.ext, c.flags...)
		_, err := Rewrite(bin, Options{Fuel: true, MaxCallDepth: DefaultMaxCallDepth})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrUnsupported saying %q", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// clangBuild compiles src (C, or C++ when ext is "cpp") for wasm32 without
// libc, or skips the test.
func clangBuild(t testing.TB, src, ext string, flags ...string) []byte {
	t.Helper()
	cc := clang
	if ext == "cpp" {
		cc = "/usr/bin/clang++-14"
	}
	if _, err := os.Stat(cc); err != nil {
		t.Skipf("%s not found", cc)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "p."+ext), filepath.Join(dir, "p.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--target=wasm32", "-nostdlib", "-O2", "-Wl,--no-entry", "-o", out, in}, flags...)
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Skipf("%s cannot build this here: %v\n%s", cc, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
