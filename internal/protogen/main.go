// Command protogen regenerates a package's committed protobuf code
// reproducibly. go:generate lines run it from the package directory:
//
//	go run ../../internal/protogen replay.proto
//	go run ../../../../internal/protogen -root ../../../.. wasmagent/plugin/internal/manifestpb/manifest.proto
//
// It
//
//  1. builds protoc-gen-go from the google.golang.org/protobuf version pinned
//     in go.mod into a fresh temporary directory;
//  2. runs protoc --plugin=protoc-gen-go=<tmp>/protoc-gen-go --go_out=.
//     --go_opt=paths=source_relative PROTO in -root (default: here; with a
//     root, -I. too, so the file registers under its path from the root and
//     cannot clash in protobuf's global registry with another file's name);
//  3. removes the temporary directory.
//
// protoc itself comes from the system (Debian's protobuf-compiler); its
// version is written into the generated file's header, so protogen warns when
// it differs from the one the committed files were made with.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// wantProtoc is the protoc version the committed .pb.go files name.
const wantProtoc = "libprotoc 3.21.12"

func main() {
	root := flag.String("root", "", "directory to run protoc in (the proto path is relative to it)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: protogen [-root DIR] FILE.proto")
		os.Exit(2)
	}
	if err := run(*root, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(root, proto string) error {
	out, err := exec.Command("protoc", "--version").Output()
	if err != nil {
		return fmt.Errorf("protoc not found on PATH (install protobuf-compiler): %w", err)
	}
	if got := strings.TrimSpace(string(out)); got != wantProtoc {
		fmt.Fprintf(os.Stderr, "protogen: warning: %s, but the committed code was generated with %s; the header comment will differ\n", got, wantProtoc)
	}
	dir, err := os.MkdirTemp("", "lockstep-protogen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	plugin := filepath.Join(dir, "protoc-gen-go")
	if err := sh("", "go", "build", "-o", plugin, "google.golang.org/protobuf/cmd/protoc-gen-go"); err != nil {
		return err
	}
	args := []string{"--plugin=protoc-gen-go=" + plugin, "--go_out=.", "--go_opt=paths=source_relative", proto}
	if root != "" {
		args = append([]string{"-I."}, args...)
	}
	return sh(root, "protoc", args...)
}

// sh runs a command in dir ("" is the current directory), passing its
// output through.
func sh(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout = os.Stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return errors.Join(fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err), errors.New(stderr.String()))
	}
	return nil
}
