package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/host"
)

// checkJSON is check -o json.
type checkJSON struct {
	Topology string   `json:"topology"`
	OK       bool     `json:"ok"`
	Agents   int      `json:"agents"`
	Modules  int      `json:"modules"`
	Models   int      `json:"models"`
	Errors   []string `json:"errors"`
}

func newCheck(stdout, stderr io.Writer) *cobra.Command {
	var (
		trust         []string
		allowUnsigned bool
		out           outputFormat
	)
	cmd := &cobra.Command{
		Use:   "check TOPOLOGY [--trust KEY]... [--allow-unsigned] [-o text|json]",
		Short: "Validate a topology and the modules and models it names, without running anything",
		Long: `Validate a topology file as run and serve would before the first tick,
without running anything: the file itself (fields, types, names, numbers,
groups, inputs: the errors name file:line:column), the kind of every agent
(a Go kind of this program or a module of the topology), every module
(its file, its signature under wasm.trust and --trust, or unsigned with
wasm.allow_unsigned or --allow-unsigned, its ABI version, version
requirement, and declared capabilities against its imports and grants)
and every model (its file and sha256). Modules are not compiled nor
instantiated, models not loaded.

It prints "ok: N agents, M modules" (and models), or every error found,
one per line, starting file:line:column:.

Exit status: 0 valid; 2 the topology file is invalid; 3 something it
names is missing (a module or model file, a kind, a trusted key, or
--allow-unsigned for an unsigned module); 1 a module or model is refused
(signature, capabilities, version, sha256).

-o json prints one object:
  {"topology","ok","agents","modules","models","errors":[...]}`,
		Example: `  agenthost check my.yaml
  agenthost check --trust keys/ my.yaml
  agenthost check --allow-unsigned examples/wasm/topology/topology.yaml
  agenthost check -o json my.yaml | jq -r '.errors[]'`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			path := args[0]
			report := func(errs []string, n checkJSON, code int) error {
				n.Topology, n.OK, n.Errors = path, len(errs) == 0, orEmpty(errs)
				if out == "json" {
					if err := writeJSON(stdout, n); err != nil {
						return err
					}
				} else {
					for _, e := range errs {
						fmt.Fprintln(stderr, e)
					}
				}
				if len(errs) == 0 {
					if out != "json" {
						fmt.Fprintf(stdout, "ok: %d agents, %d modules%s\n", n.Agents, n.Modules, map[bool]string{true: fmt.Sprintf(", %d models", n.Models)}[n.Models > 0])
					}
					return nil
				}
				what := map[int]string{exitCorrupt: "is not valid", exitMissing: "names what is not there", exitFailed: "has modules or models that are refused"}[code]
				return &exitError{code, fmt.Errorf("check: %s %s (%d %s)", path, what, len(errs), map[bool]string{true: "error", false: "errors"}[len(errs) == 1])}
			}
			topo, err := host.LoadTopology(path)
			if errors.Is(err, fs.ErrNotExist) {
				return err // no file to check
			}
			if err != nil {
				return report(errorLines(err), checkJSON{}, exitCorrupt)
			}
			applyWASMFlags(topo, trust, allowUnsigned, "")
			counts := checkJSON{Agents: len(topo.Agents), Modules: len(topo.Modules), Models: len(topo.Models)}
			err = topo.CheckFiles(kinds())
			if err == nil {
				return report(nil, counts, 0)
			}
			// Missing inputs are exit 3 when nothing is refused outright.
			code := exitMissing
			var all []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				all = j.Unwrap()
			} else {
				all = []error{err}
			}
			var lines []string
			for _, e := range all {
				if !errors.Is(e, host.ErrNotFound) {
					code = exitFailed
				}
				lines = append(lines, errorLines(e)...)
			}
			return report(lines, counts, code)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&trust, "trust", nil, "trusted public key files or directories for signed modules (repeat), besides the topology's wasm.trust")
	f.BoolVar(&allowUnsigned, "allow-unsigned", false, "accept unsigned modules (as run --allow-unsigned)")
	addOutput(cmd, &out)
	return cmd
}

// errorLines splits an error (errors.Join'ed, one per line) into lines.
func errorLines(err error) []string {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
