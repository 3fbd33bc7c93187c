package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// projectTemplates are the files agenthost new writes: common/ for every
// language, then the language's own (NAME in a path is the agent's name;
// .tmpl is dropped).
//
//go:embed templates
var projectTemplates embed.FS

// languages are agenthost new's --lang values.
var languages = map[string]struct{ name, grants string }{
	"c":    {"C", "messaging.publish, log"},
	"rust": {"Rust", "messaging.publish, log"},
	"as":   {"AssemblyScript", "messaging.publish, log"},
	"go":   {"Go", "messaging.publish, log, wasi"},
}

// agentName is what agenthost new accepts as a name: it is the module's,
// the kind's, a Rust crate's and part of a Go module path.
var agentName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func newNew(stdout io.Writer) *cobra.Command {
	var lang, lockstep string
	cmd := &cobra.Command{
		Use:   "new --lang c|rust|as|go DIR",
		Short: "Start an agent project of your own: source, build script, topology, unit test",
		Long: `new writes a new agent project into DIR (which must not exist, or be
empty); the agent's name is DIR's base name. The agent counts the messages
it receives and publishes the count on channel "counts" every tick:

  DIR/src/        the agent's source (C, Rust, AssemblyScript or Go)
  DIR/build.sh    builds it into DIR/bin/NAME.wasm with the SDK of the
                  Lockstep checkout given by --lockstep (or $LOCKSTEP)
  DIR/topology.yaml, DIR/NAME_test.go, DIR/go.mod, DIR/README.md

The unit test runs the built module with the Lockstep test kit
(sdk/agenttest); go.mod points at the checkout with a replace.`,
		Example: `  agenthost new --lang rust --lockstep ~/src/lockstep ./greeter
  cd greeter && ./build.sh && go mod tidy && go test ./... && agenthost run --topology topology.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if lockstep == "" {
				lockstep = os.Getenv("LOCKSTEP")
			}
			return scaffold(stdout, args[0], lang, lockstep)
		},
	}
	cmd.Flags().StringVar(&lang, "lang", "", "the agent's language: c, rust, as (AssemblyScript) or go")
	cmd.Flags().StringVar(&lockstep, "lockstep", "", "the Lockstep checkout whose SDKs build the agent (default $LOCKSTEP)")
	return cmd
}

// scaffold writes the project.
func scaffold(w io.Writer, dir, lang, lockstep string) error {
	l, ok := languages[lang]
	if !ok {
		return fmt.Errorf("--lang %q: give c, rust, as or go", lang)
	}
	name := filepath.Base(dir)
	if !agentName.MatchString(name) {
		return fmt.Errorf("%q: an agent's name is a lower-case letter, then letters, digits or _ (up to 63): it names the module, the kind and the Go module; pick a directory named so", name)
	}
	if lockstep == "" {
		return errors.New("--lockstep: give the Lockstep checkout whose SDKs build the agent (or set $LOCKSTEP)")
	}
	root, err := filepath.Abs(lockstep)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "sdk", "ABI.md")); err != nil {
		return fmt.Errorf("--lockstep %s: not a Lockstep checkout (no sdk/ABI.md there)", lockstep)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty: give a new directory", dir)
	}
	var goGrants []string
	for _, g := range strings.Split(l.grants, ", ") {
		goGrants = append(goGrants, fmt.Sprintf("%q", g))
	}
	data := struct{ Name, Lang, LangName, Grants, GoGrants, Lockstep string }{name, lang, l.name, l.grants, strings.Join(goGrants, ", "), root}
	var written []string
	for _, sub := range []string{"common", lang} {
		err := fs.WalkDir(projectTemplates, path.Join("templates", sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"+sub+"/"), ".tmpl")
			rel = strings.ReplaceAll(rel, "NAME", name)
			if rel == "gitignore" {
				rel = ".gitignore"
			}
			src, err := projectTemplates.ReadFile(p)
			if err != nil {
				return err
			}
			t, err := template.New(rel).Option("missingkey=error").Parse(string(src))
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := t.Execute(&out, data); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if strings.HasSuffix(rel, ".sh") {
				mode = 0o755
			}
			target := filepath.Join(dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			written = append(written, rel)
			return os.WriteFile(target, out.Bytes(), mode)
		})
		if err != nil {
			return fmt.Errorf("writing %s: %w", dir, err)
		}
	}
	if lang == "as" {
		// AssemblyScript resolves the SDK by path: a copy beside the
		// agent keeps the project independent of where the checkout is.
		sdk, err := os.ReadFile(filepath.Join(root, "sdk", "assemblyscript", "lockstep.ts"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "src", "lockstep.ts"), sdk, 0o644)
		}
		if err != nil {
			return fmt.Errorf("copying the AssemblyScript SDK: %w", err)
		}
		written = append(written, "src/lockstep.ts (a copy of the SDK)")
	}
	fmt.Fprintf(w, "created %s (%s agent %q):\n", dir, l.name, name)
	for _, f := range written {
		fmt.Fprintf(w, "  %s\n", f)
	}
	fmt.Fprintf(w, "next: cd %s && ./build.sh && go mod tidy && go test ./... && agenthost run --topology topology.yaml\n", dir)
	return nil
}
