package main

import (
	"fmt"
	"io"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/lockstep-rt/lockstep/internal/benchkit"
)

// Targets of the daemon rows.
var (
	inputsTarget = target{"≥ 100 000 inputs/s", func(m measure) bool { return m.extra[benchkit.UnitInputsPerSec] >= 100e3 }}
)

// Shapes of the daemon rows.
const (
	groupCommit   = 2 * time.Millisecond
	batchClients  = 4
	batchSize     = 1000
	resumeAgents  = 1000
	checkpointAgs = 100
)

// runDaemon measures agenthost serve (package host/daemon) through its
// gRPC API on a real data directory.
func runDaemon(out io.Writer, count int, wasm bool) error {
	fmt.Fprintln(out, "\nDaemon (agenthost serve): through its gRPC API over the Unix socket, on a real data directory")
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tLockstep\tbaseline\tratio\ttarget\tresult")
	fsync, err := medianOf(count, benchkit.Fsync)
	if err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	for _, row := range []struct {
		name  string
		group time.Duration
	}{{"input ack, sync every tick, 1 client", 0}, {fmt.Sprintf("input ack, group commit %s, 1 client", groupCommit), groupCommit}} {
		m, err := medianOf(count, func(b *testing.B) { benchkit.DaemonInputs(b, row.group, 1, 1) })
		if err != nil {
			return fmt.Errorf("%s: %w", row.name, err)
		}
		p50, p99 := m.extra[benchkit.UnitP50us]*1e3, m.extra[benchkit.UnitP99us]*1e3
		fmt.Fprintf(tw, "%s\tp50 %s, p99 %s\t%s (write+fsync)\t%.2f\t–\t–\n", row.name, duration(p50), duration(p99), duration(fsync.nsPerOp), p50/fsync.nsPerOp)
	}
	base, lock, err := interleave(count, []int{1},
		[]func(*testing.B){func(b *testing.B) { benchkit.GRPCInputs(b, batchClients, batchSize) }},
		func(int) func(*testing.B) {
			return func(b *testing.B) { benchkit.DaemonInputs(b, groupCommit, batchClients, batchSize) }
		})
	if err != nil {
		return fmt.Errorf("sustained inputs: %w", err)
	}
	l, g := lock[0].extra[benchkit.UnitInputsPerSec], base[0].extra[benchkit.UnitInputsPerSec]
	fmt.Fprintf(tw, "sustained inputs, group commit %s, %d clients × batches of %d\t%.0f inputs/s (p99 %s/batch)\t%.0f inputs/s (gRPC, no host)\t%.2f\t%s\t%s\n",
		groupCommit, batchClients, batchSize, l, duration(lock[0].extra[benchkit.UnitP99us]*1e3), g, g/l, inputsTarget.text, verdict(inputsTarget, true, lock[0]))
	if wasm {
		for _, guest := range []string{benchkit.GuestEmpty, benchkit.GuestGoWork} {
			base, lock, err := interleave(count, []int{1},
				[]func(*testing.B){func(b *testing.B) { benchkit.Checkpoint(b, guest, checkpointAgs, true) }},
				func(int) func(*testing.B) {
					return func(b *testing.B) { benchkit.Checkpoint(b, guest, checkpointAgs, false) }
				})
			if err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
			l, r := lock[0].extra[benchkit.UnitMiBPerSec], base[0].extra[benchkit.UnitMiBPerSec]
			fmt.Fprintf(tw, "checkpoint, %d %s agents\t%s/MiB (%s)\t%s/MiB (raw dump)\t%.2f\t–\t–\n", checkpointAgs, guest,
				duration(1e9/l), duration(lock[0].nsPerOp), duration(1e9/r), r/l)
		}
		base, lock, err := interleave(count, []int{1},
			[]func(*testing.B){func(b *testing.B) { benchkit.DaemonResume(b, benchkit.GuestEmpty, resumeAgents, true) }},
			func(int) func(*testing.B) {
				return func(b *testing.B) { benchkit.DaemonResume(b, benchkit.GuestEmpty, resumeAgents, false) }
			})
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		fmt.Fprintf(tw, "resume %d empty agents + 1 tick\t%s\t%s (fresh start + 1 tick)\t%.2f\t–\t–\n", resumeAgents,
			duration(lock[0].nsPerOp), duration(base[0].nsPerOp), lock[0].nsPerOp/base[0].nsPerOp)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nratio: Lockstep ÷ baseline (for rates, baseline ÷ Lockstep): below 1, Lockstep is cheaper. An acknowledgement means the input is on disk.")
	return nil
}

// medianOf runs f count times and takes the medians.
func medianOf(count int, f func(*testing.B)) (measure, error) {
	var ms []measure
	for range count {
		m, err := bench(f)
		if err != nil {
			return measure{}, err
		}
		ms = append(ms, m)
	}
	return median(ms), nil
}
