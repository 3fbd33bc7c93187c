# Sourced by the guest build scripts (scripts/guests.sh, sdk/rust/build.sh).
#
#   step OUT DESCRIPTION CMD...
#
# echoes and runs CMD, which builds $out/OUT, and adds a summary line for it
# to the array built.
built=()
step() {
	local o=$1 d=$2
	shift 2
	echo "+ $*"
	"$@"
	built+=("$(printf '%-24s %8d bytes  %s' "$o" "$(wc -c <"$out/$o")" "$d")")
}
