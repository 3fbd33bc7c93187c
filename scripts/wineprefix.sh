#!/usr/bin/env bash
# Prepares the wine prefix in which `make xplat` runs agenthost's
# windows/amd64 build, idempotently: run it as often as you like. Prints the
# prefix's path.
#
#   scripts/wineprefix.sh        (prefix: $LOCKSTEP_WINEPREFIX, default ~/.cache/lockstep/wine)
#
#   - creates the prefix once (wine cmd /c exit 0: headless, no display
#     needed; 64-bit only, so wine's complaint about a missing syswow64 is
#     expected and harmless);
#   - builds the stub bcryptprimitives.dll (scripts/wine-stub) with mingw and
#     puts it into the prefix's drive_c/windows/system32: Go >= 1.22 Windows
#     binaries need ProcessPrng from it, which Debian 12's wine 8 lacks, and
#     Go loads it from system32 only (beside the exe is not enough).
#
# Needs Debian's wine, wine64 and gcc-mingw-w64-x86-64-win32
# (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${LOCKSTEP_WINEPREFIX:-$HOME/.cache/lockstep/wine}
CC=${MINGW_CC:-x86_64-w64-mingw32-gcc-win32}
fix="run scripts/setup.sh (as root: it apt-installs wine wine64 gcc-mingw-w64-x86-64-win32)"
command -v wine >/dev/null 2>&1 || { echo "wineprefix: wine is missing; $fix" >&2; exit 1; }
command -v "$CC" >/dev/null 2>&1 || { echo "wineprefix: $CC (mingw) is missing; $fix" >&2; exit 1; }

export WINEPREFIX=$prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
sys32=$prefix/drive_c/windows/system32
if [ ! -f "$prefix/system.reg" ] || [ ! -d "$sys32" ]; then
	mkdir -p "$(dirname "$prefix")"
	echo "wineprefix: creating $prefix (once; about a minute)" >&2
	wine cmd /c exit 0 >/dev/null 2>&1 || true
	wineserver -w
	[ -d "$sys32" ] || { echo "wineprefix: wine did not create $sys32" >&2; exit 1; }
fi

stub=scripts/wine-stub
dll=$sys32/bcryptprimitives.dll
if [ ! -f "$dll" ] || [ "$stub/bcryptprimitives.c" -nt "$dll" ] || [ "$stub/bcryptprimitives.def" -nt "$dll" ]; then
	"$CC" -shared -O2 -s -Wl,--no-insert-timestamp -o "$dll.tmp" "$stub/bcryptprimitives.c" "$stub/bcryptprimitives.def" -ladvapi32
	mv "$dll.tmp" "$dll"
fi
echo "$prefix"
