package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// A platform is one way of running agenthost: a GOOS/GOARCH build, the
// wazero engine it is told to use, and what runs it on this linux/amd64
// machine (nothing, qemu-user or wine).
type platform struct {
	// Key names the platform in file names and in -platforms.
	Key string
	// GOOS and GOARCH of the build.
	GOOS, GOARCH string
	// CGO builds with cgo: only the native build, the one with ONNX
	// Runtime.
	CGO bool
	// Engine is agenthost's --engine.
	Engine string
	// Via is the command that runs the binary: nil natively,
	// qemu-ARCH-static, or wine.
	Via []string
	// BuildOnly platforms are built and not run: nothing here runs them.
	BuildOnly bool
}

// Name is the platform as the tables show it.
func (p *platform) Name() string {
	s := p.GOOS + "/" + p.GOARCH
	if p.Engine != "" {
		s += " " + p.Engine
	}
	if len(p.Via) > 0 {
		s += " (" + strings.TrimSuffix(p.Via[0], "-static") + ")"
	}
	if p.BuildOnly {
		s += " (build only)"
	}
	return s
}

// Binary is where the platform's agenthost is built.
func (p *platform) Binary(out string) string {
	name := "agenthost-" + p.GOOS + "-" + p.GOARCH
	if p.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(out, name)
}

// Native reports whether the platform runs this machine's own build.
func (p *platform) Native() bool { return len(p.Via) == 0 && !p.BuildOnly }

// platforms are the check's platforms, the reference first: the native
// build on wazero's compiler. Every other run's digests are compared with
// its, tick by tick. riscv64 has no wazero compiler: it interprets.
var platforms = []*platform{
	{Key: "amd64-compiler", GOOS: "linux", GOARCH: "amd64", CGO: true, Engine: "compiler"},
	{Key: "amd64-interpreter", GOOS: "linux", GOARCH: "amd64", CGO: true, Engine: "interpreter"},
	{Key: "arm64-compiler", GOOS: "linux", GOARCH: "arm64", Engine: "compiler", Via: []string{"qemu-aarch64-static"}},
	{Key: "arm64-interpreter", GOOS: "linux", GOARCH: "arm64", Engine: "interpreter", Via: []string{"qemu-aarch64-static"}},
	{Key: "riscv64-interpreter", GOOS: "linux", GOARCH: "riscv64", Engine: "interpreter", Via: []string{"qemu-riscv64-static"}},
	{Key: "windows-compiler", GOOS: "windows", GOARCH: "amd64", Engine: "compiler", Via: []string{"wine"}},
	{Key: "darwin-amd64", GOOS: "darwin", GOARCH: "amd64", BuildOnly: true},
	{Key: "darwin-arm64", GOOS: "darwin", GOARCH: "arm64", BuildOnly: true},
}

// A topology is one of the check's runs.
type topology struct {
	// Key names the topology in file names, tables and -topologies.
	Key string
	// Path is the topology file; "" is agenthost's embedded default.
	Path string
	// Ticks to run: enough to reach every agent's behaviour a few times,
	// few enough for qemu (see the Makefile's xplat target for the time).
	Ticks int
	// Inference topologies need ONNX Runtime, which only the cgo build
	// has: elsewhere they are not run, and their native logs are verified
	// from the inference outputs recorded in them.
	Inference bool
	// ModelDir holds the topology's models: verify is given it (with
	// --module-dir) where ONNX Runtime is, to recompute the answers. A
	// build without ONNX Runtime is not: with the file at hand verify loads
	// the model and fails, without it verify replays the recorded answers.
	ModelDir string
}

// topologies are the check's topologies: see examples/xplat/README.md.
var topologies = []*topology{
	{Key: "default", Ticks: 200},
	{Key: "floats", Path: "examples/xplat/floats.yaml", Ticks: 150},
	{Key: "recursion", Path: "examples/xplat/recursion.yaml", Ticks: 100},
	{Key: "gofloats", Path: "examples/xplat/gofloats.yaml", Ticks: 300},
	{Key: "classify", Path: "examples/classify/topology.yaml", Ticks: 100, Inference: true, ModelDir: "examples/classify"},
	{Key: "supervision", Path: "examples/xplat/supervision.yaml", Ticks: 150},
}

// runsOn reports whether t is run on p (rather than only verified there).
func (t *topology) runsOn(p *platform) bool { return !p.BuildOnly && (!t.Inference || p.CGO) }

// pick returns the elements of all whose keys are in the comma-separated
// list sel (all of them when sel is empty), in all's order.
func pick[T any](what, sel string, all []T, key func(T) string) ([]T, error) {
	if sel == "" {
		return all, nil
	}
	want := map[string]bool{}
	for _, k := range strings.Split(sel, ",") {
		want[strings.TrimSpace(k)] = true
	}
	var out []T
	var keys []string
	for _, x := range all {
		keys = append(keys, key(x))
		if want[key(x)] {
			out = append(out, x)
			delete(want, key(x))
		}
	}
	for k := range want {
		return nil, fmt.Errorf("-%s: no %q; choose from %s", what, k, strings.Join(keys, ", "))
	}
	return out, nil
}
