// Package classify is the example topology in which WebAssembly agents
// classify measurements through the model manager (topology.yaml): three C
// classifiers (examples/wasm/classifier.c) and one Go classifier
// (examples/wasm/goclassifier) ask model "flowers" once per tick, and a C
// tally (examples/wasm/tally.c) counts the classes they publish.
//
// The model, flowers.onnx, is an MLP with 4 inputs, 16 hidden units and 3
// class scores, written by package onnx from a fixed seed: Model returns
// its bytes, and the test checks that the committed file is exactly them
// (go test ./examples/classify -update rewrites it).
package classify

import "github.com/lockstep-rt/lockstep/modelactor/onnx"

// Seed is the seed of flowers.onnx's weights.
const Seed = 2026

// Model returns the bytes of flowers.onnx.
func Model() []byte { return onnx.MLP(4, 16, 3, Seed) }
