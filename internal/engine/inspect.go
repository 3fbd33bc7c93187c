package engine

import (
	"cmp"
	"maps"
	"slices"
)

// Agents returns every agent the run has spawned, alive or stopped, in
// spawn order: for inspection between ticks.
func (e *Engine) Agents() []*Agent {
	out := slices.Collect(maps.Values(e.agents))
	slices.SortFunc(out, func(a, b *Agent) int { return cmp.Compare(a.Rank, b.Rank) })
	return out
}

// Group is the name of the agent's supervision group.
func (a *Agent) Group() string { return a.group.spec.Name }

// Channels returns the channels the agent is a member of, sorted.
func (a *Agent) Channels() []string {
	var out []string
	for ch, in := range a.member {
		if in {
			out = append(out, ch)
		}
	}
	slices.Sort(out)
	return out
}

// Regions returns the agent's state regions as of the last barrier, by
// name (shared: do not modify them).
func (a *Agent) Regions() map[string][]byte { return a.state }

// GroupRestarts returns, per supervision group, the ticks of the restarts
// still inside its window.
func (e *Engine) GroupRestarts() map[string][]uint64 {
	out := map[string][]uint64{}
	var walk func(g *group)
	walk = func(g *group) {
		if len(g.restarts) > 0 {
			ts := make([]uint64, len(g.restarts))
			for i, t := range g.restarts {
				ts[i] = uint64(t)
			}
			out[g.spec.Name] = ts
		}
		for _, c := range g.children {
			walk(c)
		}
	}
	walk(e.root)
	return out
}
