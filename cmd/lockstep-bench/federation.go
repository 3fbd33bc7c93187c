package main

import (
	"fmt"
	"io"
	"testing"
	"text/tabwriter"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// Shapes and targets of the federation rows: a coordinator and member
// processes (this binary re-executed, benchkit.MemberMain) on 127.0.0.1.
const fedTickAgents = 1000

var (
	fedTickMembers  = []int{2, 3}
	fedRouteMembers = []int{1, 2}
	fedTickTarget   = target{"≤ +1 ms over one host", func(m measure) bool { return m.nsPerOp <= 1e6 }}
	fedRouteTarget  = target{"≥ 1 M msgs/s", func(m measure) bool { return m.rate >= 1e6 }}
)

// runFederation measures a federated run against the same run on one
// host: the global barrier's cost per tick, and routed messages per second
// when every message crosses processes.
func runFederation(out io.Writer, count int) error {
	fmt.Fprintln(out, "\nFederation: a coordinator and member processes over protoactor remote on 127.0.0.1 (1 worker each), against one host in the same run")
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmembers\tfederated\tone host\tover one host\tratio\tCPU/tick: coordinator, members\ttarget\tresult")
	for _, m := range fedTickMembers {
		base, fed, err := interleave(count, []int{1},
			[]func(*testing.B){func(b *testing.B) { benchkit.Tick(b, fedTickAgents, 1) }},
			func(int) func(*testing.B) {
				return func(b *testing.B) { benchkit.FederatedTick(b, fedTickAgents, m, 1) }
			})
		if err != nil {
			return fmt.Errorf("federated tick, %d members: %w", m, err)
		}
		over := measure{nsPerOp: fed[0].nsPerOp - base[0].nsPerOp}
		fmt.Fprintf(tw, "tick, %d idle agents\t%d\t%s/tick\t%s/tick\t+%s\t%.2f\t%s, %s\t%s\t%s\n", fedTickAgents, m,
			duration(fed[0].nsPerOp), duration(base[0].nsPerOp), duration(over.nsPerOp), fed[0].nsPerOp/base[0].nsPerOp,
			duration(fed[0].extra[benchkit.UnitCoordCPU]), duration(fed[0].extra[benchkit.UnitMembersCPU]),
			fedTickTarget.text, verdict(fedTickTarget, true, over))
	}
	for _, m := range fedRouteMembers {
		base, fed, err := interleave(count, []int{1},
			[]func(*testing.B){func(b *testing.B) {
				benchkit.Route(b, benchkit.RouteAgents, benchkit.RouteMessages, benchkit.RoutePayload, 1)
			}},
			func(int) func(*testing.B) {
				return func(b *testing.B) {
					benchkit.FederatedRoute(b, benchkit.RouteAgents, benchkit.RouteMessages, benchkit.RoutePayload, m, 1)
				}
			})
		if err != nil {
			return fmt.Errorf("federated route, %d members: %w", m, err)
		}
		fmt.Fprintf(tw, "route, %d echo agents × %d msgs, every one crossing processes\t%d\t%s msgs/s\t%s msgs/s\t–\t%.2f\t%s, %s\t%s\t%s\n",
			benchkit.RouteAgents, benchkit.RouteMessages, m, rate(fed[0].rate), rate(base[0].rate), base[0].rate/fed[0].rate,
			duration(fed[0].extra[benchkit.UnitCoordCPU]), duration(fed[0].extra[benchkit.UnitMembersCPU]),
			fedRouteTarget.text, verdict(fedRouteTarget, true, fed[0]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nratio: the federated time per tick (per message for route) ÷ one host's. CPU/tick: the coordinator process's, and all member processes' together (over their whole life). Every process shares this machine's cores; docs/FEDERATION.md models separate machines from these figures.")
	return nil
}
