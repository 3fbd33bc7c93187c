# Sourced by scripts/onnxruntime.sh and scripts/models.sh.
#
#   npm_extract TAG PACKAGE VERSION MEMBER OUT MODE
#
# fetches PACKAGE@VERSION with `npm pack` (never `npm install`: install
# scripts download more), extracts the one file MEMBER (a path inside the
# tarball, e.g. package/models/x.onnx) and installs it at OUT with MODE,
# atomically. TAG prefixes error messages. Exits non-zero with a message
# saying what is missing.
npm_extract() {
	local tag=$1 pkg=$2 version=$3 member=$4 out=$5 mode=$6
	command -v npm >/dev/null 2>&1 || {
		echo "$tag: npm is missing; install Node.js/npm (e.g. apt-get install npm) and rerun" >&2
		exit 1
	}
	command -v tar >/dev/null 2>&1 || {
		echo "$tag: tar is missing" >&2
		exit 1
	}
	local tmp
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	(cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null) || {
		echo "$tag: npm pack $pkg@$version failed (is the npm registry reachable?)" >&2
		exit 1
	}
	local tgz
	tgz=$(ls "$tmp"/*.tgz 2>/dev/null | head -n1)
	[ -n "$tgz" ] || {
		echo "$tag: npm pack produced no tarball in $tmp" >&2
		exit 1
	}
	tar -xzf "$tgz" -C "$tmp" "$member" || {
		echo "$tag: $member not found in $(basename "$tgz")" >&2
		exit 1
	}
	mkdir -p "$(dirname "$out")"
	cp "$tmp/$member" "$out.tmp"
	chmod "$mode" "$out.tmp"
	mv -f "$out.tmp" "$out"
}
