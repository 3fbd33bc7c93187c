#!/usr/bin/env bash
# serve-demo: agenthost serve on examples/serve/topology.yaml in a fresh data
# directory, driven by the client verbs: input (acknowledged once on disk),
# step on a manual clock, subscribe to the external channel "counts", a
# SIGTERM, a restart that resumes from the checkpoint, and verify of the
# data directory. Part of `make run`; needs bin/agenthost and bin/wasm.
set -euo pipefail
cd "$(dirname "$0")/.."
ah=bin/agenthost
dir=bin/serve-demo
rm -rf "$dir"
mkdir -p "$dir"
log="$dir.stderr"

start() {
	# The daemon says "serving ..." on stderr once its socket is up.
	$ah serve --topology examples/serve/topology.yaml --data-dir "$dir" --clock manual --checkpoint-every 10 2>"$log" &
	pid=$!
	for _ in $(seq 600); do
		grep -q '^serving ' "$log" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
		sleep 0.1
	done
	echo "serve-demo: agenthost serve did not start" >&2
	cat "$log"
	exit 1
}

start
echo "+ agenthost input --to counter --payload hello --key greeting-1"
$ah input --data-dir "$dir" --to counter --payload hello --key greeting-1
echo "+ agenthost input --to counter --payload hello --key greeting-1   (a retry: applied once)"
$ah input --data-dir "$dir" --to counter --payload hello --key greeting-1
echo "+ agenthost step 12"
$ah step --data-dir "$dir" 12
echo "+ agenthost subscribe --channel counts --from-tick 10   (first 4 outputs)"
timeout 10 $ah subscribe --data-dir "$dir" --channel counts --from-tick 10 | head -4 || true
kill -TERM "$pid"
wait "$pid"
echo "+ restart: resumes from the checkpoint of tick 10 and the log after it"
start
$ah status --data-dir "$dir"
kill -TERM "$pid"
wait "$pid"
echo "+ agenthost verify $dir"
$ah verify --module-dir bin/wasm --allow-unsigned "$dir"
