package engine

import (
	"fmt"

	"github.com/lockstep-rt/lockstep/actors/agent"
)

// Quotas bound what one agent may do: per tick (actions, bytes,
// deliveries, the length of a log line) and standing (state regions and
// their bytes, channel memberships). Going over one is a failure of that
// agent at that tick whose reason names the quota; the actions that would
// have gone over are not recorded. A zero field means its default.
//
// With them, the memory a tick's queues can hold is bounded per agent; see
// RATIONALE.md: "What bounds the host's memory?".
type Quotas struct {
	// ActionsPerTick bounds the actions (send, publish, join, leave, log,
	// state write, infer) of one agent in one tick.
	ActionsPerTick int `json:"actions_per_tick,omitempty" yaml:"actions_per_tick"`
	// BytesPerTick bounds the payload bytes one agent emits in one tick:
	// sends, publishes, log lines, state writes and inference inputs.
	BytesPerTick int `json:"bytes_per_tick,omitempty" yaml:"bytes_per_tick"`
	// DeliveriesPerTick bounds the messages one agent's sends and publishes
	// of one tick deliver: a send delivers one, a publish one per member of
	// the channel (other than the publisher) as of the start of the tick.
	DeliveriesPerTick int `json:"deliveries_per_tick,omitempty" yaml:"deliveries_per_tick"`
	// LogLineBytes bounds one log line.
	LogLineBytes int `json:"log_line_bytes,omitempty" yaml:"log_line_bytes"`
	// StateRegions bounds the number of state regions an agent owns.
	StateRegions int `json:"state_regions,omitempty" yaml:"state_regions"`
	// StateBytes bounds the total size of an agent's state regions.
	StateBytes int `json:"state_bytes,omitempty" yaml:"state_bytes"`
	// Channels bounds the channels an agent is a member of through its own
	// joins (memberships a host command adds count too).
	Channels int `json:"channels,omitempty" yaml:"channels"`
	// Unenforced turns every quota off. It exists to measure what
	// enforcing them costs (lockstep-bench's enforcement rows); a run
	// without quotas has no memory bound.
	Unenforced bool `json:"unenforced,omitempty" yaml:"unenforced"`
}

// Default quotas.
const (
	DefaultActionsPerTick    = 1024
	DefaultBytesPerTick      = 4 << 20
	DefaultDeliveriesPerTick = 65536
	DefaultLogLineBytes      = 4096
	DefaultStateRegions      = 256
	DefaultStateBytes        = 16 << 20
	DefaultChannels          = 256
)

// MaxQuota is the largest value any quota may be set to (1 GiB for the byte
// quotas): past it a single agent could make the host allocate without a
// useful bound.
const MaxQuota = 1 << 30

// quota describes one field of Quotas, for validation and errors.
type quota struct {
	field *int
	knob  string // the topology's name; Options.Quotas has the Go name
	def   int
}

func (q *Quotas) fields() []quota {
	return []quota{
		{&q.ActionsPerTick, "actions_per_tick", DefaultActionsPerTick},
		{&q.BytesPerTick, "bytes_per_tick", DefaultBytesPerTick},
		{&q.DeliveriesPerTick, "deliveries_per_tick", DefaultDeliveriesPerTick},
		{&q.LogLineBytes, "log_line_bytes", DefaultLogLineBytes},
		{&q.StateRegions, "state_regions", DefaultStateRegions},
		{&q.StateBytes, "state_bytes", DefaultStateBytes},
		{&q.Channels, "channels", DefaultChannels},
	}
}

// Validate checks every quota is 0 (the default) or in 1..MaxQuota.
func (q Quotas) Validate() error {
	for _, f := range q.fields() {
		if *f.field < 0 || *f.field > MaxQuota {
			return fmt.Errorf("quotas.%s is %d; give 0 (the default, %d) or a number from 1 to %d", f.knob, *f.field, f.def, MaxQuota)
		}
	}
	return nil
}

// WithDefaults returns q with every zero field set to its default.
func (q Quotas) WithDefaults() Quotas {
	for _, f := range q.fields() {
		if *f.field == 0 {
			*f.field = f.def
		}
	}
	return q
}

// overQuota is the error of an agent going over quota knob (limit), doing
// what.
func overQuota(knob string, limit int, what string) error {
	return fmt.Errorf("%w: %s, over quotas.%s = %d (raise it under quotas: in the topology, or in Options.Quotas, if the agent is right to)", agent.ErrQuota, what, knob, limit)
}
