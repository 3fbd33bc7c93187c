// Package topology holds Lockstep's default topology of WebAssembly agents: the
// C, C++ and Go sources in examples/wasm, built by scripts/guests.sh, wired
// by topology.yaml.
package topology

import _ "embed"

// Topology is the default topology document (YAML). Its module paths are
// relative to the directory the guests were built into.
//
//go:embed topology.yaml
var Topology []byte
