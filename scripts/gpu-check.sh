#!/usr/bin/env bash
# Device check of the model manager on an NVIDIA GPU. Every test of the
# project is CPU-only; this script is run by hand (or by a device job) on a
# machine with a GPU:
#
#   scripts/gpu-check.sh fetch [DIR]   on a machine with internet: put the CUDA
#                                      build of ONNX Runtime in DIR (default
#                                      $HOME/.cache/lockstep/onnxruntime-gpu)
#   scripts/gpu-check.sh [DIR] [-device N]
#                                      on the GPU machine: run a model on CUDA,
#                                      check that it agrees with the CPU (within
#                                      |cuda-cpu| <= 1e-4 + 1e-3*|cpu|), and that a
#                                      run recorded on CUDA replays without its
#                                      model file (internal/gpucheck)
#
# The CPU library scripts/onnxruntime.sh takes from the npm package
# onnxruntime-node loads CUDA through libonnxruntime_providers_shared.so and
# libonnxruntime_providers_cuda.so beside it, which that package does not
# ship (its install script downloads them from NuGet); fetch takes the
# library and both providers from the NuGet package
# Microsoft.ML.OnnxRuntime.Gpu.Linux of the same version. The GPU machine
# needs the NVIDIA driver, CUDA 12 and cuDNN 9 libraries, and Go with cgo.
#
# Exit status: 0 when every check passes, 1 when one fails, 2 when the
# machine cannot run the check (no GPU, no library), each with the reason
# and what to do on stderr.
set -euo pipefail

VERSION=1.30.0
PACKAGE=Microsoft.ML.OnnxRuntime.Gpu.Linux
root=$(cd "$(dirname "$0")/.." && pwd)
default_dir=${HOME}/.cache/lockstep/onnxruntime-gpu

fail() { # status message...
	local status=$1
	shift
	echo "gpu-check: $*" >&2
	exit "$status"
}

fetch() {
	local dir=${1:-$default_dir}
	command -v curl >/dev/null 2>&1 || fail 2 "curl is missing; install it and rerun"
	command -v unzip >/dev/null 2>&1 || fail 2 "unzip is missing; install it and rerun"
	local lower tmp
	lower=$(echo "$PACKAGE" | tr '[:upper:]' '[:lower:]')
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now
	trap "rm -rf '$tmp'" EXIT
	curl -fsSL -o "$tmp/pkg.nupkg" "https://api.nuget.org/v3-flatcontainer/$lower/$VERSION/$lower.$VERSION.nupkg" ||
		fail 2 "downloading $PACKAGE $VERSION from api.nuget.org failed (is it reachable?)"
	unzip -q -o "$tmp/pkg.nupkg" 'runtimes/linux-x64/native/*' -d "$tmp" ||
		fail 2 "$PACKAGE $VERSION has no runtimes/linux-x64/native"
	mkdir -p "$dir"
	cp "$tmp"/runtimes/linux-x64/native/*.so* "$dir"/
	[ -e "$dir/libonnxruntime.so.1" ] || ln -sf "$(cd "$dir" && ls libonnxruntime.so* | head -n1)" "$dir/libonnxruntime.so.1"
	echo "$VERSION" >"$dir/.onnxruntime-gpu-$VERSION"
	echo "$dir"
}

check() {
	local dir=$default_dir device=0
	while [ $# -gt 0 ]; do
		case $1 in
		-device) device=${2:?-device needs a number}; shift 2 ;;
		-*) fail 2 "unknown flag $1 (usage: scripts/gpu-check.sh [fetch] [DIR] [-device N])" ;;
		*) dir=$1; shift ;;
		esac
	done
	command -v nvidia-smi >/dev/null 2>&1 ||
		fail 2 "no NVIDIA GPU here: nvidia-smi is missing. This check needs a machine with an NVIDIA GPU and its driver; every test of the project runs on the CPU without it"
	local gpus
	gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
	[ "$gpus" -gt 0 ] || fail 2 "no NVIDIA GPU here: nvidia-smi lists none ($(nvidia-smi -L 2>&1 | head -n1))"
	[ "$device" -lt "$gpus" ] || fail 2 "CUDA device $device does not exist: nvidia-smi lists $gpus GPU(s) (0 to $((gpus - 1)))"
	local lib=$dir/libonnxruntime.so.1
	for f in "$lib" "$dir/libonnxruntime_providers_shared.so" "$dir/libonnxruntime_providers_cuda.so"; do
		[ -e "$f" ] || fail 2 "$f is missing: run scripts/gpu-check.sh fetch $dir on a machine with internet and copy $dir here"
	done
	local missing
	missing=$(ldd "$dir/libonnxruntime_providers_cuda.so" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')
	[ -z "$missing" ] || fail 2 "the CUDA provider needs libraries this machine lacks: $missing(install the CUDA 12 runtime, cuBLAS and cuDNN 9, or add their directory to LD_LIBRARY_PATH)"
	command -v go >/dev/null 2>&1 || fail 2 "go is missing"
	echo "gpu-check: $(nvidia-smi -L | sed -n "$((device + 1))p"); ONNX Runtime $lib"
	local bin
	bin=$(mktemp -d)/gpucheck
	(cd "$root" && CGO_ENABLED=1 go build -o "$bin" ./internal/gpucheck) || fail 1 "building internal/gpucheck failed"
	LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$bin" -lib "$lib" -device "$device" || fail 1 "FAIL (see above)"
	rm -rf "$(dirname "$bin")"
	echo "gpu-check: PASS"
}

case ${1:-} in
fetch) shift; fetch "$@" ;;
*) check "$@" ;;
esac
