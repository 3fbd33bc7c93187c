#!/usr/bin/env bash
# Installs what Lockstep's build and tests need, idempotently: run it as often
# as you like.
#
#   - the Go module cache (go mod download)
#   - libonnxruntime.so from the npm package onnxruntime-node
#     (scripts/onnxruntime.sh, cached under ~/.cache/lockstep/onnxruntime)
#   - guest toolchains from Debian: clang-14, lld-14 (wasm-ld, also Rust's
#     linker), wasi-libc, compiler-rt for wasm32, wabt (wat2wasm, for
#     hand-written test modules), rustc with the wasm32 standard library;
#     Node.js and npm when missing; AssemblyScript from npm (pinned, under
#     ~/.cache/lockstep/assemblyscript). Go guests use Go's own wasip1 port.
#   - for the cross-platform check (make xplat), from Debian:
#     qemu-user-static (linux/arm64 and linux/riscv64 binaries), wine and
#     wine64 (windows/amd64; 64-bit only, no i386 multiarch), and mingw
#     (gcc-mingw-w64-x86-64-win32) for the stub DLL that wine 8 lacks; then
#     the wine prefix (scripts/wineprefix.sh, ~/.cache/lockstep/wine).
#   - chromium (headless), for agentui's browser test and make screenshots.
#
# apt-get runs only when a package is missing (it needs root, as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
	echo "setup: Go is not on PATH; install Go 1.26 (https://go.dev/doc/install) and retry" >&2
	exit 1
fi

packages=(clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 wabt rustc libstd-rust-dev-wasm32
	qemu-user-static wine wine64 gcc-mingw-w64-x86-64-win32 chromium)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js and npm (for npm pack and AssemblyScript): any install will do;
# Debian's only when there is none (another nodejs package may own npm).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing Debian packages: ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

go mod download

# ONNX Runtime's shared library, from the npm package onnxruntime-node (the
# model manager's tests load it through cgo).
scripts/onnxruntime.sh >/dev/null

# A model made by another tool (PyTorch), for the compatibility tests.
scripts/models.sh >/dev/null

# The AssemblyScript compiler (npm, pinned), for sdk/assemblyscript.
sdk/assemblyscript/build.sh --install >/dev/null

# The wine prefix for make xplat, with the stub bcryptprimitives.dll.
scripts/wineprefix.sh >/dev/null
