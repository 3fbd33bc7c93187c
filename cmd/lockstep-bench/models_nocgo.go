//go:build !cgo

package main

import (
	"fmt"
	"io"
)

// runModels prints why the model manager rows are missing: ONNX Runtime
// needs cgo.
func runModels(out io.Writer, _ int) error {
	fmt.Fprintln(out, "\nmodels: skipped (built without cgo)")
	return nil
}
