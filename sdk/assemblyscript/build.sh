#!/usr/bin/env bash
# Builds AssemblyScript agents (sdk/assemblyscript) into OUT_DIR, overwriting
# what is there: run it as often as you like.
#
#   sdk/assemblyscript/build.sh OUT_DIR [ENTRY.ts ...]
#   sdk/assemblyscript/build.sh --install     (only install the compiler)
#
# Without entries it builds examples/wasm/asagent/agent.ts into
# OUT_DIR/asagent.wasm. An entry named agent.ts or index.ts gives
# DIRNAME.wasm, any other NAME.ts gives NAME.wasm.
#
# The compiler is the npm package assemblyscript at a pinned version,
# installed on first use into a cache directory outside the repository
# (LOCKSTEP_AS_PREFIX, default ~/.cache/lockstep/assemblyscript); it needs
# node and npm (Debian: apt-get install nodejs npm). Every later run finds it
# there and downloads nothing.
#
# Environment: LOCKSTEP_AS_PREFIX (install prefix), LOCKSTEP_AS_RUNTIME
# (minimal, the default; incremental; stub — see lockstep.ts), LOCKSTEP_AS_ABORT
# (lockstepAbortLog, the default: logs the message first, imports
# lockstep.log, needs the log grant; lockstepAbort: only traps, imports
# nothing).
set -euo pipefail

ASC_VERSION=0.28.20

if [ $# -lt 1 ]; then
	echo "usage: $0 OUT_DIR [ENTRY.ts ...] | $0 --install" >&2
	exit 2
fi
install_only=false
[ "$1" != --install ] || install_only=true
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
out=$(abspath "$1")
shift
entries=()
for e in "$@"; do entries+=("$(abspath "$e")"); done

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
[ ${#entries[@]} -gt 0 ] || entries=("$root/examples/wasm/asagent/agent.ts")

prefix=${LOCKSTEP_AS_PREFIX:-${HOME:?HOME is not set}/.cache/lockstep/assemblyscript}
runtime=${LOCKSTEP_AS_RUNTIME:-minimal}
abort=${LOCKSTEP_AS_ABORT:-lockstepAbortLog}
fix="install Node.js and npm (Debian: apt-get install nodejs npm; scripts/setup.sh)"

missing() {
	echo "assemblyscript: $1 is missing; $2" >&2
	exit 1
}
command -v node >/dev/null 2>&1 || missing "node" "$fix"
command -v npm >/dev/null 2>&1 || missing "npm" "$fix"

installed() {
	node -e 'process.stdout.write(require(process.argv[1]).version)' \
		"$prefix/node_modules/assemblyscript/package.json" 2>/dev/null || true
}
install() {
	if [ "$(installed)" != "$ASC_VERSION" ] || [ ! -x "$prefix/node_modules/.bin/asc" ]; then
		echo "assemblyscript: installing assemblyscript@$ASC_VERSION into $prefix"
		npm install --prefix "$prefix" --no-audit --no-fund --save-exact --loglevel=error \
			"assemblyscript@$ASC_VERSION" >&2 ||
			{ echo "assemblyscript: npm install assemblyscript@$ASC_VERSION failed (is the npm registry reachable?)" >&2; exit 1; }
	fi
}
mkdir -p "$prefix"
# Parallel builds (go test runs packages at once) must not install twice.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$prefix/.install.lock"
	flock 9
	install
	flock -u 9
	exec 9>&-
else
	install
fi
asc=$prefix/node_modules/.bin/asc
[ "$(installed)" = "$ASC_VERSION" ] || missing "assemblyscript@$ASC_VERSION in $prefix" "remove $prefix and run $0 again"
! $install_only || exit 0

mkdir -p "$out"
# -O3 --noAssert: release build, no source map.
# --debug: keeps the name section (function names for the stack traces of
#   failures; some 1 KB), and nothing else: the code is the same as without.
# --runtime: see lockstep.ts ("Runtime").
# --exportStart _initialize: the top level (register()) runs from the ABI's
#   optional _initialize export instead of the start section.
# --use abort=…: AssemblyScript's abort would import env.abort, which the
#   host refuses; the SDK's handler traps instead. The path is the
#   SDK's internal path, relative to the repository root asc runs in.
# No --exportRuntime: the host needs none of __new, __pin, __collect.
flags=(-O3 --noAssert --debug --runtime "$runtime" --exportStart _initialize --noColors)

built=()
for entry in "${entries[@]}"; do
	base=$(basename "$entry" .ts)
	case $base in agent | index) name=$(basename "$(dirname "$entry")") ;; *) name=$base ;; esac
	rel=${entry#"$root"/}
	# asc names a file by its path as imported from the entry: the SDK is
	# sdk/assemblyscript/lockstep for entries in this repository, and
	# DIR/lockstep (DIR relative to the repository) for an entry outside
	# it, which imports its own copy
	# beside it (./lockstep.ts: agenthost new puts one there).
	use=(--use "abort=sdk/assemblyscript/lockstep/$abort")
	if [ "$rel" = "$entry" ]; then
		[ -f "$(dirname "$entry")/lockstep.ts" ] || {
			echo "assemblyscript: $entry is outside $root: it must import the SDK from a copy beside it (cp $root/sdk/assemblyscript/lockstep.ts $(dirname "$entry")/; import from \"./lockstep\")" >&2
			exit 1
		}
		use=(--use "abort=$(realpath -m --relative-to="$root" "$(dirname "$entry")")/lockstep/$abort")
	fi
	echo "+ asc $rel -o $out/$name.wasm ${flags[*]} ${use[*]}"
	"$asc" "$rel" -o "$out/$name.wasm" "${flags[@]}" "${use[@]}"
	# The host accepts imports from module "lockstep" only (and WASI when
	# granted): catch an "env" import here rather than at load.
	if command -v wasm-objdump >/dev/null 2>&1; then
		bad=$(wasm-objdump -j Import -x "$out/$name.wasm" 2>/dev/null | grep -- ' <- ' | grep -v ' <- lockstep\.' || true)
		if [ -n "$bad" ]; then
			echo "assemblyscript: $out/$name.wasm imports from outside module \"lockstep\":" >&2
			echo "$bad" >&2
			echo "assemblyscript: avoid Math.random, Date, trace and console; use the SDK's random() and tick()" >&2
			exit 1
		fi
	fi
	built+=("$(printf '%-24s %8d bytes  %s' "$name.wasm" "$(wc -c <"$out/$name.wasm")" "AssemblyScript $ASC_VERSION, --runtime $runtime")")
done

echo "assemblyscript: built into $out:"
printf '  %s\n' "${built[@]}"
