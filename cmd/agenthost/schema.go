package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/host"
)

func newSchema(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the topology format as a JSON Schema (draft 2020-12), for editors",
		Long: `Print a JSON Schema (draft 2020-12) of the topology format: every field
with its description, type, bounds and allowed names, made from the Go
types the topology decodes into, so it has every field agenthost accepts.
Editors with a YAML language server complete and check topologies with it;
what a schema cannot say (unique ids, declared groups, an input's to or
channel) agenthost check still checks.`,
		Example: `  agenthost schema > topology.schema.json
  # VS Code (YAML extension), settings.json:
  #   "yaml.schemas": {"./topology.schema.json": ["topology*.yaml"]}
  # or first line of a topology file:
  #   # yaml-language-server: $schema=./topology.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b, err := host.TopologySchema()
			if err != nil {
				return err
			}
			_, err = stdout.Write(append(b, '\n'))
			return err
		},
	}
}
