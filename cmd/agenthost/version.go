package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildInfo is what agenthost --version prints: the module's version and
// the VCS state it was built from, as the Go toolchain recorded them.
type buildInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"`            // "devel" outside a tagged module build
	Revision string `json:"revision,omitempty"` // the VCS revision, when built in a checkout
	Time     string `json:"time,omitempty"`     // the revision's commit time (RFC 3339)
	Modified bool   `json:"modified"`           // the checkout had local changes
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
}

// readBuildInfo reads the binary's build information.
func readBuildInfo() buildInfo {
	b := buildInfo{Module: "github.com/lockstep-rt/lockstep", Version: "devel", Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Path != "" {
		b.Module = bi.Main.Path
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// short is the revision's first 12 digits.
func (b buildInfo) short() string {
	if len(b.Revision) > 12 {
		return b.Revision[:12]
	}
	return b.Revision
}

// String is the line of agenthost --version:
// "lockstep v1.2.0 (rev 0123456789ab, 2025-01-02T03:04:05Z, modified) go1.26.8 linux/amd64".
func (b buildInfo) String() string {
	s := "lockstep " + b.Version
	var vcs []string
	if b.Revision != "" {
		vcs = append(vcs, "rev "+b.short())
	}
	if b.Time != "" {
		vcs = append(vcs, b.Time)
	}
	if b.Modified {
		vcs = append(vcs, "modified")
	}
	if len(vcs) > 0 {
		s += " (" + strings.Join(vcs, ", ") + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", s, b.Go, b.OS, b.Arch)
}

// createdBy is what a replay log's header records as its writer:
// "agenthost run (lockstep v1.2.0 rev 0123456789ab+modified)".
func createdBy(command string) string {
	b := readBuildInfo()
	s := "lockstep " + b.Version
	if b.Revision != "" {
		s += " rev " + b.short()
		if b.Modified {
			s += "+modified"
		}
	}
	return fmt.Sprintf("agenthost %s (%s)", command, s)
}

func newVersion(stdout io.Writer) *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   "version [-o text|json]",
		Short: "Print agenthost's version: module version, VCS revision, Go version, OS and architecture",
		Long: `Print agenthost's version (the same as agenthost --version): the module
version ("devel" when not built as a tagged module), the VCS revision, its
time and whether the checkout was modified (when built in a checkout), the
Go version, OS and architecture. Replay logs record it in their header's
created_by. -o json prints
  {"module","version","revision","time","modified","go","os","arch"}`,
		Example: `  agenthost version
  agenthost --version
  agenthost version -o json | jq -r .revision`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := out.check(); err != nil {
				return err
			}
			b := readBuildInfo()
			if out == "json" {
				return writeJSON(stdout, b)
			}
			_, err := fmt.Fprintf(stdout, "agenthost %s\n", b)
			return err
		},
	}
	addOutput(cmd, &out)
	return cmd
}
