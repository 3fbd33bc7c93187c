//go:build wasip1

// Command goclassifier is classifier.c in Go: every step it classifies one
// measurement (four features from its random stream) with model "flowers"
// version "1" through the host's model manager, and publishes each result's
// winning class on channel "labels" as one byte.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o goclassifier.wasm ./examples/wasm/goclassifier
package main

import (
	"github.com/lockstep-rt/lockstep/modelactor/tensor"
	"github.com/lockstep-rt/lockstep/sdk/go/lockstep"
)

type agent struct{ lockstep.Base }

func feature(ctx *lockstep.Context) float32 {
	return float32(ctx.Random()>>40)/(1<<23) - 1
}

func (a *agent) Step(ctx *lockstep.Context) error {
	x := []float32{feature(ctx), feature(ctx), feature(ctx), feature(ctx)}
	_, err := ctx.Infer("flowers", "1", tensor.FromFloat32([]int64{1, 4}, x))
	return err
}

func (a *agent) Receive(ctx *lockstep.Context, msg lockstep.Message) error {
	if !msg.Inference() {
		return nil
	}
	r, err := msg.Result()
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		ctx.Log(lockstep.LevelWarn, "inference failed: "+err.Error())
		return nil
	}
	scores, err := r.Outputs[0].Float32s()
	if err != nil {
		return err
	}
	best := 0
	for k := range scores {
		if scores[k] > scores[best] {
			best = k
		}
	}
	return ctx.Publish("labels", []byte{byte(best)})
}

func init() { lockstep.Register(&agent{}) }

// main must exist but never runs: a c-shared module only runs init functions.
func main() {}
