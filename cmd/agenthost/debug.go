package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// walkPath replays a log file, or a data directory of agenthost serve
// from its newest checkpoint at or before tick from (from its start when
// there is none), calling visit after every record.
func walkPath(path string, from clock.Tick, opts host.ReplayOptions, visit func(*host.Replayer, *replaylog.Record) bool) (*host.VerifyResult, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if len(opts.ModuleDirs) == 0 {
			opts.ModuleDirs = []string{filepath.Dir(path)}
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return host.Walk(f, opts, visit)
	}
	start := int64(daemon.FromStart)
	ticks, err := daemon.Checkpoints(path)
	if err != nil {
		return nil, err
	}
	for _, t := range ticks {
		if t <= from {
			start = int64(t)
			break
		}
	}
	return daemon.Walk(path, opts, start, visit)
}

// traceFlags select the ticks and agents a trace shows.
type traceFlags struct {
	from, to uint64
	agent    string
	output   string
}

func (tf *traceFlags) ticks(t clock.Tick) bool { return uint64(t) >= tf.from && uint64(t) <= tf.to }

func newTrace(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var rf replayFlags
	tf := traceFlags{}
	cmd := &cobra.Command{
		Use:   "trace FILE|DATA_DIR",
		Short: "Re-run a replay log and show, tick by tick, what each agent received and did",
		Long: `trace re-runs a replay log (or a data directory of agenthost serve, from its
newest checkpoint at or before --from) with a tracer and prints, for every
tick in --from..--to, each agent's deliveries (sender, channel, size, a
payload preview), its actions (send, publish, join, leave, log, state,
infer), its fuel and report digest, a failure's reason, and the tick's
events and outputs. Tracing never changes a digest: the replay is checked
as verify checks it, and a divergence ends the trace with an error.

-o json prints JSON Lines: one object per tick
  {"type":"tick","tick":N,"digest":HEX,"dead_letters":N,"events":[{"kind","agent","detail"}],"outputs":[{"from","channel","to","size","payload"}]}
preceded by one per agent that ran
  {"type":"agent","tick":N,"agent":ID,"fuel":N,"digest":HEX16,"failed":TEXT,
   "delivered":[{"from","channel","sent","size","payload"}],
   "actions":[{"kind","target","level","version","size","payload"}]}
with payloads in base64 (encoding/json's []byte).`,
		Example: `  agenthost trace --module-dir bin/wasm --allow-unsigned bin/default.replay --from 10 --to 12
  agenthost trace --module-dir bin/wasm --allow-unsigned bin/default.replay --agent faulty --from 6 --to 6 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if tf.output != "text" && tf.output != "json" {
				return fmt.Errorf("-o %q: give text or json", tf.output)
			}
			if tf.to < tf.from {
				return fmt.Errorf("--to %d is before --from %d", tf.to, tf.from)
			}
			opts, err := rf.options(g, stderr)
			if err != nil {
				return err
			}
			var werr error
			res, err := walkPath(args[0], clock.Tick(tf.from), opts, func(rp *host.Replayer, _ *replaylog.Record) bool {
				if uint64(rp.Host().Tick()) > tf.to {
					return false
				}
				rp.Host().Trace(func(t *host.TickTrace) {
					if werr == nil && tf.ticks(t.Tick) {
						werr = writeTrace(stdout, t, &tf)
					}
				})
				return true
			})
			if err := replayExit(err); err != nil {
				return err
			}
			if werr != nil {
				return werr
			}
			return replayProblem(res)
		},
	}
	f := cmd.Flags()
	rf.register(f)
	f.Uint64Var(&tf.from, "from", 0, "first tick to show")
	f.Uint64Var(&tf.to, "to", host.MaxTicks, "last tick to show")
	f.StringVar(&tf.agent, "agent", "", "show only this agent")
	f.StringVarP(&tf.output, "output", "o", "text", "text or json")
	return cmd
}

// replayProblem is the error for a replay that diverged or met a damaged
// record (what it showed before is valid).
func replayProblem(res *host.VerifyResult) error {
	switch {
	case res.Divergence != nil:
		return &exitError{1, fmt.Errorf("the replay %s", res.Divergence)}
	case res.Corrupt != nil:
		return &exitError{2, res.Corrupt}
	}
	return nil
}

type jsonMsg struct {
	From    string `json:"from"`
	Channel string `json:"channel,omitempty"`
	Sent    uint64 `json:"sent"`
	Size    int    `json:"size"`
	Payload []byte `json:"payload"`
}

type jsonAction struct {
	Kind    string `json:"kind"`
	Target  string `json:"target,omitempty"`
	Level   string `json:"level,omitempty"`
	Version string `json:"version,omitempty"`
	Size    int    `json:"size"`
	Payload []byte `json:"payload"`
}

type jsonOutput struct {
	From    string `json:"from"`
	Channel string `json:"channel,omitempty"`
	To      string `json:"to,omitempty"`
	Size    int    `json:"size"`
	Payload []byte `json:"payload"`
}

type jsonEvent struct {
	Kind   string `json:"kind"`
	Agent  string `json:"agent"`
	Detail string `json:"detail,omitempty"`
}

// writeTrace prints one tick's trace.
func writeTrace(w io.Writer, t *host.TickTrace, tf *traceFlags) error {
	var b bytes.Buffer
	if tf.output == "json" {
		enc := json.NewEncoder(&b)
		for _, a := range t.Agents {
			if tf.agent != "" && a.ID != tf.agent {
				continue
			}
			obj := struct {
				Type      string       `json:"type"`
				Tick      uint64       `json:"tick"`
				Agent     string       `json:"agent"`
				Fuel      uint64       `json:"fuel"`
				Digest    string       `json:"digest"`
				Failed    string       `json:"failed,omitempty"`
				Delivered []jsonMsg    `json:"delivered"`
				Actions   []jsonAction `json:"actions"`
			}{Type: "agent", Tick: uint64(t.Tick), Agent: a.ID, Fuel: a.Fuel, Digest: fmt.Sprintf("%016x", a.Digest), Failed: a.Failed,
				Delivered: []jsonMsg{}, Actions: []jsonAction{}}
			for _, m := range a.Delivered {
				obj.Delivered = append(obj.Delivered, jsonMsg{m.From, m.Channel, uint64(m.Sent), len(m.Payload), m.Payload})
			}
			for _, x := range a.Actions {
				obj.Actions = append(obj.Actions, jsonAction{x.Kind, x.Target, x.Level, x.Version, len(x.Payload), x.Payload})
			}
			enc.Encode(obj)
		}
		tick := struct {
			Type        string       `json:"type"`
			Tick        uint64       `json:"tick"`
			Digest      string       `json:"digest"`
			DeadLetters uint64       `json:"dead_letters"`
			Events      []jsonEvent  `json:"events"`
			Outputs     []jsonOutput `json:"outputs"`
		}{Type: "tick", Tick: uint64(t.Tick), Digest: hex.EncodeToString(t.Digest[:]), DeadLetters: t.DeadLetters, Events: []jsonEvent{}, Outputs: []jsonOutput{}}
		for _, e := range t.Events {
			if tf.agent == "" || e.Agent == tf.agent {
				tick.Events = append(tick.Events, jsonEvent{e.Kind, e.Agent, e.Detail})
			}
		}
		for _, o := range t.Outputs {
			if tf.agent == "" || o.From == tf.agent {
				tick.Outputs = append(tick.Outputs, jsonOutput{o.From, o.Channel, o.To, len(o.Payload), o.Payload})
			}
		}
		enc.Encode(tick)
		_, err := w.Write(b.Bytes())
		return err
	}
	fmt.Fprintf(&b, "%s digest %x\n", t.Tick, t.Digest[:8])
	for i := range t.Agents {
		a := &t.Agents[i]
		if tf.agent != "" && a.ID != tf.agent {
			continue
		}
		fmt.Fprintf(&b, "  %s  report %016x\n", a.ID, a.Digest)
		for _, l := range traceLines(a) {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	for _, e := range t.Events {
		if tf.agent == "" || e.Agent == tf.agent {
			fmt.Fprintf(&b, "  event %s %s: %s\n", e.Kind, e.Agent, e.Detail)
		}
	}
	for _, o := range t.Outputs {
		if tf.agent == "" || o.From == tf.agent {
			fmt.Fprintf(&b, "  output %s -> %s%s: %s\n", o.From, o.Channel, o.To, lsPreview(o.Payload))
		}
	}
	if t.DeadLetters > 0 && tf.agent == "" {
		fmt.Fprintf(&b, "  dead letters: %d\n", t.DeadLetters)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// describeAction is one line for an action.
func describeAction(x host.Action) string {
	switch x.Kind {
	case "log":
		return fmt.Sprintf("log %s %s", x.Level, lsPreview(x.Payload))
	case "join", "leave":
		return x.Kind + " " + x.Target
	case "infer":
		return fmt.Sprintf("infer %s@%s %s", x.Target, x.Version, lsPreview(x.Payload))
	}
	return fmt.Sprintf("%s %s %s", x.Kind, x.Target, lsPreview(x.Payload))
}

func newState(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		rf     replayFlags
		tick   uint64
		id     string
		out    string
		output string
	)
	cmd := &cobra.Command{
		Use:   "state FILE|DATA_DIR --tick T",
		Short: "Re-run a replay log to the end of a tick and show the agents' state: regions, channels, restarts, WebAssembly memory",
		Long: `state re-runs a replay log (a data directory of agenthost serve from its
newest checkpoint before the tick) to the end of tick --tick and shows
every agent as it is then: kind, running or stopped, restarts, group,
channels, state regions (size and preview) and, for WebAssembly agents,
the size of linear memory, the mutable globals and the printable strings
in memory. With --out DIR it writes each WebAssembly agent's linear memory
(DIR/AGENT.memory, every byte) and globals (DIR/AGENT.globals.json).
-o json prints one JSON object.`,
		Example: `  agenthost state --module-dir bin/wasm --allow-unsigned bin/default.replay --tick 12 --agent counter --out /tmp/state`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("tick") {
				return errors.New("--tick: give the tick whose end to show")
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: give text or json", output)
			}
			opts, err := rf.options(g, stderr)
			if err != nil {
				return err
			}
			var st *stateView
			var serr error
			res, err := walkPath(args[0], clock.Tick(tick+1), opts, func(rp *host.Replayer, _ *replaylog.Record) bool {
				if uint64(rp.Host().Tick()) <= tick {
					return true
				}
				st, serr = viewState(rp.Host(), id, out)
				return false
			})
			if err := replayExit(err); err != nil {
				return err
			}
			if serr != nil {
				return serr
			}
			if st == nil {
				if err := replayProblem(res); err != nil {
					return err
				}
				return fmt.Errorf("the log ends after %d ticks, before the end of tick %d", res.Ticks, tick)
			}
			return st.write(stdout, output)
		},
	}
	f := cmd.Flags()
	rf.register(f)
	f.Uint64Var(&tick, "tick", 0, "show the state at the end of this tick")
	f.StringVar(&id, "agent", "", "show only this agent")
	f.StringVar(&out, "out", "", "write WebAssembly agents' memory and globals into this directory")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// stateView is what state shows.
type stateView struct {
	Tick     uint64              `json:"tick"`
	Digest   string              `json:"digest"`
	Agents   []agentView         `json:"agents"`
	Restarts map[string][]uint64 `json:"restarts_in_window"`
}

type agentView struct {
	ID          string       `json:"id"`
	Kind        string       `json:"kind"`
	Running     bool         `json:"running"`
	Incarnation uint32       `json:"restarts"`
	Group       string       `json:"group"`
	Channels    []string     `json:"channels"`
	Regions     []regionView `json:"regions"`
	Memory      *memoryView  `json:"memory,omitempty"`
}

type regionView struct {
	Name  string `json:"name"`
	Size  int    `json:"size"`
	Value []byte `json:"value"`
}

type memoryView struct {
	Pages   uint32       `json:"pages"`
	Bytes   uint64       `json:"bytes"`
	Globals []globalView `json:"globals"`
	Strings []string     `json:"strings"`
	Files   []string     `json:"files,omitempty"`
}

type globalView struct {
	Index uint32 `json:"index"`
	Type  string `json:"type"`
	Bits  uint64 `json:"bits"`
}

// viewState describes the host's agents (only id, if set), writing
// WebAssembly memory into dir when set.
func viewState(h *host.Host, id, dir string) (*stateView, error) {
	in := h.Inspect()
	st := &stateView{Tick: uint64(in.Tick) - 1, Digest: hex.EncodeToString(in.Digest[:]), Restarts: in.Restarts}
	for _, a := range in.Agents {
		if id != "" && a.ID != id {
			continue
		}
		v := agentView{ID: a.ID, Kind: a.Kind, Running: a.Alive, Incarnation: a.Incarnation, Group: a.Group, Channels: a.Channels, Regions: []regionView{}}
		for _, name := range slices.Sorted(mapsKeys(a.Regions)) {
			v.Regions = append(v.Regions, regionView{name, len(a.Regions[name]), a.Regions[name]})
		}
		if a.Alive {
			if img, err := h.SnapshotAgent(a.ID); err == nil {
				if c, err := wasmagent.DecodeSnapshot(img); err == nil {
					m, err := memory(c, a.ID, dir)
					if err != nil {
						return nil, err
					}
					v.Memory = m
				}
			}
		}
		st.Agents = append(st.Agents, v)
	}
	if id != "" && len(st.Agents) == 0 {
		return nil, fmt.Errorf("--agent %q: no such agent at the end of tick %d", id, st.Tick)
	}
	return st, nil
}

func mapsKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var valueTypes = map[byte]string{0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64"}

// memory describes a WebAssembly agent's snapshot and writes its files.
func memory(c *wasmagent.SnapshotContents, id, dir string) (*memoryView, error) {
	m := &memoryView{Pages: c.Pages, Bytes: c.MemorySize(), Globals: []globalView{}, Strings: []string{}}
	for _, g := range c.Globals {
		m.Globals = append(m.Globals, globalView{g.Index, valueTypes[byte(g.Type)], g.Bits})
	}
	for _, r := range c.Memory {
		for _, s := range stringsIn(r.Data, 6) {
			if len(m.Strings) < 20 {
				m.Strings = append(m.Strings, s)
			}
		}
	}
	if dir == "" {
		return m, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	memPath := filepath.Join(dir, id+".memory")
	f, err := os.Create(memPath)
	if err != nil {
		return nil, err
	}
	if _, err := c.WriteMemory(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	g, _ := json.MarshalIndent(m.Globals, "", "  ")
	globPath := filepath.Join(dir, id+".globals.json")
	if err := os.WriteFile(globPath, append(g, '\n'), 0o644); err != nil {
		return nil, err
	}
	m.Files = []string{memPath, globPath}
	return m, nil
}

// stringsIn returns the runs of at least n printable ASCII bytes in b.
func stringsIn(b []byte, n int) []string {
	var out []string
	start := -1
	for i := 0; i <= len(b); i++ {
		if i < len(b) && b[i] >= ' ' && b[i] < 0x7f {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= n {
			s := string(b[start:i])
			if len(s) > 80 {
				s = s[:80] + "…"
			}
			out = append(out, s)
		}
		start = -1
	}
	return out
}

func (st *stateView) write(w io.Writer, output string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state at the end of t%d, digest %s\n", st.Tick, st.Digest)
	for _, a := range st.Agents {
		status := "running"
		if !a.Running {
			status = "stopped"
		}
		fmt.Fprintf(&b, "agent %s (kind %s): %s, %d restarts, group %s\n", a.ID, a.Kind, status, a.Incarnation, a.Group)
		if len(a.Channels) > 0 {
			fmt.Fprintf(&b, "  channels: %s\n", strings.Join(a.Channels, ", "))
		}
		for _, r := range a.Regions {
			fmt.Fprintf(&b, "  region %s: %d bytes %s\n", r.Name, r.Size, lsPreview(r.Value))
		}
		if m := a.Memory; m != nil {
			fmt.Fprintf(&b, "  memory: %d pages (%d bytes), %d mutable globals\n", m.Pages, m.Bytes, len(m.Globals))
			for _, g := range m.Globals {
				fmt.Fprintf(&b, "    global %d %s = %#x\n", g.Index, g.Type, g.Bits)
			}
			for _, s := range m.Strings {
				fmt.Fprintf(&b, "    string %q\n", s)
			}
			for _, f := range m.Files {
				fmt.Fprintf(&b, "  wrote %s\n", f)
			}
		}
	}
	for _, g := range slices.Sorted(func(yield func(string) bool) {
		for k := range st.Restarts {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "group %s: restarts in its window at ticks %v\n", g, st.Restarts[g])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// loggedTick is a tick as a log records it.
type loggedTick struct {
	tick    uint64
	digest  []byte
	agents  []string // carried forward when the record does not name them
	reports []uint64
}

// readTicks reads a log file's (or a data directory's segments') header
// and tick records, without replaying anything.
func readTicks(path string) (*replaylog.Header, []loggedTick, error) {
	files := []string{path}
	if fi, err := os.Stat(path); err != nil {
		return nil, nil, err
	} else if fi.IsDir() {
		if files, err = daemon.Segments(path); err != nil {
			return nil, nil, err
		}
		if len(files) == 0 {
			return nil, nil, fmt.Errorf("%s has no log segments: is it a data directory of agenthost serve?", path)
		}
	}
	var hdr *replaylog.Header
	var ticks []loggedTick
	var agents []string
	for _, f := range files {
		h, recs, err := replaylog.ReadFile(f)
		if hdr == nil {
			hdr = h
		}
		for _, r := range recs {
			if td := r.GetTick(); td != nil {
				if len(td.Agents) > 0 {
					agents = td.Agents
				}
				ticks = append(ticks, loggedTick{td.Tick, td.Digest, agents, td.AgentDigests})
			}
		}
		if err != nil {
			return hdr, ticks, err
		}
	}
	return hdr, ticks, nil
}

func newDiff(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		rf    replayFlags
		bDirs []string
	)
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two replay logs (or data directories): the first tick and agent that differ, and what they did differently",
		Long: `diff compares two runs recorded as replay logs (files or data directories
of agenthost serve): their configs (seed, modules by digest), then their
tick digests, and names the first tick that differs and the first agent
whose report differs there. It then re-runs both logs to that tick with a
tracer and prints that agent's deliveries and actions on both sides, from
the first that differs. The modules of A are looked up in --module-dir,
those of B in --b-module-dir (default: --module-dir): two versions of a
module have the same file name, so they live in two directories.

Exit status: 0 identical, 1 different, 2 a damaged log, 3 a module, model,
key or kind the replay needs was not given.`,
		Example: `  agenthost diff --module-dir v1 --b-module-dir v2 --allow-unsigned before.replay after.replay`,
		Args:    cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			opts, err := rf.options(g, stderr)
			if err != nil {
				return err
			}
			bOpts := opts
			if len(bDirs) > 0 {
				bOpts.ModuleDirs = bDirs
			}
			return diff(stdout, args[0], args[1], opts, bOpts)
		},
	}
	f := cmd.Flags()
	rf.register(f)
	f.StringArrayVar(&bDirs, "b-module-dir", nil, "where B's modules and models are (repeat; default: --module-dir)")
	return cmd
}

// diff compares two logs; see newDiff.
func diff(w io.Writer, a, b string, aOpts, bOpts host.ReplayOptions) error {
	ha, ta, errA := readTicks(a)
	hb, tb, errB := readTicks(b)
	for _, e := range []error{errA, errB} {
		if e != nil && (ha == nil || hb == nil) {
			return &exitError{2, e}
		}
	}
	if !bytes.Equal(ha.ConfigDigest, hb.ConfigDigest) {
		fmt.Fprintf(w, "configs differ:%s\n", configDiff(ha, hb))
	}
	n := min(len(ta), len(tb))
	i := 0
	for i < n && bytes.Equal(ta[i].digest, tb[i].digest) {
		i++
	}
	if i == n {
		switch {
		case len(ta) == len(tb) && errA == nil && errB == nil:
			fmt.Fprintf(w, "identical: %d ticks, digest %x\n", n, lastDigest(ta))
			return nil
		case len(ta) == len(tb):
			fmt.Fprintf(w, "identical for the %d ticks both hold; then a damaged record\n", n)
			return &exitError{2, errors.Join(errA, errB)}
		}
		fmt.Fprintf(w, "identical for %d ticks; then A has %d more, B %d more\n", n, len(ta)-n, len(tb)-n)
		return &exitError{1, errors.New("the logs differ in length")}
	}
	t := ta[i].tick
	agentID := ""
	switch {
	case slices.Equal(ta[i].agents, tb[i].agents) && len(ta[i].reports) == len(tb[i].reports):
		for k := range ta[i].reports {
			if ta[i].reports[k] != tb[i].reports[k] && k < len(ta[i].agents) {
				agentID = ta[i].agents[k]
				break
			}
		}
		if agentID != "" {
			fmt.Fprintf(w, "identical for %d ticks; at t%d agent %q's report differs (A %016x, B %016x)\n", i, t, agentID, reportOf(ta[i], agentID), reportOf(tb[i], agentID))
		} else {
			fmt.Fprintf(w, "identical for %d ticks; at t%d the tick digests differ (every report the same: events, inference answers or dead letters differ)\n", i, t)
		}
	default:
		fmt.Fprintf(w, "identical for %d ticks; at t%d other agents ran: A %v, B %v\n", i, t, ta[i].agents, tb[i].agents)
	}
	ids := []string{agentID}
	if agentID == "" {
		ids = nil // every agent, at t only
	}
	trA, errA := traceAgents(a, clock.Tick(t), window, ids, aOpts)
	trB, errB := traceAgents(b, clock.Tick(t), window, ids, bOpts)
	if errA != nil || errB != nil {
		fmt.Fprintf(w, "to see what differed, give the logs' modules (A: --module-dir, B: --b-module-dir):\n")
		for _, e := range []error{errA, errB} {
			if e != nil {
				fmt.Fprintf(w, "  %v\n", e)
			}
		}
		return &exitError{1, errors.New("the logs differ")}
	}
	showDiff(w, trA, trB)
	return &exitError{1, errors.New("the logs differ")}
}

// window is how many ticks from the first divergent one diff traces to
// find the first that differs in more than fuel.
const window = 1000

func lastDigest(ts []loggedTick) []byte {
	if len(ts) == 0 {
		return nil
	}
	return ts[len(ts)-1].digest
}

func reportOf(t loggedTick, id string) uint64 {
	if k := slices.Index(t.agents, id); k >= 0 && k < len(t.reports) {
		return t.reports[k]
	}
	return 0
}

// configDiff names what differs between two logs' configs.
func configDiff(a, b *replaylog.Header) string {
	var d []string
	if a.Seed != b.Seed {
		d = append(d, fmt.Sprintf("seed %d vs %d", a.Seed, b.Seed))
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range []map[string][]byte{a.ModuleDigests, b.ModuleDigests} {
			for k := range m {
				if !seen[k] {
					seen[k] = true
					if !yield(k) {
						return
					}
				}
			}
		}
	}) {
		if da, db := a.ModuleDigests[name], b.ModuleDigests[name]; !bytes.Equal(da, db) {
			d = append(d, fmt.Sprintf("module %s %s vs %s", name, short(da), short(db)))
		}
	}
	if len(d) == 0 {
		d = append(d, "other settings (see agenthost log show)")
	}
	return " " + strings.Join(d, "; ")
}

func short(d []byte) string {
	if len(d) == 0 {
		return "(none)"
	}
	return hex.EncodeToString(d[:min(6, len(d))])
}

// agentTick is an agent's tick in a trace.
type agentTick struct {
	tick clock.Tick
	host.AgentTrace
}

// traceAgents re-runs a log from tick t to t+n-1 (or its end) and returns
// the traces of agents ids (nil: every agent, tick t only), tick by tick.
func traceAgents(path string, t clock.Tick, n uint64, ids []string, opts host.ReplayOptions) ([]agentTick, error) {
	var got []agentTick
	last := t + clock.Tick(n) - 1
	if ids == nil {
		last = t
	}
	res, err := walkPath(path, t, opts, func(rp *host.Replayer, _ *replaylog.Record) bool {
		if rp.Host().Tick() > last {
			return false
		}
		rp.Host().Trace(func(tr *host.TickTrace) {
			if tr.Tick < t {
				return
			}
			for _, a := range tr.Agents {
				if ids == nil || slices.Contains(ids, a.ID) {
					a.Delivered = slices.Clone(a.Delivered)
					got = append(got, agentTick{tr.Tick, a})
				}
			}
		})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(got) == 0 {
		if res.Corrupt != nil {
			return nil, res.Corrupt
		}
		return nil, fmt.Errorf("%s: the replay did not reach t%d", path, uint64(t))
	}
	return got, nil
}

// showDiff prints, for the first agent tick whose trace differs, what the
// agent received and did on both sides from the first difference; an
// earlier difference in fuel alone (the module's code changed, not what it
// does) is said in a line.
func showDiff(w io.Writer, a, b []agentTick) {
	fuelOnly := false
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		if x.tick != y.tick || x.ID != y.ID {
			fmt.Fprintf(w, "at t%d the agents that ran differ: A %q, B %q\n", uint64(x.tick), x.ID, y.ID)
			return
		}
		la, lb := traceLines(&x.AgentTrace), traceLines(&y.AgentTrace)
		k := 0
		for k < len(la) && k < len(lb) && la[k] == lb[k] {
			k++
		}
		if k == len(la) && k == len(lb) {
			continue
		}
		if k == len(la)-1 && k == len(lb)-1 { // only the last line, the fuel
			if !fuelOnly {
				fmt.Fprintf(w, "agent %q at t%d received and did the same, with other fuel (A %s, B %s): the code differs\n", x.ID, uint64(x.tick), la[k], lb[k])
				fuelOnly = true
			}
			continue
		}
		fmt.Fprintf(w, "agent %q at t%d, from its first difference (line %d):\n", x.ID, uint64(x.tick), k+1)
		for _, side := range []struct {
			name  string
			lines []string
		}{{"A", la}, {"B", lb}} {
			fmt.Fprintf(w, "  %s:\n", side.name)
			if k >= len(side.lines) {
				fmt.Fprintf(w, "    (nothing more)\n")
			}
			for _, l := range side.lines[min(k, len(side.lines)):min(k+5, len(side.lines))] {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
		return
	}
	if fuelOnly {
		fmt.Fprintf(w, "no difference in what it received or did within %d ticks\n", window)
	}
}

// traceLines are an agent's tick, one line per delivery (<), action (>)
// and failure (!), then its fuel.
func traceLines(t *host.AgentTrace) []string {
	var out []string
	for _, m := range t.Delivered {
		out = append(out, fmt.Sprintf("< %s%s: %s", orInput(m.From), onChannel(m.Channel), lsPreview(m.Payload)))
	}
	for _, act := range t.Actions {
		out = append(out, "> "+describeAction(act))
	}
	if t.Failed != "" {
		out = append(out, "! failed: "+t.Failed)
		if t.Trace != "" {
			out = append(out, "  stack: "+strings.ReplaceAll(t.Trace, "\n", " <- "))
		}
	}
	return append(out, fmt.Sprintf("fuel %d", t.Fuel))
}

func orInput(from string) string {
	if from == "" {
		return "(input)"
	}
	return from
}

func onChannel(ch string) string {
	if ch == "" {
		return ""
	}
	return " on " + ch
}
