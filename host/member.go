package host

import (
	"errors"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// NewMember builds the host of a federation member (package
// host/federation): a replica of the run whose log header the coordinator
// sent, finding its modules as a replay does (opts: ModuleDirs, Trust or
// AllowUnsigned, Workers), with fed deciding which agents run here. It
// loads no model: the coordinator answers every inference request, and
// SetAnswers hands its answers to each tick's commit. Commands come from
// the coordinator through ApplyCommand; Step runs a tick as usual and
// returns once fed has filled the other members' reports.
func NewMember(hdr *replaylog.Header, opts ReplayOptions, fed actors.Remote) (*Host, error) {
	if fed == nil {
		return nil, errors.New("host: NewMember needs the member's Federation")
	}
	opts.UncheckedModels = true // a member never loads a model: no file needed
	rh, err := replaySetup(hdr, opts)
	if err != nil {
		return nil, err
	}
	rh.opts.Models, rh.opts.Federation = nil, fed
	h, err := rh.start(nil)
	if err != nil {
		return nil, err
	}
	h.answers = &engine.Answered{}
	h.eng.SetInferencer(h.answers)
	return h, nil
}

// SetAnswers hands a member the inference answers of the tick it is about
// to commit, as the coordinator's engine.Ready carried them.
func (h *Host) SetAnswers(answers [][]byte) {
	if h.answers != nil {
		h.answers.Set(answers)
	}
}

// ApplyCommand applies a command the coordinator's log holds for the
// member's current tick; an error says why it was refused (a member that
// refuses a command the coordinator accepted has diverged).
func (h *Host) ApplyCommand(rc *replaylog.Command) error {
	if d := h.replayCommand(rc); d != nil {
		return errors.New(d.What)
	}
	return nil
}
