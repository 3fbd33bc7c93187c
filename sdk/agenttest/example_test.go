package agenttest_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/mailbox"
	"github.com/lockstep-rt/lockstep/sdk/agenttest"
)

// counter counts the messages it receives; each step it publishes the
// count on "counts", keeps it in state region "count", and answers every
// message from an agent with "ack".
type counter struct{ n int }

func (c *counter) Init(agent.Context) error { return nil }

func (c *counter) Receive(ctx agent.Context, m agent.Message) error {
	c.n++
	if m.From != "" && m.Channel == "" {
		return ctx.Send(m.From, []byte("ack"))
	}
	return nil
}

func (c *counter) Step(ctx agent.Context) error {
	count := []byte(strconv.Itoa(c.n))
	if err := ctx.WriteState("count", count); err != nil {
		return err
	}
	return ctx.Publish("counts", count)
}

func (c *counter) Shutdown(agent.Context) error { return nil }

func newCounter(string, []byte) (agent.Agent, error) { return &counter{}, nil }

// A unit test calls the agent's methods with a recording Context.
func ExampleNewContext() {
	c := &counter{}
	ctx := agenttest.NewContext("c1", 0)
	_ = c.Receive(ctx, agent.Message{From: "peer", Payload: []byte("hi")})
	_ = c.Step(ctx)
	fmt.Printf("sent %q\n", ctx.Sent())
	fmt.Printf("published %q\n", ctx.Published())
	fmt.Printf("state %q\n", ctx.State())

	// The barrier: the state written at t0 is what readers see at t1.
	_, ok := ctx.ReadState("c1", "count")
	ctx.Reset(1)
	v, _ := ctx.ReadState("c1", "count")
	fmt.Printf("at %s: count %q (before the barrier: %v)\n", ctx.Tick(), v, ok)
	// Output:
	// sent [{"peer" "ack"}]
	// published [{"counts" "1"}]
	// state map["count":"1"]
	// at t1: count "1" (before the barrier: false)
}

// A harness runs the agent in a real host, with inputs from outside and
// from other agents, and records each tick.
func ExampleRun() {
	t := &testing.T{} // in a test, the test's own
	h := agenttest.Run(t, agenttest.Agent{Kind: "counter", Factory: newCounter, Channels: []string{"news"}}, 3,
		agenttest.Input{Tick: 0, Payload: []byte("hello")},                                 // an external input
		agenttest.Input{Tick: 2, From: "peer", Payload: []byte("hi")},                      // sent by agent "peer" at t1
		agenttest.Input{Tick: 2, From: "press", Channel: "news", Payload: []byte("extra")}, // published at t1
	)
	defer h.Close()
	fmt.Print(h)
	count, _ := h.State("count")
	fmt.Printf("count %s\n", count)
	// Output:
	// t0
	//   <- input "hello"
	//   state count "1"
	//   publish counts "1"
	// t1
	//   state count "1"
	//   publish counts "1"
	// t2
	//   <- peer "hi"
	//   <- press on news "extra"
	//   send peer "ack"
	//   state count "3"
	//   publish counts "3"
	// count 3
}

// collector is a user's own protoactor actor: it collects strings and
// prints them at the end of each tick.
type collector struct{ got []string }

func (c *collector) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case string:
		c.got = append(c.got, m)
	case mailbox.EndOfTick:
		fmt.Printf("t%d: %v\n", m.Tick, c.got)
		c.got = nil
	}
}

// A Dispatcher runs the actor on the test's goroutine: Tick releases the
// tick's messages in canonical order and returns when all have run.
func ExampleDispatcher() {
	d := agenttest.NewDispatcher()
	defer d.Close()
	pid := d.Spawn(actor.PropsFromProducer(func() actor.Actor { return &collector{} }))

	d.Send(pid, mailbox.Key{Tick: 1, Rank: 2}, "c")
	d.Send(pid, mailbox.Key{Tick: 0, Rank: 1}, "b")
	d.Send(pid, mailbox.Key{Tick: 1, Rank: 0}, "a")
	d.Send(pid, mailbox.Key{Tick: 0, Rank: 0}, "a")
	d.Tick()
	d.Tick()
	// Output:
	// t0: [a b]
	// t1: [a c]
}
