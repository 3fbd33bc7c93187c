#!/usr/bin/env bash
# Provides the ONNX Runtime shared library (linux x64, CPU) for the model
# manager and prints its path. Idempotent: a second run finds it and exits.
#
#   scripts/onnxruntime.sh [DEST_DIR]   (default $HOME/.cache/lockstep/onnxruntime)
#
# The library is taken from the npm package onnxruntime-node, fetched with
# `npm pack` (never `npm install`: its install script downloads more). Tests
# find it through LOCKSTEP_ORT_LIB or the default path above.
set -euo pipefail

VERSION=1.30.0
dest=${1:-${HOME}/.cache/lockstep/onnxruntime}
lib="$dest/libonnxruntime.so.1"
marker="$dest/.onnxruntime-node-$VERSION"

if [ -f "$lib" ] && [ -f "$marker" ]; then
	echo "$lib"
	exit 0
fi

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ;;
*)
	echo "onnxruntime: only linux x86_64 is provided (this is $(uname -s)/$(uname -m))" >&2
	exit 1
	;;
esac
. "$(dirname "$0")/npm-extract.sh"
npm_extract onnxruntime onnxruntime-node "$VERSION" package/bin/napi-v6/linux/x64/libonnxruntime.so.1 "$lib" 0755
ln -sf libonnxruntime.so.1 "$dest/libonnxruntime.so"
echo "$VERSION" >"$marker"
echo "$lib"
