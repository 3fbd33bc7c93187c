package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// TestMain lets the federation rows re-execute this test binary as their
// member processes.
func TestMain(m *testing.M) {
	benchkit.MemberMain()
	os.Exit(m.Run())
}

// TestFederationTable runs the federation rows once each (coordinator and
// member processes on 127.0.0.1) and checks the table's shape.
func TestFederationTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts member processes")
	}
	var out bytes.Buffer
	if err := run([]string{"-benchtime", "1x", "-count", "1", "-core=false", "-wasm=false", "-daemon=false", "-models=false"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"Federation:", "tick, 1000 idle agents", "every one crossing processes", "≤ +1 ms over one host", "≥ 1 M msgs/s"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if rows := strings.Count(text, "PASS") + strings.Count(text, "MISS"); rows != 4 {
		t.Errorf("%d verdicts, want 4 (tick with 2 and 3 members, route with 1 and 2):\n%s", rows, text)
	}
}
