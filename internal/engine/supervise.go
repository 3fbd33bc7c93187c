package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lockstep-rt/lockstep/clock"
)

// Strategy says which agents a group restarts or stops when one fails.
type Strategy uint8

// Strategies.
const (
	// OneForOne acts on the failed child alone.
	OneForOne Strategy = iota
	// AllForOne acts on every agent of the group, subgroups included.
	AllForOne
)

// Directive is what a group does with a failed child.
type Directive uint8

// Directives.
const (
	// Restart gives the child a fresh instance that is Init-ed again at the
	// next tick. Past MaxRestarts within Window ticks the group escalates.
	Restart Directive = iota
	// Stop stops the child for good.
	Stop
	// Escalate fails the whole group to its parent, whose directive then
	// applies to every agent of the group. Escalation past the root group
	// halts the run.
	Escalate
)

// GroupSpec is one supervision group.
type GroupSpec struct {
	Name      string
	Parent    string // "" for the root group
	Strategy  Strategy
	Directive Directive
	// MaxRestarts restarts are allowed within Window ticks; one more makes
	// the group escalate. Zero MaxRestarts with Directive Restart means no
	// restart is allowed. A zero Window means 100 ticks.
	MaxRestarts int
	Window      clock.Tick
}

type group struct {
	spec     GroupSpec
	parent   *group
	children []*group
	agents   []*Agent // spawn order
	restarts []clock.Tick
}

// RootGroup is the name of the implicit root of the supervision tree.
const RootGroup = "root"

func (e *Engine) buildGroups(specs []GroupSpec) error {
	e.root = &group{spec: GroupSpec{Name: RootGroup, Strategy: OneForOne, Directive: Restart, MaxRestarts: 10, Window: 100}}
	e.groups = map[string]*group{RootGroup: e.root}
	for _, s := range specs {
		if err := validateGroup(s); err != nil {
			return err
		}
		if e.groups[s.Name] != nil {
			return fmt.Errorf("%w: group %q is declared twice; give each group one entry", ErrBadCommand, s.Name)
		}
		if s.Window == 0 {
			s.Window = 100
		}
		e.groups[s.Name] = &group{spec: s}
	}
	for _, s := range specs {
		g := e.groups[s.Name]
		parent := s.Parent
		if parent == "" {
			parent = RootGroup
		}
		p := e.groups[parent]
		if p == nil {
			return fmt.Errorf("%w: group %q names parent %q, which is not declared; declare it or leave parent empty", ErrUnknownGroup, s.Name, s.Parent)
		}
		g.parent = p
		p.children = append(p.children, g)
	}
	// A cycle leaves some group unreachable from the root.
	seen := map[*group]bool{}
	var walk func(*group)
	walk = func(g *group) {
		seen[g] = true
		for _, c := range g.children {
			walk(c)
		}
	}
	walk(e.root)
	for _, s := range specs {
		if !seen[e.groups[s.Name]] {
			return fmt.Errorf("%w: group %q is in a parent cycle; make one group of the cycle a child of the root", ErrBadCommand, s.Name)
		}
	}
	return nil
}

func validateGroup(s GroupSpec) error {
	switch {
	case s.Name == "" || s.Name == RootGroup:
		return fmt.Errorf("%w: a group needs a name other than %q", ErrBadCommand, RootGroup)
	case s.Strategy > AllForOne:
		return fmt.Errorf("%w: group %q: unknown strategy %d (one-for-one or all-for-one)", ErrBadCommand, s.Name, s.Strategy)
	case s.Directive > Escalate:
		return fmt.Errorf("%w: group %q: unknown directive %d (restart, stop or escalate)", ErrBadCommand, s.Name, s.Directive)
	case s.MaxRestarts < 0:
		return fmt.Errorf("%w: group %q: max restarts %d is negative", ErrBadCommand, s.Name, s.MaxRestarts)
	}
	return nil
}

func (e *Engine) group(name string) (*group, error) {
	if name == "" {
		return e.root, nil
	}
	g := e.groups[name]
	if g == nil {
		return nil, fmt.Errorf("%w: %q; declare it in the topology's groups", ErrUnknownGroup, name)
	}
	return g, nil
}

// subtree appends g's live agents and those of its subgroups to out.
func (g *group) subtree(out []*Agent) []*Agent {
	for _, a := range g.agents {
		if a.alive {
			out = append(out, a)
		}
	}
	for _, c := range g.children {
		out = c.subtree(out)
	}
	return out
}

// supervise decides, in canonical order of the failed agents, what happens
// to each, and fills r.Restart, r.Stop, r.Events and r.Halted.
func (e *Engine) supervise(r *Ready, failed []*Agent) {
	restart := map[*Agent]bool{}
	stop := map[*Agent]bool{}
	for _, a := range failed {
		if r.Halted != nil {
			break
		}
		var path []string
		e.decide(r, a.group, []*Agent{a}, a.ID, restart, stop, &path)
		if r.Halted != nil {
			r.Halted = &HaltError{Tick: r.Tick, Agent: a.ID, Failure: failureDetail(r.Events, a.ID), Path: path, event: r.Halted}
		}
	}
	for a := range stop {
		delete(restart, a)
	}
	collect := func(m map[*Agent]bool, kind EventKind) []*Agent {
		var out []*Agent
		for a := range m {
			out = append(out, a)
		}
		slices.SortFunc(out, canonical)
		for _, a := range out {
			r.Events = append(r.Events, Event{Kind: kind, Agent: a.ID})
		}
		return out
	}
	r.Stop = collect(stop, EventStopped)
	r.Restart = collect(restart, EventRestarted)
	for _, a := range r.Restart {
		a.Incarnation++
		a.image, a.fresh = nil, true // the fresh instance is Init-ed
	}
}

// decide applies group g's directive to unit, the agents of a failed child
// (one agent, or a whole subgroup that escalated). who names the child.
//
// path collects, for a halt's error, why the failure went up each group.
func (e *Engine) decide(r *Ready, g *group, unit []*Agent, who string, restart, stop map[*Agent]bool, path *[]string) {
	d := g.spec.Directive
	again := g.spec.Strategy == AllForOne && len(g.restarts) > 0 && g.restarts[len(g.restarts)-1] == r.Tick
	if d == Restart && !again && !g.allowRestart(r.Tick) {
		r.Events = append(r.Events, Event{Kind: EventEscalated, Agent: g.spec.Name,
			Detail: fmt.Sprintf("more than %d restarts within %d ticks", g.spec.MaxRestarts, g.spec.Window)})
		*path = append(*path, fmt.Sprintf("group %q: more than %d restarts within %d ticks", g.spec.Name, g.spec.MaxRestarts, g.spec.Window))
		d = Escalate
	} else if d == Escalate {
		*path = append(*path, fmt.Sprintf("group %q: on_failure is escalate", g.spec.Name))
	}
	targets := unit
	if g.spec.Strategy == AllForOne && d != Escalate {
		targets = g.subtree(nil)
	}
	switch d {
	case Restart:
		for _, a := range targets {
			restart[a] = true
		}
	case Stop:
		for _, a := range targets {
			stop[a] = true
		}
	case Escalate:
		if g.parent == nil {
			r.Halted = fmt.Errorf("engine: failure of %s escalated past the root group at %s; the run cannot go on (put the agent in a group whose on_failure is stop, or with a larger max_restarts)", who, r.Tick)
			r.Events = append(r.Events, Event{Kind: EventHalted, Agent: who, Detail: r.Halted.Error()})
			return
		}
		if g.spec.Directive == Escalate {
			r.Events = append(r.Events, Event{Kind: EventEscalated, Agent: g.spec.Name, Detail: "failure of " + who})
		}
		e.decide(r, g.parent, g.subtree(nil), "group "+g.spec.Name, restart, stop, path)
	}
}

// HaltError is Ready.Halted: a failure escalated past the root group, and
// the run cannot go on. Its text names the agent whose failure it was, the
// tick, the failure's reason and how it escalated. (The halted event's
// detail, which enters the digest, keeps its own shorter text.)
type HaltError struct {
	Tick clock.Tick
	// Agent failed, and its failure escalated past the root group.
	Agent string
	// Failure is the failure's text, as in its failed event: "agent "a"
	// failed at t13 in step: …".
	Failure string
	// Path says why the failure went up each group, from the agent's own
	// group to the root.
	Path []string
	// event is the error whose text the halted event holds.
	event error
}

func (h *HaltError) Error() string {
	return fmt.Sprintf("engine: the run halted at %s: %s; the failure escalated past the root group (%s); the run cannot go on (put the agent in a group whose on_failure is stop, or with a larger max_restarts)", h.Tick, h.Failure, strings.Join(h.Path, "; then "))
}

// Unwrap returns the error whose text is the halted event's detail.
func (h *HaltError) Unwrap() error { return h.event }

// failureDetail is the detail of id's failed event among events.
func failureDetail(events []Event, id string) string {
	for i := len(events) - 1; i >= 0; i-- {
		if e := events[i]; e.Kind == EventFailed && e.Agent == id {
			return e.Detail
		}
	}
	return fmt.Sprintf("agent %q failed", id)
}

// allowRestart records a restart at t and reports whether it stays within
// the group's budget.
func (g *group) allowRestart(t clock.Tick) bool {
	keep := g.restarts[:0]
	for _, at := range g.restarts {
		if at+g.spec.Window > t {
			keep = append(keep, at)
		}
	}
	g.restarts = keep
	if len(g.restarts) >= g.spec.MaxRestarts {
		g.restarts = nil
		return false
	}
	g.restarts = append(g.restarts, t)
	return true
}

var strategyNames = [...]string{OneForOne: "one-for-one", AllForOne: "all-for-one"}
var directiveNames = [...]string{Restart: "restart", Stop: "stop", Escalate: "escalate"}

func (s Strategy) String() string  { return enumName(strategyNames[:], int(s)) }
func (d Directive) String() string { return enumName(directiveNames[:], int(d)) }

// MarshalText writes "one-for-one" or "all-for-one".
func (s Strategy) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "one-for-one" or "all-for-one".
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := enumValue("strategy", strategyNames[:], string(b))
	*s = Strategy(v)
	return err
}

// MarshalText writes "restart", "stop" or "escalate".
func (d Directive) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "restart", "stop" or "escalate".
func (d *Directive) UnmarshalText(b []byte) error {
	v, err := enumValue("directive", directiveNames[:], string(b))
	*d = Directive(v)
	return err
}

func enumName(names []string, v int) string {
	if v >= 0 && v < len(names) {
		return names[v]
	}
	return fmt.Sprintf("unknown(%d)", v)
}

func enumValue(what string, names []string, s string) (int, error) {
	for i, n := range names {
		if n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q (want one of %v)", what, s, names)
}
