package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/federation"
)

// Metrics of the federation benchmarks: CPU time per tick of the
// coordinator's process and of all member processes together (theirs
// measured over their whole life, joining included).
const (
	UnitCoordCPU   = "coord-cpu-ns/tick"
	UnitMembersCPU = "members-cpu-ns/tick"
)

// The environment of a federation member process (MemberMain).
const (
	memberEnv      = "LOCKSTEP_BENCH_MEMBER"
	coordinatorEnv = "LOCKSTEP_BENCH_COORDINATOR"
	workersEnv     = "LOCKSTEP_BENCH_WORKERS"
)

var benchToken = []byte("the federation benchmarks' token")

// MemberMain runs this process as a federation member, and exits, when a
// federation benchmark started it as one (it re-executes its own binary);
// otherwise it returns at once. Call it first in main or TestMain.
func MemberMain() {
	name := os.Getenv(memberEnv)
	if name == "" {
		return
	}
	workers, _ := strconv.Atoi(os.Getenv(workersEnv))
	err := federation.Join(context.Background(), os.Getenv(coordinatorEnv), federation.MemberConfig{
		Config: federation.Config{Token: benchToken, Logger: quiet(), Timeout: time.Minute}, Name: name,
		Replay: host.ReplayOptions{Kinds: kinds(), Workers: max(workers, 1), Logger: quiet()}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "member %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// federated is a coordinator's host with member processes.
type federated struct {
	h       *host.Host
	c       *federation.Coordinator
	members []*exec.Cmd
	stderr  []*bytes.Buffer
	// childCPU is the CPU time of this process's waited-for children
	// before the members started.
	childCPU float64
}

// federate starts a coordinator's host (workers workers) with spawn's
// agents and members member processes (this binary re-executed, see
// MemberMain) named m1, m2...; placement pins agents.
func federate(b testingB, members, workers int, placement map[string]string, spawn func(*host.Host) error) *federated {
	c, err := federation.Listen(federation.CoordinatorConfig{Config: federation.Config{Token: benchToken, Logger: quiet(), Timeout: time.Minute},
		Listen: "127.0.0.1:0", Members: members, Placement: placement})
	if err != nil {
		b.Fatal(err)
	}
	f := &federated{c: c, childCPU: cpuTime(true)}
	f.h, err = host.New(host.Options{Seed: 1, Kinds: kinds(), Workers: workers, Logger: quiet(), Federation: c})
	if err == nil {
		err = spawn(f.h)
	}
	if err != nil {
		c.Close("setup failed")
		b.Fatal(err)
	}
	for i := range members {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), memberEnv+"=m"+strconv.Itoa(i+1), coordinatorEnv+"="+c.Addr(), workersEnv+"="+strconv.Itoa(workers))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			f.close()
			b.Fatal(err)
		}
		f.members, f.stderr = append(f.members, cmd), append(f.stderr, &stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx, f.h.LogHeader(), nil); err != nil {
		f.close()
		b.Fatal(err)
	}
	return f
}

// measure runs b's loop over ticks and reports the CPU metrics.
func (f *federated) measure(b *testing.B, tick func()) {
	self := cpuTime(false)
	for b.Loop() {
		tick()
	}
	b.StopTimer()
	self = cpuTime(false) - self
	if err := f.close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(self/float64(b.N), UnitCoordCPU)
	b.ReportMetric((cpuTime(true)-f.childCPU)/float64(b.N), UnitMembersCPU)
}

// close ends the run and waits for the members; it returns the first
// member's failure.
func (f *federated) close() error {
	f.h.Close()
	f.c.Close("the benchmark is over")
	var first error
	for i, cmd := range f.members {
		if err := cmd.Wait(); err != nil && first == nil {
			first = fmt.Errorf("member m%d: %w: %s", i+1, err, f.stderr[i].Bytes())
		}
	}
	return first
}

// FederatedTick is Tick on a federation: a coordinator and members member
// processes on 127.0.0.1, agents idle agents placed by the hash of their
// ids over all of them. ns/op is the time per tick, the global barrier
// included; the CPU metrics (UnitCoordCPU, UnitMembersCPU) feed the
// barrier cost model of docs/FEDERATION.md.
func FederatedTick(b *testing.B, agents, members, workers int) {
	f := federate(b, members, workers, nil, func(h *host.Host) error {
		for i := range agents {
			if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "idle"}); err != nil {
				return err
			}
		}
		return nil
	})
	step(b, f.h, 2)
	f.measure(b, func() {
		if _, err := f.h.Step(); err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(agents), UnitNsPerAgent)
}

// FederatedRoute is Route on a federation where every message crosses
// processes: of each pair of echo agents, one is on the coordinator and
// the other on a member (the members in turn). It reports msgs/s and
// ns/msg.
func FederatedRoute(b *testing.B, agents, k, size, members, workers int) {
	if agents%2 != 0 {
		b.Fatalf("benchkit: FederatedRoute needs an even number of agents, got %d", agents)
	}
	place := map[string]string{}
	for i := range agents {
		name := federation.CoordinatorName
		if i%2 == 1 {
			name = "m" + strconv.Itoa(1+(i/2)%members)
		}
		place[fmt.Sprintf("a%d", i)] = name
	}
	f := federate(b, members, workers, place, func(h *host.Host) error {
		for i := range agents {
			cfg := fmt.Sprintf("partner=a%d k=%d size=%d", i^1, k, size)
			if err := h.Spawn(host.AgentSpec{ID: fmt.Sprintf("a%d", i), Kind: "bounce", Config: []byte(cfg)}); err != nil {
				return err
			}
		}
		return nil
	})
	step(b, f.h, 2)
	f.measure(b, func() { routeTick(b, f.h) })
	reportRoute(b, agents*k)
}
