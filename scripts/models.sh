#!/usr/bin/env bash
# Provides small third-party ONNX models (made by other tools, not by Lockstep)
# for compatibility tests and prints the path of each. Idempotent: a second
# run finds them and exits.
#
#   scripts/models.sh [DEST_DIR]   (default $HOME/.cache/lockstep/models)
#
# hello_deepa.onnx: an openWakeWord wake-word classifier exported by PyTorch
# 2.8.0 (opset 13), shipped in the npm package openwakeword-js (Apache-2.0).
# Input "onnx::Flatten_0" float32 [1,25,96] (25 frames of 96-d speech
# embeddings), output "39" float32 [1,1] (sigmoid score). Fetched with
# `npm pack` (never `npm install`) and checked against a pinned sha256.
set -euo pipefail

PKG=openwakeword-js
VERSION=0.1.27
MEMBER=package/models/hello_deepa.onnx
NAME=hello_deepa.onnx
SHA256=67ac357640e53b9d4713433a8ab48be4333f7cb21d6816406be7660ebe6d7614

dest=${1:-${HOME}/.cache/lockstep/models}
model="$dest/$NAME"
marker="$dest/.$PKG-$VERSION-$NAME"

command -v sha256sum >/dev/null 2>&1 || {
	echo "models: sha256sum is missing (coreutils)" >&2
	exit 1
}
sum() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$model" ] && [ -f "$marker" ] && [ "$(sum "$model")" = "$SHA256" ]; then
	echo "$model"
	exit 0
fi

. "$(dirname "$0")/npm-extract.sh"
npm_extract models "$PKG" "$VERSION" "$MEMBER" "$model" 0644
got=$(sum "$model")
[ "$got" = "$SHA256" ] || {
	rm -f "$model"
	echo "models: $MEMBER from $PKG@$VERSION has sha256 $got, want $SHA256" >&2
	exit 1
}
echo "$SHA256  $NAME" >"$marker"
echo "$model"
