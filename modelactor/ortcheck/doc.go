// Package ortcheck holds tests that run models written by package
// modelactor/onnx through ONNX Runtime (github.com/yalue/onnxruntime_go,
// cgo) and check that inference is repeatable and matches a pure-Go
// reference.
//
// The tests need libonnxruntime.so: LOCKSTEP_ORT_LIB names it, else the
// default that scripts/onnxruntime.sh installs,
// $HOME/.cache/lockstep/onnxruntime/libonnxruntime.so.1. Without it they skip.
package ortcheck
