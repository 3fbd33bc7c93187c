package host

import (
	"errors"
	"fmt"

	"github.com/lockstep-rt/lockstep/actors"
	"github.com/lockstep-rt/lockstep/host/replaylog"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// NewMember builds the host of a federation member (package
// host/federation): a replica of the run whose log header the coordinator
// sent, finding its modules as a replay does (opts: ModuleDirs, Trust or
// AllowUnsigned, Workers), with fed deciding which agents run here. The
// coordinator answers every inference request; models are the ids of the
// models pinned to this member, which it loads (every version the run
// declares, its file found under opts.ModuleDirs by SHA-256) and serves to
// the coordinator through Models. A run resumed from a checkpoint starts
// its members from the same checkpoint, cp (nil: from the start), which
// holds every agent's image. SetAnswers hands the coordinator's
// answers to each tick's commit. Commands come from the coordinator
// through ApplyCommand; Step runs a tick as usual and returns once fed has
// filled the other members' reports.
func NewMember(hdr *replaylog.Header, opts ReplayOptions, fed actors.Remote, cp *Checkpoint, models ...string) (*Host, error) {
	if fed == nil {
		return nil, errors.New("host: NewMember needs the member's Federation")
	}
	opts.UncheckedModels = true // no model is computed to check answers here
	rh, err := replaySetup(hdr, opts)
	if err != nil {
		return nil, err
	}
	rh.opts.Models, rh.opts.Federation = nil, fed
	for _, id := range models {
		found := false
		for _, m := range rh.recordedModels {
			if m.ID != id {
				continue
			}
			found = true
			what := fmt.Sprintf("model %q (pinned to this member)", m.Key())
			l, err := findFile(what, m.Path, m.SHA256, opts.ModuleDirs)
			if err != nil {
				return nil, err
			}
			if l.found == "" {
				return nil, replayInput{fmt.Errorf("host: %s: %s: put the file the run declares in a --module-dir of this member", what, l.problem())}
			}
			m.Path = l.found
			rh.opts.Models = append(rh.opts.Models, m)
		}
		if !found {
			return nil, fmt.Errorf("host: model %q is pinned to this member, but the run declares no such model", id)
		}
	}
	h, err := rh.start(cp)
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
