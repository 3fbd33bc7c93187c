//go:build cgo

// Command gpucheck is the device check scripts/gpu-check.sh runs on a
// machine with an NVIDIA GPU: it runs a convolution through the model
// manager on CUDA and on the CPU and checks that they agree within a
// tolerance, then records a run of Go agents inferring on CUDA, deletes the
// model file and verifies the replay from the recorded outputs. It exits 1
// with the reason on the first failure, and never runs in the tests (every
// test is CPU-only).
//
//	gpucheck [-lib libonnxruntime.so] [-device 0] [-rtol 1e-3] [-atol 1e-4]
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/modelactor/onnx"
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// The model: a 3×3 convolution of 8 to 16 channels on 32×32 planes.
var conv = onnx.NewConv(8, 16, 3, 32, 32, 5)

func main() {
	lib := flag.String("lib", "", "the ONNX Runtime library with its CUDA provider beside it (default $"+modelactor.LibraryEnv+")")
	device := flag.Int("device", 0, "the CUDA device id")
	rtol := flag.Float64("rtol", 1e-3, "relative tolerance of CUDA against the CPU")
	atol := flag.Float64("atol", 1e-4, "absolute tolerance of CUDA against the CPU")
	ticks := flag.Int("ticks", 20, "ticks of the recorded run")
	flag.Parse()
	if err := run(*lib, *device, *rtol, *atol, *ticks); err != nil {
		fmt.Fprintf(os.Stderr, "gpucheck: FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("gpucheck: PASS")
}

func run(lib string, device int, rtol, atol float64, ticks int) error {
	dir, err := os.MkdirTemp("", "gpucheck")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := conv.Model().Encode()
	path := filepath.Join(dir, "conv.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	gpu := modelactor.Model{ID: "conv", Version: "1", Path: path, SHA256: hex.EncodeToString(sum[:]), Device: modelactor.DeviceCUDA, CUDADevice: device, Eager: true}
	cpu := gpu
	cpu.ID, cpu.Device, cpu.CUDADevice = "conv-cpu", modelactor.DeviceCPU, 0
	if err := agreement(lib, gpu, cpu, rtol, atol); err != nil {
		return err
	}
	return replay(lib, gpu, ticks)
}

func logger() *logrus.Logger {
	l := logrus.New()
	l.SetLevel(logrus.WarnLevel)
	return l
}

// agreement runs gpu and cpu (the same file) on seeded inputs and compares
// their outputs element by element.
func agreement(lib string, gpu, cpu modelactor.Model, rtol, atol float64) error {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	m, err := modelactor.Start(sys, modelactor.Config{Models: []modelactor.Model{gpu, cpu}, Library: lib, Logger: logger()})
	if err != nil {
		return err
	}
	defer m.Close()
	for _, mt := range m.Metrics() {
		if mt.ID == gpu.ID && (mt.Device != modelactor.DeviceCUDA || mt.Fallback != "") {
			return fmt.Errorf("the model runs on %s, not on CUDA device %d: %s (is libonnxruntime_providers_cuda.so beside the library, and are CUDA 12 and cuDNN 9 installed?)", mt.Device, gpu.CUDADevice, mt.Fallback)
		}
	}
	var worst, worstAt float64
	for seed := range uint64(8) {
		r := onnx.NewRand(seed)
		x := make([]float32, 4*conv.InC*conv.H*conv.W)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		in := tensor.FromFloat32([]int64{4, int64(conv.InC), int64(conv.H), int64(conv.W)}, x)
		g, err := infer(m, gpu.ID, in)
		if err != nil {
			return err
		}
		c, err := infer(m, cpu.ID, in)
		if err != nil {
			return err
		}
		if len(g) != len(c) {
			return fmt.Errorf("CUDA gave %d values, the CPU %d", len(g), len(c))
		}
		for i := range g {
			d := math.Abs(float64(g[i]) - float64(c[i]))
			if d > atol+rtol*math.Abs(float64(c[i])) {
				return fmt.Errorf("input %d, element %d: CUDA %v, CPU %v: |diff| %g is over %g + %g×|cpu|", seed, i, g[i], c[i], d, atol, rtol)
			}
			if d > worst {
				worst, worstAt = d, float64(c[i])
			}
		}
	}
	fmt.Printf("gpucheck: CUDA agrees with the CPU on 8 inputs of %d values: largest |diff| %.3g (at a CPU value of %.3g), tolerance %g + %g×|cpu|\n",
		4*conv.OutC*conv.H*conv.W, worst, worstAt, atol, rtol)
	return nil
}

func infer(m *modelactor.Manager, id string, in tensor.Tensor) ([]float32, error) {
	out, err := m.Infer(id, "", in)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", id, err)
	}
	return out[0].Float32s()
}

// asker is a Go agent that asks model "conv" about a seeded input every
// tick and keeps each answer in its state, so answers shape the digest.
type asker struct{}

func (asker) Init(agent.Context) error { return nil }
func (asker) Receive(ctx agent.Context, m agent.Message) error {
	if m.From != agent.ModelSender {
		return fmt.Errorf("unexpected message from %q", m.From)
	}
	r, err := tensor.DecodeResult(m.Payload)
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	return ctx.WriteState("last", m.Payload)
}
func (asker) Step(ctx agent.Context) error {
	x := make([]float32, conv.InC*conv.H*conv.W)
	for i := range x {
		x[i] = float32(ctx.Rand().IntN(2000)-1000) / 500
	}
	_, err := ctx.Infer("conv", "", tensor.EncodeList(tensor.FromFloat32([]int64{1, int64(conv.InC), int64(conv.H), int64(conv.W)}, x)))
	return err
}
func (asker) Shutdown(agent.Context) error { return nil }

var kinds = map[string]host.Factory{"asker": func(string, []byte) (agent.Agent, error) { return asker{}, nil }}

// replay records ticks of agents inferring with model (on CUDA, so its
// outputs are recorded), deletes the model file and verifies the log.
func replay(lib string, model modelactor.Model, ticks int) error {
	var log bytes.Buffer
	h, err := host.New(host.Options{Seed: 7, Kinds: kinds, Logger: logger(), Record: &log,
		Models: []host.Model{model}, Inference: host.InferenceConfig{Library: lib}})
	if err != nil {
		return err
	}
	for i := range 3 {
		if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "asker"}); err != nil {
			h.Close()
			return err
		}
	}
	for range ticks {
		r, err := h.Step()
		if err != nil {
			h.Close()
			return err
		}
		if len(r.Events) > 0 {
			h.Close()
			return fmt.Errorf("%s: an agent failed: %+v", r.Tick, r.Events)
		}
	}
	for _, mt := range h.Models().Metrics() {
		if mt.Device != modelactor.DeviceCUDA {
			h.Close()
			return fmt.Errorf("the recorded run's model ran on %s: %s", mt.Device, mt.Fallback)
		}
	}
	h.Close()
	if err := os.Remove(model.Path); err != nil {
		return err
	}
	res, err := host.Verify(bytes.NewReader(log.Bytes()), host.ReplayOptions{Kinds: kinds, Logger: logger(), Inference: host.InferenceConfig{Library: lib}})
	if err != nil {
		return fmt.Errorf("replay without the model file: %w", err)
	}
	if !res.Identical() || res.Ticks != uint64(ticks) {
		return fmt.Errorf("replay without the model file: %d ticks, identical %v: %+v", res.Ticks, res.Identical(), res)
	}
	fmt.Printf("gpucheck: a %d-tick run of 3 agents inferring on CUDA (%d bytes of replay log) replays identically without the model file\n", ticks, log.Len())
	return nil
}
