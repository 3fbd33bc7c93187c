package benchkit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon"
	"github.com/lockstep-rt/lockstep/host/daemon/api"
	"github.com/lockstep-rt/lockstep/internal/testkinds"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// Units of the daemon benchmarks.
const (
	UnitInputsPerSec = "inputs/s"
	UnitP50us        = "p50-µs"
	UnitP99us        = "p99-µs"
)

// sinkTopology is one idle agent that takes inputs.
const sinkTopology = "name: sink\nagents:\n  - {id: sink, kind: idle}\n"

// DaemonInputs measures agenthost serve's Input through its gRPC API over
// the Unix socket: clients goroutines send b.N inputs in all, each waiting
// for its acknowledgement (the input on disk) before the next, one per call
// or batch per InputBatch call. The daemon
// free-runs ticks of one idle agent; group is its group commit interval
// (0: a sync at every tick boundary). It reports inputs/s and the p50 and
// p99 acknowledgement latency.
func DaemonInputs(b *testing.B, group time.Duration, clients, batch int) {
	topo, err := host.ParseTopology("sink", []byte(sinkTopology))
	if err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "lsbench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d, err := daemon.Open(daemon.Config{DataDir: dir, Topology: topo, Clock: daemon.Free, GroupCommit: group,
		Options: host.Options{Kinds: testkinds.Kinds(), Logger: quiet()}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	inputs(b, api.DialOptions{DataDir: dir}, clients, batch)
}

// GRPCInputs is DaemonInputs' baseline: the same calls over the same kind
// of socket to a gRPC server that acknowledges at once, without a host or
// a log.
func GRPCInputs(b *testing.B, clients, batch int) {
	dir, err := os.MkdirTemp("", "lsbench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, api.SocketFile))
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer()
	api.RegisterAgenthostServer(s, ackAll{})
	go s.Serve(ln)
	defer s.Stop()
	inputs(b, api.DialOptions{DataDir: dir}, clients, batch)
}

type ackAll struct {
	api.UnimplementedAgenthostServer
}

func (ackAll) Input(context.Context, *api.InputRequest) (*api.InputReply, error) {
	return &api.InputReply{}, nil
}

func (ackAll) InputBatch(_ context.Context, r *api.InputBatchRequest) (*api.InputBatchReply, error) {
	out := &api.InputBatchReply{Replies: make([]*api.InputReply, len(r.Inputs))}
	for i := range out.Replies {
		out.Replies[i] = &api.InputReply{}
	}
	return out, nil
}

// inputs sends b.N inputs to agent "sink" from clients goroutines, batch
// per call, and reports the rate and the percentiles of a call's latency.
func inputs(b *testing.B, o api.DialOptions, clients, batch int) {
	conns := make([]api.AgenthostClient, clients)
	for i := range conns {
		conn, err := api.Dial(o)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conns[i] = api.NewAgenthostClient(conn)
	}
	payload := make([]byte, 64)
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	var failed error
	var once sync.Once
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		n := b.N / clients
		if c < b.N%clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l []time.Duration
			for sent := 0; sent < n; {
				k := min(batch, n-sent)
				reqs := make([]*api.InputRequest, k)
				for i := range reqs {
					reqs[i] = &api.InputRequest{To: "sink", Payload: payload, IdempotencyKey: fmt.Sprintf("%d-%d", c, sent+i)}
				}
				t0 := time.Now()
				var err error
				if batch == 1 {
					_, err = conns[c].Input(context.Background(), reqs[0])
				} else {
					_, err = conns[c].InputBatch(context.Background(), &api.InputBatchRequest{Inputs: reqs})
				}
				if err != nil {
					once.Do(func() { failed = err })
					return
				}
				l = append(l, time.Since(t0))
				sent += k
			}
			lat[c] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Nanoseconds())/1e3, UnitP50us)
		b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds())/1e3, UnitP99us)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), UnitInputsPerSec)
}

// Fsync measures the baseline of an acknowledgement's latency: appending
// 64 bytes to a file and syncing it.
func Fsync(b *testing.B) {
	f, err := os.CreateTemp("", "lsbench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 64)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// guestTopology is a topology of agents agents of a benchmark guest.
func guestTopology(b testingB, guest string, agents int) *host.Topology {
	dir, err := Guests()
	if err != nil {
		b.Fatal(err)
	}
	var y strings.Builder
	fmt.Fprintf(&y, "name: %s\nwasm: {allow_unsigned: true}\nmodules:\n  - {name: %s, path: %q, grants: [%s]}\nagents:\n",
		guest, guest, filepath.Join(dir, guest+".wasm"), strings.Join(benchGrants, ", "))
	for i := range agents {
		fmt.Fprintf(&y, "  - {id: a%d, kind: %s}\n", i, guest)
	}
	topo, err := host.ParseTopology(guest, []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	topo.WASM.CacheDir = cacheDir()
	return topo
}

// openDaemon opens a daemon for topo on dir with a manual clock and a
// checkpoint after every tick.
func openDaemon(b testingB, dir string, topo *host.Topology) *daemon.Daemon {
	d, err := daemon.Open(daemon.Config{DataDir: dir, Topology: topo, Clock: daemon.Manual, CheckpointEvery: 1,
		Options: host.Options{Kinds: kinds(), Logger: quiet()}})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// DaemonResume measures opening a data directory whose run of agents
// agents of guest has a checkpoint and running its next tick: reading and
// checking the checkpoint, replaying the (empty) log after it, restoring
// every agent from its snapshot. fresh measures its baseline instead:
// starting the same topology in an empty directory and running its first
// tick (every agent instantiated and initialised).
func DaemonResume(b *testing.B, guest string, agents int, fresh bool) {
	topo := guestTopology(b, guest, agents)
	dir, err := os.MkdirTemp("", "lsbench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if !fresh {
		serveTicks(b, dir, topo, 1)
	}
	b.ResetTimer()
	for i := range b.N {
		at := dir
		if fresh {
			at = filepath.Join(dir, fmt.Sprint(i))
		}
		st := serveTicks(b, at, topo, 1)
		if st.Agents != uint32(agents) {
			b.Fatalf("%d agents after the tick, want %d", st.Agents, agents)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(agents), UnitNsPerAgent)
}

// serveTicks opens a daemon on dir, runs n ticks through the API, and
// stops it; it returns the status after the ticks.
func serveTicks(b testingB, dir string, topo *host.Topology, n uint64) *api.StatusReply {
	d := openDaemon(b, dir, topo)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	conn, err := api.Dial(api.DialOptions{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	st, err := api.NewAgenthostClient(conn).Step(ctx, &api.StepRequest{Ticks: n})
	if err != nil {
		b.Fatal(err)
	}
	conn.Close()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return st
}

// UnitMiBPerSec is the rate of a checkpoint over the agents' linear memory.
const UnitMiBPerSec = "MiB/s"

// Checkpoint measures a checkpoint of a host with agents agents of guest
// after a tick: Host.Checkpoint and WriteCheckpoint to a file, synced.
// raw measures its baseline instead: writing the agents' linear memory,
// as it is, to a file, synced (a plain dump). Both report MiB/s of linear
// memory.
func Checkpoint(b *testing.B, guest string, agents int, raw bool) {
	h := newWASMHost(b, guest, 1, false)
	defer h.Close()
	spawnN(b, h, guest, agents)
	stepAll(b, h, agents)
	var mem []byte
	var size uint64
	for i := range agents {
		img, err := h.SnapshotAgent(fmt.Sprintf("a%d", i))
		if err != nil {
			b.Fatal(err)
		}
		c, err := wasmagent.DecodeSnapshot(img)
		if err != nil {
			b.Fatal(err)
		}
		size += c.MemorySize()
		if raw && i == 0 {
			var buf bytes.Buffer
			if _, err := c.WriteMemory(&buf); err != nil {
				b.Fatal(err)
			}
			mem = buf.Bytes()
		}
	}
	f, err := os.CreateTemp("", "lsbench-ckpt-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	b.SetBytes(int64(size))
	for b.Loop() {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if raw {
			for range agents {
				w.Write(mem)
			}
		} else {
			cp, err := h.Checkpoint()
			if err != nil {
				b.Fatal(err)
			}
			if err := host.WriteCheckpoint(w, cp); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/(1<<20)/(b.Elapsed().Seconds()/float64(b.N)), UnitMiBPerSec)
}
