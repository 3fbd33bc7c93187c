// Command agenthost runs Lockstep topologies headless and checks their
// replay logs.
//
//	agenthost run [--topology FILE] [--ticks N] [--workers N] [--record FILE] [--pace N] [--observe ADDR]
//	agenthost verify FILE [--workers N]            (a replay log)
//	agenthost keygen --out author.key
//	agenthost sign --key author.key --name NAME --version X.Y.Z --cap CAP... MODULE.wasm
//	agenthost verify --trust author.pub MODULE.wasm
//	agenthost inspect MODULE.wasm
//
// With no --topology, run uses the embedded default topology of WebAssembly
// agents (examples/wasm/topology), whose modules it loads from --module-dir
// (scripts/guests.sh builds them into bin/wasm). The Go-native kinds of
// examples/pipeline are available to every topology.
//
// With --observe ADDR, run serves a read-only view of the run over HTTP
// (package host/observe: /snapshot, /metrics, /healthz), updated at every
// barrier; cmd/agentui shows it in a browser.
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
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/examples/pipeline"
	wasmtopo "github.com/lockstep-rt/lockstep/examples/wasm/topology"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/modelactor"
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
		Use:           "agenthost",
		Short:         "Run Lockstep agent topologies deterministically, record and verify replay logs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&g.ortLib, "ort-lib", "", "ONNX Runtime shared library for topologies with models (default: $"+modelactor.LibraryEnv+", else where scripts/onnxruntime.sh puts it)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warning", "log level: panic, fatal, error, warning, info, debug, trace")
	root.AddCommand(newRun(g, stdout, stderr), newVerify(g, stdout, stderr), newKeygen(stdout), newSign(stdout), newInspect(stdout))
	return root
}

func newRun(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		topoPath, record, progress string
		moduleDir, cacheDir        string
		observeAddr                string
		trust                      []string
		allowUnsigned              bool
		ticks, workers             int
		pace                       float64
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a topology (the embedded default without --topology) and print its final digest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(stderr)
			if err != nil {
				return err
			}
			topo, err := loadTopology(topoPath, moduleDir)
			if err != nil {
				return err
			}
			topo.WASM.Trust = append(topo.WASM.Trust, trust...)
			topo.WASM.AllowUnsigned = topo.WASM.AllowUnsigned || allowUnsigned
			if ticks == 0 {
				ticks = topo.Ticks
			}
			if ticks <= 0 {
				return fmt.Errorf("--ticks: give a positive number of ticks (the topology sets none)")
			}
			opts := host.Options{Kinds: kinds(), Workers: workers, Logger: log, CreatedBy: "agenthost run", WASM: host.WASMConfig{CacheDir: cacheDir},
				Inference: host.InferenceConfig{Library: g.ortLib}}
			var recFile *os.File
			if record != "" {
				if recFile, err = os.Create(record); err != nil {
					return fmt.Errorf("--record: %w", err)
				}
				defer recFile.Close()
				opts.Record = recFile
			}
			var driver clock.Driver = clock.FreeRunning{}
			if pace > 0 {
				p, err := clock.NewPaced(pace)
				if err != nil {
					return fmt.Errorf("--pace: %w", err)
				}
				defer p.Close()
				driver = p
			}
			var ln net.Listener
			if observeAddr != "" {
				if ln, err = net.Listen("tcp", observeAddr); err != nil {
					return fmt.Errorf("--observe %s: cannot listen: %w", observeAddr, err)
				}
				defer ln.Close()
				fmt.Fprintf(stderr, "observe: http://%s\n", ln.Addr())
			}
			h, err := topo.Start(opts)
			if err != nil {
				if recFile != nil {
					recFile.Close()
					os.Remove(record)
				}
				return err
			}
			var obs *observe.Observer
			if ln != nil {
				obs = observe.New(topo.Name, h)
				srv := &http.Server{Handler: obs.Handler(), ReadHeaderTimeout: 10 * time.Second}
				go func() {
					if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
						log.Warnf("observe: %v", err)
					}
				}()
				defer func() {
					sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if err := srv.Shutdown(sctx); err != nil {
						log.Warnf("observe: shutting the server down: %v", err)
					}
				}()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			bar := newBar(progress, ticks, stderr)
			var failures, restarts, dead, inferences uint64
			runErr := h.Run(ctx, ticks, driver, func(r host.TickResult) {
				dead += r.DeadLetters
				inferences += uint64(r.Inferences)
				for _, e := range r.Events {
					switch e.Kind {
					case "failed":
						failures++
					case "restarted":
						restarts++
					}
				}
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
			models := modelSummary(h)
			closeErr := h.Close()
			last := h.Last()
			fmt.Fprintf(stdout, "topology: %s (%d agents)\n", topo.Name, len(topo.Agents))
			fmt.Fprintf(stdout, "ticks: %d\n", uint64(h.Tick()))
			fmt.Fprintf(stdout, "failures: %d, restarts: %d, dead letters: %d\n", failures, restarts, dead)
			if models != "" {
				fmt.Fprintf(stdout, "inferences: %d\n%s", inferences, models)
			}
			fmt.Fprintf(stdout, "digest: %s\n", last.DigestHex())
			if record != "" && closeErr == nil {
				fmt.Fprintf(stdout, "replay log: %s\n", record)
			}
			if runErr != nil && !errors.Is(runErr, context.Canceled) {
				return runErr
			}
			return closeErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&topoPath, "topology", "", "topology file (YAML); default: the embedded WebAssembly demo")
	f.StringVar(&moduleDir, "module-dir", "bin/wasm", "where the default topology's modules are (built by scripts/guests.sh)")
	f.StringSliceVar(&trust, "trust", nil, "trusted public key files or directories for signed modules (repeat)")
	f.BoolVar(&allowUnsigned, "allow-unsigned", false, "developer flag: run unsigned modules (recorded in the replay log)")
	f.StringVar(&cacheDir, "wasm-cache", defaultCache(), "directory for compiled WebAssembly code (\"\": no cache)")
	f.IntVar(&ticks, "ticks", 0, "ticks to run (default: the topology's ticks)")
	f.IntVar(&workers, "workers", 2, "worker goroutines for agents (never changes results)")
	f.StringVar(&record, "record", "", "write a replay log to this file")
	f.Float64Var(&pace, "pace", 0, "at most this many ticks per second (0: as fast as possible)")
	f.StringVar(&progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	f.StringVar(&observeAddr, "observe", "", "serve a read-only view of the run (/snapshot, /metrics, /healthz) on this address, e.g. 127.0.0.1:7070 (port 0 picks one)")
	return cmd
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
	t.ResolveModules(moduleDir)
	return t, nil
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

func newVerify(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		workers    int
		trust      []string
		versionReq string
	)
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify a replay log (re-run it; exit 1: diverged, 2: corrupt) or a signed module (--trust KEY)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if module, ok, err := isWasm(args[0]); err != nil {
				return err
			} else if ok {
				return verifyModule(stdout, args[0], module, trust, versionReq)
			}
			log, err := g.logger(stderr)
			if err != nil {
				return err
			}
			res, err := host.VerifyFile(args[0], host.ReplayOptions{Kinds: kinds(), Workers: workers, Logger: log, Inference: host.InferenceConfig{Library: g.ortLib}})
			if err != nil {
				return err
			}
			switch {
			case res.Divergence != nil:
				fmt.Fprintf(stdout, "verified %d ticks identical, then %s\n", res.Ticks, res.Divergence)
				return &exitError{1, errors.New("replay diverged")}
			case res.Corrupt != nil:
				fmt.Fprintf(stdout, "verified %d ticks identical (digest %x); the rest of the log is unreadable:\n  %v\n", res.Ticks, res.Digest, res.Corrupt)
				return &exitError{2, errors.New("replay log is corrupt")}
			}
			fmt.Fprintf(stdout, "identical: %d ticks, digest %x\n", res.Ticks, res.Digest)
			if !res.Complete {
				fmt.Fprintln(stdout, "note: the log has no end record (the run was not closed cleanly); every tick in it reproduced")
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&workers, "workers", 2, "worker goroutines for the replay (never changes results)")
	cmd.Flags().StringSliceVar(&trust, "trust", nil, "modules: trusted public key files or directories (repeat)")
	cmd.Flags().StringVar(&versionReq, "version", "", "modules: version requirement, e.g. ^1.2")
	return cmd
}
