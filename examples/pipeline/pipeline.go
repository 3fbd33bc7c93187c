// Package pipeline is Lockstep's default topology: Go-native agents that
// read sensors, aggregate readings and raise alarms, with one flaky sensor
// that fails and is restarted by its supervisor. `agenthost run` runs it when
// no topology file is given.
//
// Kinds:
//   - sensor: publishes a random-walk reading on channel "readings" each
//     tick; config {"base": 20, "fail_every": 0} (fail_every > 0 makes it
//     panic every that many ticks of its incarnation).
//   - aggregator: averages the readings of a window of ticks and publishes
//     the average on "summary"; config {"window": 10}.
//   - monitor: counts summaries over a threshold and sends an alarm to the
//     agent named in config {"threshold": 21, "notify": "controller"}.
//   - controller: counts alarms and logs them.
package pipeline

import (
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/lockstep-rt/lockstep/actors/agent"
)

// Topology is the default topology document (YAML).
//
//go:embed topology.yaml
var Topology []byte

// Kinds returns the pipeline's agent kinds.
func Kinds() map[string]func(id string, config []byte) (agent.Agent, error) {
	return map[string]func(string, []byte) (agent.Agent, error){
		"sensor":     newSensor,
		"aggregator": newAggregator,
		"monitor":    newMonitor,
		"controller": func(string, []byte) (agent.Agent, error) { return &controller{}, nil },
	}
}

func decode(kind string, config []byte, v any) error {
	if len(config) == 0 {
		return nil
	}
	if err := json.Unmarshal(config, v); err != nil {
		return fmt.Errorf("%s config %s: %w", kind, config, err)
	}
	return nil
}

func f64(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }

func readF64(p []byte) (float64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("want an 8-byte float, got %d bytes", len(p))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(p)), nil
}

// base has the no-op methods.
type base struct{}

func (base) Init(agent.Context) error                   { return nil }
func (base) Receive(agent.Context, agent.Message) error { return nil }
func (base) Step(agent.Context) error                   { return nil }
func (base) Shutdown(agent.Context) error               { return nil }

type sensor struct {
	base
	Base      float64 `json:"base"`
	FailEvery int     `json:"fail_every"`
	value     float64
	steps     int
}

func newSensor(_ string, config []byte) (agent.Agent, error) {
	s := &sensor{Base: 20}
	if err := decode("sensor", config, s); err != nil {
		return nil, err
	}
	s.value = s.Base
	return s, nil
}

func (s *sensor) Step(ctx agent.Context) error {
	s.steps++
	if s.FailEvery > 0 && s.steps%s.FailEvery == 0 {
		panic(fmt.Sprintf("sensor %s: simulated hardware fault after %d steps", ctx.Self(), s.steps))
	}
	// Portable floats: Rand's NormFloat64 is (agent.Rand), and the
	// conversion rounds the product, so no CPU fuses it with the sum into
	// one multiply-add (see sdk/go/pmath).
	s.value += float64(ctx.Rand().NormFloat64() * 0.25)
	return ctx.Publish("readings", f64(s.value))
}

type aggregator struct {
	base
	Window int `json:"window"`
	sum    float64
	n      int
}

func newAggregator(_ string, config []byte) (agent.Agent, error) {
	a := &aggregator{Window: 10}
	if err := decode("aggregator", config, a); err != nil {
		return nil, err
	}
	if a.Window < 1 {
		return nil, fmt.Errorf("aggregator config: window must be at least 1, got %d", a.Window)
	}
	return a, nil
}

func (a *aggregator) Receive(_ agent.Context, m agent.Message) error {
	v, err := readF64(m.Payload)
	if err != nil {
		return fmt.Errorf("reading from %s: %w", m.From, err)
	}
	a.sum += v
	a.n++
	return nil
}

func (a *aggregator) Step(ctx agent.Context) error {
	if int(ctx.Tick())%a.Window != a.Window-1 || a.n == 0 {
		return nil
	}
	avg := a.sum / float64(a.n)
	a.sum, a.n = 0, 0
	ctx.Log(agent.LevelDebug, fmt.Sprintf("average %.3f", avg))
	return ctx.Publish("summary", f64(avg))
}

type monitor struct {
	base
	Threshold float64 `json:"threshold"`
	Notify    string  `json:"notify"`
}

func newMonitor(_ string, config []byte) (agent.Agent, error) {
	m := &monitor{Threshold: 21, Notify: "controller"}
	return m, decode("monitor", config, m)
}

func (m *monitor) Receive(ctx agent.Context, msg agent.Message) error {
	v, err := readF64(msg.Payload)
	if err != nil {
		return fmt.Errorf("summary from %s: %w", msg.From, err)
	}
	if v > m.Threshold {
		return ctx.Send(m.Notify, []byte(fmt.Sprintf("%s: average %.3f over %.1f", msg.From, v, m.Threshold)))
	}
	return nil
}

type controller struct {
	base
	alarms int
}

func (c *controller) Receive(ctx agent.Context, m agent.Message) error {
	c.alarms++
	ctx.Log(agent.LevelInfo, fmt.Sprintf("alarm %d from %s", c.alarms, m.Payload))
	return nil
}
