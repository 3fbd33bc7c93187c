package daemon

import (
	"encoding/binary"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

type reqKind uint8

const (
	reqInput reqKind = iota
	reqInputs
	reqSpawn
	reqStop
	reqPause
	reqResume
	reqStep
)

// request is an API call handed to the loop.
type request struct {
	kind     reqKind
	input    host.Input
	batch    []host.Input
	spawn    host.AgentSpec
	channels []string
	stop     string
	steps    uint64
	reply    chan reply

	// set by the loop: the tick the command lands at; for inputs, the
	// tick of each and whether it was a duplicate.
	tick      clock.Tick
	duplicate bool
	ticks     []clock.Tick
	dups      []bool
}

type reply struct {
	tick      clock.Tick
	duplicate bool
	err       error
}

// handle applies one request at the tick boundary the loop is at.
func (d *Daemon) handle(r *request) {
	if d.failed != nil && r.kind != reqPause && r.kind != reqResume {
		r.reply <- reply{err: status.Error(codes.FailedPrecondition, d.failed.Error())}
		return
	}
	switch r.kind {
	case reqPause:
		d.paused = true
		d.stepsLeft = 0 // a Step in progress ends after this tick
		d.finishSteps()
		d.publishStatus()
		r.reply <- reply{tick: d.h.Tick()}
	case reqResume:
		if d.cfg.Clock == Manual {
			r.reply <- reply{err: status.Error(codes.FailedPrecondition, "the daemon runs on a manual clock: use step (or restart it with --clock free or paced)")}
			return
		}
		d.paused = false
		d.publishStatus()
		r.reply <- reply{tick: d.h.Tick()}
	case reqStep:
		if !d.paused {
			r.reply <- reply{err: status.Error(codes.FailedPrecondition, "the clock is running: pause first, then step")}
			return
		}
		d.stepsLeft += max(r.steps, 1)
		d.steps = append(d.steps, r)
	default:
		if err := d.apply(r); err != nil {
			r.reply <- reply{err: err}
			return
		}
		if r.kind != reqInput && r.kind != reqInputs {
			r.tick = d.h.Tick()
		}
		// A duplicate waits too: its first copy may not be on disk yet.
		d.unsynced = true
		d.acks = append(d.acks, r)
	}
}

// apply applies an input, spawn or stop to the host.
func (d *Daemon) apply(r *request) error {
	h := d.h
	switch r.kind {
	case reqInput:
		r.batch = []host.Input{r.input}
		fallthrough
	case reqInputs:
		// Check them all, then apply them all: a batch lands whole.
		r.ticks = make([]clock.Tick, len(r.batch))
		r.dups = make([]bool, len(r.batch))
		if d.pendingInputs+len(r.batch) > MaxPendingInputs {
			return status.Errorf(codes.ResourceExhausted, "%d inputs already wait for tick %d, the most one tick takes is %d: send again once it has run", d.pendingInputs, uint64(h.Tick()), MaxPendingInputs)
		}
		first := map[string]int{} // keys of this batch: a repeat is a duplicate of the first
		for i, in := range r.batch {
			if t, ok := d.keys.get(in.Key); ok && in.Key != "" {
				r.ticks[i], r.dups[i] = t, true
				continue
			}
			if j, ok := first[in.Key]; ok && in.Key != "" {
				r.dups[i], first[in.Key] = true, j
				continue
			}
			if in.Key != "" {
				first[in.Key] = i
			}
			if err := d.checkInput(in); err != nil {
				if len(r.batch) > 1 {
					return status.Errorf(status.Code(err), "input %d of the batch: %s (none of the batch was applied)", i, status.Convert(err).Message())
				}
				return err
			}
		}
		for i, in := range r.batch {
			if r.dups[i] {
				if t, ok := d.keys.get(in.Key); ok {
					r.ticks[i] = t
				}
				continue
			}
			if err := h.Input(in); err != nil {
				return d.hostError(err)
			}
			r.ticks[i] = h.Tick()
			if in.Key != "" {
				d.keys.put(in.Key, h.Tick())
			}
			d.inputs++
			d.pendingInputs++
		}
		r.tick, r.duplicate = r.ticks[0], r.dups[0]
	case reqSpawn:
		if d.cfg.CheckpointEvery > 0 {
			if err := h.CanCheckpoint(r.spawn); err != nil {
				return status.Errorf(codes.FailedPrecondition, "%v (this daemon takes checkpoints: --checkpoint-every)", err)
			}
		}
		for _, ch := range r.channels {
			if err := agent.ValidateName("channel", ch); err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
		}
		if err := h.Spawn(r.spawn); err != nil {
			return d.hostError(err)
		}
		for _, ch := range r.channels {
			if err := h.Join(r.spawn.ID, ch); err != nil {
				return d.hostError(err)
			}
		}
	case reqStop:
		if !h.Alive(r.stop) {
			return status.Errorf(codes.NotFound, "no agent %q is running", r.stop)
		}
		if err := h.Stop(r.stop); err != nil {
			return d.hostError(err)
		}
	}
	return nil
}

// hostError is the API's error for the host's refusal; a halted host
// stops the daemon accepting changes.
func (d *Daemon) hostError(err error) error {
	if errors.Is(err, host.ErrHalted) {
		d.fail(err)
		return status.Error(codes.FailedPrecondition, d.failed.Error())
	}
	if errors.Is(err, engine.ErrDuplicateAgent) {
		return status.Error(codes.AlreadyExists, err.Error())
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

// MaxPendingInputs bounds the inputs that wait for one tick.
const MaxPendingInputs = 1 << 20

// checkInput refuses an input that would reach nobody or is malformed.
func (d *Daemon) checkInput(in host.Input) error {
	switch {
	case (in.To == "") == (in.Channel == ""):
		return status.Error(codes.InvalidArgument, "give exactly one of to (an agent) and channel")
	case in.To != "" && !d.h.Alive(in.To):
		return status.Errorf(codes.NotFound, "no agent %q is running: see agenthost status, or spawn it first", in.To)
	case in.Channel != "" && len(d.h.Members(in.Channel)) == 0:
		return status.Errorf(codes.NotFound, "channel %q has no members: the input would reach nobody (agents join channels in the topology or with spawn --channel)", in.Channel)
	case len(in.Key) > host.MaxKeySize:
		return status.Errorf(codes.InvalidArgument, "an idempotency key of %d bytes is over the %d-byte limit", len(in.Key), host.MaxKeySize)
	}
	if err := d.h.CheckSize(in.Payload); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

// dedup remembers the ticks of the last n idempotency keys.
type dedup struct {
	n     int
	ticks map[string]clock.Tick
	order []string // ring of keys, oldest at next
	next  int
}

func newDedup(n int) *dedup { return &dedup{n: n, ticks: map[string]clock.Tick{}} }

func (k *dedup) get(key string) (clock.Tick, bool) {
	t, ok := k.ticks[key]
	return t, ok
}

func (k *dedup) put(key string, t clock.Tick) {
	if _, ok := k.ticks[key]; ok {
		return
	}
	if len(k.order) < k.n {
		k.order = append(k.order, key)
	} else {
		delete(k.ticks, k.order[k.next])
		k.order[k.next] = key
		k.next = (k.next + 1) % k.n
	}
	k.ticks[key] = t
}

// encode lists the keys oldest first, each as uvarint tick, uvarint
// length and the key: a checkpoint's Extra.
func (k *dedup) encode() []byte {
	var b []byte
	for i := range k.order {
		key := k.order[(k.next+i)%len(k.order)]
		b = binary.AppendUvarint(b, uint64(k.ticks[key]))
		b = binary.AppendUvarint(b, uint64(len(key)))
		b = append(b, key...)
	}
	return b
}

// decode adds the keys encode wrote.
func (k *dedup) decode(b []byte) error {
	for len(b) > 0 {
		t, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("damaged idempotency keys")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return errors.New("damaged idempotency keys")
		}
		k.put(string(b[n:n+int(l)]), clock.Tick(t))
		b = b[n+int(l):]
	}
	return nil
}
