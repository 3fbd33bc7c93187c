// Command configured is a test agent of the Go SDK: it reads its config
// (the topology's config:) with lockstep.Config in Init and writes it to
// its state region "config" at every step. Grants: state.write, wasi.
package main

import "github.com/lockstep-rt/lockstep/sdk/go/lockstep"

type configured struct {
	lockstep.Base
	config []byte
}

func (c *configured) Init(*lockstep.Context) error {
	c.config = lockstep.Config()
	return nil
}

func (c *configured) Step(ctx *lockstep.Context) error {
	return ctx.StateWrite("config", c.config)
}

func init() { lockstep.Register(&configured{}) }

func main() {}
