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

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-count", "0"}, {"-workers", "two"}, {"extra"}, {"-benchtime", "soon"}} {
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
	if err := run([]string{"-benchtime", "1x", "-count", "1", "-workers", "1"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"tick, 50 idle agents", "tick, 10000 idle agents", "route, 100 echo agents", "≤ 10 ms/tick", "≥ 2 M msgs/s"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if rows := strings.Count(text, "PASS") + strings.Count(text, "MISS"); rows != 3 {
		t.Errorf("%d verdicts, want 3 (two tick targets and route):\n%s", rows, text)
	}
}
