package main

// The verbs that talk to a running daemon (agenthost serve), each a thin
// client of its API (package host/daemon/api):
//
//	agenthost input (--to AGENT | --channel CH) [--payload TEXT|@FILE|-] [--key KEY]
//	agenthost subscribe [--channel CH]... [--address ADDR]... [--from-tick N] [-o text|json]
//	agenthost spawn --id ID --kind KIND [--config JSON|@FILE|-] [--group G] [--priority N] [--fuel N] [--channel CH]...
//	agenthost stop ID
//	agenthost status [-o text|json]
//	agenthost pause | resume | step [N]   [-o text|json]
//
// Each finds the daemon by --data-dir (its Unix socket) or --addr (TCP, with
// a token); see clientHelp. A gRPC error is printed as its message alone,
// and its code decides the exit status (clientExit).

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstep-rt/lockstep/host/daemon/api"
)

// clientHelp ends the help of every client verb.
const clientHelp = `

The daemon is found by --data-dir (default: $` + api.DataDirEnv + `), through its
Unix socket, which allows every verb; or by --addr HOST:PORT, over TCP with
a bearer token from --token-file or $` + api.TokenEnv + `: the full token
(<data-dir>/` + api.TokenFile + `) allows every verb, the read-only one (<data-dir>/` + api.ReadTokenFile + `)
status and subscribe only. TCP is plaintext: use it on trusted networks or
behind a proxy that terminates TLS.

Exit status: 1 the daemon refused the request or it failed, 2 no daemon was
reached, 3 no token, a wrong one, or the read-only one for a verb that
changes the run.`

// The exit statuses of the client verbs besides 1.
const (
	exitUnreachable = 2 // codes.Unavailable: no daemon at the socket or address
	exitDenied      = 3 // codes.Unauthenticated, codes.PermissionDenied
)

// newClientCommands returns the client verbs.
func newClientCommands(stdout, stderr io.Writer) []*cobra.Command {
	return []*cobra.Command{newInput(stdout), newSubscribe(stdout, stderr), newSpawn(stdout), newStop(stdout),
		newStatus(stdout), newPause(stdout), newResume(stdout), newStep(stdout)}
}

// clientFlags are the flags every client verb has: where the daemon is.
type clientFlags struct {
	dataDir, addr, tokenFile string
}

func (c *clientFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.dataDir, "data-dir", "", "the daemon's data directory, to use its Unix socket (default: $"+api.DataDirEnv+")")
	f.StringVar(&c.addr, "addr", "", "the daemon's TCP address, HOST:PORT, instead of the socket (needs a token)")
	f.StringVar(&c.tokenFile, "token-file", "", "with --addr: file with the full or the read-only token, a copy of <data-dir>/"+api.TokenFile+" or "+api.ReadTokenFile+", mode 0600 (default: $"+api.TokenEnv+")")
}

// call connects to the daemon and runs f with a context that SIGINT and
// SIGTERM cancel. f's gRPC errors become clientExit's.
func (c *clientFlags) call(cmd *cobra.Command, f func(context.Context, api.AgenthostClient) error) error {
	o := api.DialOptions{DataDir: c.dataDir, Addr: c.addr}
	if o.DataDir == "" {
		o.DataDir = os.Getenv(api.DataDirEnv)
	}
	if o.Addr == "" && o.DataDir == "" {
		return fmt.Errorf("which daemon? give --data-dir DIR (or set %s) for its socket, or --addr HOST:PORT", api.DataDirEnv)
	}
	if o.Addr != "" {
		if c.tokenFile != "" {
			tok, err := api.ReadToken(c.tokenFile)
			if err != nil {
				return fmt.Errorf("--token-file: %w", err)
			}
			o.Token = tok
		} else {
			o.Token = strings.TrimSpace(os.Getenv(api.TokenEnv))
		}
	}
	conn, err := api.Dial(o)
	if err != nil {
		return clientExit(err)
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = f(ctx, api.NewAgenthostClient(conn))
	if err != nil && ctx.Err() != nil && status.Code(err) == codes.Canceled {
		return errors.New("interrupted: the daemon may still apply the request")
	}
	return clientExit(err)
}

// clientExit turns a gRPC error into its message alone, with the exit
// status for its code; other errors are returned as they are.
func clientExit(err error) error {
	s, ok := status.FromError(err)
	if err == nil || !ok {
		return err
	}
	code := 1
	switch s.Code() {
	case codes.Unavailable:
		code = exitUnreachable
	case codes.Unauthenticated, codes.PermissionDenied:
		code = exitDenied
	}
	return &exitError{code, errors.New(s.Message())}
}

// outputFormat is the value of -o.
type outputFormat string

func addOutput(cmd *cobra.Command, o *outputFormat) {
	cmd.Flags().StringVarP((*string)(o), "output", "o", "text", "output format: text or json (one object per line)")
}

func (o outputFormat) check() error {
	if o != "text" && o != "json" {
		return fmt.Errorf("-o %q: use text or json", string(o))
	}
	return nil
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// readArg reads a flag's value: TEXT as it is, @FILE the file's content, -
// standard input.
func readArg(flag, v string, stdin io.Reader) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	switch {
	case v == "-":
		b, err = io.ReadAll(stdin)
	case strings.HasPrefix(v, "@"):
		b, err = os.ReadFile(v[1:])
	default:
		return []byte(v), nil
	}
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", flag, v, err)
	}
	return b, nil
}

func newInput(stdout io.Writer) *cobra.Command {
	var (
		c                     clientFlags
		to, channel, key, arg string
	)
	cmd := &cobra.Command{
		Use:   "input (--to AGENT | --channel CHANNEL) [--payload TEXT|@FILE|-] [--key KEY]",
		Short: "Send an external message to an agent or a channel of a running daemon; print the tick it is delivered at",
		Long: `Send an external message to an agent (--to) or a channel (--channel) of a
running daemon. It prints the tick the message is delivered at once the
daemon has it on disk. With --key, a retry of the same input is applied
once: the daemon answers a key it has seen with the first input's tick and
"(duplicate: already applied)".` + clientHelp,
		Example: `  agenthost input --data-dir /var/lib/lockstep --to planner --payload 'hello'
  agenthost input --channel news --payload @article.json --key article-17
  echo ping | agenthost input --addr 10.0.0.5:7443 --token-file token --to pinger --payload -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (to == "") == (channel == "") {
				return errors.New("give --to AGENT or --channel CHANNEL: one of them")
			}
			payload, err := readArg("payload", arg, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return c.call(cmd, func(ctx context.Context, cl api.AgenthostClient) error {
				r, err := cl.Input(ctx, &api.InputRequest{To: to, Channel: channel, Payload: payload, IdempotencyKey: key})
				if err != nil {
					return err
				}
				if r.Duplicate {
					fmt.Fprintf(stdout, "tick %d (duplicate: already applied)\n", r.Tick)
				} else {
					fmt.Fprintf(stdout, "tick %d\n", r.Tick)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the agent to send to")
	f.StringVar(&channel, "channel", "", "the channel to publish on")
	f.StringVar(&arg, "payload", "", "the message: TEXT, @FILE for a file's content, - for standard input (default: empty)")
	f.StringVar(&key, "key", "", "idempotency key: a retried input with the same key is applied once")
	c.add(cmd)
	return cmd
}

// outputJSON is an output as subscribe -o json prints it.
type outputJSON struct {
	Tick    uint64 `json:"tick"`
	Index   uint32 `json:"index"`
	From    string `json:"from"`
	Channel string `json:"channel,omitempty"`
	To      string `json:"to,omitempty"`
	// Payload is the payload when it is UTF-8, else PayloadHex in hex.
	Payload    *string `json:"payload,omitempty"`
	PayloadHex string  `json:"payload_hex,omitempty"`
}

// printable reports whether b is text to print as it is: UTF-8 of
// printable characters and spaces only, so one line.
func printable(b []byte) bool {
	return utf8.Valid(b) && !strings.ContainsFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) })
}

func newSubscribe(stdout, stderr io.Writer) *cobra.Command {
	var (
		c                   clientFlags
		channels, addresses []string
		fromTick            uint64
		out                 outputFormat
	)
	cmd := &cobra.Command{
		Use:   "subscribe [--channel CH]... [--address ADDR]... [--from-tick N] [-o text|json]",
		Short: "Print what the agents of a running daemon publish on external channels or send to external addresses",
		Long: `Print what the agents of a running daemon publish on external channels
(--channel) or send to external addresses (--address), one line each, until
interrupted (SIGINT) or the daemon stops; with neither flag, everything. The
stream starts at the next durable tick, or with --from-tick at that tick if
the daemon's log still has it.

A line is "TICK FROM CHANNEL-OR-ADDRESS PAYLOAD", the payload as text if it
is printable UTF-8, else in hex after 0x. With -o json a line is an object
with tick, index, from, channel or to, and payload (UTF-8) or payload_hex.` + clientHelp,
		Example: `  agenthost subscribe --data-dir /var/lib/lockstep
  agenthost subscribe --channel news --channel alerts --from-tick 1000 -o json
  agenthost subscribe --addr 10.0.0.5:7443 --token-file token.read --address mail`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			req := &api.SubscribeRequest{Channels: channels, Addresses: addresses}
			if cmd.Flags().Changed("from-tick") {
				req.FromTick = &fromTick
			}
			return c.call(cmd, func(ctx context.Context, cl api.AgenthostClient) error {
				stream, err := cl.Subscribe(ctx, req)
				for err == nil {
					var o *api.Output
					if o, err = stream.Recv(); err == nil {
						err = printOutput(stdout, out, o)
					}
				}
				switch {
				case ctx.Err() != nil: // interrupted: the way to stop
					return nil
				case errors.Is(err, io.EOF):
					fmt.Fprintln(stderr, "agenthost: the daemon ended the stream")
					return nil
				}
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&channels, "channel", nil, "an external channel to print (repeat)")
	f.StringArrayVar(&addresses, "address", nil, "an external address to print (repeat)")
	f.Uint64Var(&fromTick, "from-tick", 0, "start at this tick, if still in the daemon's log (default: the next durable tick)")
	addOutput(cmd, &out)
	c.add(cmd)
	return cmd
}

func printOutput(w io.Writer, format outputFormat, o *api.Output) error {
	if format == "json" {
		j := outputJSON{Tick: o.Tick, Index: o.Index, From: o.From, Channel: o.Channel, To: o.To}
		if utf8.Valid(o.Payload) {
			s := string(o.Payload)
			j.Payload = &s
		} else {
			j.PayloadHex = hex.EncodeToString(o.Payload)
		}
		return writeJSON(w, j)
	}
	dest := o.Channel
	if dest == "" {
		dest = o.To
	}
	payload := string(o.Payload)
	if !printable(o.Payload) {
		payload = "0x" + hex.EncodeToString(o.Payload)
	}
	_, err := fmt.Fprintf(w, "%d %s %s %s\n", o.Tick, o.From, dest, payload)
	return err
}

func newSpawn(stdout io.Writer) *cobra.Command {
	var (
		c                       clientFlags
		id, kind, config, group string
		priority                int32
		fuel                    uint64
		channels                []string
	)
	cmd := &cobra.Command{
		Use:   "spawn --id ID --kind KIND [--config JSON|@FILE|-] [--group G] [--priority N] [--fuel N] [--channel CH]...",
		Short: "Start an agent in a running daemon at the next tick boundary; print that tick",
		Long: `Start an agent in a running daemon at the next tick boundary and print that
tick. The kind's factory gets --config; a WebAssembly module is verified and
capability-checked as at start.` + clientHelp,
		Example: `  agenthost spawn --data-dir /var/lib/lockstep --id counter2 --kind counter --config '{"step": 2}'
  agenthost spawn --id scorer --kind wasm --config @scorer.json --group workers --fuel 1000000 --channel news`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" || kind == "" {
				return errors.New("give the new agent's --id and --kind")
			}
			var cfg []byte
			if config != "" {
				var err error
				if cfg, err = readArg("config", config, cmd.InOrStdin()); err != nil {
					return err
				}
				if !json.Valid(cfg) {
					return fmt.Errorf("--config %s: not valid JSON", config)
				}
			}
			return c.call(cmd, func(ctx context.Context, cl api.AgenthostClient) error {
				r, err := cl.Spawn(ctx, &api.SpawnRequest{Id: id, Kind: kind, Config: cfg, Group: group, Priority: priority, Fuel: fuel, Channels: channels})
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "tick %d\n", r.Tick)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "the new agent's id")
	f.StringVar(&kind, "kind", "", "its kind")
	f.StringVar(&config, "config", "", "its configuration, JSON: TEXT, @FILE or - for standard input")
	f.StringVar(&group, "group", "", "its supervision group")
	f.Int32Var(&priority, "priority", 0, "its priority")
	f.Uint64Var(&fuel, "fuel", 0, "its fuel per tick (0: the daemon's default)")
	f.StringArrayVar(&channels, "channel", nil, "a channel it joins as it starts (repeat)")
	c.add(cmd)
	return cmd
}

func newStop(stdout io.Writer) *cobra.Command {
	var c clientFlags
	cmd := &cobra.Command{
		Use:     "stop ID",
		Short:   "Stop an agent of a running daemon at the next tick boundary; print that tick",
		Long:    `Stop an agent of a running daemon at the next tick boundary and print that tick.` + clientHelp,
		Example: `  agenthost stop --data-dir /var/lib/lockstep counter2`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(cmd, func(ctx context.Context, cl api.AgenthostClient) error {
				r, err := cl.Stop(ctx, &api.StopRequest{Id: args[0]})
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "tick %d\n", r.Tick)
				return nil
			})
		},
	}
	c.add(cmd)
	return cmd
}

// statusJSON is a StatusReply as -o json prints it.
type statusJSON struct {
	Tick           uint64 `json:"tick"`
	Digest         string `json:"digest"`
	DurableTick    uint64 `json:"durable_tick"`
	Paused         bool   `json:"paused"`
	Clock          string `json:"clock"`
	Agents         uint32 `json:"agents"`
	LastCheckpoint uint64 `json:"last_checkpoint"`
	Accepting      bool   `json:"accepting"`
	Reason         string `json:"reason,omitempty"`
	Topology       string `json:"topology"`
	Inputs         uint64 `json:"inputs"`
	DataDir        string `json:"data_dir"`
}

// printStatus prints a status reply: in full, or in text as the one line
// short says, if given.
func printStatus(w io.Writer, format outputFormat, r *api.StatusReply, short string) error {
	if format == "json" {
		return writeJSON(w, statusJSON{Tick: r.Tick, Digest: r.Digest, DurableTick: r.DurableTick, Paused: r.Paused, Clock: r.Clock,
			Agents: r.Agents, LastCheckpoint: r.LastCheckpoint, Accepting: r.Accepting, Reason: r.Reason, Topology: r.Topology,
			Inputs: r.Inputs, DataDir: r.DataDir})
	}
	if short != "" {
		_, err := fmt.Fprintln(w, short)
		return err
	}
	state := "running"
	if r.Paused {
		state = "paused"
	}
	checkpoint := "none"
	if r.LastCheckpoint != 0 {
		checkpoint = fmt.Sprintf("tick %d", r.LastCheckpoint)
	}
	accepting := "yes"
	if !r.Accepting {
		accepting = "no: " + r.Reason
	}
	_, err := fmt.Fprintf(w, "topology: %s\ndata dir: %s\nnext tick: %d\ndigest: %s\ndurable up to tick: %d\nclock: %s, %s\nagents: %d\ninputs: %d\nlast checkpoint: %s\naccepting changes: %s\n",
		r.Topology, r.DataDir, r.Tick, r.Digest, r.DurableTick, r.Clock, state, r.Agents, r.Inputs, checkpoint, accepting)
	return err
}

func newStatus(stdout io.Writer) *cobra.Command {
	var (
		c   clientFlags
		out outputFormat
	)
	cmd := &cobra.Command{
		Use:   "status [-o text|json]",
		Short: "Describe the run of a running daemon",
		Long: `Describe the run of a running daemon: its topology, next tick and digest,
how far it is on disk, its clock, agents, inputs and newest checkpoint, and
whether it accepts changes (and if not, why).` + clientHelp,
		Example: `  agenthost status --data-dir /var/lib/lockstep
  agenthost status --addr 10.0.0.5:7443 --token-file token.read -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			return c.call(cmd, func(ctx context.Context, cl api.AgenthostClient) error {
				r, err := cl.Status(ctx, &api.StatusRequest{})
				if err != nil {
					return err
				}
				return printStatus(stdout, out, r, "")
			})
		},
	}
	addOutput(cmd, &out)
	c.add(cmd)
	return cmd
}

func newPause(stdout io.Writer) *cobra.Command {
	return newClockVerb(stdout, "pause", "Stop the clock of a running daemon after the tick in progress",
		`Stop the clock of a running daemon after the tick in progress, and print the
next tick (-o json: the whole status). step runs ticks while paused; resume
starts the clock again.`, `  agenthost pause --data-dir /var/lib/lockstep`,
		func(ctx context.Context, cl api.AgenthostClient) (*api.StatusReply, error) {
			return cl.Pause(ctx, &api.PauseRequest{})
		}, "paused before tick %d")
}

func newResume(stdout io.Writer) *cobra.Command {
	return newClockVerb(stdout, "resume", "Start the clock of a paused daemon again",
		`Start the clock of a paused daemon again, free-running or paced as it was
started, and print the next tick (-o json: the whole status).`, `  agenthost resume --data-dir /var/lib/lockstep`,
		func(ctx context.Context, cl api.AgenthostClient) (*api.StatusReply, error) {
			return cl.Resume(ctx, &api.ResumeRequest{})
		}, "running from tick %d")
}

// newClockVerb is pause or resume: a call that answers the status, printed
// as text (a format of the next tick) or -o json.
func newClockVerb(stdout io.Writer, use, short, long, example string, call func(context.Context, api.AgenthostClient) (*api.StatusReply, error), text string) *cobra.Command {
	var (
		c   clientFlags
		out outputFormat
	)
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long + clientHelp,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			return c.call(cmd, func(ctx context.Context, cl api.AgenthostClient) error {
				r, err := call(ctx, cl)
				if err != nil {
					return err
				}
				return printStatus(stdout, out, r, fmt.Sprintf(text, r.Tick))
			})
		},
	}
	addOutput(cmd, &out)
	c.add(cmd)
	return cmd
}

func newStep(stdout io.Writer) *cobra.Command {
	var (
		c   clientFlags
		out outputFormat
	)
	cmd := &cobra.Command{
		Use:   "step [N]",
		Short: "Run N ticks (default 1) of a paused daemon or one on a manual clock",
		Long: `Run N ticks (default 1) of a paused daemon, or of one on a manual clock, and
print the next tick and the digest after the last tick run (-o json: the
whole status). It returns when the last tick is done.` + clientHelp,
		Example: `  agenthost step --data-dir /var/lib/lockstep
  agenthost step 100 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			n := uint64(1)
			if len(args) == 1 {
				var err error
				if n, err = strconv.ParseUint(args[0], 10, 64); err != nil || n < 1 || n > maxTicks {
					return fmt.Errorf("step %q: give a number of ticks from 1 to %d (2^40)", args[0], maxTicks)
				}
			}
			return c.call(cmd, func(ctx context.Context, cl api.AgenthostClient) error {
				r, err := cl.Step(ctx, &api.StepRequest{Ticks: n})
				if err != nil {
					return err
				}
				return printStatus(stdout, out, r, fmt.Sprintf("next tick %d, digest %s", r.Tick, r.Digest))
			})
		},
	}
	addOutput(cmd, &out)
	c.add(cmd)
	return cmd
}
