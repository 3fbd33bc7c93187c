package main

// agenthost log show: a replay log, or the log of a daemon's data
// directory, dumped for a human (text) or a program (JSON Lines).
//
//	agenthost log show FILE|DATA_DIR [-o text|json] [--tick T | --from T --to T2] [--agent A]

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// The exit status of log show for a log that is damaged, torn or not a log.
const lsExitCorrupt = 2

// Payload previews in text mode: printable UTF-8 up to lsPreviewText bytes,
// anything else as hex of its first lsPreviewHex bytes.
const (
	lsPreviewText = 64
	lsPreviewHex  = 32
)

// logShowSchema is the JSON schema part of log show's help; README.md has
// the same.
const logShowSchema = `With -o json every line is one JSON object with a "type" field; every
field listed for a type is always present. Payloads and other byte fields
are base64 (standard, padded) with their size beside them, so the output
is exact; digests are lowercase hex ("" when empty).

  header     file, format_version, abi_version, seed, config_digest,
             topology_format, config (the run config object; null when the
             log has none; config_text, a string, instead when it is not
             JSON), modules [{name, sha256}] (by name), created_by,
             workers, unsigned_allowed, segment ({index, start_tick,
             start_digest} or null)
  segment    file, index, start_tick, start_digest   (data directories:
             before each segment's records)
  command    tick, op (spawn, stop, join, leave, input, unknown), key, and
               spawn: agent, kind, group, priority, fuel, config, config_size
               stop:  agent
               join, leave: agent, channel
               input: to, channel (one is ""), payload, size
  inference  tick, agent, seq, index (its number in the file, from 1),
             same_as (0, or the index of the record whose result it
             repeats), size (null if same_as names no record seen),
             output ("" when same_as is set)
  output     tick, from, channel, to (one is ""), payload, size
  tick       tick, digest, agent_count, agents [{agent, digest}] (digest:
             16 hex digits; agent "" when no record named the agents),
             dead_letters, events [{kind, agent, detail}] (kind: failed,
             restarted, stopped, escalated, dead-letter, halted)
  end        ticks, final_digest, reason
  unknown    (a record of a kind this build does not know; not with filters)
  error      file, offset, record, torn, reason, error   (the last line)`

func newLogCommand(stdout io.Writer) *cobra.Command {
	group := &cobra.Command{
		Use:   "log",
		Short: "Read replay logs: log show",
		Example: `  agenthost log show bin/default.replay
  agenthost log show -o json /var/lib/lockstep/t`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError(errors.New("give a subcommand: agenthost log show FILE|DATA_DIR"))
		},
	}
	group.AddCommand(newLogShow(stdout))
	return group
}

// lsFilter is what log show prints.
type lsFilter struct {
	lo, hi   uint64 // ticks, inclusive
	agent    string
	filtered bool // any of --tick, --from, --to, --agent
}

func (f *lsFilter) in(t uint64) bool { return t >= f.lo && t <= f.hi }

func newLogShow(stdout io.Writer) *cobra.Command {
	var (
		out            outputFormat
		tick, from, to uint64
		agent          string
	)
	cmd := &cobra.Command{
		Use:   "show FILE|DATA_DIR [-o text|json] [--tick T | --from T --to T2] [--agent A]",
		Short: "Print a replay log's header and records, or those of a data directory's log (exit 2: corrupt or not a log)",
		Long: `Print a replay log: its header (format and ABI versions, seed, config
digest, the run config, modules with their SHA-256, created_by, workers,
unsigned_allowed, segment), then its records in order: for each tick the
commands applied before it (spawn, stop, join, leave, input, with their
idempotency key), the recorded inference results, the outputs for the
outside world, and the tick digest (agents' report digests, dead letters,
events); last the End record of a log closed cleanly.

Given a data directory of agenthost serve, it prints the segments of its
log (log/seg-*.replay) in order: the first segment's header, then for each
segment a segment line and its records.

In text, a payload is shown quoted when it is printable UTF-8, cut after
64 bytes with "… (N bytes)", else as hex of its first 32 bytes and its size.

--tick T prints only the records of tick T, --from T and --to T2 those of
ticks T to T2 (inclusive; either may be left out). A command counts as of
the tick it is applied before, the End record as of the tick after the last
(its ticks). --agent A prints only A's commands (spawn, stop, join, leave,
inputs sent to it), inference results and outputs, and tick lines with
only A's report digest and events. The header is always printed, and the
End record whenever its tick is in the range.

Agent digests are named by the tick record, or by the last one that named
the agents (the log names them again only when they change).

` + logShowSchema + `

Exit status: 2 when the log is damaged or torn (everything before the
damage is printed, then a line naming the byte offset) or the file is not
a replay log; 1 for other errors.`,
		Example: `  agenthost log show bin/default.replay
  agenthost log show --tick 10 --agent counter bin/default.replay
  agenthost log show -o json --from 100 --to 200 /var/lib/lockstep/t | jq 'select(.type == "output")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			f := lsFilter{hi: math.MaxUint64, agent: agent}
			fl := cmd.Flags()
			switch {
			case fl.Changed("tick") && (fl.Changed("from") || fl.Changed("to")):
				return errors.New("--tick T or --from T --to T2: give one or the other")
			case fl.Changed("tick"):
				f.lo, f.hi = tick, tick
			default:
				if fl.Changed("from") {
					f.lo = from
				}
				if fl.Changed("to") {
					f.hi = to
				}
				if f.lo > f.hi {
					return fmt.Errorf("--from %d --to %d: give --from at most --to", f.lo, f.hi)
				}
			}
			if fl.Changed("agent") && agent == "" {
				return errors.New("--agent: give an agent's id")
			}
			f.filtered = fl.Changed("tick") || fl.Changed("from") || fl.Changed("to") || agent != ""
			bw := bufio.NewWriter(stdout)
			s := &logShower{w: bw, json: out == "json", f: f}
			err := s.show(args[0])
			if ferr := bw.Flush(); err == nil && ferr != nil {
				err = ferr
			}
			return err
		},
	}
	fl := cmd.Flags()
	addOutput(cmd, &out)
	fl.Uint64Var(&tick, "tick", 0, "print only the records of this tick")
	fl.Uint64Var(&from, "from", 0, "print only the records from this tick on (inclusive)")
	fl.Uint64Var(&to, "to", 0, "print only the records up to this tick (inclusive)")
	fl.StringVar(&agent, "agent", "", "print only the records about this agent")
	return cmd
}

// logShower prints records as it reads them.
type logShower struct {
	w    *bufio.Writer
	json bool
	f    lsFilter

	names []string // the agents the last tick record named
	// inference numbering, which restarts in every segment: the index of
	// the last record, and the sizes of those of the last two ticks.
	infIndex uint64
	infSizes map[uint64]lsInfRef
	done     bool // past --to: stop reading
	werr     error
}

type lsInfRef struct {
	tick uint64
	size int
}

// show prints the log at path, a file or a data directory.
func (s *logShower) show(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if err := s.showFile(path, true, false); err != nil {
			return err
		}
		return s.werr
	}
	segs, err := lsSegments(path)
	if err != nil {
		return err
	}
	for i, seg := range segs {
		if i > 0 && seg.start > s.f.hi {
			break // records come in tick order
		}
		// A segment that ends before the range is read for the agents'
		// names, without its segment line.
		line := i+1 == len(segs) || segs[i+1].start > s.f.lo
		if err := s.showFile(seg.path, i == 0, line); err != nil {
			return err
		}
		if s.done || s.werr != nil {
			break
		}
	}
	return s.werr
}

// lsSegFile is a segment file of a data directory's log.
type lsSegFile struct {
	index, start uint64
	path         string
}

// lsSegments returns the segment files of a data directory, in order
// (as package host/daemon names them).
func lsSegments(dir string) ([]lsSegFile, error) {
	logDir := filepath.Join(dir, "log")
	entries, err := os.ReadDir(logDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var segs []lsSegFile
	for _, e := range entries {
		var idx, start uint64
		n := e.Name()
		if _, err := fmt.Sscanf(n, "seg-%d-t%d.replay", &idx, &start); err != nil || n != fmt.Sprintf("seg-%06d-t%012d.replay", idx, start) || !e.Type().IsRegular() {
			continue
		}
		segs = append(segs, lsSegFile{idx, start, filepath.Join(logDir, n)})
	}
	if len(segs) == 0 {
		return nil, &exitError{lsExitCorrupt, fmt.Errorf("%s is a directory without a replay log: give a replay log file, or a data directory of agenthost serve (its log is %s)",
			dir, filepath.Join(dir, "log", "seg-NNNNNN-tNNNNNNNNNNNN.replay"))}
	}
	slices.SortFunc(segs, func(a, b lsSegFile) int { return cmp.Compare(a.index, b.index) })
	for i := 1; i < len(segs); i++ {
		if segs[i].index != segs[i-1].index+1 || segs[i].start < segs[i-1].start {
			return nil, &exitError{lsExitCorrupt, fmt.Errorf("the log of %s has %s after %s: a segment is missing or misnamed",
				dir, filepath.Base(segs[i].path), filepath.Base(segs[i-1].path))}
		}
	}
	return segs, nil
}

// showFile prints one log file: its header (when first) and its segment
// line (segLine: a segment of a data directory), then its records.
func (s *logShower) showFile(path string, first, segLine bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := replaylog.NewReader(f)
	if err != nil {
		var ce *replaylog.CorruptError
		if !errors.As(err, &ce) {
			return fmt.Errorf("%s: %w", path, err)
		}
		if s.json || !first {
			s.printError(path, ce) // a file alone, in text: the error says it
		}
		if lsWasmMagic(path) {
			return &exitError{lsExitCorrupt, fmt.Errorf("%s is a WebAssembly module, not a replay log (agenthost inspect shows a module)", path)}
		}
		return &exitError{lsExitCorrupt, fmt.Errorf("%s: %w", path, err)}
	}
	h := r.Header()
	if first {
		s.printHeader(path, h)
	}
	if segLine {
		s.printSegment(path, h.GetSegment())
	}
	s.infIndex = 0
	s.infSizes = map[uint64]lsInfRef{}
	for !s.done && s.werr == nil {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		var ce *replaylog.CorruptError
		if errors.As(err, &ce) {
			s.printError(path, ce)
			what := "damaged"
			if ce.Torn {
				what = "torn"
			}
			return &exitError{lsExitCorrupt, fmt.Errorf("%s is %s at byte %d (record %d): the records before it are printed; to keep them, truncate it there: truncate -s %d %s", path, what, ce.Offset, ce.Record, ce.Offset, path)}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		s.record(rec)
	}
	return nil
}

// lsWasmMagic reports whether the file starts as a WebAssembly module.
func lsWasmMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var m [4]byte
	_, err = io.ReadFull(f, m[:])
	return err == nil && string(m[:]) == "\x00asm"
}

// record prints one record if the filter lets it through.
func (s *logShower) record(rec *replaylog.Record) {
	switch k := rec.Kind.(type) {
	case *replaylog.Record_Command:
		c := k.Command
		if s.past(c.Tick) || !s.f.in(c.Tick) || (s.f.agent != "" && lsCommandAgent(c) != s.f.agent) {
			return
		}
		s.printCommand(c)
	case *replaylog.Record_Inference:
		o := k.Inference
		s.infIndex++
		size := len(o.Output)
		if o.SameAs != 0 {
			size = -1
			if ref, ok := s.infSizes[o.SameAs]; ok {
				size = ref.size
			}
		}
		s.infSizes[s.infIndex] = lsInfRef{o.Tick, size}
		if s.past(o.Tick) || !s.f.in(o.Tick) || (s.f.agent != "" && o.Agent != s.f.agent) {
			return
		}
		s.printInference(o, s.infIndex, size)
	case *replaylog.Record_Output:
		o := k.Output
		if s.past(o.Tick) || !s.f.in(o.Tick) || (s.f.agent != "" && o.From != s.f.agent) {
			return
		}
		s.printOutput(o)
	case *replaylog.Record_Actions:
		a := k.Actions
		if s.past(a.Tick) || !s.f.in(a.Tick) || (s.f.agent != "" && a.Agent != s.f.agent) {
			return
		}
		s.printActions(a)
	case *replaylog.Record_Tick:
		td := k.Tick
		// Inference results refer back to this tick or the one before.
		for i, ref := range s.infSizes {
			if ref.tick < td.Tick {
				delete(s.infSizes, i)
			}
		}
		names := td.Agents
		switch {
		case len(names) > 0:
			s.names = names
		case len(s.names) == len(td.AgentDigests):
			names = s.names
		}
		if s.past(td.Tick) || !s.f.in(td.Tick) {
			return
		}
		s.printTick(td, names)
	case *replaylog.Record_End:
		e := k.End
		if s.past(e.Ticks) || !s.f.in(e.Ticks) {
			return
		}
		s.printEnd(e)
	default:
		if !s.f.filtered {
			s.printUnknown()
		}
	}
}

// past reports whether tick t is after the range, and if so marks the
// show done: records come in tick order.
func (s *logShower) past(t uint64) bool {
	if t > s.f.hi {
		s.done = true
	}
	return s.done
}

// lsCommandAgent is the agent a command is about ("" for an input on a
// channel).
func lsCommandAgent(c *replaylog.Command) string {
	switch op := c.Op.(type) {
	case *replaylog.Command_Spawn:
		return op.Spawn.GetId()
	case *replaylog.Command_Stop:
		return op.Stop.GetId()
	case *replaylog.Command_Join:
		return op.Join.GetAgent()
	case *replaylog.Command_Leave:
		return op.Leave.GetAgent()
	case *replaylog.Command_Input:
		return op.Input.GetTo()
	}
	return ""
}

// The printers. Text goes through printf, JSON through emit; the first
// write error stops the show.

func (s *logShower) printf(format string, args ...any) {
	if s.werr == nil {
		_, s.werr = fmt.Fprintf(s.w, format, args...)
	}
}

func (s *logShower) emit(v any) {
	if s.werr == nil {
		s.werr = writeJSON(s.w, v)
	}
}

type lsModule struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

type lsSegmentInfo struct {
	Index       uint64 `json:"index"`
	StartTick   uint64 `json:"start_tick"`
	StartDigest string `json:"start_digest"`
}

type lsHeader struct {
	Type            string          `json:"type"`
	File            string          `json:"file"`
	FormatVersion   uint32          `json:"format_version"`
	ABIVersion      uint32          `json:"abi_version"`
	Seed            uint64          `json:"seed"`
	ConfigDigest    string          `json:"config_digest"`
	TopologyFormat  string          `json:"topology_format"`
	Config          json.RawMessage `json:"config"`
	ConfigText      *string         `json:"config_text,omitempty"`
	Modules         []lsModule      `json:"modules"`
	CreatedBy       string          `json:"created_by"`
	Workers         uint32          `json:"workers"`
	UnsignedAllowed bool            `json:"unsigned_allowed"`
	Segment         *lsSegmentInfo  `json:"segment"`
}

func (s *logShower) printHeader(path string, h *replaylog.Header) {
	mods := make([]lsModule, 0, len(h.ModuleDigests))
	for name, d := range h.ModuleDigests {
		mods = append(mods, lsModule{name, hex.EncodeToString(d)})
	}
	slices.SortFunc(mods, func(a, b lsModule) int { return strings.Compare(a.Name, b.Name) })
	var seg *lsSegmentInfo
	if sg := h.GetSegment(); sg != nil {
		seg = &lsSegmentInfo{sg.Index, sg.StartTick, hex.EncodeToString(sg.StartDigest)}
	}
	topo := bytes.TrimSpace(h.Topology)
	isJSON := len(topo) > 0 && json.Valid(topo)
	if s.json {
		j := lsHeader{Type: "header", File: path, FormatVersion: h.FormatVersion, ABIVersion: h.AbiVersion, Seed: h.Seed,
			ConfigDigest: hex.EncodeToString(h.ConfigDigest), TopologyFormat: h.TopologyFormat, Config: json.RawMessage("null"), Modules: mods,
			CreatedBy: h.CreatedBy, Workers: h.Workers, UnsignedAllowed: h.UnsignedAllowed, Segment: seg}
		switch {
		case isJSON:
			j.Config = json.RawMessage(topo)
		case len(topo) > 0:
			t := string(h.Topology)
			j.ConfigText = &t
		}
		s.emit(j)
		return
	}
	s.printf("header\n")
	s.printf("  file: %s\n", path)
	s.printf("  format version: %d\n", h.FormatVersion)
	if h.AbiVersion == 0 {
		s.printf("  abi version: 0 (no WebAssembly agents)\n")
	} else {
		s.printf("  abi version: %d\n", h.AbiVersion)
	}
	s.printf("  seed: %d\n", h.Seed)
	s.printf("  config digest: %s\n", lsHex(h.ConfigDigest))
	s.printf("  created by: %s\n", lsOrNone(h.CreatedBy))
	s.printf("  workers: %d\n", h.Workers)
	s.printf("  unsigned allowed: %t\n", h.UnsignedAllowed)
	if seg != nil {
		s.printf("  segment: %d, start tick %d, start digest %s\n", seg.Index, seg.StartTick, lsOrNone(seg.StartDigest))
	}
	if len(mods) == 0 {
		s.printf("  modules: (none)\n")
	} else {
		s.printf("  modules:\n")
		width := 0
		for _, m := range mods {
			width = max(width, len(m.Name))
		}
		for _, m := range mods {
			s.printf("    %-*s  sha256 %s\n", width, m.Name, m.SHA256)
		}
	}
	switch {
	case isJSON:
		var b bytes.Buffer
		if err := json.Indent(&b, topo, "    ", "  "); err != nil {
			b.Reset()
			b.Write(topo)
		}
		s.printf("  config (%s):\n    %s\n", lsOrNone(h.TopologyFormat), b.String())
	case len(topo) > 0:
		s.printf("  config (%s):\n", lsOrNone(h.TopologyFormat))
		for _, line := range strings.Split(string(topo), "\n") {
			s.printf("    %s\n", strings.TrimRight(line, "\r"))
		}
	default:
		s.printf("  config: (none)\n")
	}
}

type lsSegment struct {
	Type string `json:"type"`
	File string `json:"file"`
	lsSegmentInfo
}

func (s *logShower) printSegment(path string, sg *replaylog.Segment) {
	info := lsSegmentInfo{sg.GetIndex(), sg.GetStartTick(), hex.EncodeToString(sg.GetStartDigest())}
	if s.json {
		s.emit(lsSegment{"segment", path, info})
		return
	}
	if sg == nil {
		s.printf("segment (the header names none): %s\n", path)
		return
	}
	s.printf("segment %d: %s, start tick %d, start digest %s\n", info.Index, path, info.StartTick, lsOrNone(info.StartDigest))
}

type lsCommand struct {
	Type string `json:"type"`
	Tick uint64 `json:"tick"`
	Op   string `json:"op"`
	Key  string `json:"key"`
}

type lsSpawn struct {
	lsCommand
	Agent      string `json:"agent"`
	Kind       string `json:"kind"`
	Group      string `json:"group"`
	Priority   int32  `json:"priority"`
	Fuel       uint64 `json:"fuel"`
	Config     string `json:"config"`
	ConfigSize int    `json:"config_size"`
}

type lsStop struct {
	lsCommand
	Agent string `json:"agent"`
}

type lsMembership struct {
	lsCommand
	Agent   string `json:"agent"`
	Channel string `json:"channel"`
}

type lsInput struct {
	lsCommand
	To      string `json:"to"`
	Channel string `json:"channel"`
	Payload string `json:"payload"`
	Size    int    `json:"size"`
}

func (s *logShower) printCommand(c *replaylog.Command) {
	base := lsCommand{Type: "command", Tick: c.Tick, Key: c.Key}
	var (
		v    any
		text string
	)
	switch op := c.Op.(type) {
	case *replaylog.Command_Spawn:
		sp := op.Spawn
		base.Op = "spawn"
		v = lsSpawn{base, sp.Id, sp.Kind, sp.Group, sp.Priority, sp.Fuel, lsBase64(sp.Config), len(sp.Config)}
		text = fmt.Sprintf("spawn %s: kind %s", sp.Id, sp.Kind)
		if sp.Group != "" {
			text += ", group " + sp.Group
		}
		if sp.Priority != 0 {
			text += fmt.Sprintf(", priority %d", sp.Priority)
		}
		if sp.Fuel != 0 {
			text += fmt.Sprintf(", fuel %d", sp.Fuel)
		}
		if len(sp.Config) > 0 {
			text += ", config " + lsPreview(sp.Config)
		}
	case *replaylog.Command_Stop:
		base.Op = "stop"
		v = lsStop{base, op.Stop.GetId()}
		text = "stop " + op.Stop.GetId()
	case *replaylog.Command_Join:
		base.Op = "join"
		v = lsMembership{base, op.Join.GetAgent(), op.Join.GetChannel()}
		text = fmt.Sprintf("join %s to channel %s", op.Join.GetAgent(), op.Join.GetChannel())
	case *replaylog.Command_Leave:
		base.Op = "leave"
		v = lsMembership{base, op.Leave.GetAgent(), op.Leave.GetChannel()}
		text = fmt.Sprintf("leave %s from channel %s", op.Leave.GetAgent(), op.Leave.GetChannel())
	case *replaylog.Command_Input:
		in := op.Input
		base.Op = "input"
		v = lsInput{base, in.To, in.Channel, lsBase64(in.Payload), len(in.Payload)}
		if in.Channel != "" {
			text = "input on channel " + in.Channel
		} else {
			text = "input to " + in.To
		}
		text += ": " + lsPreview(in.Payload)
	default:
		base.Op = "unknown"
		v = base
		text = "unknown (an operation this build does not know)"
	}
	if s.json {
		s.emit(v)
		return
	}
	if c.Key != "" {
		text += ", key " + strconv.Quote(c.Key)
	}
	s.printf("tick %d command %s\n", c.Tick, text)
}

type lsInference struct {
	Type   string `json:"type"`
	Tick   uint64 `json:"tick"`
	Agent  string `json:"agent"`
	Seq    uint64 `json:"seq"`
	Index  uint64 `json:"index"`
	SameAs uint64 `json:"same_as"`
	Size   *int   `json:"size"`
	Output string `json:"output"`
}

func (s *logShower) printInference(o *replaylog.InferenceOutput, index uint64, size int) {
	if s.json {
		j := lsInference{Type: "inference", Tick: o.Tick, Agent: o.Agent, Seq: o.Seq, Index: index, SameAs: o.SameAs, Output: lsBase64(o.Output)}
		if size >= 0 {
			j.Size = &size
		}
		s.emit(j)
		return
	}
	what := fmt.Sprintf("%d bytes", size)
	if o.SameAs != 0 {
		if size >= 0 {
			what = fmt.Sprintf("same as #%d (%d bytes)", o.SameAs, size)
		} else {
			what = fmt.Sprintf("same as #%d (not in this file)", o.SameAs)
		}
	}
	s.printf("tick %d inference #%d %s seq %d: %s\n", o.Tick, index, o.Agent, o.Seq, what)
}

type lsOutput struct {
	Type    string `json:"type"`
	Tick    uint64 `json:"tick"`
	From    string `json:"from"`
	Channel string `json:"channel"`
	To      string `json:"to"`
	Payload string `json:"payload"`
	Size    int    `json:"size"`
}

// lsAction is an action in JSON.
type lsAction struct {
	Kind    string `json:"kind"`
	Target  string `json:"target"`
	Level   string `json:"level"`
	Version string `json:"version"`
	Payload string `json:"payload"`
	Size    int    `json:"size"`
}

// printActions prints an agent's recorded actions of a tick (logs
// recorded with --record-actions).
func (s *logShower) printActions(a *replaylog.AgentActions) {
	if s.json {
		acts := make([]lsAction, len(a.Actions))
		for i, x := range a.Actions {
			acts[i] = lsAction{x.Kind, x.Target, x.Level, x.Version, lsBase64(x.Payload), len(x.Payload)}
		}
		s.emit(struct {
			Type    string     `json:"type"`
			Tick    uint64     `json:"tick"`
			Agent   string     `json:"agent"`
			Failed  string     `json:"failed"`
			Actions []lsAction `json:"actions"`
		}{"actions", a.Tick, a.Agent, a.Failed, acts})
		return
	}
	s.printf("tick %d actions of %s:\n", a.Tick, a.Agent)
	for _, x := range a.Actions {
		s.printf("  %s %s %s\n", x.Kind, x.Target, lsPreview(x.Payload))
	}
	if a.Failed != "" {
		s.printf("  failed: %s\n", a.Failed)
	}
}

func (s *logShower) printOutput(o *replaylog.Output) {
	if s.json {
		s.emit(lsOutput{"output", o.Tick, o.From, o.Channel, o.To, lsBase64(o.Payload), len(o.Payload)})
		return
	}
	dest := "to " + o.To
	if o.Channel != "" {
		dest = "on channel " + o.Channel
	}
	s.printf("tick %d output %s %s: %s\n", o.Tick, o.From, dest, lsPreview(o.Payload))
}

type lsAgent struct {
	Agent  string `json:"agent"`
	Digest string `json:"digest"`
}

type lsEvent struct {
	Kind   string `json:"kind"`
	Agent  string `json:"agent"`
	Detail string `json:"detail"`
}

type lsTick struct {
	Type        string    `json:"type"`
	Tick        uint64    `json:"tick"`
	Digest      string    `json:"digest"`
	AgentCount  int       `json:"agent_count"`
	Agents      []lsAgent `json:"agents"`
	DeadLetters uint64    `json:"dead_letters"`
	Events      []lsEvent `json:"events"`
}

// printTick prints a tick digest; names are the agents' ids (nil when
// unknown).
func (s *logShower) printTick(td *replaylog.TickDigest, names []string) {
	agents := []lsAgent{}
	for i, d := range td.AgentDigests {
		name := ""
		if names != nil {
			name = names[i]
		}
		if s.f.agent != "" && name != s.f.agent {
			continue
		}
		agents = append(agents, lsAgent{name, fmt.Sprintf("%016x", d)})
	}
	events := []lsEvent{}
	for _, e := range td.Events {
		if s.f.agent != "" && e.Agent != s.f.agent {
			continue
		}
		events = append(events, lsEvent{lsEventKind(e.Kind), e.Agent, e.Detail})
	}
	if s.json {
		s.emit(lsTick{"tick", td.Tick, hex.EncodeToString(td.Digest), len(td.AgentDigests), agents, td.DeadLetters, events})
		return
	}
	s.printf("tick %d digest %s (%s, %s)\n", td.Tick, lsHex(td.Digest), lsPlural(len(td.AgentDigests), "agent"), lsPlural(int(td.DeadLetters), "dead letter"))
	width := 0
	for _, a := range agents {
		width = max(width, len(lsOrUnnamed(a.Agent)))
	}
	for _, a := range agents {
		s.printf("  agent %-*s %s\n", width, lsOrUnnamed(a.Agent), a.Digest)
	}
	for _, e := range events {
		detail := ""
		if e.Detail != "" {
			detail = ": " + e.Detail
			if !printable([]byte(e.Detail)) {
				detail = ": " + strconv.Quote(e.Detail)
			}
		}
		s.printf("  event %s %s%s\n", e.Kind, lsOrNone(e.Agent), detail)
	}
}

// lsEventKind names an event kind as host.Event does: failed, dead-letter...
func lsEventKind(k replaylog.Event_Kind) string {
	if name, ok := replaylog.Event_Kind_name[int32(k)]; ok {
		return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	}
	return fmt.Sprintf("kind-%d", int32(k))
}

type lsEnd struct {
	Type        string `json:"type"`
	Ticks       uint64 `json:"ticks"`
	FinalDigest string `json:"final_digest"`
	Reason      string `json:"reason"`
}

func (s *logShower) printEnd(e *replaylog.End) {
	if s.json {
		s.emit(lsEnd{"end", e.Ticks, hex.EncodeToString(e.FinalDigest), e.Reason})
		return
	}
	reason := ""
	if e.Reason != "" {
		reason = ", reason " + strconv.Quote(e.Reason)
	}
	s.printf("end: %d ticks, final digest %s%s\n", e.Ticks, lsHex(e.FinalDigest), reason)
}

func (s *logShower) printUnknown() {
	if s.json {
		s.emit(struct {
			Type string `json:"type"`
		}{"unknown"})
		return
	}
	s.printf("unknown record (of a kind this build does not know: written by a newer Lockstep)\n")
}

type lsError struct {
	Type   string `json:"type"`
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Record int    `json:"record"`
	Torn   bool   `json:"torn"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func (s *logShower) printError(path string, ce *replaylog.CorruptError) {
	if s.json {
		s.emit(lsError{"error", path, ce.Offset, ce.Record, ce.Torn, ce.Reason, ce.Error()})
		return
	}
	s.printf("error: %s: %v\n", path, ce)
}

// preview shows a payload in one line: quoted printable UTF-8 (tabs and
// line breaks allowed, escaped by the quotes), cut after lsPreviewText
// bytes, or the hex of its first lsPreviewHex bytes.
func lsPreview(b []byte) string {
	if utf8.Valid(b) && !bytes.ContainsFunc(b, func(r rune) bool { return !unicode.IsPrint(r) && r != '\t' && r != '\n' && r != '\r' }) {
		if len(b) <= lsPreviewText {
			return strconv.Quote(string(b))
		}
		cut := lsPreviewText
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(string(b[:cut])), len(b))
	}
	if len(b) <= lsPreviewHex {
		return fmt.Sprintf("0x%x (%d bytes)", b, len(b))
	}
	return fmt.Sprintf("0x%x… (%d bytes)", b[:lsPreviewHex], len(b))
}

// plural is "1 agent", "2 agents".
func lsPlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func lsBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func lsHex(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	return hex.EncodeToString(b)
}

func lsOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func lsOrUnnamed(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}
