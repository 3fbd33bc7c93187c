// Command protogen regenerates a package's committed protobuf code
// reproducibly. go:generate lines run it from the package directory:
//
//	go run ../../internal/protogen replay.proto
//	go run ../../../../internal/protogen -root ../../../.. wasmagent/plugin/internal/manifestpb/manifest.proto
//	go run ../../../internal/protogen -grpc -root ../../.. host/daemon/api/daemon.proto
//
// It
//
//  1. builds protoc-gen-go from the google.golang.org/protobuf version pinned
//     in go.mod into a fresh temporary directory, and with -grpc also
//     protoc-gen-go-grpc from the google.golang.org/grpc/cmd/protoc-gen-go-grpc
//     version go.mod requires as a tool (go get -tool), which must be
//     wantGRPCPlugin;
//  2. runs protoc --plugin=protoc-gen-go=<tmp>/protoc-gen-go --go_out=.
//     --go_opt=paths=source_relative PROTO in -root (default: here; with a
//     root, -I. too, so the file registers under its path from the root and
//     cannot clash in protobuf's global registry with another file's name),
//     with -grpc also --go-grpc_out=. --go-grpc_opt=paths=source_relative;
//  3. removes the temporary directory.
//
// Both plugins are built inside this module, so they link the
// google.golang.org/protobuf version go.mod pins, and after one go mod
// download nothing needs the network.
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

// grpcPlugin is the module and package of protoc-gen-go-grpc, and
// wantGRPCPlugin the version go.mod must require it at: it is written into
// the header of every _grpc.pb.go file, so a different one would change
// the committed files. Change both together, on purpose.
const (
	grpcPlugin     = "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	wantGRPCPlugin = "v1.6.2"
)

func main() {
	root := flag.String("root", "", "directory to run protoc in (the proto path is relative to it)")
	grpc := flag.Bool("grpc", false, "also generate gRPC service code with protoc-gen-go-grpc "+wantGRPCPlugin)
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: protogen [-grpc] [-root DIR] FILE.proto")
		os.Exit(2)
	}
	if err := run(*root, flag.Arg(0), *grpc); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(root, proto string, grpc bool) error {
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
	args := []string{"--plugin=protoc-gen-go=" + plugin, "--go_out=.", "--go_opt=paths=source_relative"}
	if grpc {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", grpcPlugin).Output()
		if v := strings.TrimSpace(string(out)); err != nil || v != wantGRPCPlugin {
			return fmt.Errorf("go.mod must require %s %s as a tool (found %q): run go get -tool %s@%s", grpcPlugin, wantGRPCPlugin, v, grpcPlugin, wantGRPCPlugin)
		}
		gplugin := filepath.Join(dir, "protoc-gen-go-grpc")
		if err := sh("", "go", "build", "-o", gplugin, grpcPlugin); err != nil {
			return err
		}
		args = append(args, "--plugin=protoc-gen-go-grpc="+gplugin, "--go-grpc_out=.", "--go-grpc_opt=paths=source_relative")
	}
	args = append(args, proto)
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
