// Package modeltest gives tests what they need to run real models: the
// ONNX Runtime library, model files written by package onnx, and the
// third-party model scripts/models.sh provides.
//
// A test that needs the library is skipped only when nobody asked for it:
// with LOCKSTEP_ORT_LIB set (make test sets it) a missing library fails the
// test instead.
package modeltest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockstep-rt/lockstep/modelactor"
)

// Library returns the ONNX Runtime library to load, skipping or failing t
// when there is none.
func Library(t testing.TB) string {
	t.Helper()
	p, err := modelactor.FindLibrary("")
	if err != nil {
		if os.Getenv(modelactor.LibraryEnv) != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// Write stores an ONNX model in dir as name.onnx and returns its
// declaration (version "1").
func Write(t testing.TB, dir, name string, data []byte) modelactor.Model {
	t.Helper()
	path := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return modelactor.Model{ID: name, Version: "1", Path: path, SHA256: SHA256(data)}
}

// SHA256 is the hex SHA-256 of data.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ModelsDirEnv names the directory scripts/models.sh fills.
const ModelsDirEnv = "LOCKSTEP_MODELS_DIR"

// HelloDeepa is the declaration of the PyTorch-exported wake-word classifier
// that scripts/models.sh provides (see that script), skipping or failing t
// like Library when it is missing.
func HelloDeepa(t testing.TB) modelactor.Model {
	t.Helper()
	dir := os.Getenv(ModelsDirEnv)
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "lockstep", "models")
	}
	path := filepath.Join(dir, "hello_deepa.onnx")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv(ModelsDirEnv) != "" {
			t.Fatalf("%s: %v (run scripts/models.sh)", path, err)
		}
		t.Skipf("%s: %v: run scripts/models.sh", path, err)
	}
	return modelactor.Model{ID: "hello_deepa", Version: "1", Path: path, SHA256: HelloDeepaSHA256}
}

// HelloDeepaSHA256 is the pinned digest of hello_deepa.onnx.
const HelloDeepaSHA256 = "67ac357640e53b9d4713433a8ab48be4333f7cb21d6816406be7660ebe6d7614"
