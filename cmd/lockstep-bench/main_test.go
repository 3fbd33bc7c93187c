package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseWorkers(t *testing.T) {
	got, err := parseWorkers("1, 2,8")
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 8 {
		t.Fatalf("parseWorkers(\"1, 2,8\") = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-1"} {
		if _, err := parseWorkers(bad); err == nil {
			t.Errorf("parseWorkers(%q) accepted", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	m := median([]measure{{nsPerOp: 3, rate: 10}, {nsPerOp: 1, rate: 30}, {nsPerOp: 2, rate: 20}})
	if m.nsPerOp != 2 || m.rate != 20 {
		t.Errorf("median of 3 = %+v", m)
	}
	m = median([]measure{{nsPerOp: 1}, {nsPerOp: 4}})
	if m.nsPerOp != 2.5 {
		t.Errorf("median of 2 = %+v", m)
	}
}

func TestMedianExtra(t *testing.T) {
	m := median([]measure{
		{extra: map[string]float64{"heap-B/agent": 5}},
		{extra: map[string]float64{"heap-B/agent": 1}},
		{extra: map[string]float64{"heap-B/agent": 3}},
	})
	if m.extra["heap-B/agent"] != 3 {
		t.Errorf("median of extras = %v", m.extra)
	}
}

func TestFormats(t *testing.T) {
	for ns, want := range map[float64]string{1.25: "1.2 ns", 86.4: "86 ns", 2500: "2.5 µs", 13.34e6: "13.34 ms"} {
		if got := duration(ns); got != want {
			t.Errorf("duration(%v) = %q, want %q", ns, got, want)
		}
	}
	for n, want := range map[float64]string{410: "410 B", 301093: "294.0 KiB", 3460514: "3.30 MiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%v) = %q, want %q", n, got, want)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-count", "0"}, {"-workers", "two"}, {"extra"}, {"-benchtime", "soon"}, {"-spawn-agents", "0"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) accepted", args)
		}
	}
}

// TestTable runs every scenario once (a single iteration each) and checks
// the table's shape, not its figures.
func TestTable(t *testing.T) {
	if testing.Short() {
		t.Skip("sets up 10 000 agents and actors")
	}
	var out bytes.Buffer
	if err := run([]string{"-benchtime", "1x", "-count", "1", "-workers", "1", "-wasm=false", "-models=false", "-daemon=false", "-federation=false"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"tick, 50 idle agents", "tick, 10000 idle agents", "route, 100 echo agents", "≤ 10 ms/tick", "≥ 2 M msgs/s", "Quota enforcement", "tick, 1000 idle agents", "≤ 1.03"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if rows := strings.Count(text, "PASS") + strings.Count(text, "MISS"); rows != 5 {
		t.Errorf("%d verdicts, want 5 (two tick targets, route, and enforcement on tick and route):\n%s", rows, text)
	}
}

// TestWASMTable runs the WebAssembly rows once each (a single iteration,
// 20 agents in the spawn rows) and checks the table's shape.
func TestWASMTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the guests and sets up 10 000 WebAssembly agents")
	}
	var out bytes.Buffer
	if err := run([]string{"-benchtime", "1x", "-count", "1", "-workers", "1", "-spawn-agents", "20", "-scale-agents", "200", "-peers=false", "-models=false", "-daemon=false", "-federation=false"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"tick, 50 idle agents", // the Go rows stay
		"spawn (instantiate + init), empty.c, 20 agents", "spawn (instantiate + init), gowork (Go), 20 agents",
		"memory per idle agent, empty.c", "memory per idle agent, gowork (Go)",
		"spawn (instantiate + init), gowork (Go, shared init), 20 agents", "memory per idle agent, gowork (Go, shared init)",
		"step, 1 empty agent", "step call, empty agent, no host",
		"metering, 1 work.c agent", "metering, 1 gowork (Go) agent", "≤ 1.2× unmetered", "≤ 2× unmetered",
		"tick, 50 empty agents", "tick, 10000 empty agents", "≤ 1.3× Go idle, ≤ 5 ms",
		"spawn, 200 empty.c agents", "close, 200 empty.c agents", "memory, 200 empty.c agents", "tick, 200 empty agents", "≤ 96 KiB/agent PSS", "≤ 1 MiB/agent PSS", "≤ 60 ms/tick",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	// Five Go rows, then three spawn, three memory, two metering, two tick
	// and three scale rows (the close row has no target).
	if rows := strings.Count(text, "PASS") + strings.Count(text, "MISS"); rows != 18 {
		t.Errorf("%d verdicts, want 18:\n%s", rows, text)
	}
}

// TestDaemonTable runs the daemon rows once each and checks the table's
// shape.
func TestDaemonTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons with 1 000 WebAssembly agents")
	}
	var out bytes.Buffer
	if err := run([]string{"-benchtime", "1x", "-count", "1", "-core=false", "-models=false", "-federation=false"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"input ack, sync every tick, 1 client", "input ack, group commit 2ms, 1 client",
		"sustained inputs, group commit 2ms, 4 clients × batches of 1000", "≥ 100 000 inputs/s",
		"checkpoint, 100 empty agents", "checkpoint, 100 gowork agents", "resume 1000 empty agents + 1 tick",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}
