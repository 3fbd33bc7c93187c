// Command lockstep-bench measures Lockstep's tick and routing costs against
// raw protoactor-go baselines measured in the same run, and checks them
// against the performance targets.
//
// It runs the benchmark bodies of internal/benchkit (the same ones as
// go test -bench in package host) with testing.Benchmark:
//
//   - tick, n idle agents: time per tick, against a protoactor fan-out to n
//     actors that waits for every reply (time per round), and against a
//     stricter fan-out whose actors count a WaitGroup down instead of
//     replying;
//   - route: routed messages per second of echo agents bouncing messages in
//     pairs, against protoactor one sender → one actor (messages per second);
//   - WebAssembly agents (the guests of internal/benchkit/guests, built with
//     clang-14 and Go's wasip1 port; -wasm=false skips them), each against
//     the same host with Go-native idle agents, or the guest unmetered: the
//     cost of one empty agent's step, fuel metering (work.c, and gowork in
//     Go), ticks of 50 and 10 000 empty agents, spawn time and memory per
//     idle agent.
//   - the daemon (-daemon=false skips it): input acknowledgement latency
//     through agenthost serve's gRPC API with a sync at every tick and with
//     group commit, against appending to a file and syncing it; sustained
//     inputs/s in batches, against the same calls to a gRPC server that
//     acknowledges at once; checkpoint speed over the agents' linear memory,
//     against dumping it raw; resuming 1 000 agents from a checkpoint,
//     against starting them afresh.
//   - federation (-federation=false skips it): a coordinator and 2-3 member
//     processes (this binary re-executed) on 127.0.0.1: the time per tick
//     of 1 000 idle agents over the same on one host (the global barrier's
//     cost), and routed messages/s when every message crosses processes;
//   - models (-models=false skips them; needs cgo and the ONNX Runtime
//     library): Manager.Infer against raw onnxruntime_go per request, one
//     tick of 100 requests batched and unbatched, and the stability of the
//     median latency over 10 batches.
//
// Each scenario runs -count times, baseline and Lockstep interleaved, and
// the table shows medians. The ratio is Lockstep's cost per unit (tick or
// message) divided by the baseline's: below 1, Lockstep is cheaper.
//
// Usage:
//
//	lockstep-bench [-benchtime 1s] [-count 3] [-workers 1,2] [-wasm=true] [-models=true] [-spawn-agents 1000]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// target is a performance goal for one scenario on a 2-core machine.
type target struct {
	text string
	met  func(m measure) bool
}

// measure is one scenario's median result.
type measure struct {
	nsPerOp float64 // per tick (Lockstep tick), per round (fan-out)
	rate    float64 // messages per second (route, one-to-one)
	// extra holds the other metrics the benchmark reported (spawn-ns/agent,
	// heap-B/agent, ...).
	extra map[string]float64
}

var (
	tickTargets = map[int]target{
		50:    {"≤ 50 µs/tick", func(m measure) bool { return m.nsPerOp <= 50e3 }},
		10000: {"≤ 10 ms/tick", func(m measure) bool { return m.nsPerOp <= 10e6 }},
	}
	routeTarget = target{"≥ 2 M msgs/s", func(m measure) bool { return m.rate >= 2e6 }}
)

func main() {
	benchkit.MemberMain() // a federation row's member process
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lockstep-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("lockstep-bench", flag.ContinueOnError)
	benchtime := fs.String("benchtime", "1s", "run each benchmark for `d` (a duration, or Nx for N iterations)")
	count := fs.Int("count", 3, "run each benchmark `n` times and report the median")
	workersFlag := fs.String("workers", "1,2", "comma-separated `list` of worker counts to measure Lockstep with")
	core := fs.Bool("core", true, "measure the Go-agent tick and routing tables (-core=false skips them)")
	wasm := fs.Bool("wasm", true, "also measure WebAssembly agents (builds the guests with clang-14 and Go's wasip1 port; -wasm=false skips them)")
	daemonRows := fs.Bool("daemon", true, "also measure agenthost serve: input acknowledgements, inputs/s, checkpoints and resume (-daemon=false skips them)")
	models := fs.Bool("models", true, "also measure the model manager against raw ONNX Runtime (needs cgo and the library; -models=false skips it)")
	spawnAgents := fs.Int("spawn-agents", benchkit.SpawnAgents, "spawn `n` agents per iteration in the WebAssembly spawn and memory rows")
	scaleAgents := fs.Int("scale-agents", benchkit.ScaleAgents, "spawn, hold and tick `n` empty WebAssembly agents in the scale rows (0 skips them; about 5 GB at 100 000)")
	fed := fs.Bool("federation", true, "also measure a federated run: a coordinator and member processes on 127.0.0.1 (-federation=false skips it)")
	peers := fs.Bool("peers", true, "also measure Extism's go-sdk on the same empty module (go run in cmd/lockstep-bench/peers/extism, a Go module of its own; -peers=false skips it)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (all options are flags; see -h)", fs.Args())
	}
	workers, err := parseWorkers(*workersFlag)
	if err != nil {
		return err
	}
	if *count < 1 {
		return fmt.Errorf("-count %d: give at least 1", *count)
	}
	if *spawnAgents < 1 {
		return fmt.Errorf("-spawn-agents %d: give at least 1", *spawnAgents)
	}
	if *scaleAgents < 0 {
		return fmt.Errorf("-scale-agents %d: give 0 (skip the scale rows) or more", *scaleAgents)
	}
	// testing.Benchmark reads the testing package's flags.
	testing.Init()
	if err := flag.Set("test.benchtime", *benchtime); err != nil {
		return fmt.Errorf("-benchtime %q: %w (give a duration such as 2s, or Nx)", *benchtime, err)
	}

	fmt.Fprintf(out, "lockstep-bench: %s, GOMAXPROCS %d, %d CPUs (%s), -benchtime %s, median of %d\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel(), *benchtime, *count)
	if *core {
		if err := runCore(out, *count, workers); err != nil {
			return err
		}
		if err := runEnforcement(out, *count, workers); err != nil {
			return err
		}
	}
	if *wasm {
		if err := runWASM(out, wasmRun{*count, workers, *spawnAgents, *scaleAgents, *peers, *benchtime}); err != nil {
			return err
		}
	}
	if *daemonRows {
		if err := runDaemon(out, *count, *wasm); err != nil {
			return err
		}
	}
	if *fed {
		if err := runFederation(out, *count); err != nil {
			return err
		}
	}
	if *models {
		return runModels(out, *count)
	}
	return nil
}

// runCore measures the Go-agent tick and routing rows against their
// protoactor baselines.
func runCore(out io.Writer, count int, workers []int) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tworkers\tLockstep\tprotoactor\tratio\tprotoactor, no replies\tratio\ttarget\tresult")

	for _, n := range benchkit.TickAgents {
		base, lock, err := interleave(count, workers,
			[]func(*testing.B){
				func(b *testing.B) { benchkit.ProtoactorFanout(b, n) },
				func(b *testing.B) { benchkit.ProtoactorFanoutCountdown(b, n) },
			},
			func(w int) func(b *testing.B) { return func(b *testing.B) { benchkit.Tick(b, n, w) } })
		if err != nil {
			return fmt.Errorf("tick, %d agents: %w", n, err)
		}
		for i, w := range workers {
			t, ok := tickTargets[n]
			fmt.Fprintf(tw, "tick, %d idle agents\t%d\t%s/tick\t%s/round\t%.2f\t%s/round\t%.2f\t%s\t%s\n",
				n, w, duration(lock[i].nsPerOp),
				duration(base[0].nsPerOp), lock[i].nsPerOp/base[0].nsPerOp,
				duration(base[1].nsPerOp), lock[i].nsPerOp/base[1].nsPerOp,
				orDash(t.text, ok), verdict(t, ok, lock[i]))
		}
	}

	base, lock, err := interleave(count, workers, []func(*testing.B){benchkit.ProtoactorOneToOne},
		func(w int) func(b *testing.B) {
			return func(b *testing.B) {
				benchkit.Route(b, benchkit.RouteAgents, benchkit.RouteMessages, benchkit.RoutePayload, w)
			}
		})
	if err != nil {
		return fmt.Errorf("route: %w", err)
	}
	for i, w := range workers {
		fmt.Fprintf(tw, "route, %d echo agents × %d msgs\t%d\t%s msgs/s\t%s msgs/s (1→1)\t%.2f\t–\t–\t%s\t%s\n",
			benchkit.RouteAgents, benchkit.RouteMessages, w, rate(lock[i].rate), rate(base[0].rate),
			base[0].rate/lock[i].rate, routeTarget.text, verdict(routeTarget, true, lock[i]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nratio: Lockstep's time per tick (per message for route) ÷ the baseline's; below 1, Lockstep is cheaper.")
	return nil
}

// enforcementTarget: quotas may cost at most 3% on the tick and route rows.
var enforcementTarget = target{"≤ 1.03", func(m measure) bool { return m.nsPerOp <= 1.03 }}

// runEnforcement measures what enforcing the quotas costs: the tick and
// route rows with the default quotas against the same rows with
// Quotas.Unenforced, interleaved in one run.
func runEnforcement(out io.Writer, count int, workers []int) error {
	fmt.Fprintln(out, "\nQuota enforcement: the same rows with the default quotas and with none (Quotas.Unenforced)")
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tworkers\tenforced\tunenforced\tratio\ttarget\tresult")
	const tickAgents = 1000
	rows := []struct {
		name string
		run  func(b *testing.B, w int, q host.Quotas)
	}{
		{fmt.Sprintf("tick, %d idle agents", tickAgents), func(b *testing.B, w int, q host.Quotas) { benchkit.TickQuotas(b, tickAgents, w, q) }},
		{fmt.Sprintf("route, %d echo agents × %d msgs", benchkit.RouteAgents, benchkit.RouteMessages), func(b *testing.B, w int, q host.Quotas) {
			benchkit.RouteQuotas(b, benchkit.RouteAgents, benchkit.RouteMessages, benchkit.RoutePayload, w, q)
		}},
	}
	for _, row := range rows {
		for _, w := range workers {
			off, on, err := interleave(count, []int{w},
				[]func(*testing.B){func(b *testing.B) { row.run(b, w, host.Quotas{Unenforced: true}) }},
				func(w int) func(*testing.B) { return func(b *testing.B) { row.run(b, w, host.Quotas{}) } })
			if err != nil {
				return fmt.Errorf("%s: %w", row.name, err)
			}
			ratio := measure{nsPerOp: on[0].nsPerOp / off[0].nsPerOp}
			fmt.Fprintf(tw, "%s\t%d\t%s/tick\t%s/tick\t%.3f\t%s\t%s\n", row.name, w, duration(on[0].nsPerOp), duration(off[0].nsPerOp),
				ratio.nsPerOp, enforcementTarget.text, verdict(enforcementTarget, true, ratio))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nratio: time per tick with the quotas enforced ÷ without; the route row checks every send against the per-tick quotas (actions, bytes, deliveries).")
	return nil
}

// interleave runs the baselines and then Lockstep with each worker count,
// count times over, and returns the medians.
func interleave(count int, workers []int, baselines []func(*testing.B), lockstep func(w int) func(*testing.B)) ([]measure, []measure, error) {
	base := make([][]measure, len(baselines))
	lock := make([][]measure, len(workers))
	for range count {
		for i, f := range baselines {
			m, err := bench(f)
			if err != nil {
				return nil, nil, fmt.Errorf("baseline: %w", err)
			}
			base[i] = append(base[i], m)
		}
		for i, w := range workers {
			m, err := bench(lockstep(w))
			if err != nil {
				return nil, nil, fmt.Errorf("%d workers: %w", w, err)
			}
			lock[i] = append(lock[i], m)
		}
	}
	return medians(base), medians(lock), nil
}

func medians(runs [][]measure) []measure {
	out := make([]measure, len(runs))
	for i, ms := range runs {
		out[i] = median(ms)
	}
	return out
}

func bench(f func(*testing.B)) (measure, error) {
	r := testing.Benchmark(f)
	if r.N == 0 {
		return measure{}, errors.New("the benchmark failed (run go test -bench in package host for its message)")
	}
	return measure{nsPerOp: float64(r.T.Nanoseconds()) / float64(r.N), rate: r.Extra[benchkit.UnitMsgsPerSec], extra: r.Extra}, nil
}

// median takes the median of each field separately.
func median(ms []measure) measure {
	pick := func(f func(measure) float64) float64 {
		v := make([]float64, len(ms))
		for i, m := range ms {
			v[i] = f(m)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	out := measure{
		nsPerOp: pick(func(m measure) float64 { return m.nsPerOp }),
		rate:    pick(func(m measure) float64 { return m.rate }),
	}
	for k := range ms[0].extra {
		if out.extra == nil {
			out.extra = map[string]float64{}
		}
		out.extra[k] = pick(func(m measure) float64 { return m.extra[k] })
	}
	return out
}

func parseWorkers(s string) ([]int, error) {
	var ws []int
	for _, f := range strings.Split(s, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 {
			return nil, fmt.Errorf("-workers %q: %q is not a positive number (give a list such as 1,2)", s, f)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func verdict(t target, ok bool, m measure) string {
	switch {
	case !ok:
		return "–"
	case t.met(m):
		return "PASS"
	}
	return "MISS"
}

func orDash(s string, ok bool) string {
	if !ok {
		return "–"
	}
	return s
}

func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns >= 10:
		return fmt.Sprintf("%.0f ns", ns)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

func rate(perSec float64) string { return fmt.Sprintf("%.2f M", perSec/1e6) }

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
