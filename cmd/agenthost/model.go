package main

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/internal/fsutil"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
)

func newModelCommand(stdout io.Writer) *cobra.Command {
	group := &cobra.Command{
		Use:     "model",
		Short:   "Read ONNX model files: model inspect",
		Example: `  agenthost model inspect examples/classify/flowers.onnx`,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageError(errors.New("give a subcommand: agenthost model inspect FILE.onnx"))
		},
	}
	group.AddCommand(newModelInspect(stdout))
	return group
}

func newModelInspect(stdout io.Writer) *cobra.Command {
	var (
		out         outputFormat
		id, version string
	)
	cmd := &cobra.Command{
		Use:   "inspect FILE.onnx [-o text|json] [--id ID] [--version V]",
		Short: "Show an ONNX model's inputs, outputs, opsets, size and sha256, and the topology entry that declares it (exit 2: not an ONNX model)",
		Long: `Show what an ONNX model file declares, read from the file alone (no ONNX
Runtime needed): its inputs and outputs with their names, types and shapes
(a symbolic dimension by its name, an unknown one as ?), the operator sets
it imports by domain, its IR version, producer, graph, size and SHA-256;
then the entry that declares it under models: in a topology, ready to
paste (id: the file's name, or --id; version 1, or --version; path: the
file's name, relative to the topology file). When every input and output
has a symbolic leading dimension the entry has a commented max_batch line:
batching is opt-in, and probed at load.

` + modelInspectSchema + `

Exit status: 2 when the file is not an ONNX model, or a damaged or
truncated one; 1 for other errors (a file that cannot be read).`,
		Example: `  agenthost model inspect examples/classify/flowers.onnx
  agenthost model inspect --id wake --version 2 hello_deepa.onnx
  agenthost model inspect -o json model.onnx | jq '.inputs[] | {name, shape}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			r, err := inspectModel(args[0], id, version)
			if err != nil {
				return err
			}
			if out == "json" {
				return writeJSON(stdout, r)
			}
			w := bufio.NewWriter(stdout)
			r.writeText(w)
			return w.Flush()
		},
	}
	addOutput(cmd, &out)
	cmd.Flags().StringVar(&id, "id", "", "the model id of the topology entry (default: the file's name without .onnx)")
	cmd.Flags().StringVar(&version, "version", "1", "the version of the topology entry")
	return cmd
}

// modelInspectSchema documents model inspect -o json.
const modelInspectSchema = `-o json prints one object:
  {"file","size","sha256","ir_version","producer","producer_version",
   "domain","model_version","graph","nodes","initializers",
   "opsets":[{"domain","version"}],
   "inputs":[{"name","type","elem","shape"}],"outputs":[...],
   "batchable","declaration":{"id","version","path","sha256"},"topology"}
type is tensor, sparse_tensor, sequence, map or optional ("" when the
model does not say); elem a tensor's element type (float32, int64, ...) or
the type a sequence, map or optional holds ("map(int64,tensor(float32))");
shape a tensor's dimensions, numbers, names (symbolic) or null (unknown),
and is null when the model declares no shape. topology is the text entry.`

// modelReport is what model inspect prints.
type modelReport struct {
	File            string        `json:"file"`
	Size            int64         `json:"size"`
	SHA256          string        `json:"sha256"`
	IRVersion       int64         `json:"ir_version"`
	Producer        string        `json:"producer"`
	ProducerVersion string        `json:"producer_version"`
	Domain          string        `json:"domain"`
	ModelVersion    int64         `json:"model_version"`
	Graph           string        `json:"graph"`
	Nodes           int           `json:"nodes"`
	Initializers    int           `json:"initializers"`
	Opsets          []onnx.Opset  `json:"opsets"`
	Inputs          []modelValue  `json:"inputs"`
	Outputs         []modelValue  `json:"outputs"`
	Batchable       bool          `json:"batchable"`
	Declaration     modelDeclared `json:"declaration"`
	Topology        string        `json:"topology"`
	// leading is the name of the symbolic leading dimension, for the
	// max_batch hint.
	leading string
}

// modelValue is an input or output in JSON.
type modelValue struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Elem  string `json:"elem"`
	Shape []any  `json:"shape"` // int64, string, or nil for an unknown dimension
	text  string
}

// modelDeclared is the topology entry's fields.
type modelDeclared struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
}

// defaultBatch is the max_batch the topology entry suggests.
const defaultBatch = 8

// notModelID matches what a model id may not hold.
var notModelID = regexp.MustCompile(`[^A-Za-z0-9._:/-]+`)

// inspectModel reads the model file at path and makes the report, with
// the entry's id (default: from the file name) and version.
func inspectModel(path, id, version string) (*modelReport, error) {
	data, err := fsutil.ReadRegular(path, "model inspect", modelactor.MaxModelFileSize)
	if err != nil {
		return nil, err
	}
	info, err := onnx.Inspect(data)
	if err != nil {
		return nil, &exitError{exitCorrupt, fmt.Errorf("%s: %w; give an .onnx file (an ONNX ModelProto, as torch.onnx.export or skl2onnx write it), and fetch or export it again if it was cut short", path, err)}
	}
	sum := sha256.Sum256(data)
	name := filepath.Base(path)
	if id == "" {
		id = cmp.Or(strings.Trim(notModelID.ReplaceAllString(strings.TrimSuffix(name, filepath.Ext(name)), "_"), "_"), "model")
	}
	decl := modelactor.Model{ID: id, Version: version, Path: name, SHA256: hex.EncodeToString(sum[:])}
	if err := decl.Validate(); err != nil {
		return nil, usageErrorf("%w: give another with --id or --version", err)
	}
	r := &modelReport{File: path, Size: int64(len(data)), SHA256: decl.SHA256, IRVersion: info.IRVersion, Producer: info.Producer,
		ProducerVersion: info.ProducerVersion, Domain: info.Domain, ModelVersion: info.ModelVersion, Graph: info.Graph,
		Nodes: info.Nodes, Initializers: info.Initializers, Opsets: info.Opsets, Inputs: modelValues(info.Inputs), Outputs: modelValues(info.Outputs),
		Declaration: modelDeclared{ID: decl.ID, Version: decl.Version, Path: decl.Path, SHA256: decl.SHA256}}
	values := append(slices.Clone(info.Inputs), info.Outputs...)
	r.Batchable = len(values) > 0
	for _, v := range values {
		r.Batchable = r.Batchable && v.LeadingSymbolic()
	}
	if r.Batchable {
		r.leading = values[0].Shape[0].String()
	}
	r.Topology = r.entry()
	return r, nil
}

func modelValues(vs []onnx.Value) []modelValue {
	out := make([]modelValue, len(vs))
	for i, v := range vs {
		out[i] = modelValue{Name: v.Name, Type: v.Type, Elem: v.Elem, text: v.String()}
		if v.HasShape {
			out[i].Shape = make([]any, len(v.Shape))
			for j, d := range v.Shape {
				switch {
				case d.Param != "":
					out[i].Shape[j] = d.Param
				case d.Value >= 0:
					out[i].Shape[j] = d.Value
				}
			}
		}
	}
	return out
}

// plainYAML matches the strings the entry writes without quotes.
var plainYAML = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._/-]*$`)

// yamlString writes s as a YAML scalar: plain when that cannot be read as
// anything but the string, else double-quoted (JSON's escapes are YAML's).
func yamlString(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n":
	default:
		if plainYAML.MatchString(s) {
			return s
		}
	}
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// entry is the topology text that declares the model.
func (r *modelReport) entry() string {
	d := r.Declaration
	var b strings.Builder
	fmt.Fprintf(&b, "models:\n  - id: %s\n    version: %s\n    path: %s  # relative to the topology file\n    sha256: %s\n",
		yamlString(d.ID), yamlString(d.Version), yamlString(d.Path), d.SHA256)
	if r.Batchable {
		fmt.Fprintf(&b, "    # Every input and output has a symbolic leading dimension (%s): to let\n"+
			"    # a tick's requests share one run, uncomment (batching is opt-in, and\n"+
			"    # turned off at load if it changes any answer's bits).\n"+
			"    # max_batch: %d\n", r.leading, defaultBatch)
	}
	return b.String()
}

// writeText prints the report for people.
func (r *modelReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "file:          %s\n", r.File)
	fmt.Fprintf(w, "size:          %d bytes\n", r.Size)
	fmt.Fprintf(w, "sha256:        %s\n", r.SHA256)
	fmt.Fprintf(w, "ir_version:    %d\n", r.IRVersion)
	producer := strings.TrimSpace(r.Producer + " " + r.ProducerVersion)
	fmt.Fprintf(w, "producer:      %s\n", cmp.Or(producer, "(none)"))
	if r.Domain != "" || r.ModelVersion != 0 {
		fmt.Fprintf(w, "domain:        %s, model_version %d\n", cmp.Or(r.Domain, `""`), r.ModelVersion)
	}
	opsets := make([]string, len(r.Opsets))
	for i, o := range r.Opsets {
		opsets[i] = fmt.Sprintf("%s %d", o.Domain, o.Version)
	}
	fmt.Fprintf(w, "opsets:        %s\n", cmp.Or(strings.Join(opsets, ", "), "(none)"))
	fmt.Fprintf(w, "graph:         %s (%d nodes, %d initializers)\n", cmp.Or(r.Graph, `""`), r.Nodes, r.Initializers)
	for _, s := range []struct {
		what string
		vs   []modelValue
	}{{"inputs", r.Inputs}, {"outputs", r.Outputs}} {
		fmt.Fprintf(w, "%s:\n", s.what)
		if len(s.vs) == 0 {
			fmt.Fprintf(w, "  (none)\n")
		}
		width := 0
		for _, v := range s.vs {
			width = max(width, len(fmt.Sprintf("%q", v.Name)))
		}
		for _, v := range s.vs {
			fmt.Fprintf(w, "  %-*s  %s\n", width, fmt.Sprintf("%q", v.Name), v.text)
		}
	}
	fmt.Fprintf(w, "\n%s", r.Topology)
}
