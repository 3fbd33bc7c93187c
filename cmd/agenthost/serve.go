package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon"
	"github.com/lockstep-rt/lockstep/host/daemon/api"
	"github.com/lockstep-rt/lockstep/host/federation"
)

// serveFlags are the flags of agenthost serve.
type serveFlags struct {
	topoPath, dataDir, moduleDir, cacheDir string
	clock, sync, listen, engine            string
	trust                                  []string
	allowUnsigned, keepLog                 bool
	pace                                   float64
	workers, keepCheckpoints               int
	checkpointEvery, ticks                 uint64
	segmentBytes                           int64
	fed                                    federationFlags
	// With --federation coordinator: the coordinator and its start.
	coordinator *federation.Coordinator
	federate    func(*host.Host, *host.Checkpoint) error
}

// syncPolicy parses --sync: every-tick, or a group commit interval.
func syncPolicy(s string) (time.Duration, error) {
	if s == "every-tick" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > time.Second {
		return 0, fmt.Errorf("--sync %q: give every-tick, or a group commit interval from 1µs to 1s such as 2ms", s)
	}
	return d, nil
}

func newServe(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	sf := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a topology as a daemon: inputs and outputs through its API, a durable log, checkpoints, resume after a crash",
		Long: `serve runs a topology until SIGTERM or SIGINT, then finishes the tick in
progress, writes the log's End record and exits 0. Its data directory holds
the replay log (as segments), checkpoints and the API's Unix socket; run it
again on the same directory and it resumes from its newest good checkpoint
and the log after it. An input is acknowledged only once it is on disk.

The verbs input, subscribe, spawn, stop, status, pause, resume and step are
clients of its API.`,
		Example: `  agenthost serve --topology t.yaml --data-dir /var/lib/lockstep/t
  agenthost serve --topology t.yaml --data-dir d --clock manual     # ticks only on "agenthost step"
  agenthost serve --topology t.yaml --data-dir d --listen 127.0.0.1:7443 --sync every-tick
  agenthost serve --topology t.yaml --data-dir d0 --federation coordinator --federation-listen node0:7000 --members 2 --token-file tok
  agenthost serve --federation member --join node0:7000 --name node1 --token-file tok --module-dir modules   # on each member`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(stderr)
			if err != nil {
				return err
			}
			switch sf.fed.role {
			case "":
			case "member":
				return sf.fed.member(cmd.Context(), g, sf, log, stderr)
			case "coordinator":
				c, start, err := sf.fed.coordinator(cmd, log, stderr)
				if err != nil {
					return err
				}
				sf.federate, sf.coordinator = start, c
				defer c.Close("the coordinator stopped")
			default:
				return fmt.Errorf("--federation %q: give coordinator or member", sf.fed.role)
			}
			return serve(cmd.Context(), g, sf, log, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.topoPath, "topology", "", "topology file (YAML); default: the embedded WebAssembly demo")
	f.StringVar(&sf.dataDir, "data-dir", os.Getenv(api.DataDirEnv), "data directory: log, checkpoints, socket, tokens (default $"+api.DataDirEnv+")")
	f.StringVar(&sf.moduleDir, "module-dir", "bin/wasm", "where the default topology's modules are (built by scripts/guests.sh; when bin/wasm is not here: wasm/ beside this executable)")
	f.StringSliceVar(&sf.trust, "trust", nil, "trusted public key files or directories for signed modules (repeat)")
	f.BoolVar(&sf.allowUnsigned, "allow-unsigned", false, "developer flag: run unsigned modules (recorded in the log)")
	f.StringVar(&sf.cacheDir, "wasm-cache", defaultCache(), "directory for compiled WebAssembly code (\"\": no cache)")
	f.StringVar(&sf.engine, "engine", "", engineUsage)
	f.IntVar(&sf.workers, "workers", 2, "worker goroutines for agents, 1 to 1024 (never changes results)")
	f.StringVar(&sf.clock, "clock", "paced", "when ticks run: free (back to back), paced (--pace per second) or manual (only on step)")
	f.Float64Var(&sf.pace, "pace", 10, "ticks per second with --clock paced")
	f.StringVar(&sf.sync, "sync", "2ms", "when the log is synced: every-tick, or a group commit interval (an acknowledgement waits at most that long for the next sync)")
	f.Uint64Var(&sf.checkpointEvery, "checkpoint-every", 1000, "take a checkpoint every N ticks (0: none)")
	f.IntVar(&sf.keepCheckpoints, "keep-checkpoints", daemon.DefaultKeepCheckpoints, "checkpoints kept")
	f.Int64Var(&sf.segmentBytes, "segment-size", daemon.DefaultSegmentBytes, "start a new log segment past this many bytes")
	f.BoolVar(&sf.keepLog, "keep-log", false, "keep every log segment (default: remove those before the oldest kept checkpoint)")
	f.StringVar(&sf.listen, "listen", "", "also serve the API on this TCP address; calls need the bearer token in <data-dir>/token (or token.read, for status and subscribe)")
	f.Uint64Var(&sf.ticks, "ticks", 0, "stop when the run reaches this tick (0: run until stopped)")
	sf.fed.register(f)
	return cmd
}

// serve is agenthost serve after its flags are parsed.
func serve(ctx context.Context, g *globalFlags, sf *serveFlags, log *logrus.Logger, stderr io.Writer) error {
	if sf.dataDir == "" {
		return fmt.Errorf("--data-dir: give the daemon's data directory (or set $%s)", api.DataDirEnv)
	}
	if err := checkWorkers(sf.workers); err != nil {
		return err
	}
	if err := checkEngine(sf.engine); err != nil {
		return err
	}
	group, err := syncPolicy(sf.sync)
	if err != nil {
		return err
	}
	clk := daemon.Clock(sf.clock)
	if sf.clock == "paced" && sf.pace == 0 {
		clk = daemon.Free
	}
	// SIGINT and SIGTERM stop the daemon after the tick in progress; a
	// second one exits at once. A write past a file size limit fails with
	// an error the daemon reports, rather than killing it (SIGXFSZ).
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	ignoreFileSizeSignal()
	topo, err := loadTopology(sf.topoPath, sf.moduleDir)
	if err != nil {
		return err
	}
	applyWASMFlags(topo, sf.trust, sf.allowUnsigned, sf.engine)
	d, err := daemon.Open(daemon.Config{
		DataDir: sf.dataDir, Topology: topo, Clock: clk, Pace: sf.pace, GroupCommit: group,
		CheckpointEvery: sf.checkpointEvery, KeepCheckpoints: sf.keepCheckpoints, SegmentBytes: sf.segmentBytes,
		KeepLog: sf.keepLog, Listen: sf.listen, Ticks: sf.ticks, Federate: sf.federate,
		Options: host.Options{Kinds: kinds(), Workers: sf.workers, Logger: log, CreatedBy: createdBy("serve"), Federation: sf.remote(),
			WASM: host.WASMConfig{CacheDir: sf.cacheDir}, Inference: host.InferenceConfig{Library: g.ortLib}},
	})
	if err != nil {
		return err
	}
	st := d.Status()
	fmt.Fprintf(stderr, "serving %s at tick %d on %s", topo.Name, st.Tick, d.Socket())
	if a := d.Addr(); a != "" {
		fmt.Fprintf(stderr, " and %s", a)
	}
	fmt.Fprintln(stderr)
	err = d.Serve(ctx)
	st = d.Status()
	fmt.Fprintf(stderr, "stopped at tick %d, digest %s\n", st.Tick, st.Digest)
	return err
}

// remote is the daemon's host's Federation: the coordinator, if any (a
// nil *Coordinator in the interface would be a non-nil Remote).
func (sf *serveFlags) remote() actors.Remote {
	if sf.coordinator == nil {
		return nil
	}
	return sf.coordinator
}

// applyWASMFlags adds the command line's module trust settings to a
// topology's.
func applyWASMFlags(topo *host.Topology, trust []string, allowUnsigned bool, engine string) {
	topo.WASM.Trust = append(topo.WASM.Trust, trust...)
	topo.WASM.AllowUnsigned = topo.WASM.AllowUnsigned || allowUnsigned
	if engine != "" {
		topo.WASM.Engine = engine
	}
}
