//go:build ignore

// Command genpb regenerates manifest.pb.go from manifest.proto. It is run by
// "go generate" (see gen.go) from the package directory:
//
//  1. build protoc-gen-go from the google.golang.org/protobuf version pinned
//     in go.mod into a fresh temporary directory;
//  2. from the repository root, run protoc -I. --plugin=protoc-gen-go=<tmp>/protoc-gen-go
//     --go_out=. --go_opt=paths=source_relative
//     wasmagent/plugin/internal/manifestpb/manifest.proto;
//  3. remove the temporary directory.
//
// protoc runs from the repository root so that the file registers in the
// global protobuf registry under its full path: a bare "manifest.proto"
// could clash with another package's file of that name, and the registry
// panics on such a clash.
//
// protoc itself comes from the system (Debian's protobuf-compiler); its
// version is written into the generated file's header, so a different
// protoc changes one comment line. genpb warns when the version differs
// from the one the committed file was generated with.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// wantProtoc is the protoc version the committed manifest.pb.go names.
const wantProtoc = "libprotoc 3.21.12"

// protoPath is manifest.proto relative to the repository root.
const protoPath = "wasmagent/plugin/internal/manifestpb/manifest.proto"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "genpb:", err)
		os.Exit(1)
	}
}

func run() error {
	out, err := exec.Command("protoc", "--version").Output()
	if err != nil {
		return fmt.Errorf("protoc not found on PATH (install protobuf-compiler): %w", err)
	}
	if got := strings.TrimSpace(string(out)); got != wantProtoc {
		fmt.Fprintf(os.Stderr, "genpb: warning: %s, but manifest.pb.go was generated with %s; the header comment will differ\n", got, wantProtoc)
	}

	dir, err := os.MkdirTemp("", "lockstep-genpb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	plugin := filepath.Join(dir, "protoc-gen-go")
	if err := sh("go", "build", "-o", plugin, "google.golang.org/protobuf/cmd/protoc-gen-go"); err != nil {
		return err
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		return err
	}
	return shIn(root, "protoc",
		"-I.",
		"--plugin=protoc-gen-go="+plugin,
		"--go_out=.",
		"--go_opt=paths=source_relative",
		protoPath)
}

// sh runs a command in the package directory, passing its output through.
func sh(name string, args ...string) error { return shIn("", name, args...) }

// shIn runs a command in dir ("" is the current directory).
func shIn(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout = os.Stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return nil
}
