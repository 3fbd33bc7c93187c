//go:build cgo

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/modelactor"
)

func TestSpread(t *testing.T) {
	mid, dev := spread([]float64{100, 104, 98, 110, 101})
	if mid != 101 || dev < 0.0890 || dev > 0.0892 {
		t.Errorf("spread = %v, %v; want 101, 9/101", mid, dev)
	}
	if mid, _ := spread([]float64{1, 3}); mid != 2 {
		t.Errorf("median of 2 = %v", mid)
	}
}

// TestModelsTable runs the model rows once each (a single iteration) and
// checks the tables' shape, or the skip line without the library.
func TestModelsTable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go tables (10 000 agents) before the model rows")
	}
	var out bytes.Buffer
	if err := run([]string{"-benchtime", "1x", "-count", "1", "-workers", "1", "-wasm=false", "-daemon=false", "-federation=false"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if _, err := modelactor.FindLibrary(""); err != nil {
		if !strings.Contains(text, "models: skipped") {
			t.Errorf("no skip line without the library:\n%s", text)
		}
		return
	}
	for _, want := range []string{
		"per request, mlp-16-32-4, 100 unbatched in a tick", "one Manager.Infer call, mlp-256-1024-10", "≤ 1.1× raw ORT",
		"tick, 100 requests, mlp-16-32-4", "tick, 100 requests, mlp-256-1024-10", "≤ 2× one raw run",
		"each within ±5%", "raw ORT: median, largest deviation",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	// Five Go rows, two per-request rows, two tick rows, two stability rows.
	if rows := strings.Count(text, "PASS") + strings.Count(text, "MISS"); rows != 11 {
		t.Errorf("%d verdicts, want 11:\n%s", rows, text)
	}
}
