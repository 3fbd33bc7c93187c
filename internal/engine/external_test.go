package engine_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

func send(to, p string) engine.Action {
	return engine.Action{Kind: engine.ActSend, Target: to, Payload: []byte(p)}
}

func publish(ch, p string) engine.Action {
	return engine.Action{Kind: engine.ActPublish, Target: ch, Payload: []byte(p)}
}

// externalTick runs one tick of a (priority 0), b (priority 5), c
// (priority 0, fails) and m (a member of ext and news) with the given
// config, after a tick in which m joins; it returns the second tick's
// outcome and the deliveries of the third.
func externalTick(t *testing.T, cfg engine.Config) (engine.Ready, map[string][]string) {
	t.Helper()
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []engine.SpawnSpec{{ID: "a"}, {ID: "b", Priority: 5}, {ID: "c"}, {ID: "m"}} {
		mustApply(t, e, engine.Command{Spawn: &s})
	}
	mustApply(t, e, engine.Command{Join: &engine.Membership{Agent: "m", Channel: "ext"}})
	mustApply(t, e, engine.Command{Join: &engine.Membership{Agent: "m", Channel: "news"}})
	p := e.Begin()
	e.Commit(p, make([]engine.Report, len(p.Agents)))
	p = e.Begin() // b, a, c, m
	reports := []engine.Report{
		{Actions: []engine.Action{send("out", "b1"), publish("ext", "b2"), send("m", "b3"), send("nobody", "b4")}},
		{Actions: []engine.Action{publish("news", "a1"), publish("ext", "a2"), send("out2", "a3"), send("out", "a4")}},
		{Failed: true, Reason: "boom", Actions: []engine.Action{send("out", "c1"), publish("ext", "c2")}},
		{Actions: []engine.Action{publish("ext", "m1")}},
	}
	for i := range reports {
		reports[i].Digest = engine.ActionsDigest(reports[i].Actions)
	}
	ready := e.Commit(p, reports)
	next := e.Begin()
	got := map[string][]string{}
	for i, a := range next.Agents {
		for _, m := range next.Deliveries[i] {
			got[a.ID] = append(got[a.ID], fmt.Sprintf("%s/%s %s", m.From, m.Channel, m.Payload))
		}
	}
	return ready, got
}

// TestExternalOutputs: publishes on external channels are delivered to
// their members and copied to Ready.Outputs; sends to external addresses
// go to Ready.Outputs instead of being dead letters; both in canonical
// order, and none from a failed agent. Without the config, the same run
// has the same agent digests, and only those sends turn into dead letters.
func TestExternalOutputs(t *testing.T) {
	cfg := engine.Config{External: engine.External{Channels: []string{"ext"}, Addresses: []string{"out", "out2"}}}
	ready, next := externalTick(t, cfg)
	var outs []string
	for _, o := range ready.Outputs {
		outs = append(outs, fmt.Sprintf("%s ch=%s to=%s %s", o.From, o.Channel, o.To, o.Payload))
	}
	want := []string{
		"b ch= to=out b1", "b ch=ext to= b2",
		"a ch=ext to= a2", "a ch= to=out2 a3", "a ch= to=out a4",
		"m ch=ext to= m1",
	}
	if !slices.Equal(outs, want) {
		t.Errorf("outputs\n%q\nwant\n%q", outs, want)
	}
	if ready.DeadLetters != 1 {
		t.Errorf("%d dead letters, want 1 (to nobody)", ready.DeadLetters)
	}
	if w := []string{"b/ext b2", "b/ b3", "a/news a1", "a/ext a2"}; !slices.Equal(next["m"], w) {
		t.Errorf("m got %q, want %q", next["m"], w)
	}

	plain, plainNext := externalTick(t, engine.Config{})
	if len(plain.Outputs) != 0 || plain.DeadLetters != 4 {
		t.Errorf("without external config: %d outputs, %d dead letters (want 0 and 4)", len(plain.Outputs), plain.DeadLetters)
	}
	if !slices.Equal(plain.AgentDigests, ready.AgentDigests) || !slices.Equal(plainNext["m"], next["m"]) {
		t.Error("the external config changed agent digests or deliveries")
	}
}

// TestExternalConfig: external names are validated, and an agent may not
// take an external address as its id.
func TestExternalConfig(t *testing.T) {
	for _, c := range []struct {
		x    engine.External
		want string
	}{
		{engine.External{Channels: []string{"bad name"}}, `external channel "bad name"`},
		{engine.External{Addresses: []string{""}}, "empty external address"},
		{engine.External{Addresses: []string{"x", "x"}}, `external address "x" is declared twice`},
	} {
		_, err := engine.New(engine.Config{External: c.x})
		if !errors.Is(err, engine.ErrBadCommand) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c.x, err)
		}
	}
	e, err := engine.New(engine.Config{External: engine.External{Channels: []string{"ext"}, Addresses: []string{"out"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Apply(engine.Command{Spawn: &engine.SpawnSpec{ID: "out"}})
	if !errors.Is(err, engine.ErrBadCommand) || !strings.Contains(err.Error(), `"out"`) || !strings.Contains(err.Error(), "external address") {
		t.Errorf("spawning an agent named like an address: %v", err)
	}
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "ext"}}) // channels are another namespace
}

// TestExternalQuotas: a send to an external address is one delivery, and a
// publish on an external channel one more than its members.
func TestExternalQuotas(t *testing.T) {
	q := engine.Quotas{DeliveriesPerTick: 3}
	cfg := engine.Config{Quotas: q, External: engine.External{Channels: []string{"ext"}, Addresses: []string{"out"}},
		Groups: []engine.GroupSpec{{Name: "g", Directive: engine.Restart, MaxRestarts: 100, Window: 100}}}
	for _, c := range []struct {
		name string
		step func(ctx agent.Context)
		fail bool
		outs int
	}{
		{"three sends", func(ctx agent.Context) {
			for range 3 {
				ctx.Send("out", nil)
			}
		}, false, 3},
		{"four sends", func(ctx agent.Context) {
			for range 4 {
				ctx.Send("out", nil)
			}
		}, true, 0},
		{"a publish (to m and the outside) and a send", func(ctx agent.Context) {
			ctx.Publish("ext", nil)
			ctx.Send("out", nil)
		}, false, 2},
		{"two publishes", func(ctx agent.Context) {
			ctx.Publish("ext", nil)
			ctx.Publish("ext", nil)
		}, true, 0},
	} {
		e, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "a", Group: "g"}})
		mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "m"}})
		mustApply(t, e, engine.Command{Join: &engine.Membership{Agent: "m", Channel: "ext"}})
		ref := engine.NewReference(e, func(a *engine.Agent) (agent.Agent, error) {
			if a.ID == "m" {
				return scripted{func(agent.Context) {}}, nil
			}
			return scripted{c.step}, nil
		}, 0)
		_, ready := ref.Step()
		failed := len(ready.Events) > 0 && ready.Events[0].Kind == engine.EventFailed
		if failed != c.fail || failed && !strings.Contains(ready.Events[0].Detail, "deliveries_per_tick") {
			t.Errorf("%s: events %+v", c.name, ready.Events)
		}
		if len(ready.Outputs) != c.outs {
			t.Errorf("%s: outputs %+v", c.name, ready.Outputs)
		}
	}
}
