package host_test

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
)

// greeter answers every message with a greeting and notes what it got.
// Agents run in parallel, so each keeps its own notes; the example prints
// them after the ticks.
type greeter struct{ got []string }

func (g *greeter) Init(ctx agent.Context) error { return ctx.Join("lobby") }
func (g *greeter) Receive(ctx agent.Context, m agent.Message) error {
	g.got = append(g.got, fmt.Sprintf("%s %s got %q from %q", ctx.Tick(), ctx.Self(), m.Payload, m.From))
	if m.From == "" { // an external input: greet the lobby
		return ctx.Publish("lobby", []byte("hello from "+ctx.Self()))
	}
	return nil
}
func (g *greeter) Step(agent.Context) error     { return nil }
func (g *greeter) Shutdown(agent.Context) error { return nil }

func Example() {
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	greeters := map[string]*greeter{}
	h, _ := host.New(host.Options{
		Seed: 7,
		Kinds: map[string]host.Factory{"greeter": func(id string, _ []byte) (agent.Agent, error) {
			greeters[id] = &greeter{} // factories run on the agents' workers, one at a time here
			return greeters[id], nil
		}},
		Logger: quiet,
	})
	defer h.Close()
	for _, id := range []string{"ann", "bob", "cat"} {
		_ = h.Spawn(host.AgentSpec{ID: id, Kind: "greeter"})
	}
	_, _ = h.Step()                      // t0: everyone joins the lobby
	_ = h.Send("bob", []byte("wake up")) // delivered at t1
	for range 2 {
		_, _ = h.Step()
	}
	var notes []string
	for _, g := range greeters {
		notes = append(notes, g.got...)
	}
	slices.Sort(notes) // by tick, then agent
	fmt.Println(strings.Join(notes, "\n"))
	fmt.Println("members:", h.Members("lobby"))
	// Output:
	// t1 bob got "wake up" from ""
	// t2 ann got "hello from bob" from "bob"
	// t2 cat got "hello from bob" from "bob"
	// members: [ann bob cat]
}
