package modelactor_test

import (
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/internal/modeltest"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fakeBackend opens sessions that have no inputs, one output with a
// symbolic leading dimension, and either answer one row or panic: a stand-in
// for a misbehaving backend, beside the ONNX Runtime tests.
type fakeBackend struct{ panics bool }

func (f fakeBackend) Open([]byte, modelactor.SessionOptions) (modelactor.Session, error) {
	return fakeSession(f), nil
}

type fakeSession struct{ panics bool }

func (fakeSession) Inputs() []modelactor.TensorInfo { return nil }
func (fakeSession) Outputs() []modelactor.TensorInfo {
	return []modelactor.TensorInfo{{Name: "y", DType: tensor.Float32, Shape: []int64{-1}}}
}
func (s fakeSession) Run([]tensor.Tensor) ([]tensor.Tensor, error) {
	if s.panics {
		panic("backend bug")
	}
	return []tensor.Tensor{tensor.FromFloat32([]int64{1}, []float32{42})}, nil
}
func (fakeSession) Close() error { return nil }

// TestBackendMisbehaves: requests for a model without inputs are not
// batched (there is no row count to split by), and a backend that panics
// gives every request of the tick a failed answer instead of leaving the
// caller waiting; the manager goes on.
func TestBackendMisbehaves(t *testing.T) {
	for _, panics := range []bool{false, true} {
		sys := actor.NewActorSystem()
		model := modeltest.Write(t, t.TempDir(), "noinput", []byte("fake"))
		l := logrus.New()
		l.SetOutput(testWriter{t})
		m, err := modelactor.Start(sys, modelactor.Config{Models: []modelactor.Model{model}, Backend: fakeBackend{panics}, Logger: l})
		if err != nil {
			t.Fatal(err)
		}
		reqs := []modelactor.Request{{Request: 0, Model: "noinput", Input: tensor.EncodeList()}, {Request: 1, Model: "noinput", Input: tensor.EncodeList()}}
		for range 2 {
			for i, r := range m.Run(reqs) {
				switch {
				case panics && (r.Status != tensor.RunFailed || !strings.Contains(r.Error, "backend bug")):
					t.Errorf("panicking backend, request %d: %+v", i, r)
				case !panics && (r.Err() != nil || r.Flags&tensor.Batched != 0 || len(r.Outputs) != 1):
					t.Errorf("request %d: %+v", i, r)
				}
			}
		}
		m.Close()
		sys.Shutdown()
	}
}
