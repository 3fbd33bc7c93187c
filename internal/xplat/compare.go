package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// ticks is what a replay log says about a run: every tick's record, in
// order, and whether the log ended cleanly.
type ticks struct {
	Records []*replaylog.TickDigest
	// Complete: the log has its End record.
	Complete bool
	// Err is set when the log cannot be read to its end (a torn or corrupt
	// tail: Records holds what came before).
	Err error
}

// readTicks reads the tick records of the replay log at path.
func readTicks(path string) ticks {
	_, recs, err := replaylog.ReadFile(path)
	t := ticks{Err: err}
	for _, r := range recs {
		switch k := r.Kind.(type) {
		case *replaylog.Record_Tick:
			t.Records = append(t.Records, k.Tick)
		case *replaylog.Record_End:
			t.Complete = true
		}
	}
	return t
}

// Final is the digest after the last tick, in hex ("" when there is none).
func (t ticks) Final() string {
	if len(t.Records) == 0 {
		return ""
	}
	return hex.EncodeToString(t.Records[len(t.Records)-1].Digest)
}

// divergence is where a run first differs from the reference run.
type divergence struct {
	// Tick is the first tick whose digest differs, or the first tick one
	// of the two runs lacks.
	Tick clock.Tick
	// Agent is the first agent, in canonical order, whose report differs
	// at Tick ("" when the difference is elsewhere): its id, or "agent #i"
	// (its place in canonical order, from 0) when the log has no ids.
	Agent string
	// Detail says what differs, with the events of Agent in both runs.
	Detail string
}

// Short is the divergence as a table cell.
func (d *divergence) Short() string {
	s := "diverges at " + d.Tick.String()
	if d.Agent != "" {
		s += " (" + d.Agent + ")"
	}
	return s
}

// compare finds the first tick where got differs from ref: its digest,
// or a tick one of them lacks. nil: every tick identical.
func compare(ref, got []*replaylog.TickDigest) *divergence {
	for i := 0; i < len(ref) || i < len(got); i++ {
		switch {
		case i >= len(got):
			return &divergence{Tick: clock.Tick(ref[i].Tick), Detail: fmt.Sprintf("the run ends after %d ticks, the reference has %d", len(got), len(ref))}
		case i >= len(ref):
			return &divergence{Tick: clock.Tick(got[i].Tick), Detail: fmt.Sprintf("the run has %d ticks, the reference only %d", len(got), len(ref))}
		}
		r, g := ref[i], got[i]
		if r.Tick != g.Tick {
			return &divergence{Tick: clock.Tick(r.Tick), Detail: fmt.Sprintf("its %d. tick record is %s", i+1, clock.Tick(g.Tick))}
		}
		if bytes.Equal(r.Digest, g.Digest) {
			continue
		}
		return explain(r, g)
	}
	return nil
}

// explain says how two records of the same tick with different digests
// differ: the first agent whose report differs and the events of both (of
// that agent, or all when the log has no agent ids).
func explain(r, g *replaylog.TickDigest) *divergence {
	d := &divergence{Tick: clock.Tick(r.Tick)}
	id := "" // the agent whose events are shown; "": all
	switch {
	case len(r.AgentDigests) != len(g.AgentDigests):
		d.Detail = fmt.Sprintf("%d agents ran in the reference, %d here", len(r.AgentDigests), len(g.AgentDigests))
	case r.DeadLetters != g.DeadLetters:
		d.Detail = fmt.Sprintf("%d dead letters in the reference, %d here", r.DeadLetters, g.DeadLetters)
	default:
		d.Detail = "the tick digest differs: events, inference results or history before this tick differ"
		for i := range r.AgentDigests {
			if r.AgentDigests[i] == g.AgentDigests[i] {
				continue
			}
			d.Agent = fmt.Sprintf("agent #%d", i)
			if i < len(r.Agents) {
				d.Agent, id = r.Agents[i], r.Agents[i]
			}
			d.Detail = fmt.Sprintf("its report differs (reference %016x, here %016x)", r.AgentDigests[i], g.AgentDigests[i])
			break
		}
	}
	re, ge := events(r, id), events(g, id)
	if re != ge {
		d.Detail += fmt.Sprintf("; reference: %s; here: %s", re, ge)
	}
	return d
}

// events lists the events of agent ("": all) in one tick's record.
func events(t *replaylog.TickDigest, agent string) string {
	var parts []string
	for _, e := range t.Events {
		if agent != "" && e.Agent != agent {
			continue
		}
		s := strings.ToLower(e.Kind.String())
		if agent == "" && e.Agent != "" {
			s += " " + e.Agent
		}
		if e.Detail != "" {
			s += fmt.Sprintf(" %q", e.Detail)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no events"
	}
	return strings.Join(parts, ", ")
}
