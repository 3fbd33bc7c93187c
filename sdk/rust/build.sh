#!/usr/bin/env bash
# Builds the Rust SDK (sdk/rust/lockstep.rs) and every Rust example agent,
# examples/wasm/NAME/agent.rs -> OUT_DIR/NAME.wasm (default bin/wasm),
# overwriting what is there: run it as often as you like.
#
#   sdk/rust/build.sh [OUT_DIR [AGENT.rs ...]]     (from any directory)
#
# With entries it builds those instead: NAME/agent.rs gives NAME.wasm, any
# other NAME.rs gives NAME.wasm. RUSTFLAGS_EXTRA adds flags to every rustc
# call (e.g. --cfg lockstep_quiet_panic).
#
# No cargo and no crates: plain rustc with the wasm32-unknown-unknown
# standard library and lld, from Debian (apt-get install rustc
# libstd-rust-dev-wasm32 lld-14).
# RUSTC overrides the compiler; the default is /usr/bin/rustc because a
# rustup rustc earlier on PATH may lack the wasm32 target.
set -euo pipefail

abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(abspath "${1:-$root/bin/wasm}") # OUT_DIR is relative to where you are
[ $# -eq 0 ] || shift
entries=()
for e in "$@"; do entries+=("$(abspath "$e")"); done
cd "$root"
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

# -C panic=abort: the SDK's panic handler logs the panic and traps. LTO lets
# the optimiser see through the SDK and drop what is unused (with --cfg
# lockstep_quiet_panic, core's panic-formatting code: half the size).
# --no-entry is rustc's default for cdylib; the stack (64 KiB, like the C
# examples) comes first in memory, so overflow traps; --strip-debug keeps the
# name section for traces.
# --remap-path-prefix: panic messages give paths relative to the repository
# root, wherever it is checked out.
common=(--edition 2021 --target "$target" -C opt-level=2 -C panic=abort --remap-path-prefix "$PWD/=")
# shellcheck disable=SC2206 # word splitting intended
extra=(${RUSTFLAGS_EXTRA:-})
common+=("${extra[@]}")
link=(-C lto -C codegen-units=1 -C link-arg=-zstack-size=65536 -C link-arg=--strip-debug)

. scripts/step.sh

echo "+ $RUSTC ${common[*]} --crate-type rlib --crate-name lockstep sdk/rust/lockstep.rs -o $tmp/liblockstep.rlib"
"$RUSTC" "${common[@]}" --crate-type rlib --crate-name lockstep sdk/rust/lockstep.rs -o "$tmp/liblockstep.rlib"

[ ${#entries[@]} -gt 0 ] || entries=(examples/wasm/*/agent.rs)
for src in "${entries[@]}"; do
	case $(basename "$src") in
	agent.rs) name=$(basename "$(dirname "$src")") ;;
	*) name=$(basename "$src" .rs) ;;
	esac
	step "$name.wasm" "Rust, no_std" "$RUSTC" "${common[@]}" "${link[@]}" --crate-type cdylib \
		--crate-name "${name//-/_}" --extern lockstep="$tmp/liblockstep.rlib" -o "$out/$name.wasm" "$src"
done

echo "rust guests: built into $out:"
printf '  %s\n' "${built[@]}"
