#!/usr/bin/env bash
# Builds the example guest agents in examples/wasm into OUT_DIR (default
# bin/wasm), overwriting what is there: run it as often as you like.
#
#   scripts/guests.sh [OUT_DIR]
#
# C and C++ agents are freestanding (no libc, sdk/c/lockstep.h only) except
# floaty.c, which is built against wasi-libc to show that path; the Go agents
# use sdk/go/lockstep, the AssemblyScript agent sdk/assemblyscript, the Rust
# agents sdk/rust. Toolchains: scripts/setup.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-bin/wasm}
CLANG=${CLANG:-clang-14}
CLANGXX=${CLANGXX:-clang++-14}
GO=${GO:-go}
fix="run scripts/setup.sh (as root: it apt-installs clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 rustc libstd-rust-dev-wasm32, and nodejs npm if missing)"

missing() {
	echo "guests: $1 is missing; $2" >&2
	exit 1
}
command -v "$CLANG" >/dev/null 2>&1 || missing "$CLANG (C compiler)" "$fix"
command -v "$CLANGXX" >/dev/null 2>&1 || missing "$CLANGXX (C++ compiler)" "$fix"
command -v wasm-ld-14 >/dev/null 2>&1 || command -v wasm-ld >/dev/null 2>&1 ||
	missing "wasm-ld (package lld-14)" "$fix"
[ -f /usr/include/wasm32-wasi/stdio.h ] && [ -f /usr/lib/wasm32-wasi/crt1-reactor.o ] ||
	missing "wasi-libc (/usr/include/wasm32-wasi, /usr/lib/wasm32-wasi)" "$fix"
rt=$("$CLANG" --target=wasm32-wasi -print-libgcc-file-name)
[ -f "$rt" ] || missing "compiler-rt for wasm32 ($rt, package libclang-rt-14-dev-wasm32)" "$fix"
command -v "$GO" >/dev/null 2>&1 || missing "$GO" "install Go 1.26 (https://go.dev/doc/install)"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	missing "node and npm (AssemblyScript)" "$fix"

mkdir -p "$out"
src=examples/wasm
common=(-O2 -Wall -Wextra -Isdk/c)
# Freestanding: no libc, no entry point. The ABI exports are named by
# __attribute__((export_name)) in lockstep.h and wasm-ld exports `memory`;
# an undefined symbol is a link error, so nothing is imported from "env".
# --stack-first puts the 64 KiB stack below the data, so overflow traps.
free=(--target=wasm32 -nostdlib -Wl,--no-entry -Wl,--stack-first -Wl,-z,stack-size=65536 -Wl,--strip-debug)
# wasi-libc reactor: crt1-reactor.o provides `_initialize`; --strip-debug drops
# the DWARF that Debian's libc.a carries (the name section stays for traces).
wasi=(--target=wasm32-wasi -mexec-model=reactor -Wl,--stack-first -Wl,-z,stack-size=65536 -Wl,--strip-debug)

. scripts/step.sh

for a in counter pinger faulty spinner classifier tally; do
	step "$a.wasm" "C, freestanding" "$CLANG" "${common[@]}" "${free[@]}" -o "$out/$a.wasm" "$src/$a.c"
done
step reader.wasm "C++, freestanding" "$CLANGXX" "${common[@]}" "${free[@]}" -fno-exceptions -fno-rtti \
	-o "$out/reader.wasm" "$src/reader.cpp"
step floaty.wasm "C, wasi-libc reactor" "$CLANG" "${common[@]}" "${wasi[@]}" -o "$out/floaty.wasm" "$src/floaty.c"
step goagent.wasm "Go, wasip1 c-shared" env GOOS=wasip1 GOARCH=wasm "$GO" build -buildmode=c-shared -trimpath \
	-o "$out/goagent.wasm" ./examples/wasm/goagent
step goagent-shared.wasm "Go, wasip1 c-shared, shared initialisation" env GOOS=wasip1 GOARCH=wasm "$GO" build \
	-buildmode=c-shared -trimpath -tags sharedinit -o "$out/goagent-shared.wasm" ./examples/wasm/goagent
step goclassifier.wasm "Go, wasip1 c-shared" env GOOS=wasip1 GOARCH=wasm "$GO" build -buildmode=c-shared -trimpath \
	-o "$out/goclassifier.wasm" ./examples/wasm/goclassifier

step asagent.wasm "AssemblyScript, sdk/assemblyscript" sdk/assemblyscript/build.sh "$out"
# Rust (Debian's rustc, wasm32-unknown-unknown, no cargo): sdk/rust.
rust=$(sdk/rust/build.sh "$out")
echo "$rust" | grep '^+' || true
while IFS= read -r line; do built+=("$line"); done < <(echo "$rust" | sed -n 's/^  //p')

echo "guests: built into $out:"
printf '  %s\n' "${built[@]}"
