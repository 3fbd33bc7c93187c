//go:build !cgo

package modelactor

import "fmt"

// unavailable is the backend of builds without cgo: ONNX Runtime cannot be
// called, so every model fails to load with ErrUnavailable.
type unavailable struct{}

func (unavailable) Open([]byte, SessionOptions) (Session, error) {
	return nil, fmt.Errorf("%w: this binary was built without cgo (CGO_ENABLED=0); rebuild with cgo and a C compiler to run models", ErrUnavailable)
}

func defaultBackend(string) Backend { return unavailable{} }
