package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// tickRecords makes n tick records whose digests are the tick number and
// whose agents report 1, 2, 3.
func tickRecords(n int) []*replaylog.TickDigest {
	var out []*replaylog.TickDigest
	for i := range n {
		out = append(out, &replaylog.TickDigest{Tick: uint64(i), Digest: bytes.Repeat([]byte{byte(i)}, 32), AgentDigests: []uint64{1, 2, 3}})
	}
	return out
}

func TestCompare(t *testing.T) {
	ref := tickRecords(5)
	if d := compare(ref, tickRecords(5)); d != nil {
		t.Fatalf("identical runs: %+v", d)
	}

	got := tickRecords(5)
	got[3].Digest = bytes.Repeat([]byte{0xff}, 32)
	got[3].AgentDigests[1] = 7
	got[3].Events = []*replaylog.Event{{Kind: replaylog.Event_FAILED, Agent: "b", Detail: "stack overflow"}}
	ref[3].Events = []*replaylog.Event{{Kind: replaylog.Event_FAILED, Agent: "b", Detail: "call depth"}}
	d := compare(ref, got)
	if d == nil || d.Tick != 3 || d.Agent != "agent #1" || d.Short() != "diverges at t3 (agent #1)" {
		t.Fatalf("divergence at t3: %+v", d)
	}
	if !strings.Contains(d.Detail, `reference: failed b "call depth"; here: failed b "stack overflow"`) {
		t.Errorf("detail lacks the events: %s", d.Detail)
	}
	// With agent ids in the log, the divergence names the agent.
	ref[3].Agents, got[3].Agents = []string{"a", "b", "c"}, []string{"a", "b", "c"}
	if d := compare(ref, got); d == nil || d.Agent != "b" || !strings.Contains(d.Detail, `reference: failed "call depth"`) {
		t.Errorf("named agent: %+v", d)
	}

	if d := compare(tickRecords(5), tickRecords(3)); d == nil || d.Tick != 3 || !strings.Contains(d.Detail, "ends after 3 ticks") {
		t.Errorf("shorter run: %+v", d)
	}
	if d := compare(tickRecords(3), tickRecords(4)); d == nil || d.Tick != 3 || !strings.Contains(d.Detail, "only 3") {
		t.Errorf("longer run: %+v", d)
	}
}

func TestReadTicks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.replay")
	var buf bytes.Buffer
	w, err := replaylog.NewWriter(&buf, &replaylog.Header{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range tickRecords(3) {
		if err := w.Append(&replaylog.Record{Kind: &replaylog.Record_Tick{Tick: td}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got := readTicks(path)
	if got.Err != nil || len(got.Records) != 3 || got.Complete || got.Final() != strings.Repeat("02", 32) {
		t.Fatalf("readTicks: %+v", got)
	}
	if d := compare(tickRecords(3), got.Records); d != nil {
		t.Errorf("compare after reading: %+v", d)
	}
}

func TestPick(t *testing.T) {
	got, err := pick("platforms", "riscv64-interpreter, amd64-compiler", platforms, func(p *platform) string { return p.Key })
	if err != nil || len(got) != 2 || got[0].Key != "amd64-compiler" || got[1].Key != "riscv64-interpreter" {
		t.Fatalf("pick: %v, %v", got, err)
	}
	if _, err := pick("topologies", "nope", topologies, func(t *topology) string { return t.Key }); err == nil || !strings.Contains(err.Error(), `-topologies: no "nope"; choose from default,`) {
		t.Errorf("unknown key: %v", err)
	}
}
