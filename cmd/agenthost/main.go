// Command agenthost runs Lockstep topologies headless and checks their
// replay logs.
//
//	agenthost run [--topology FILE] [--ticks N] [--workers N] [--record FILE] [--pace N] [--observe ADDR] [--engine E]
//	agenthost verify [--module-dir DIR]... [--trust KEY]... [--allow-unsigned] [--workers N] [--engine E] FILE   (a replay log)
//	agenthost keygen --out author.key
//	agenthost sign --key author.key --name NAME --version X.Y.Z --cap CAP... MODULE.wasm
//	agenthost verify --trust author.pub MODULE.wasm
//	agenthost inspect MODULE.wasm
//	agenthost check [--trust KEY]... [--allow-unsigned] TOPOLOGY
//	agenthost schema
//	agenthost version   (or agenthost --version)
//
// run, verify, inspect, check and version print JSON with -o json; every
// command's help has examples; the root command's help lists the exit
// statuses (0 ok, 1 failed or diverged, 2 damaged input, 3 something the
// replay or run needs is missing, 64 usage error).
//
// With no --topology, run uses the embedded default topology of WebAssembly
// agents (examples/wasm/topology), whose modules it loads from --module-dir
// (scripts/guests.sh builds them into bin/wasm). The Go-native kinds of
// examples/pipeline are available to every topology.
//
// With --observe ADDR, run serves a read-only view of the run over HTTP
// (package host/observe: /summary, /agents, /channels, /snapshot, /metrics,
// /healthz), updated at every barrier, with the connection cap and timeouts
// of host/observe/server; cmd/agentui shows it in a browser. With --record,
// the final view is also written beside the log (FILE.final.json);
// --observe-linger D keeps serving it for D after the run.
//
// SIGINT or SIGTERM ends a run after the tick in progress: the host is
// closed as after its last tick, so the replay log is flushed and ends with
// its End record, and the summary is printed. A second signal exits at once.
//
// verify treats a replay log as untrusted: it runs the modules and models
// the log names only from --module-dir (default: the log's directory), by
// file name and recorded SHA-256, and trusts only --trust keys and, with
// --allow-unsigned, unsigned modules. Exit status: 1 when the replay
// diverges, 2 when the log is corrupt, header included, 3 when it cannot
// run (a module, model, key or kind missing).
//
// --engine compiler|interpreter chooses wazero's engine (default: wazero's
// choice, the compiler on amd64 and arm64, the interpreter elsewhere). It
// never changes a digest, so the same run can be compared on both engines;
// it is not recorded in the replay log.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/examples/pipeline"
	wasmtopo "github.com/lockstep-rt/lockstep/examples/wasm/topology"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon"
	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/host/observe/server"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	err := newRoot(os.Stdout, os.Stderr).Execute()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "agenthost:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}

// kinds are the agent kinds this binary can spawn.
func kinds() map[string]host.Factory { return pipeline.Kinds() }

type globalFlags struct {
	logFormat, logLevel string
	ortLib              string
}

func (g *globalFlags) logger(stderr io.Writer) (*logrus.Logger, error) {
	l := logrus.New()
	l.SetOutput(stderr)
	switch g.logFormat {
	case "text":
		l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", g.logFormat)
	}
	lvl, err := logrus.ParseLevel(g.logLevel)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	l.SetLevel(lvl)
	return l, nil
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "agenthost",
		Short: "Run Lockstep agent topologies deterministically, record and verify replay logs",
		Long: `agenthost runs Lockstep agent topologies deterministically, records replay
logs and verifies them, runs a topology as a daemon (serve) and talks to it,
signs and inspects agent modules, and inspects ONNX models.

Conventions: --version prints the version; run, verify, inspect, check,
version, status and the other commands that print a result take -o json;
check validates a topology without running it; schema prints the topology
format as a JSON Schema for editors.

` + exitCodesHelp,
		Example: `  agenthost run --topology my.yaml --record run.replay
  agenthost verify --module-dir bin/wasm --allow-unsigned run.replay
  agenthost check --allow-unsigned my.yaml
  agenthost --version`,
		Version:       readBuildInfo().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("agenthost {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&g.ortLib, "ort-lib", "", "ONNX Runtime shared library for topologies with models (default: $"+modelactor.LibraryEnv+", else where scripts/onnxruntime.sh puts it)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warning", "log level: panic, fatal, error, warning, info, debug, trace")
	root.AddCommand(newRun(g, stdout, stderr), newServe(g, stdout, stderr), newVerify(g, stdout, stderr), newKeygen(stdout), newSign(stdout), newInspect(stdout))
	root.AddCommand(newClientCommands(stdout, stderr)...)
	root.AddCommand(newLogCommand(stdout), newModelCommand(stdout))
	root.AddCommand(newNew(stdout))
	root.AddCommand(newTrace(g, stdout, stderr), newState(g, stdout, stderr), newDiff(g, stdout, stderr))
	root.AddCommand(newCheck(stdout, stderr), newSchema(stdout), newVersion(stdout))
	markUsageErrors(root)
	return root
}

// The bounds of --ticks and --workers are the host's, so that a flag is
// refused, naming it, before anything starts: ticks up to 2^40 (twelve days
// at a million ticks a second; more is a typo, not a run), and up to 1024
// workers, far more than cores on any machine (the number never changes
// results, only how many agents step at once).
const (
	maxTicks   = host.MaxTicks
	maxWorkers = host.MaxWorkers
)

// runFlags are the flags of agenthost run.
type runFlags struct {
	topoPath, record, progress string
	recordActions              bool
	moduleDir, cacheDir        string
	observeAddr                string
	observeLinger              time.Duration
	engine                     string
	trust                      []string
	allowUnsigned              bool
	ticks, workers             int
	pace                       float64
	output                     outputFormat
}

// validate checks the flags that need no file: each error names the flag
// and what to give instead.
func (f *runFlags) validate() error {
	if f.ticks < 0 || f.ticks > maxTicks {
		return fmt.Errorf("--ticks %d: give a number of ticks from 1 to %d (2^40), or 0 for the topology's", f.ticks, maxTicks)
	}
	if err := checkWorkers(f.workers); err != nil {
		return err
	}
	if f.pace != 0 && !(f.pace >= clock.MinRate && f.pace <= clock.MaxRate) { // NaN fails both
		return fmt.Errorf("--pace %v: give at most how many ticks per second to run, from %g to %g, or 0 for as fast as possible", f.pace, clock.MinRate, clock.MaxRate)
	}
	switch f.progress {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("--progress %q: use auto (a bar when stderr is a terminal), always or never", f.progress)
	}
	if err := f.output.check(); err != nil {
		return err
	}
	return checkEngine(f.engine)
}

// engineUsage is the help text of --engine.
const engineUsage = "wazero engine for WebAssembly agents: compiler or interpreter (default: wazero's choice, the compiler on amd64 and arm64); never changes results"

func checkEngine(e string) error {
	switch e {
	case "", wasmagent.EngineCompiler, wasmagent.EngineInterpreter:
		return nil
	}
	return fmt.Errorf("--engine %q: use %s or %s, or leave it out for wazero's choice", e, wasmagent.EngineCompiler, wasmagent.EngineInterpreter)
}

func checkWorkers(n int) error {
	if n < 1 || n > maxWorkers {
		return fmt.Errorf("--workers %d: give 1 to %d worker goroutines (the number never changes results)", n, maxWorkers)
	}
	return nil
}

func newRun(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	rf := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a topology (the embedded default without --topology) and print its final digest",
		Long: `Run a topology (the embedded default of WebAssembly agents without
--topology, its modules from --module-dir) for --ticks ticks or the
topology's, and print a summary: the topology, ticks run, failures,
restarts, dead letters, inferences and models, the final digest and the
replay log written (--record). SIGINT or SIGTERM ends the run after the
tick in progress, closing the replay log cleanly.

-o json prints the summary as one object:
  {"topology","agents","ticks","failures","restarts","dead_letters",
   "inferences","models":[{"id","version","device","requests","batched",
   "errors","runs","mean_run_ns","loads","fallback"}],"digest",
   "replay_log" ("" without --record),"error" (only when the run failed)}
A topology or module that cannot be loaded prints no object, only the
error on stderr.`,
		Example: `  agenthost run --module-dir bin/wasm
  agenthost run --topology my.yaml --ticks 1000 --workers 4 --record run.replay
  agenthost run --topology my.yaml --pace 20 --observe 127.0.0.1:7070
  agenthost run --topology my.yaml --allow-unsigned -o json | jq -r .digest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rf.validate(); err != nil {
				return err
			}
			log, err := g.logger(stderr)
			if err != nil {
				return err
			}
			return run(cmd.Context(), g, rf, log, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&rf.topoPath, "topology", "", "topology file (YAML); default: the embedded WebAssembly demo")
	f.StringVar(&rf.moduleDir, "module-dir", "bin/wasm", "where the default topology's modules are (built by scripts/guests.sh; when bin/wasm is not here: wasm/ beside this executable)")
	f.StringSliceVar(&rf.trust, "trust", nil, "trusted public key files or directories for signed modules (repeat)")
	f.BoolVar(&rf.allowUnsigned, "allow-unsigned", false, "developer flag: run unsigned modules (recorded in the replay log)")
	f.StringVar(&rf.cacheDir, "wasm-cache", defaultCache(), "directory for compiled WebAssembly code (\"\": no cache)")
	f.IntVar(&rf.ticks, "ticks", 0, "ticks to run, 1 to 2^40 (default: the topology's ticks)")
	f.IntVar(&rf.workers, "workers", 2, "worker goroutines for agents, 1 to 1024 (never changes results)")
	f.StringVar(&rf.record, "record", "", "write a replay log to this file")
	f.BoolVar(&rf.recordActions, "record-actions", false, "also record every agent's actions in the replay log (bigger; verify then shows a divergence action by action)")
	f.Float64Var(&rf.pace, "pace", 0, "at most this many ticks per second, 1e-9 to 1e9 (0: as fast as possible)")
	f.StringVar(&rf.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	f.StringVar(&rf.engine, "engine", "", engineUsage)
	f.StringVar(&rf.observeAddr, "observe", "", "serve a read-only view of the run (/summary, /agents, /channels, /snapshot, /metrics, /healthz) on this address, e.g. 127.0.0.1:7070 (port 0 picks one)")
	f.DurationVar(&rf.observeLinger, "observe-linger", 0, "with --observe: after the run, keep serving its final view this long, e.g. 10m (SIGINT or SIGTERM ends it sooner)")
	f.StringVarP((*string)(&rf.output), "output", "o", "text", "output format of the summary: text or json")
	return cmd
}

// run is agenthost run after its flags are checked: load the topology, open
// the replay log, the clock and the observe listener, start the host, run
// it until its ticks are done or a signal arrives, close it and print the
// summary.
func run(ctx context.Context, g *globalFlags, rf *runFlags, log *logrus.Logger, stdout, stderr io.Writer) error {
	// SIGINT and SIGTERM end the run after the tick in progress (or before
	// its first tick, if one arrives while the host starts); the host is
	// then closed as after its last tick, so the replay log gets its End
	// record. A second signal gets the default behaviour: exit at once.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	topo, err := loadTopology(rf.topoPath, rf.moduleDir)
	if err != nil {
		return err
	}
	applyWASMFlags(topo, rf.trust, rf.allowUnsigned, rf.engine)
	ticks := rf.ticks
	if ticks == 0 {
		ticks = topo.Ticks
	}
	if ticks <= 0 { // a topology's ticks are checked when it is parsed
		return fmt.Errorf("--ticks: give a positive number of ticks (the topology sets none)")
	}
	opts := host.Options{Kinds: kinds(), Workers: rf.workers, Logger: log, CreatedBy: createdBy("run"), WASM: host.WASMConfig{CacheDir: rf.cacheDir}, RecordActions: rf.recordActions,
		Inference: host.InferenceConfig{Library: g.ortLib}}
	var recFile *os.File
	if rf.record != "" {
		if recFile, err = os.Create(rf.record); err != nil {
			return fmt.Errorf("--record: %w", err)
		}
		defer recFile.Close()
		opts.Record = recFile
	}
	var driver clock.Driver = clock.FreeRunning{}
	if rf.pace > 0 {
		p, err := clock.NewPaced(rf.pace)
		if err != nil {
			return fmt.Errorf("--pace: %w", err)
		}
		defer p.Close()
		driver = p
	}
	var ln net.Listener
	if rf.observeAddr != "" {
		if ln, err = net.Listen("tcp", rf.observeAddr); err != nil {
			return fmt.Errorf("--observe %s: cannot listen: %w", rf.observeAddr, err)
		}
		defer ln.Close()
		fmt.Fprintf(stderr, "observe: http://%s\n", ln.Addr())
	}
	h, err := topo.Start(opts)
	if err != nil {
		if recFile != nil {
			recFile.Close()
			os.Remove(rf.record)
		}
		return err
	}
	var obs *observe.Observer
	if ln != nil {
		obs = observe.New(topo.Name, h)
		obs.SetLength(uint64(ticks))
		driver = obs.Driver(driver) // times each tick's work, pacing excluded
		defer serveObserver(ln, obs, log)()
		defer linger(ctx, rf.observeLinger, stderr) // before the server shuts down
	}
	bar := newBar(rf.progress, ticks, stderr)
	var sum runSummary
	runErr := h.Run(ctx, ticks, driver, func(r host.TickResult) {
		sum.add(r)
		if bar != nil {
			_ = bar.Add(1)
		}
		if obs != nil {
			obs.Publish(r) // at the barrier: reads r and the host's metrics only
		}
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	if errors.Is(runErr, context.Canceled) {
		if cause := context.Cause(ctx); cause != nil && cause != context.Canceled { // a signal's cause also matches Canceled
			fmt.Fprintf(stderr, "agenthost: %v: stopping after %d ticks, closing the run\n", cause, uint64(h.Tick()))
		}
	}
	if obs != nil {
		endErr := runErr
		if errors.Is(runErr, context.Canceled) {
			endErr = context.Cause(ctx)
		}
		obs.Finish(endErr) // the final view, before Close stops the agents
	}
	models := modelSummary(h)
	metrics := modelMetrics(h)
	closeErr := h.Close()
	if obs != nil && rf.record != "" {
		if err := obs.WriteFile(rf.record + ".final.json"); err != nil {
			log.Warnf("observe: %v", err)
		}
	}
	last := h.Last()
	if rf.output == "json" {
		j := runJSON{Topology: topo.Name, Agents: len(topo.Agents), Ticks: uint64(h.Tick()), Failures: sum.failures, Restarts: sum.restarts,
			DeadLetters: sum.dead, Inferences: sum.inferences, Models: metrics, Digest: last.DigestHex()}
		if rf.record != "" && closeErr == nil {
			j.ReplayLog = rf.record
		}
		err := closeErr
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			err = runErr
		}
		if err != nil {
			j.Error = err.Error()
		}
		if werr := writeJSON(stdout, j); werr != nil && err == nil {
			return werr
		}
		return err
	}
	fmt.Fprintf(stdout, "topology: %s (%d agents)\n", topo.Name, len(topo.Agents))
	fmt.Fprintf(stdout, "ticks: %d\n", uint64(h.Tick()))
	fmt.Fprintf(stdout, "failures: %d, restarts: %d, dead letters: %d\n", sum.failures, sum.restarts, sum.dead)
	if models != "" {
		fmt.Fprintf(stdout, "inferences: %d\n%s", sum.inferences, models)
	}
	fmt.Fprintf(stdout, "digest: %s\n", last.DigestHex())
	if rf.record != "" && closeErr == nil {
		fmt.Fprintf(stdout, "replay log: %s\n", rf.record)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return closeErr
}

// runJSON is the summary of run -o json.
type runJSON struct {
	Topology    string      `json:"topology"`
	Agents      int         `json:"agents"`
	Ticks       uint64      `json:"ticks"`
	Failures    uint64      `json:"failures"`
	Restarts    uint64      `json:"restarts"`
	DeadLetters uint64      `json:"dead_letters"`
	Inferences  uint64      `json:"inferences"`
	Models      []modelJSON `json:"models"`
	Digest      string      `json:"digest"`
	ReplayLog   string      `json:"replay_log"`
	Error       string      `json:"error,omitempty"`
}

// modelJSON is one model of a run's summary.
type modelJSON struct {
	ID        string `json:"id"`
	Version   string `json:"version"`
	Device    string `json:"device"`
	Requests  uint64 `json:"requests"`
	Batched   uint64 `json:"batched"`
	Errors    uint64 `json:"errors"`
	Runs      uint64 `json:"runs"`
	MeanRunNS int64  `json:"mean_run_ns"`
	Loads     uint64 `json:"loads"`
	Fallback  string `json:"fallback"`
}

// modelMetrics is modelSummary for -o json.
func modelMetrics(h *host.Host) []modelJSON {
	out := []modelJSON{}
	if h.Models() == nil {
		return out
	}
	for _, m := range h.Models().Metrics() {
		j := modelJSON{ID: m.ID, Version: m.Version, Device: m.Device, Requests: m.Requests, Batched: m.Batched,
			Errors: m.Errors, Runs: m.Runs, Loads: m.Loads, Fallback: m.Fallback}
		if m.Runs > 0 {
			j.MeanRunNS = int64(m.RunTime / time.Duration(m.Runs))
		}
		out = append(out, j)
	}
	return out
}

// runSummary counts what the summary of a run prints.
type runSummary struct{ failures, restarts, dead, inferences uint64 }

func (s *runSummary) add(r host.TickResult) {
	s.dead += r.DeadLetters
	s.inferences += uint64(r.Inferences)
	for _, e := range r.Events {
		switch e.Kind {
		case "failed":
			s.failures++
		case "restarted":
			s.restarts++
		}
	}
}

// serveObserver serves obs on ln with package server's limits (a cap on
// connections, read, write and idle timeouts) and returns the function that
// shuts the server down.
func serveObserver(ln net.Listener, obs *observe.Observer, log *logrus.Logger) func() {
	srv, errc := server.Serve(ln, obs.Handler(), server.Limits{})
	go func() {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			log.Warnf("observe: %v", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warnf("observe: shutting the server down: %v", err)
		}
	}
}

// linger keeps the observer serving the run's final view for d, or until
// ctx ends (a signal).
func linger(ctx context.Context, d time.Duration, stderr io.Writer) {
	if d <= 0 || ctx.Err() != nil {
		return
	}
	fmt.Fprintf(stderr, "observe: the run is over; serving its final view for %v (interrupt to exit)\n", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// modelSummary describes each model of the run: where it ran, its requests
// and ONNX Runtime runs (a batch is one run) and their mean time.
func modelSummary(h *host.Host) string {
	if h.Models() == nil {
		return ""
	}
	var b strings.Builder
	for _, m := range h.Models().Metrics() {
		mean := time.Duration(0)
		if m.Runs > 0 {
			mean = m.RunTime / time.Duration(m.Runs)
		}
		fmt.Fprintf(&b, "  model %s@%s on %s: %d requests (%d batched, %d errors) in %d runs, mean run %v, loads %d\n",
			m.ID, m.Version, m.Device, m.Requests, m.Batched, m.Errors, m.Runs, mean, m.Loads)
		if m.Fallback != "" {
			fmt.Fprintf(&b, "    fallback: %s\n", m.Fallback)
		}
	}
	return b.String()
}

func loadTopology(path, moduleDir string) (*host.Topology, error) {
	if path != "" {
		return host.LoadTopology(path)
	}
	t, err := host.ParseTopology("embedded default topology", wasmtopo.Topology)
	if err != nil {
		return nil, err
	}
	t.ResolveModules(defaultModuleDir(moduleDir))
	return t, nil
}

// defaultModuleDir is where the default topology's modules are: dir, or,
// when dir is the default (bin/wasm, relative to a checkout) and not here,
// wasm/ beside the agenthost executable (make run builds bin/agenthost and
// bin/wasm side by side), so that bin/agenthost run works from anywhere.
func defaultModuleDir(dir string) string {
	if dir != "bin/wasm" {
		return dir
	}
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	exe, err := os.Executable()
	if err != nil {
		return dir
	}
	beside := filepath.Join(filepath.Dir(exe), "wasm")
	if _, err := os.Stat(beside); err == nil {
		return beside
	}
	return dir
}

// defaultCache is the compilation cache under the user's cache directory.
func defaultCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "lockstep", "wazero")
}

func newBar(mode string, ticks int, w io.Writer) *progressbar.ProgressBar {
	show := mode == "always"
	if mode == "auto" {
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			show = true
		}
	}
	if !show {
		return nil
	}
	return progressbar.NewOptions(ticks, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("ticks"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetWidth(30))
}

// verifyPath verifies a replay log file or a daemon's data directory.
func verifyPath(path, fromCP string, opts host.ReplayOptions) (*host.VerifyResult, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if fromCP != "" {
			return nil, errors.New("--from-checkpoint: only for a data directory of agenthost serve")
		}
		return host.VerifyFile(path, opts)
	}
	from := int64(daemon.FromStart)
	switch fromCP {
	case "":
	case "latest":
		from = daemon.Latest
	default:
		t, err := strconv.ParseUint(fromCP, 10, 62)
		if err != nil {
			return nil, fmt.Errorf("--from-checkpoint %q: give a checkpoint's tick or latest", fromCP)
		}
		from = int64(t)
	}
	return daemon.Verify(path, opts, from)
}

func newVerify(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		rf         replayFlags
		versionReq string
		fromCP     string
		out        outputFormat
	)
	cmd := &cobra.Command{
		Use:   "verify FILE|DATA_DIR",
		Short: "Verify a replay log (re-run it; exit 1: diverged, 2: corrupt, 3: a module, model or key missing) or a signed module (--trust KEY)",
		Long: `Verify a replay log: re-run it and compare every tick (exit 1: diverged or
cannot be replayed, 2: corrupt log, 3: a module, model or key the log needs
was not given or not found, or the log asks for more fuel than --max-fuel).
The log is untrusted input: the modules and models it names are looked up
by file name in --module-dir (default: the log's directory) and must have
the SHA-256 it recorded (a model whose answers were recorded as not
deterministic, on CUDA or in fast mode, is never looked for; a
deterministic model's file is needed to check its recorded answers, or
--unchecked-models replays them unchecked, with a warning), and
only the keys given with --trust (and unsigned modules only with
--allow-unsigned) are trusted, whatever the log's header says.

A data directory of agenthost serve is verified segment by segment, from
the start of its log or, with --from-checkpoint, from a checkpoint: a
weeks-long run is checked from its last checkpoint without replaying it all.

Or verify a signed module's signature: verify --trust KEY MODULE.wasm.

-o json prints the outcome as one object; of a replay log:
  {"file","ticks","digest","identical","complete",
   "divergence":{"tick","agent","what"} or null,"corrupt":"..." or null,
   "warnings":[...]}
(ticks and digest: those verified identical; the exit status is the
same as in text), of a module:
  {"module","verified","name","version","key_id","capabilities","error"}
An error before anything is replayed (exit 2 for a damaged header, 3 for
what the replay lacks) prints no object, only the error on stderr.`,
		Example: `  agenthost verify --module-dir bin/wasm --allow-unsigned bin/default.replay
  agenthost verify --module-dir bin/wasm --allow-unsigned --from-checkpoint latest /var/lib/lockstep/t
  agenthost verify --module-dir bin/wasm --allow-unsigned -o json run.replay | jq .divergence
  agenthost verify --trust author.pub agent.wasm`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if module, ok, err := isWasm(args[0]); err != nil {
				return err
			} else if ok {
				return verifyModule(stdout, out, args[0], module, rf.trust, versionReq)
			}
			opts, err := rf.options(g, stderr)
			if err != nil {
				return err
			}
			res, err := verifyPath(args[0], fromCP, opts)
			if err := replayExit(err); err != nil {
				return err
			}
			if out == "json" {
				return printVerifyJSON(stdout, args[0], res)
			}
			switch {
			case res.Divergence != nil:
				fmt.Fprintf(stdout, "verified %d ticks identical, then %s\n", res.Ticks, res.Divergence)
				fmt.Fprintf(stdout, "what the agents did at that tick: agenthost trace %s --from %d --to %d%s\n", args[0], uint64(res.Divergence.Tick), uint64(res.Divergence.Tick), agentFlag(res.Divergence.Agent))
				return &exitError{1, errors.New("replay diverged")}
			case res.Corrupt != nil:
				fmt.Fprintf(stdout, "verified %d ticks identical (digest %x); the rest of the log is unreadable:\n  %v\n", res.Ticks, res.Digest, res.Corrupt)
				return &exitError{2, errors.New("replay log is corrupt")}
			}
			if fromCP != "" {
				fmt.Fprintf(stdout, "identical from the checkpoint (%s): %d ticks after it, digest %x\n", fromCP, res.Ticks, res.Digest)
			} else {
				fmt.Fprintf(stdout, "identical: %d ticks, digest %x\n", res.Ticks, res.Digest)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(stdout, "warning: %s\n", w)
			}
			if !res.Complete {
				fmt.Fprintln(stdout, "note: the log has no end record (the run was not closed cleanly); every tick in it reproduced")
			}
			return nil
		},
	}
	f := cmd.Flags()
	rf.register(f)
	f.StringVar(&versionReq, "version", "", "modules: version requirement, e.g. ^1.2")
	f.StringVar(&fromCP, "from-checkpoint", "", "data directories: start from the checkpoint of this tick, or latest (default: from the start of the log)")
	f.StringVarP((*string)(&out), "output", "o", "text", "output format: text or json")
	return cmd
}

// verifyJSON is the outcome of verify -o json for a replay log.
type verifyJSON struct {
	File       string          `json:"file"`
	Ticks      uint64          `json:"ticks"`
	Digest     string          `json:"digest"`
	Identical  bool            `json:"identical"`
	Complete   bool            `json:"complete"`
	Divergence *divergenceJSON `json:"divergence"`
	Corrupt    *string         `json:"corrupt"`
	Warnings   []string        `json:"warnings"`
}

type divergenceJSON struct {
	Tick  uint64 `json:"tick"`
	Agent string `json:"agent"`
	What  string `json:"what"`
}

// printVerifyJSON prints res and returns the exit status verify gives it
// in text.
func printVerifyJSON(stdout io.Writer, path string, res *host.VerifyResult) error {
	j := verifyJSON{File: path, Ticks: res.Ticks, Digest: fmt.Sprintf("%x", res.Digest), Identical: res.Identical(), Complete: res.Complete,
		Warnings: append([]string{}, res.Warnings...)}
	var exit error
	if d := res.Divergence; d != nil {
		j.Divergence = &divergenceJSON{Tick: uint64(d.Tick), Agent: d.Agent, What: d.What}
		exit = &exitError{exitFailed, errors.New("replay diverged")}
	} else if res.Corrupt != nil {
		msg := res.Corrupt.Error()
		j.Corrupt = &msg
		exit = &exitError{exitCorrupt, errors.New("replay log is corrupt")}
	}
	if err := writeJSON(stdout, j); err != nil {
		return err
	}
	return exit
}

// replayFlags are the flags of the commands that replay a log: verify,
// trace, state, diff.
type replayFlags struct {
	workers       int
	trust         []string
	moduleDirs    []string
	allowUnsigned bool
	engine        string
	maxFuel       uint64
	unchecked     bool
}

func (rf *replayFlags) register(f *pflag.FlagSet) {
	f.IntVar(&rf.workers, "workers", 2, "replay logs: worker goroutines, 1 to 1024 (never changes results)")
	f.StringSliceVar(&rf.trust, "trust", nil, "trusted public key files or directories (repeat): a module's signature must verify under one; a replay's signed modules must be signed by one")
	f.StringArrayVar(&rf.moduleDirs, "module-dir", nil, "replay logs: where the run's modules and models are, looked up by file name (repeat; default: the log's directory)")
	f.BoolVar(&rf.allowUnsigned, "allow-unsigned", false, "replay logs: run the log's unsigned modules (for runs recorded with allow_unsigned)")
	f.StringVar(&rf.engine, "engine", "", "replay logs: "+engineUsage)
	f.Uint64Var(&rf.maxFuel, "max-fuel", host.DefaultReplayMaxFuel, "replay logs: the most fuel per tick (or for instantiation) the replay grants an agent; a log asking for more is refused (exit 3)")
	f.BoolVar(&rf.unchecked, "unchecked-models", false, "replay logs: replay a deterministic model's recorded answers without checking them when its file is not found (a warning; without the flag: exit 3)")
}

// options checks the flags and makes the replay options.
func (rf *replayFlags) options(g *globalFlags, stderr io.Writer) (host.ReplayOptions, error) {
	if err := checkWorkers(rf.workers); err != nil {
		return host.ReplayOptions{}, err
	}
	if err := checkEngine(rf.engine); err != nil {
		return host.ReplayOptions{}, err
	}
	log, err := g.logger(stderr)
	if err != nil {
		return host.ReplayOptions{}, err
	}
	return host.ReplayOptions{Kinds: kinds(), Workers: rf.workers, Logger: log, Inference: host.InferenceConfig{Library: g.ortLib},
		Trust: rf.trust, AllowUnsigned: rf.allowUnsigned, ModuleDirs: rf.moduleDirs, Engine: rf.engine, MaxFuel: rf.maxFuel, UncheckedModels: rf.unchecked}, nil
}

// replayExit gives a replay's setup errors their exit codes: 2 for a
// damaged log header, 3 for what the replay lacks (a module, model, key
// or kind).
func replayExit(err error) error {
	switch {
	case errors.Is(err, replaylog.ErrCorrupt):
		return &exitError{2, err} // a damaged header: nothing can be replayed
	case errors.Is(err, host.ErrReplayInput):
		return &exitError{3, err} // a module, model, key or kind the verifier did not give
	}
	return err
}

func agentFlag(a string) string {
	if a == "" {
		return ""
	}
	return " --agent " + a
}
