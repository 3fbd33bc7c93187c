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
command -v npm >/dev/null 2>&1 || {
	echo "onnxruntime: npm is missing; install Node.js/npm (e.g. apt-get install npm) and rerun" >&2
	exit 1
}
command -v tar >/dev/null 2>&1 || {
	echo "onnxruntime: tar is missing" >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "onnxruntime-node@$VERSION" >/dev/null) || {
	echo "onnxruntime: npm pack onnxruntime-node@$VERSION failed (is the npm registry reachable?)" >&2
	exit 1
}
tgz=$(ls "$tmp"/onnxruntime-node-*.tgz 2>/dev/null | head -n1)
[ -n "$tgz" ] || {
	echo "onnxruntime: npm pack produced no tarball in $tmp" >&2
	exit 1
}
member=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
tar -xzf "$tgz" -C "$tmp" "$member" || {
	echo "onnxruntime: $member not found in $(basename "$tgz")" >&2
	exit 1
}
mkdir -p "$dest"
cp "$tmp/$member" "$lib.tmp"
chmod 0755 "$lib.tmp"
mv -f "$lib.tmp" "$lib"
ln -sf libonnxruntime.so.1 "$dest/libonnxruntime.so"
echo "$VERSION" >"$marker"
echo "$lib"
