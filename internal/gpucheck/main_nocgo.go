//go:build !cgo

package main

import (
	"fmt"
	"os"
)

// main says why there is no check: ONNX Runtime needs cgo.
func main() {
	fmt.Fprintln(os.Stderr, "gpucheck: built without cgo: ONNX Runtime needs it; build with CGO_ENABLED=1 and a C compiler")
	os.Exit(2)
}
