// Package testkinds holds agent kinds for Lockstep's own tests and
// benchmarks:
//
//   - script: obeys the messages it receives ("send b hi", "pub ch hi",
//     "join ch", "leave ch", "log text", "state name value",
//     "read owner name", "infer model input", "count", "panic", "fail"), so
//     a test script can make any agent do anything at any tick;
//   - chatter: a seeded random talker that sends, publishes, joins, leaves
//     and now and then fails, folding everything it receives into a running
//     hash that it publishes, so any change of delivery order shows in the
//     digests;
//   - idle: does nothing (tick overhead);
//   - echo: sends every message back to its sender (routing throughput).
//
// Every kind implements agent.Snapshotter (JSON of its fields, with a
// version), so that runs of them can be checkpointed and restored.
package testkinds

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/lockstep-rt/lockstep/actors/agent"
)

// Factory has the shape of host.Factory.
type Factory = func(id string, config []byte) (agent.Agent, error)

// Kinds returns every kind by name.
func Kinds() map[string]Factory {
	return map[string]Factory{
		"script":  func(string, []byte) (agent.Agent, error) { return &Script{}, nil },
		"chatter": NewChatter,
		"idle":    func(string, []byte) (agent.Agent, error) { return Idle{}, nil },
		"echo":    func(string, []byte) (agent.Agent, error) { return Echo{}, nil },
	}
}

// Script obeys commands in the payloads it receives. It counts the
// messages it received ("count" logs the count).
type Script struct {
	Received uint64 `json:"received"`
}

// Init implements agent.Agent.
func (*Script) Init(agent.Context) error { return nil }

// Receive runs the command in msg.
func (s *Script) Receive(ctx agent.Context, msg agent.Message) error {
	s.Received++
	verb, rest, _ := strings.Cut(string(msg.Payload), " ")
	arg, text, _ := strings.Cut(rest, " ")
	switch verb {
	case "send":
		return ctx.Send(arg, []byte(text))
	case "pub":
		return ctx.Publish(arg, []byte(text))
	case "join":
		return ctx.Join(arg)
	case "leave":
		return ctx.Leave(arg)
	case "log":
		ctx.Log(agent.LevelInfo, rest)
	case "state":
		return ctx.WriteState(arg, []byte(text))
	case "read":
		v, ok := ctx.ReadState(arg, text)
		ctx.Log(agent.LevelInfo, fmt.Sprintf("read %s/%s = %q %v", arg, text, v, ok))
	case "infer":
		_, err := ctx.Infer(arg, "", []byte(text))
		return err
	case "count":
		ctx.Log(agent.LevelInfo, fmt.Sprintf("received %d", s.Received))
	case "panic":
		panic("told to panic")
	case "fail":
		return errors.New("told to fail")
	}
	return nil
}

// Step implements agent.Agent.
func (*Script) Step(agent.Context) error { return nil }

// Shutdown implements agent.Agent.
func (*Script) Shutdown(agent.Context) error { return nil }

// Snapshot implements agent.Snapshotter.
func (s *Script) Snapshot() ([]byte, error) { return snapshot("script", s) }

// Restore implements agent.Snapshotter.
func (s *Script) Restore(b []byte) error { return restore("script", b, s) }

// snapshotVersion is the version of the kinds' snapshots.
const snapshotVersion = 1

type image struct {
	Kind    string          `json:"kind"`
	Version int             `json:"v"`
	State   json.RawMessage `json:"state,omitempty"`
}

// snapshot encodes state (nil: none) as kind's image.
func snapshot(kind string, state any) ([]byte, error) {
	img := image{Kind: kind, Version: snapshotVersion}
	if state != nil {
		b, err := json.Marshal(state)
		if err != nil {
			return nil, err
		}
		img.State = b
	}
	return json.Marshal(img)
}

// restore decodes kind's image b into state (nil: none).
func restore(kind string, b []byte, state any) error {
	var img image
	if err := json.Unmarshal(b, &img); err != nil {
		return fmt.Errorf("%s snapshot: %w", kind, err)
	}
	if img.Kind != kind || img.Version != snapshotVersion {
		return fmt.Errorf("%s snapshot: got kind %q version %d, want %q version %d", kind, img.Kind, img.Version, kind, snapshotVersion)
	}
	if state == nil {
		return nil
	}
	if err := json.Unmarshal(img.State, state); err != nil {
		return fmt.Errorf("%s snapshot: %w", kind, err)
	}
	return nil
}

// Idle does nothing.
type Idle struct{}

// Init implements agent.Agent.
func (Idle) Init(agent.Context) error { return nil }

// Receive implements agent.Agent.
func (Idle) Receive(agent.Context, agent.Message) error { return nil }

// Step implements agent.Agent.
func (Idle) Step(agent.Context) error { return nil }

// Shutdown implements agent.Agent.
func (Idle) Shutdown(agent.Context) error { return nil }

// Snapshot implements agent.Snapshotter.
func (Idle) Snapshot() ([]byte, error) { return snapshot("idle", nil) }

// Restore implements agent.Snapshotter.
func (Idle) Restore(b []byte) error { return restore("idle", b, nil) }

// Echo sends every message back to its sender.
type Echo struct{ Idle }

// Snapshot implements agent.Snapshotter.
func (Echo) Snapshot() ([]byte, error) { return snapshot("echo", nil) }

// Restore implements agent.Snapshotter.
func (Echo) Restore(b []byte) error { return restore("echo", b, nil) }

// Receive implements agent.Agent.
func (Echo) Receive(ctx agent.Context, m agent.Message) error {
	if m.From == "" {
		return nil
	}
	return ctx.Send(m.From, m.Payload)
}

// ChatterConfig is chatter's config: "agents=N channels=M fail=P" where P is
// the failure chance per step in parts per million.
type ChatterConfig struct {
	Agents, Channels int
	FailPPM          uint64
}

// Chatter is a seeded random talker.
type Chatter struct {
	cfg  ChatterConfig
	hash uint64
}

// NewChatter parses config ("agents=N channels=M fail=P").
func NewChatter(_ string, config []byte) (agent.Agent, error) {
	c := &Chatter{cfg: ChatterConfig{Agents: 1, Channels: 1}}
	if _, err := fmt.Sscanf(string(config), "agents=%d channels=%d fail=%d", &c.cfg.Agents, &c.cfg.Channels, &c.cfg.FailPPM); err != nil && len(config) > 0 {
		return nil, fmt.Errorf("chatter config %q: %w (want \"agents=N channels=M fail=P\")", config, err)
	}
	if c.cfg.Agents < 1 || c.cfg.Channels < 1 {
		return nil, fmt.Errorf("chatter config %q: agents and channels must be at least 1", config)
	}
	return c, nil
}

// Init joins a random channel.
func (c *Chatter) Init(ctx agent.Context) error {
	h := fnv.New64a()
	h.Write([]byte(ctx.Self()))
	c.hash = h.Sum64()
	return ctx.Join(c.channel(ctx))
}

func (c *Chatter) channel(ctx agent.Context) string {
	return fmt.Sprintf("ch%d", ctx.Rand().IntN(c.cfg.Channels))
}

// Receive folds the message into the running hash.
func (c *Chatter) Receive(_ agent.Context, m agent.Message) error {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], c.hash)
	h.Write(b[:])
	h.Write([]byte(m.From))
	h.Write([]byte(m.Channel))
	h.Write(m.Payload)
	c.hash = h.Sum64()
	return nil
}

// Step does a few random things.
func (c *Chatter) Step(ctx agent.Context) error {
	r := ctx.Rand()
	if r.Uint64N(1_000_000) < c.cfg.FailPPM {
		if r.IntN(2) == 0 {
			panic(fmt.Sprintf("chatter %s panics (hash %x)", ctx.Self(), c.hash))
		}
		return fmt.Errorf("chatter %s fails (hash %x)", ctx.Self(), c.hash)
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], c.hash)
	switch r.IntN(6) {
	case 0, 1:
		return ctx.Send(fmt.Sprintf("a%d", r.IntN(c.cfg.Agents+1)), b[:]) // a(N) does not exist: dead letter
	case 2:
		return ctx.Publish(c.channel(ctx), b[:])
	case 3:
		return ctx.Join(c.channel(ctx))
	case 4:
		return ctx.Leave(c.channel(ctx))
	}
	return nil
}

// Shutdown implements agent.Agent.
func (*Chatter) Shutdown(agent.Context) error { return nil }

type chatterState struct {
	Hash uint64 `json:"hash"`
}

// Snapshot implements agent.Snapshotter: the running hash (the config comes
// from the factory again).
func (c *Chatter) Snapshot() ([]byte, error) { return snapshot("chatter", chatterState{c.hash}) }

// Restore implements agent.Snapshotter.
func (c *Chatter) Restore(b []byte) error {
	var s chatterState
	if err := restore("chatter", b, &s); err != nil {
		return err
	}
	c.hash = s.Hash
	return nil
}

var (
	_ agent.Snapshotter = (*Script)(nil)
	_ agent.Snapshotter = (*Chatter)(nil)
	_ agent.Snapshotter = Idle{}
	_ agent.Snapshotter = Echo{}
)
