// Package agent is the contract between Lockstep and an agent.
//
// Every agent — a Go value, or a WebAssembly module behind an adapter —
// implements Agent. The host drives it one tick at a time:
//
//  1. Init, once per incarnation, before the agent's first delivery or step
//     (again after every restart, on a fresh instance).
//  2. Receive, once per message delivered this tick, in canonical order:
//     external inputs first, then messages from agents ordered by sender
//     (priority, spawn rank) and each sender's emission order.
//  3. Step, once per tick, after the tick's deliveries.
//  4. Shutdown, when the agent is stopped or the host closes. Its effects
//     are discarded.
//
// All effects go through the Context: Send, Publish, Join and Leave are
// recorded in the agent's outbox and routed by the router at the end of the
// tick (the barrier); a message emitted at tick t is delivered at t+1.
// Membership changes take effect at the barrier too. An error returned from
// Init, Receive or Step, or a panic, is a failure of this agent at this tick:
// its outbox for the tick is dropped and its supervisor decides what happens
// next. Failures are part of the run's digest, so they reproduce too.
//
// An agent must be deterministic given what the Context gives it: no wall
// clock, no unseeded randomness, no goroutines that outlive a call, no shared
// mutable state with other agents. Payloads handed to Receive are shared with
// other recipients and must not be modified.
package agent

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/sdk/go/pmath"
)

// Agent is what the host runs. Methods are called from one goroutine at a
// time, never concurrently.
type Agent interface {
	Init(ctx Context) error
	Receive(ctx Context, msg Message) error
	Step(ctx Context) error
	Shutdown(ctx Context) error
}

// Snapshotter is an agent whose state can be captured between ticks and
// restored into a fresh instance of the same kind: what checkpoints,
// pre-initialised images and state inspection need. WebAssembly agents
// implement it (linear memory and mutable globals); a Go agent opts in.
//
// Snapshot is called between ticks, never during a call. Restore is called
// on a fresh instance, made by the kind's factory with the same id and
// config, instead of Init: after it the agent must behave exactly as the
// one snapshotted would have (same deliveries, same outbox, same digests).
// The bytes are the agent's own format; they should carry a version.
type Snapshotter interface {
	Snapshot() ([]byte, error)
	Restore(snapshot []byte) error
}

// Context is an agent's window onto the run during one call. It must not be
// kept past the call that received it.
type Context interface {
	// Tick is the current logical tick.
	Tick() clock.Tick
	// Self is this agent's id.
	Self() string
	// Send queues payload for agent to, delivered at the next tick. The
	// payload is copied. A send to an unknown or stopped agent becomes a
	// dead letter at the barrier.
	Send(to string, payload []byte) error
	// Publish queues payload for every member of channel (except the
	// sender) as of the start of this tick. The payload is copied.
	Publish(channel string, payload []byte) error
	// Join adds this agent to channel from the next tick on.
	Join(channel string) error
	// Leave removes this agent from channel from the next tick on.
	Leave(channel string) error
	// Log emits a log line, in canonical order with every other agent's, at
	// the barrier.
	Log(level Level, msg string)
	// WriteState sets this agent's state region name to a copy of data.
	// Readers see it from the next tick on (single writer, many readers).
	WriteState(name string, data []byte) error
	// ReadState returns owner's state region name as it was frozen at the
	// last barrier. The bytes are shared: do not modify them.
	ReadState(owner, name string) ([]byte, bool)
	// Rand is a random source seeded from the run's seed, this agent's id and
	// the tick: the same every run, and on every platform.
	Rand() *Rand
	// Infer asks the host's model manager to run model (at version; ""
	// means its only version, or the one declared default) on input, a tensor list in the
	// encoding of package modelactor/tensor. It returns the request's
	// number: its position among this agent's requests this tick. The
	// result arrives at the next tick as a message From ModelSender whose
	// payload is an encoded tensor.Result carrying that number (and Sent
	// set to this tick); a failed inference is such a message too, with an
	// error status and text. The input is copied.
	Infer(model, version string, input []byte) (uint32, error)
}

// Rand is an agent's random source: math/rand/v2's generator, whose
// integer and uniform methods (Uint64, IntN, Float64, Perm, Shuffle, …)
// give the same results on every platform, with NormFloat64 and
// ExpFloat64 replaced by portable ones (package sdk/go/pmath): the
// standard library's use math.Exp and math.Log, whose bits differ between
// amd64 and other CPUs. The float math an agent does itself is portable
// with sdk/go/pmath too.
type Rand struct{ *rand.Rand }

// NormFloat64 returns a normally distributed float64 (mean 0, standard
// deviation 1), from two words of the generator (pmath.NormFloat64).
func (r Rand) NormFloat64() float64 { return pmath.NormFloat64(r.Uint64) }

// ExpFloat64 returns an exponentially distributed float64 (rate 1), from
// one word of the generator (pmath.ExpFloat64).
func (r Rand) ExpFloat64() float64 { return pmath.ExpFloat64(r.Uint64) }

// ModelSender is the From of inference results. It is not a valid agent id,
// so no agent can send as the model manager.
const ModelSender = "@model"

// Metered is implemented by agents whose work is metered in fuel (WASM
// agents). After each Step the host takes the fuel used since the last
// call; it enters the agent's report digest.
type Metered interface {
	TakeFuel() uint64
}

// Message is one delivery.
type Message struct {
	// From is the sender's id, or "" for an external input.
	From string
	// Channel is the channel it was published on, or "" for a direct send.
	Channel string
	// Sent is the tick at which it was emitted.
	Sent clock.Tick
	// Payload is the message body. It is shared: do not modify it.
	Payload []byte
}

// Level is a log level, ordered like logrus's.
type Level uint8

// Log levels.
const (
	LevelError Level = iota + 2
	LevelWarn
	LevelInfo
	LevelDebug
)

// Errors a Context returns for bad arguments. The call has no effect.
var (
	ErrInvalidName = errors.New("agent: invalid name")
	ErrTooLarge    = errors.New("agent: message too large")
	// ErrQuota: the call would take the agent over one of its quotas
	// (actions, bytes or deliveries per tick, log line size, state regions,
	// channel memberships). Unlike the errors above it is not the agent's
	// to handle: the agent fails at this tick, whatever it returns, with a
	// reason that names the quota.
	ErrQuota = errors.New("agent: quota exceeded")
)

// MaxNameLen is the longest agent id or channel name.
const MaxNameLen = 128

// ValidateName checks an agent id or channel name: 1 to MaxNameLen bytes of
// ASCII letters, digits and "._-/:", starting with a letter or digit. kind
// ("agent id", "channel") names the thing in the error.
func ValidateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s (use letters, digits and ._-/:)", ErrInvalidName, kind)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %s %.20q... is %d bytes (at most %d)", ErrInvalidName, kind, name, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if alnum || i > 0 && (c == '.' || c == '_' || c == '-' || c == '/' || c == ':') {
			continue
		}
		return fmt.Errorf("%w: %s %q has %q at byte %d (use letters, digits and ._-/:, starting with a letter or digit)", ErrInvalidName, kind, name, c, i)
	}
	return nil
}

// StackTracer is implemented by errors that know where in the agent's code
// they happened: a WebAssembly trap carries its wasm stack trace (function
// names from the module's name section). The trace is for people (logs,
// the UI), never for digests: it may differ between engines and runtime
// versions, so the host keeps it out of failure reasons, digests and the
// replay log's events.
type StackTracer interface {
	error
	// StackTrace returns the frames, innermost first, one per line.
	StackTrace() string
}

// StackTrace returns the stack trace of the first error in err's chain that
// has one (a StackTracer), or "".
func StackTrace(err error) string {
	if err == nil {
		return "" // before errors.As, whose target would escape: no allocation per step
	}
	var st StackTracer
	if errors.As(err, &st) {
		return st.StackTrace()
	}
	return ""
}
