package main

import (
	"fmt"
	"io"
	"testing"
	"text/tabwriter"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// Targets of the WebAssembly rows: ticks as for Go agents, and the cost of
// fuel metering as a ratio of metered to unmetered time per step.
var (
	meterTargetC  = ratioTarget{"≤ 1.2× unmetered", 1.2}
	meterTargetGo = ratioTarget{"≤ 2× unmetered", 2}
)

type ratioTarget struct {
	text string
	max  float64
}

// runWASM measures the WebAssembly rows and prints their table. Every
// scenario runs count times, its baselines and the guests interleaved.
func runWASM(out io.Writer, count int, workers []int, spawnAgents int) error {
	dir, err := benchkit.Guests()
	if err != nil {
		return fmt.Errorf("WebAssembly guests: %w (-wasm=false skips the WebAssembly rows)", err)
	}
	fmt.Fprintf(out, "\nWebAssembly agents (internal/benchkit/guests, built into %s), metered unless said otherwise;\n", dir)
	fmt.Fprintf(out, "baselines: the same host with Go-native idle agents, or the same guest unmetered\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tworkers\tWASM\tbaseline\tratio\ttarget\tresult")
	row := func(scenario string, w int, wasm, base string, ratio float64, target, result string) {
		ws := "–"
		if w > 0 {
			ws = fmt.Sprint(w)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\n", scenario, ws, wasm, base, ratio, target, result)
	}

	// Spawn and memory first: Sys grows only while the process needs more
	// memory than it ever had, so its figure means most before the large
	// scenarios.
	n := spawnAgents
	med, raw, err := rounds(count,
		func(b *testing.B) { benchkit.Spawn(b, n) },
		func(b *testing.B) { benchkit.WASMSpawn(b, benchkit.GuestEmpty, n) },
		func(b *testing.B) { benchkit.WASMSpawn(b, benchkit.GuestGoWork, n) })
	if err != nil {
		return fmt.Errorf("spawn: %w", err)
	}
	goSpawn, goHeap := med[0].extra[benchkit.UnitSpawnNsPerAgent], med[0].extra[benchkit.UnitHeapBytePerAgent]
	for i, g := range []string{"empty.c", "gowork (Go)"} {
		m := med[i+1]
		spawn := m.extra[benchkit.UnitSpawnNsPerAgent]
		row(fmt.Sprintf("spawn (instantiate + init), %s, %d agents", g, n), 1,
			duration(spawn)+"/agent", duration(goSpawn)+"/agent (Go idle)", spawn/goSpawn, "–", "–")
	}
	for i, g := range []string{"empty.c", "gowork (Go)"} {
		m := med[i+1]
		heap := m.extra[benchkit.UnitHeapBytePerAgent]
		sys := maxExtra(raw[i+1], benchkit.UnitSysBytePerAgent)
		row(fmt.Sprintf("memory per idle agent, %s, %d agents", g, n), 1,
			fmt.Sprintf("%s/agent heap (Sys +%s)", byteSize(heap), byteSize(sys)), byteSize(goHeap)+"/agent heap (Go idle)",
			heap/goHeap, "–", "–")
	}

	med, _, err = rounds(count,
		func(b *testing.B) { benchkit.Tick(b, 1, 1) },
		func(b *testing.B) { benchkit.WASMTick(b, benchkit.GuestEmpty, 1, 1, false) },
		benchkit.GoCall,
		func(b *testing.B) { benchkit.WASMCall(b, benchkit.GuestEmpty, false) })
	if err != nil {
		return fmt.Errorf("step: %w", err)
	}
	row("step, 1 empty agent (host tick)", 1, duration(med[1].nsPerOp)+"/tick", duration(med[0].nsPerOp)+"/tick (Go idle)",
		med[1].nsPerOp/med[0].nsPerOp, "–", "–")
	row("step call, empty agent, no host", 0, duration(med[3].nsPerOp)+"/call", duration(med[2].nsPerOp)+"/call (Go idle)",
		med[3].nsPerOp/med[2].nsPerOp, "–", "–")

	for _, c := range []struct {
		guest, name string
		target      ratioTarget
	}{{benchkit.GuestWork, "work.c", meterTargetC}, {benchkit.GuestGoWork, "gowork (Go)", meterTargetGo}} {
		med, _, err := rounds(count,
			func(b *testing.B) { benchkit.WASMTick(b, c.guest, 1, 1, true) },
			func(b *testing.B) { benchkit.WASMTick(b, c.guest, 1, 1, false) })
		if err != nil {
			return fmt.Errorf("metering, %s: %w", c.name, err)
		}
		ratio := med[1].nsPerOp / med[0].nsPerOp
		row(fmt.Sprintf("metering, 1 %s agent (%.0f fuel/step)", c.name, med[1].extra[benchkit.UnitFuelPerStep]), 1,
			duration(med[1].nsPerOp)+"/step", duration(med[0].nsPerOp)+"/step (unmetered)", ratio,
			c.target.text, pass(ratio <= c.target.max))
	}

	for _, n := range benchkit.WASMTickAgents {
		fs := []func(*testing.B){}
		for _, w := range workers {
			fs = append(fs,
				func(b *testing.B) { benchkit.Tick(b, n, w) },
				func(b *testing.B) { benchkit.WASMTick(b, benchkit.GuestEmpty, n, w, false) })
		}
		med, _, err := rounds(count, fs...)
		if err != nil {
			return fmt.Errorf("tick, %d agents: %w", n, err)
		}
		t, ok := tickTargets[n]
		for i, w := range workers {
			base, lock := med[2*i], med[2*i+1]
			row(fmt.Sprintf("tick, %d empty agents", n), w, duration(lock.nsPerOp)+"/tick",
				duration(base.nsPerOp)+"/tick (Go idle)", lock.nsPerOp/base.nsPerOp,
				orDash(t.text, ok), verdict(t, ok, lock))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nratio: the WebAssembly figure ÷ the baseline's. spawn: the spawn tick per agent less one steady step.")
	fmt.Fprintln(out, "memory: HeapInuse growth per agent after a GC (wazero keeps linear memory on the Go heap);")
	fmt.Fprintln(out, "Sys: the most the process grew in any run, 0 when it reused memory it already had.")
	return nil
}

// rounds runs every benchmark once per round, count rounds, and returns
// each one's medians and its runs.
func rounds(count int, fs ...func(*testing.B)) ([]measure, [][]measure, error) {
	runs := make([][]measure, len(fs))
	for range count {
		for i, f := range fs {
			m, err := bench(f)
			if err != nil {
				return nil, nil, err
			}
			runs[i] = append(runs[i], m)
		}
	}
	return medians(runs), runs, nil
}

func maxExtra(ms []measure, key string) float64 {
	v := 0.0
	for _, m := range ms {
		v = max(v, m.extra[key])
	}
	return v
}

func pass(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// byteSize formats a byte count in binary units.
func byteSize(n float64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}
