//go:build wasip1

package lockstep

import (
	"errors"
	"strconv"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// ABIVersion is the agent ABI this package implements.
const ABIVersion = 1

// Agent is what an agent author implements. Embed [Base] to get no-op
// versions of the hooks you do not need.
type Agent interface {
	// Init runs once per incarnation, before the first Receive or Step.
	Init(ctx *Context) error
	// Receive runs once per message delivered this tick, in canonical order.
	Receive(ctx *Context, msg Message) error
	// Step runs once per tick, after the tick's messages.
	Step(ctx *Context) error
	// Shutdown runs when the agent is stopped or the host closes; its
	// effects are discarded.
	Shutdown(ctx *Context) error
}

// Base implements every [Agent] hook as a no-op returning nil.
type Base struct{}

// Init does nothing.
func (Base) Init(*Context) error { return nil }

// Receive ignores the message.
func (Base) Receive(*Context, Message) error { return nil }

// Step does nothing.
func (Base) Step(*Context) error { return nil }

// Shutdown does nothing.
func (Base) Shutdown(*Context) error { return nil }

// Message is a delivered message. It is a copy: keep it as long as you like.
type Message struct {
	Sent    uint64 // tick at which it was emitted
	From    string // sender id; "" for an external input
	Channel string // channel; "" for a direct send
	Payload []byte
}

// Direct reports whether the message was sent to this agent rather than
// published on a channel.
func (m *Message) Direct() bool { return m.Channel == "" }

// External reports whether the message is an external input.
func (m *Message) External() bool { return m.From == "" }

// Code is a host return code. The non-zero ones are errors.
type Code int32

// Return codes (sdk/ABI.md).
const (
	OK             Code = 0
	ErrInvalidName Code = -1 // id, channel or region name is not 1-128 bytes of [A-Za-z0-9._-/:]
	ErrTooLarge    Code = -2 // payload over the host's message size limit
	ErrOutOfBounds Code = -3 // a (ptr, len) pair points outside memory
	ErrNotFound    Code = -4 // no such state region
	ErrUnavailable Code = -6 // the host does not offer this (yet)
	ErrDenied      Code = -7 // the agent lacks the capability
)

func (c Code) Error() string {
	switch c {
	case OK:
		return "lockstep: ok"
	case ErrInvalidName:
		return "lockstep: invalid name"
	case ErrTooLarge:
		return "lockstep: payload too large"
	case ErrOutOfBounds:
		return "lockstep: out of bounds"
	case ErrNotFound:
		return "lockstep: not found"
	case ErrUnavailable:
		return "lockstep: unavailable"
	case ErrDenied:
		return "lockstep: denied"
	}
	return "lockstep: code " + strconv.Itoa(int(c))
}

func result(rc int32) error {
	if rc == 0 {
		return nil
	}
	return Code(rc)
}

// Level is a log level.
type Level int32

// Log levels, ordered like logrus's.
const (
	LevelError Level = 2
	LevelWarn  Level = 3
	LevelInfo  Level = 4
	LevelDebug Level = 5
)

// Context is passed to every hook. Its methods call the host; all of them
// may be used from any hook.
type Context struct {
	tick      uint64
	hasTick   bool
	self      string
	delivered uint32
}

// Tick is the current tick.
func (c *Context) Tick() uint64 {
	if c.hasTick {
		return c.tick
	}
	return uint64(hostTick())
}

// Self is the agent's own id. The ABI passes it only to agent_step, so it is
// "" until the first Step of an incarnation.
func (c *Context) Self() string { return c.self }

// Delivered is the number of messages received this tick (in Step; 0 in the
// other hooks).
func (c *Context) Delivered() uint32 { return c.delivered }

// Send sends payload to agent to; it is delivered next tick.
func (c *Context) Send(to string, payload []byte) error {
	return result(hostSend(to, bytesPtr(payload), uint32(len(payload))))
}

// Publish sends payload to every member of channel ch except this agent.
func (c *Context) Publish(ch string, payload []byte) error {
	return result(hostPublish(ch, bytesPtr(payload), uint32(len(payload))))
}

// Join joins channel ch from the next tick.
func (c *Context) Join(ch string) error { return result(hostJoin(ch)) }

// Leave leaves channel ch from the next tick.
func (c *Context) Leave(ch string) error { return result(hostLeave(ch)) }

// Log writes a log line.
func (c *Context) Log(level Level, msg string) { hostLog(int32(level), msg) }

// Random is the next value of the agent's deterministic random stream.
func (c *Context) Random() uint64 { return uint64(hostRandom()) }

// StateWrite writes this agent's state region name; readers see it from the
// next tick.
func (c *Context) StateWrite(name string, data []byte) error {
	return result(hostStateWrite(name, bytesPtr(data), uint32(len(data))))
}

// StateReadInto copies the previous-tick value of owner's region name into
// buf if it fits and returns its full length; n > len(buf) means nothing was
// copied.
func (c *Context) StateReadInto(owner, name string, buf []byte) (n int, err error) {
	rc := hostStateRead(owner, name, bytesPtr(buf), uint32(len(buf)))
	if rc < 0 {
		return 0, Code(rc)
	}
	return int(rc), nil
}

// StateRead returns a copy of the previous-tick value of owner's region name
// ([ErrNotFound] if there is none).
func (c *Context) StateRead(owner, name string) ([]byte, error) {
	buf := make([]byte, 64)
	for {
		n, err := c.StateReadInto(owner, name, buf)
		if err != nil {
			return nil, err
		}
		if n <= len(buf) {
			return buf[:n], nil
		}
		buf = make([]byte, n)
	}
}

// Infer asks the host's model manager to run model (version "" for its
// default version) on inputs. It returns the request's number: the result
// arrives at the next tick as a message for which [Message.Inference] is
// true, carrying that number ([Result.Request]). A request that cannot even
// be queued fails with [ErrDenied] (no inference capability for the model),
// [ErrInvalidName] or [ErrTooLarge].
func (c *Context) Infer(model, version string, inputs ...Tensor) (uint32, error) {
	return c.InferEncoded(model, version, tensor.EncodeList(inputs...))
}

// InferEncoded is [Context.Infer] with the inputs already in the tensor
// list encoding of sdk/ABI.md.
func (c *Context) InferEncoded(model, version string, input []byte) (uint32, error) {
	rc := hostInfer(model, version, bytesPtr(input), uint32(len(input)))
	if rc < 0 {
		return 0, Code(rc)
	}
	return uint32(rc), nil
}

// Config returns a copy of the agent's config (sdk/ABI.md, "Config"): its
// topology agent's config:, a string as is, anything else as JSON with
// sorted keys; nil without one. It needs no capability and works from init
// functions on.
func Config() []byte {
	n := hostConfig(nil, 0)
	if n <= 0 {
		return nil
	}
	buf := make([]byte, n)
	if m := hostConfig(bytesPtr(buf), uint32(n)); m != n {
		return nil // cannot happen: an agent's config never changes
	}
	return buf
}

// Tensor is one value of a tensor list (sdk/ABI.md, "Tensors"): a dense
// tensor of any element type, or a sequence or map (Kind). Build tensors
// with [tensor.From] (float32, int64, int32, uint8, ...), [tensor.FromFloat16],
// [tensor.FromBFloat16] and [tensor.FromStrings]; read them with [tensor.As],
// Tensor.Float32s, Float16s, BFloat16s and Strings; a sequence's values are
// its Elems, a map's MapKeys and MapValues (a scikit-learn classifier's
// probabilities arrive as a sequence of maps).
type Tensor = tensor.Tensor

// Result is the answer to an inference request; Result.Err is nil when it
// succeeded, and Result.Outputs holds the output values.
type Result = tensor.Result

// ModelSender is the From of inference results.
const ModelSender = "@model"

// Inference reports whether the message is the result of an inference
// request (see [Message.Result]).
func (m *Message) Inference() bool { return m.From == ModelSender }

// Result decodes an inference result message; a message that is not one
// (see [Message.Inference]) is an error, whatever its payload.
func (m *Message) Result() (Result, error) {
	if !m.Inference() {
		return Result{}, errors.New("lockstep: not an inference result (the sender is " + strconv.Quote(m.From) + ", not " + ModelSender + ")")
	}
	return tensor.DecodeResult(m.Payload)
}

var registered Agent

// Register installs the agent whose hooks the ABI exports call. Call it once,
// from an init function.
func Register(a Agent) {
	if a == nil {
		panic("lockstep: Register(nil)")
	}
	registered = a
}

// errNoAgent fails every hook of a module that never called Register.
var errNoAgent = errors.New("lockstep: no agent registered; call lockstep.Register from an init function (main never runs in a c-shared module)")

// call runs one hook and turns its outcome into an ABI return code.
func call(ctx *Context, hook func(Agent) error) (rc int32) {
	defer func() {
		if r := recover(); r != nil {
			msg := "lockstep: panic in agent hook"
			switch v := r.(type) {
			case error:
				msg += ": " + v.Error()
			case string:
				msg += ": " + v
			}
			hostLog(int32(LevelError), msg)
			rc = 2
		}
	}()
	err := errNoAgent
	if registered != nil {
		err = hook(registered)
	}
	if err == nil {
		return 0
	}
	var code Code
	if errors.As(err, &code) && code != OK {
		return int32(code)
	}
	hostLog(int32(LevelError), err.Error())
	return 1
}
