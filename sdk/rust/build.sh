#!/usr/bin/env bash
# Builds the Rust SDK (sdk/rust/lockstep.rs) and every Rust example agent,
# examples/wasm/NAME/agent.rs -> OUT_DIR/NAME.wasm (default bin/wasm),
# overwriting what is there: run it as often as you like.
#
#   sdk/rust/build.sh [OUT_DIR]
#
# No cargo and no crates: plain rustc with the wasm32-unknown-unknown
# standard library and lld, from Debian (apt-get install rustc
# libstd-rust-dev-wasm32 lld-14).
# RUSTC overrides the compiler; the default is /usr/bin/rustc because a
# rustup rustc earlier on PATH may lack the wasm32 target.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:-bin/wasm}
RUSTC=${RUSTC:-/usr/bin/rustc}
target=wasm32-unknown-unknown
fix="install as root: apt-get install rustc libstd-rust-dev-wasm32 lld-14 (scripts/setup.sh)"

if ! [ -x "$RUSTC" ] && ! command -v "$RUSTC" >/dev/null 2>&1; then
	echo "rust guests: $RUSTC is missing (Debian package rustc); $fix" >&2
	exit 1
fi
sysroot=$("$RUSTC" --print sysroot)
if ! compgen -G "$sysroot/lib/rustlib/$target/lib/libcore-*.rlib" >/dev/null; then
	echo "rust guests: $RUSTC has no $target standard library ($sysroot/lib/rustlib/$target, Debian package libstd-rust-dev-wasm32); $fix" >&2
	exit 1
fi
# rustc links wasm with rust-lld; Debian's is a link to lld-14's binary, a
# package libstd-rust-dev-wasm32 only recommends.
if ! command -v rust-lld >/dev/null 2>&1 && ! compgen -G "$sysroot/lib/rustlib/*/bin/rust-lld" >/dev/null; then
	echo "rust guests: rust-lld (the wasm linker; Debian links it to lld-14) is missing; $fix" >&2
	exit 1
fi

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# -C panic=abort: the SDK's panic handler traps. LTO lets the optimiser see
# through the SDK and drop core's panic-formatting code (half the size).
# --no-entry is rustc's default for cdylib; the stack (64 KiB, like the C
# examples) comes first in memory, so overflow traps; --strip-debug keeps the
# name section for traces.
common=(--edition 2021 --target "$target" -C opt-level=2 -C panic=abort)
link=(-C lto -C codegen-units=1 -C link-arg=-zstack-size=65536 -C link-arg=--strip-debug)

. scripts/step.sh

echo "+ $RUSTC ${common[*]} --crate-type rlib --crate-name lockstep sdk/rust/lockstep.rs -o $tmp/liblockstep.rlib"
"$RUSTC" "${common[@]}" --crate-type rlib --crate-name lockstep sdk/rust/lockstep.rs -o "$tmp/liblockstep.rlib"

for src in examples/wasm/*/agent.rs; do
	name=$(basename "$(dirname "$src")")
	step "$name.wasm" "Rust, no_std" "$RUSTC" "${common[@]}" "${link[@]}" --crate-type cdylib \
		--crate-name "${name//-/_}" --extern lockstep="$tmp/liblockstep.rlib" -o "$out/$name.wasm" "$src"
done

echo "rust guests: built into $out:"
printf '  %s\n' "${built[@]}"
