package agenttest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// Action is one thing an agent asked for in a tick, as the host's tracer
// shows it: Kind is send, publish, join, leave, log, state or infer.
type Action = host.Action

// Outbox is what an agent asked for in one tick, in order. Its methods
// pick out one kind of action.
type Outbox []Action

// Sent is a message an agent sent.
type Sent struct {
	To      string
	Payload []byte
}

// Published is a message an agent published.
type Published struct {
	Channel string
	Payload []byte
}

// Log is a log line.
type Log struct {
	Level agent.Level
	Text  string
}

// Inference is an inference request. Request is the number Infer
// returned: its position among the tick's requests.
type Inference struct {
	Request        uint32
	Model, Version string
	Input          []byte
}

// Sent returns the sends, in order.
func (o Outbox) Sent() []Sent {
	var out []Sent
	for _, a := range o {
		if a.Kind == "send" {
			out = append(out, Sent{To: a.Target, Payload: a.Payload})
		}
	}
	return out
}

// Published returns the publishes, in order.
func (o Outbox) Published() []Published {
	var out []Published
	for _, a := range o {
		if a.Kind == "publish" {
			out = append(out, Published{Channel: a.Target, Payload: a.Payload})
		}
	}
	return out
}

// Joined returns the channels joined, in order.
func (o Outbox) Joined() []string { return o.targets("join") }

// Left returns the channels left, in order.
func (o Outbox) Left() []string { return o.targets("leave") }

func (o Outbox) targets(kind string) []string {
	var out []string
	for _, a := range o {
		if a.Kind == kind {
			out = append(out, a.Target)
		}
	}
	return out
}

// Logs returns the log lines, in order.
func (o Outbox) Logs() []Log {
	var out []Log
	for _, a := range o {
		if a.Kind == "log" {
			out = append(out, Log{Level: levels[a.Level], Text: string(a.Payload)})
		}
	}
	return out
}

// Writes returns the state regions written, each with the last value
// written to it (nil when nothing was written).
func (o Outbox) Writes() map[string][]byte {
	var out map[string][]byte
	for _, a := range o {
		if a.Kind == "state" {
			if out == nil {
				out = map[string][]byte{}
			}
			out[a.Target] = a.Payload
		}
	}
	return out
}

// Inferences returns the inference requests, in order.
func (o Outbox) Inferences() []Inference {
	var out []Inference
	for _, a := range o {
		if a.Kind == "infer" {
			out = append(out, Inference{Request: uint32(len(out)), Model: a.Target, Version: a.Version, Input: a.Payload})
		}
	}
	return out
}

// String lists the actions, one a line, indented by two spaces.
func (o Outbox) String() string {
	var b strings.Builder
	for _, a := range o {
		switch a.Kind {
		case "join", "leave":
			fmt.Fprintf(&b, "  %s %s\n", a.Kind, a.Target)
		case "log":
			fmt.Fprintf(&b, "  log %s %s\n", a.Level, show(a.Payload))
		case "infer":
			model := a.Target
			if a.Version != "" {
				model += "@" + a.Version
			}
			fmt.Fprintf(&b, "  infer %s %s\n", model, show(a.Payload))
		default:
			fmt.Fprintf(&b, "  %s %s %s\n", a.Kind, a.Target, show(a.Payload))
		}
	}
	return b.String()
}

// show is a payload in a line: quoted text, or its size and first bytes.
func show(p []byte) string {
	const most = 64
	if utf8.Valid(p) && len(p) <= most && !strings.ContainsFunc(string(p), func(r rune) bool { return r < ' ' }) {
		return fmt.Sprintf("%q", p)
	}
	if len(p) <= 16 {
		return fmt.Sprintf("%x", p)
	}
	return fmt.Sprintf("%d bytes %x…", len(p), p[:16])
}

var levels = map[string]agent.Level{"error": agent.LevelError, "warning": agent.LevelWarn, "info": agent.LevelInfo, "debug": agent.LevelDebug}

var levelNames = map[agent.Level]string{agent.LevelError: "error", agent.LevelWarn: "warning", agent.LevelInfo: "info", agent.LevelDebug: "debug"}

var kindNames = map[engine.ActionKind]string{engine.ActSend: "send", engine.ActPublish: "publish", engine.ActJoin: "join",
	engine.ActLeave: "leave", engine.ActLog: "log", engine.ActState: "state", engine.ActInfer: "infer"}

// outboxOf converts the engine's actions. Payloads are shared: the engine
// copies them when they are recorded and never reuses them.
func outboxOf(actions []engine.Action) Outbox {
	out := make(Outbox, len(actions))
	for i, a := range actions {
		out[i] = Action{Kind: kindNames[a.Kind], Target: a.Target, Payload: a.Payload, Version: a.Version}
		if a.Kind == engine.ActLog {
			out[i].Level = levelNames[a.Level]
		}
	}
	return out
}

// regions copies state regions (nil when there are none).
func regions(m map[string][]byte) map[string][]byte {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// sortedKeys are m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
