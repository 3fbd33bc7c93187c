//go:build ignore

// Command genpb regenerates replay.pb.go from replay.proto. It is run by
// "go generate" (see gen.go) from the package directory:
//
//  1. build protoc-gen-go from the google.golang.org/protobuf version pinned
//     in go.mod into a fresh temporary directory;
//  2. run protoc --plugin=protoc-gen-go=<tmp>/protoc-gen-go --go_out=.
//     --go_opt=paths=source_relative replay.proto;
//  3. remove the temporary directory.
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

// wantProtoc is the protoc version the committed replay.pb.go names.
const wantProtoc = "libprotoc 3.21.12"

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
		fmt.Fprintf(os.Stderr, "genpb: warning: %s, but replay.pb.go was generated with %s; the header comment will differ\n", got, wantProtoc)
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
	return sh("protoc",
		"--plugin=protoc-gen-go="+plugin,
		"--go_out=.",
		"--go_opt=paths=source_relative",
		"replay.proto")
}

// sh runs a command, passing its output through.
func sh(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stdout = os.Stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return nil
}
