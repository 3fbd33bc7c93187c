package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
	"github.com/lockstep-rt/lockstep/internal/guests"
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

// Targets of spawning and holding idle agents (issue 15): per agent, on a
// 2-core machine.
var (
	// A Go agent's targets hold for both Go guests: without shared
	// initialisation (each agent runs the Go runtime's start-up) and with
	// it (each starts from the module's image).
	spawnTargets = map[string]ratioTarget{benchkit.GuestEmpty: {"≤ 30 µs/agent", 30e3},
		benchkit.GuestGoWork: {"≤ 0.5 ms/agent", 0.5e6}, benchkit.GuestGoShared: {"≤ 0.5 ms/agent", 0.5e6}}
	// Memory is the proportional set size (PSS): what the machine holds,
	// pages shared by agents (a module's memory file) counted once.
	memoryTargets = map[string]ratioTarget{benchkit.GuestEmpty: {"≤ 96 KiB/agent PSS", 96 << 10},
		benchkit.GuestGoWork: {"≤ 1 MiB/agent PSS", 1 << 20}, benchkit.GuestGoShared: {"≤ 1 MiB/agent PSS", 1 << 20}}
	// wasmTickTarget bounds a tick of 10 000 empty agents with one worker:
	// at most 1.3× the same tick with Go idle agents, and 5 ms.
	wasmTickTarget = ratioTarget{"≤ 1.3× Go idle, ≤ 5 ms", 1.3}
)

// wasmRun is what runWASM measures.
type wasmRun struct {
	count       int
	workers     []int
	spawnAgents int
	scaleAgents int    // 0: no scale rows
	peers       bool   // measure Extism's go-sdk
	benchtime   string // -benchtime, for the peer
}

// runWASM measures the WebAssembly rows and prints their table. Every
// scenario runs count times, its baselines and the guests interleaved.
func runWASM(out io.Writer, run wasmRun) error {
	count, workers := run.count, run.workers
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
	n := run.spawnAgents
	med, raw, err := rounds(count,
		func(b *testing.B) { benchkit.Spawn(b, n) },
		func(b *testing.B) { benchkit.WASMSpawn(b, benchkit.GuestEmpty, n) },
		func(b *testing.B) { benchkit.WASMSpawn(b, benchkit.GuestGoWork, n) },
		func(b *testing.B) { benchkit.WASMSpawn(b, benchkit.GuestGoShared, n) })
	if err != nil {
		return fmt.Errorf("spawn: %w", err)
	}
	goSpawn, goHeap := med[0].extra[benchkit.UnitSpawnNsPerAgent], med[0].extra[benchkit.UnitHeapBytePerAgent]
	guests := []struct{ kind, name string }{{benchkit.GuestEmpty, "empty.c"}, {benchkit.GuestGoWork, "gowork (Go)"},
		{benchkit.GuestGoShared, "gowork (Go, shared init)"}}
	for i, g := range guests {
		m := med[i+1]
		spawn := m.extra[benchkit.UnitSpawnNsPerAgent]
		t := spawnTargets[g.kind]
		row(fmt.Sprintf("spawn (instantiate + init), %s, %d agents", g.name, n), 1,
			duration(spawn)+"/agent", duration(goSpawn)+"/agent (Go idle)", spawn/goSpawn, t.text, pass(spawn <= t.max))
	}
	goPSS := med[0].extra[benchkit.UnitPSSBytePerAgent]
	// What the peer rows compare with: Lockstep's spawn and memory of an
	// empty C agent, and its step call (below).
	var lock peerResult
	lock.InstantiateNs = med[1].extra[benchkit.UnitSpawnNsPerAgent]
	lock.HeapBytes, lock.RSSBytes = med[1].extra[benchkit.UnitHeapBytePerAgent], med[1].extra[benchkit.UnitRSSBytePerAgent]
	for i, g := range guests {
		m := med[i+1]
		heap, rss, pss := m.extra[benchkit.UnitHeapBytePerAgent], m.extra[benchkit.UnitRSSBytePerAgent], m.extra[benchkit.UnitPSSBytePerAgent]
		sys := maxExtra(raw[i+1], benchkit.UnitSysBytePerAgent)
		t := memoryTargets[g.kind]
		row(fmt.Sprintf("memory per idle agent, %s, %d agents", g.name, n), 1,
			fmt.Sprintf("%s/agent PSS (RSS %s, heap %s, Sys +%s)", byteSize(pss), byteSize(rss), byteSize(heap), byteSize(sys)),
			fmt.Sprintf("%s/agent PSS (heap %s, Go idle)", byteSize(goPSS), byteSize(goHeap)),
			pss/goPSS, t.text, pass(pss <= t.max))
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
	lock.CallNs = med[3].nsPerOp

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
			ratio := lock.nsPerOp / base.nsPerOp
			text, result := orDash(t.text, ok), verdict(t, ok, lock)
			if n == 10000 && w == 1 {
				text, result = wasmTickTarget.text, pass(ratio <= wasmTickTarget.max && lock.nsPerOp <= 5e6)
			}
			row(fmt.Sprintf("tick, %d empty agents", n), w, duration(lock.nsPerOp)+"/tick",
				duration(base.nsPerOp)+"/tick (Go idle)", ratio, text, result)
		}
	}
	if run.scaleAgents > 0 {
		if err := scaleRows(row, count, run.scaleAgents); err != nil {
			return err
		}
	}
	var peerNote string
	if run.peers {
		peer, err := extismPeer(n, run.benchtime)
		if err != nil {
			peerNote = fmt.Sprintf("Extism go-sdk peer skipped: %v", err)
		} else {
			peerRows(row, lock, peer)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if peerNote != "" {
		fmt.Fprintln(out, "\n"+peerNote)
	}
	fmt.Fprintln(out, "\nratio: the WebAssembly figure ÷ the baseline's. spawn: the spawn tick per agent less one steady step.")
	fmt.Fprintln(out, "memory: proportional set size (PSS) growth per agent after a GC that returns what it can to the OS,")
	fmt.Fprintln(out, "linear memory (mapped outside the Go heap, untouched pages free) included, a page shared by k mappings")
	fmt.Fprintln(out, "(a module's memory file) counted 1/k; RSS counts it k times; heap: HeapInuse growth; Sys: the most")
	fmt.Fprintln(out, "the process grew in any run, 0 when it reused memory it already had. The peer rows compare RSS.")
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

// rowFunc prints one row of the WebAssembly table.
type rowFunc func(scenario string, workers int, wasm, base string, ratio float64, target, result string)

// Targets of the scale rows: n empty C agents on one machine.
var (
	scaleTickTarget   = ratioTarget{"≤ 60 ms/tick", 60e6}
	scaleMemoryTarget = ratioTarget{"≤ 96 KiB/agent PSS", 96 << 10}
)

// scaleRows measures spawning n empty C agents, the memory they hold and
// a tick of all of them with one worker, against as many Go idle agents.
func scaleRows(row rowFunc, count, n int) error {
	med, _, err := rounds(count,
		func(b *testing.B) { benchkit.Spawn(b, n) },
		func(b *testing.B) { benchkit.WASMSpawn(b, benchkit.GuestEmpty, n) },
		func(b *testing.B) { benchkit.Tick(b, n, 1) },
		func(b *testing.B) { benchkit.WASMTick(b, benchkit.GuestEmpty, n, 1, false) })
	if err != nil {
		return fmt.Errorf("scale, %d agents: %w", n, err)
	}
	goAgents, wasm := med[0].extra, med[1].extra
	spawn, goSpawn := wasm[benchkit.UnitSpawnNsPerAgent], goAgents[benchkit.UnitSpawnNsPerAgent]
	t := spawnTargets[benchkit.GuestEmpty]
	row(fmt.Sprintf("spawn, %d empty.c agents", n), 1, duration(spawn)+"/agent", duration(goSpawn)+"/agent (Go idle)",
		spawn/goSpawn, t.text, pass(spawn <= t.max))
	closing, goClosing := wasm[benchkit.UnitCloseNsPerAgent], goAgents[benchkit.UnitCloseNsPerAgent]
	row(fmt.Sprintf("close, %d empty.c agents", n), 1, duration(closing)+"/agent", duration(goClosing)+"/agent (Go idle)",
		closing/goClosing, "–", "–")
	pss, goPSS := wasm[benchkit.UnitPSSBytePerAgent], goAgents[benchkit.UnitPSSBytePerAgent]
	row(fmt.Sprintf("memory, %d empty.c agents", n), 1,
		fmt.Sprintf("%s/agent PSS, %s in all", byteSize(pss), byteSize(pss*float64(n))),
		fmt.Sprintf("%s/agent PSS (Go idle)", byteSize(goPSS)), pss/goPSS,
		scaleMemoryTarget.text, pass(pss <= scaleMemoryTarget.max))
	tick, goTick := med[3].nsPerOp, med[2].nsPerOp
	row(fmt.Sprintf("tick, %d empty agents", n), 1, duration(tick)+"/tick", duration(goTick)+"/tick (Go idle)",
		tick/goTick, scaleTickTarget.text, pass(tick <= scaleTickTarget.max))
	return nil
}

// peerResult is what the Extism peer (cmd/lockstep-bench/peers/extism)
// prints, and Lockstep's figures for the same things.
type peerResult struct {
	SDK           string  `json:"sdk"`
	CallNs        float64 `json:"call_ns"`
	InstantiateNs float64 `json:"instantiate_ns"`
	HeapBytes     float64 `json:"heap_bytes"`
	RSSBytes      float64 `json:"rss_bytes"`
}

// extismPeer runs the Extism peer, a Go module of its own, with go run
// ($GO, default go) on the empty module, holding n instances for its
// memory figure.
func extismPeer(n int, benchtime string) (peerResult, error) {
	var res peerResult
	dir, err := benchkit.Guests()
	if err != nil {
		return res, err
	}
	gobin := os.Getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "run", ".", "-wasm", filepath.Join(dir, benchkit.GuestExtismEmpty+".wasm"),
		"-n", fmt.Sprint(n), "-benchtime", benchtime)
	cmd.Dir = filepath.Join(guests.Root(), "cmd", "lockstep-bench", "peers", "extism")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("go run in %s: %v: %s (its module needs github.com/extism/go-sdk in the module cache or from the proxy)", cmd.Dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("reading the output of go run in %s: %v (%q)", cmd.Dir, err, b)
	}
	return res, nil
}

// peerTarget: Lockstep stays ahead of its peer.
var peerTarget = ratioTarget{"≤ 1× peer", 1}

// peerRows prints Lockstep's empty C agent against the peer's instance of
// the same empty module. Memory compares the larger of resident and heap
// growth: Lockstep's linear memory is outside the Go heap, and heap the Go
// runtime has not touched yet is not resident.
func peerRows(row rowFunc, lock, peer peerResult) {
	name := "Extism " + strings.TrimPrefix(peer.SDK, "github.com/extism/")
	for _, r := range []struct {
		what             string
		lockstep, extism string
		ratio            float64
	}{
		{"call, empty export", duration(lock.CallNs) + "/call", duration(peer.CallNs) + "/call", lock.CallNs / peer.CallNs},
		{"instantiate, empty module", duration(lock.InstantiateNs) + "/agent", duration(peer.InstantiateNs) + "/instance", lock.InstantiateNs / peer.InstantiateNs},
		{"memory per instance, empty module",
			fmt.Sprintf("%s RSS (heap %s)", byteSize(lock.RSSBytes), byteSize(lock.HeapBytes)),
			fmt.Sprintf("%s RSS (heap %s)", byteSize(peer.RSSBytes), byteSize(peer.HeapBytes)),
			max(lock.RSSBytes, lock.HeapBytes) / max(peer.RSSBytes, peer.HeapBytes)},
	} {
		row(fmt.Sprintf("peer: %s, Lockstep vs %s", r.what, name), 0, r.lockstep, r.extism+" ("+name+")",
			r.ratio, peerTarget.text, pass(r.ratio <= peerTarget.max))
	}
}
