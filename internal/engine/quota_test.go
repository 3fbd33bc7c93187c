package engine_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// scripted is a Go agent whose step is a function of the tick; it ignores
// every error the context returns, as a careless agent would.
type scripted struct{ step func(ctx agent.Context) }

func (scripted) Init(agent.Context) error                   { return nil }
func (scripted) Receive(agent.Context, agent.Message) error { return nil }
func (s scripted) Step(ctx agent.Context) error {
	s.step(ctx)
	return nil
}
func (scripted) Shutdown(agent.Context) error { return nil }

// quotaRun runs agent "a" doing step, beside an idle member "m" of channel
// "c", for ticks ticks under quotas q, and returns each tick's failure
// reason for "a" ("" when it did not fail).
func quotaRun(t *testing.T, q engine.Quotas, ticks int, step func(ctx agent.Context)) []string {
	t.Helper()
	e, err := engine.New(engine.Config{Quotas: q, Groups: []engine.GroupSpec{{Name: "g", Directive: engine.Restart, MaxRestarts: 100, Window: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "a", Group: "g"}})
	mustApply(t, e, engine.Command{Spawn: &engine.SpawnSpec{ID: "m"}})
	mustApply(t, e, engine.Command{Join: &engine.Membership{Agent: "m", Channel: "c"}})
	ref := engine.NewReference(e, func(a *engine.Agent) (agent.Agent, error) {
		if a.ID == "m" {
			return scripted{func(agent.Context) {}}, nil
		}
		return scripted{step}, nil
	}, 0)
	var reasons []string
	for range ticks {
		_, ready := ref.Step()
		reason := ""
		for _, ev := range ready.Events {
			if ev.Kind == engine.EventFailed {
				if ev.Agent != "a" {
					t.Fatalf("%s failed: %s", ev.Agent, ev.Detail)
				}
				reason = ev.Detail
			}
		}
		reasons = append(reasons, reason)
	}
	return reasons
}

// TestQuotas: going over a quota fails the agent at that tick with the
// quota named, even when the agent ignores the error; staying at the limit
// does not.
func TestQuotas(t *testing.T) {
	q := engine.Quotas{ActionsPerTick: 10, BytesPerTick: 100, DeliveriesPerTick: 5, LogLineBytes: 8, StateRegions: 3, StateBytes: 30, Channels: 2}
	cases := []struct {
		name string
		step func(ctx agent.Context)
		want []string // per tick: the quota named, or ""
	}{
		{"actions at the limit", func(ctx agent.Context) {
			for range 10 {
				ctx.Log(agent.LevelInfo, "x")
			}
		}, []string{"", ""}},
		{"actions over", func(ctx agent.Context) {
			for range 11 {
				ctx.Log(agent.LevelInfo, "x")
			}
		}, []string{"actions_per_tick", "actions_per_tick"}},
		{"bytes", func(ctx agent.Context) {
			ctx.Send("m", make([]byte, 60))
			ctx.Send("m", make([]byte, 60))
		}, []string{"bytes_per_tick"}},
		{"log line", func(ctx agent.Context) { ctx.Log(agent.LevelWarn, "123456789") }, []string{"log_line_bytes"}},
		{"deliveries", func(ctx agent.Context) {
			for range 6 {
				ctx.Send("m", nil)
			}
		}, []string{"deliveries_per_tick"}},
		{"publish deliveries", func(ctx agent.Context) {
			for range 6 {
				ctx.Publish("c", nil) // one member: one delivery each
			}
		}, []string{"deliveries_per_tick"}},
		{"regions accumulate", func(ctx agent.Context) {
			ctx.WriteState(fmt.Sprintf("r%d", ctx.Tick()), []byte("v"))
		}, []string{"", "", "", "state_regions"}},
		{"rewriting a region is not a new one", func(ctx agent.Context) {
			for i := range 3 {
				ctx.WriteState(fmt.Sprintf("r%d", i), make([]byte, 10))
			}
		}, []string{"", "", ""}},
		{"state bytes", func(ctx agent.Context) {
			ctx.WriteState("r", make([]byte, 10*int(ctx.Tick()+1)))
		}, []string{"", "", "", "state_bytes"}},
		{"channels accumulate", func(ctx agent.Context) {
			ctx.Join(fmt.Sprintf("c%d", ctx.Tick()))
		}, []string{"", "", "channels"}},
		{"leaving makes room", func(ctx agent.Context) {
			ctx.Leave(fmt.Sprintf("c%d", ctx.Tick()-1))
			ctx.Join(fmt.Sprintf("c%d", ctx.Tick()))
		}, []string{"", "", "", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := quotaRun(t, q, len(c.want), c.step)
			for i, want := range c.want {
				if want == "" {
					if got[i] != "" {
						t.Errorf("t%d: failed: %s", i, got[i])
					}
				} else if !strings.Contains(got[i], "quota exceeded") || !strings.Contains(got[i], "quotas."+want) {
					t.Errorf("t%d: reason %q, want it to name quotas.%s", i, got[i], want)
				}
			}
		})
	}
	// Unenforced: the same agents run without failing.
	off := quotaRun(t, engine.Quotas{Unenforced: true, ActionsPerTick: 1}, 2, func(ctx agent.Context) {
		for range 5000 {
			ctx.Log(agent.LevelInfo, strings.Repeat("x", 10000))
		}
	})
	if off[0] != "" || off[1] != "" {
		t.Fatalf("unenforced quotas failed the agent: %q", off)
	}
}

// TestQuotaErrors: the error a Go agent sees is agent.ErrQuota, and the
// action is not recorded.
func TestQuotaErrors(t *testing.T) {
	o := engine.NewOutbox(&engine.Agent{ID: "a"}, 0)
	for range engine.DefaultActionsPerTick {
		if err := o.Send("b", nil); err != nil {
			t.Fatal(err)
		}
	}
	err := o.Send("b", nil)
	if !errors.Is(err, agent.ErrQuota) || o.Violation() != err {
		t.Fatalf("send over the quota = %v (violation %v)", err, o.Violation())
	}
	if n := len(o.Report().Actions); n != engine.DefaultActionsPerTick {
		t.Fatalf("%d actions recorded", n)
	}
	o.Reset(1)
	if o.Violation() != nil || o.Send("b", nil) != nil {
		t.Fatal("a new tick starts without the violation")
	}
	if err := (engine.Quotas{StateBytes: engine.MaxQuota + 1}).Validate(); err == nil {
		t.Fatal("a quota over MaxQuota is accepted")
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", engine.MaxEventDetail)
	for _, s := range []string{"short", "bad \xff utf-8", long, long + "\xff"} {
		c := engine.Clip(s)
		if len(c) > engine.MaxEventDetail || !utf8.ValidString(c) {
			t.Errorf("Clip(%.20q…) = %d bytes, valid %v", s, len(c), utf8.ValidString(c))
		}
		if len(s) > engine.MaxEventDetail && !strings.HasSuffix(c, fmt.Sprintf("(%d bytes)", len(s))) {
			t.Errorf("Clip of %d bytes does not say how long it was: …%q", len(s), c[len(c)-20:])
		}
	}
	if engine.Clip("short") != "short" {
		t.Error("Clip changed a short text")
	}
}
