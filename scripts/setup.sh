#!/usr/bin/env bash
# Installs what Lockstep's build and tests need, idempotently: run it as often
# as you like. Today that is the Go module cache; guest toolchains (clang,
# rustc, AssemblyScript) and the ONNX Runtime library join it with the
# issues that need them.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
	echo "setup: Go is not on PATH; install Go 1.26 (https://go.dev/doc/install) and retry" >&2
	exit 1
fi
go mod download
