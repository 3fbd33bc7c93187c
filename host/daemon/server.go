package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/daemon/api"
	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// listen opens the Unix socket (mode 0600) and, with Config.Listen, the
// TCP address, whose calls need the data directory's tokens.
func (d *Daemon) listen() error {
	sock := d.Socket()
	if len(sock) > maxSocketPath {
		return fmt.Errorf("daemon: the socket path %s is %d bytes, over the %d Unix sockets allow: give a shorter --data-dir", sock, len(sock), maxSocketPath)
	}
	os.Remove(sock) // a stale socket of a daemon that is gone: we hold the lock
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("daemon: listening on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("daemon: %w", err)
	}
	d.listeners = append(d.listeners, ln)
	var full, read string
	if d.cfg.Listen != "" {
		if full, read, err = api.EnsureTokens(d.cfg.DataDir); err != nil {
			ln.Close()
			return fmt.Errorf("daemon: %w", err)
		}
		tl, err := net.Listen("tcp", d.cfg.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("daemon: --listen %s: %w", d.cfg.Listen, err)
		}
		d.listeners = append(d.listeners, tl)
	}
	opts := append(api.ServerAuth(full, read), grpc.MaxRecvMsgSize(host.MaxMessageSizeLimit+4096), grpc.MaxConcurrentStreams(maxStreams))
	d.grpc = grpc.NewServer(opts...)
	api.RegisterAgenthostServer(d.grpc, &service{d: d})
	return nil
}

// maxSocketPath is the longest Unix socket path Linux takes (sun_path is
// 108 bytes with its terminating zero; macOS allows 103).
const maxSocketPath = 103

// maxStreams bounds the calls in flight on one connection, maxSubscribers
// the subscribers of a daemon: each holds an open file and a goroutine.
const (
	maxStreams     = 64
	maxSubscribers = 256
)

// service implements the API by handing requests to the loop.
type service struct {
	api.UnimplementedAgenthostServer
	d           *Daemon
	subscribers atomic.Int32
}

// call hands r to the loop and waits for its reply.
func (s *service) call(ctx context.Context, r *request) (reply, error) {
	r.reply = make(chan reply, 1)
	select {
	case s.d.reqs <- r:
	case <-s.d.done:
		return reply{}, status.Error(codes.Unavailable, "the daemon is stopping")
	case <-ctx.Done():
		return reply{}, status.FromContextError(ctx.Err()).Err()
	}
	select {
	case rep := <-r.reply:
		return rep, rep.err
	case <-s.d.done:
		// Stopping: the loop answered what was on disk before it ended.
		select {
		case rep := <-r.reply:
			return rep, rep.err
		default:
			return reply{}, status.Error(codes.Unavailable, "the daemon stopped before the command was on disk: it was not applied; send it again (with the same key) once the daemon is back")
		}
	case <-ctx.Done():
		return reply{}, status.FromContextError(ctx.Err()).Err()
	}
}

func (s *service) Input(ctx context.Context, in *api.InputRequest) (*api.InputReply, error) {
	rep, err := s.call(ctx, &request{kind: reqInput, input: host.Input{To: in.To, Channel: in.Channel, Payload: in.Payload, Key: in.IdempotencyKey}})
	if err != nil {
		return nil, err
	}
	return &api.InputReply{Tick: uint64(rep.tick), Duplicate: rep.duplicate}, nil
}

// MaxBatch bounds the inputs of one InputBatch call.
const MaxBatch = 1 << 16

func (s *service) InputBatch(ctx context.Context, in *api.InputBatchRequest) (*api.InputBatchReply, error) {
	if len(in.Inputs) == 0 || len(in.Inputs) > MaxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "a batch of %d inputs: give 1 to %d", len(in.Inputs), MaxBatch)
	}
	r := &request{kind: reqInputs, batch: make([]host.Input, len(in.Inputs))}
	for i, x := range in.Inputs {
		r.batch[i] = host.Input{To: x.To, Channel: x.Channel, Payload: x.Payload, Key: x.IdempotencyKey}
	}
	if _, err := s.call(ctx, r); err != nil {
		return nil, err
	}
	out := &api.InputBatchReply{Replies: make([]*api.InputReply, len(r.ticks))}
	for i := range r.ticks {
		out.Replies[i] = &api.InputReply{Tick: uint64(r.ticks[i]), Duplicate: r.dups[i]}
	}
	return out, nil
}

func (s *service) Spawn(ctx context.Context, in *api.SpawnRequest) (*api.CommandReply, error) {
	rep, err := s.call(ctx, &request{kind: reqSpawn, channels: in.Channels, spawn: host.AgentSpec{
		ID: in.Id, Kind: in.Kind, Config: in.Config, Priority: in.Priority, Group: in.Group, Fuel: in.Fuel}})
	if err != nil {
		return nil, err
	}
	return &api.CommandReply{Tick: uint64(rep.tick)}, nil
}

func (s *service) Stop(ctx context.Context, in *api.StopRequest) (*api.CommandReply, error) {
	rep, err := s.call(ctx, &request{kind: reqStop, stop: in.Id})
	if err != nil {
		return nil, err
	}
	return &api.CommandReply{Tick: uint64(rep.tick)}, nil
}

func (s *service) Status(context.Context, *api.StatusRequest) (*api.StatusReply, error) {
	return s.d.Status(), nil
}

func (s *service) Pause(ctx context.Context, _ *api.PauseRequest) (*api.StatusReply, error) {
	if _, err := s.call(ctx, &request{kind: reqPause}); err != nil {
		return nil, err
	}
	return s.d.Status(), nil
}

func (s *service) Resume(ctx context.Context, _ *api.ResumeRequest) (*api.StatusReply, error) {
	if _, err := s.call(ctx, &request{kind: reqResume}); err != nil {
		return nil, err
	}
	return s.d.Status(), nil
}

// maxStep bounds one Step call.
const maxStep = 1 << 30

func (s *service) Step(ctx context.Context, in *api.StepRequest) (*api.StatusReply, error) {
	if in.Ticks > maxStep {
		return nil, status.Errorf(codes.InvalidArgument, "step %d: at most %d ticks per call", in.Ticks, maxStep)
	}
	if _, err := s.call(ctx, &request{kind: reqStep, steps: in.Ticks}); err != nil {
		return nil, err
	}
	return s.d.Status(), nil
}

// Status describes the run as of the last tick boundary.
func (d *Daemon) Status() *api.StatusReply {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := proto.CloneOf(d.status)
	st.DurableTick = uint64(d.durable.tick)
	return st
}

// publishStatus refreshes what Status answers; called by the loop.
func (d *Daemon) publishStatus() {
	last := d.h.Last()
	st := &api.StatusReply{
		Tick: uint64(d.h.Tick()), Digest: hex.EncodeToString(last.Digest[:]), Paused: d.paused, Clock: string(d.cfg.Clock),
		Agents: uint32(d.h.Live()), LastCheckpoint: uint64(d.lastCheck), Accepting: d.failed == nil,
		Topology: d.cfg.Topology.Name, Inputs: d.inputs, DataDir: d.cfg.DataDir,
	}
	if d.failed != nil {
		st.Reason = d.failed.Error()
	}
	d.mu.Lock()
	d.status = st
	d.mu.Unlock()
}

// Subscribe streams outputs from the log files as they become durable.
func (s *service) Subscribe(in *api.SubscribeRequest, stream api.Agenthost_SubscribeServer) error {
	d := s.d
	ext := d.cfg.Topology.External
	for _, c := range in.Channels {
		if !slices.Contains(ext.Channels, c) {
			return status.Errorf(codes.NotFound, "channel %q is not external: the topology's external.channels are %q", c, ext.Channels)
		}
	}
	for _, a := range in.Addresses {
		if !slices.Contains(ext.Addresses, a) {
			return status.Errorf(codes.NotFound, "address %q is not external: the topology's external.addresses are %q", a, ext.Addresses)
		}
	}
	if s.subscribers.Add(1) > maxSubscribers {
		s.subscribers.Add(-1)
		return status.Errorf(codes.ResourceExhausted, "the daemon has %d subscribers, the most it serves: close one", maxSubscribers)
	}
	defer s.subscribers.Add(-1)
	want := func(o *replaylog.Output) bool {
		if len(in.Channels) == 0 && len(in.Addresses) == 0 {
			return true
		}
		return (o.Channel != "" && slices.Contains(in.Channels, o.Channel)) || (o.To != "" && slices.Contains(in.Addresses, o.To))
	}
	d.mu.Lock()
	from := d.durable.tick
	d.mu.Unlock()
	if in.FromTick != nil {
		from = clock.Tick(*in.FromTick)
	}
	t := &tailer{d: d, from: from}
	defer t.close()
	ctx := stream.Context()
	var index uint32
	lastTick, started := clock.Tick(0), false
	for {
		o, err := t.next(ctx)
		if err != nil {
			return err
		}
		if !started || clock.Tick(o.Tick) != lastTick {
			lastTick, index, started = clock.Tick(o.Tick), 0, true
		} else {
			index++
		}
		if !want(o) {
			continue
		}
		if err := stream.Send(&api.Output{Tick: o.Tick, From: o.From, Channel: o.Channel, To: o.To, Payload: o.Payload, Index: index}); err != nil {
			return err
		}
	}
}

// tailer reads the outputs of the log from a tick on, following the log
// as it grows: it reads segment files up to the durable position only.
type tailer struct {
	d    *Daemon
	from clock.Tick
	seg  uint64 // the segment being read (0: none yet)
	f    *os.File
	off  int64
	rd   *replaylog.Reader
	end  int64 // what rd may read up to
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
	}
}

// next returns the next output at or after t.from.
func (t *tailer) next(ctx context.Context) (*replaylog.Output, error) {
	for {
		if t.rd != nil {
			rec, err := t.rd.Next()
			if err == nil {
				t.off = t.rd.Offset()
				if o, ok := rec.Kind.(*replaylog.Record_Output); ok && clock.Tick(o.Output.Tick) >= t.from {
					return o.Output, nil
				}
				continue
			}
			if !errors.Is(err, io.EOF) {
				return nil, status.Errorf(codes.DataLoss, "reading the log for subscribers: %v", err)
			}
			t.rd = nil
		}
		if err := t.advance(ctx); err != nil {
			return nil, err
		}
	}
}

// advance sets up a reader for what became durable after t.off, moving to
// the next segment when the current one is complete, and waits when
// nothing new is durable.
func (t *tailer) advance(ctx context.Context) error {
	for {
		t.d.mu.Lock()
		dur, notify := t.d.durable, t.d.notify
		t.d.mu.Unlock()
		if t.seg == 0 {
			if err := t.open(); err != nil {
				return err
			}
			continue
		}
		var end int64 = -1
		switch {
		case t.seg == dur.seg:
			end = dur.off
		case t.seg < dur.seg: // complete: read it to its end
			fi, err := t.f.Stat()
			if err != nil {
				return status.Errorf(codes.Internal, "%v", err)
			}
			end = fi.Size()
		}
		if end > t.off {
			t.rd = replaylog.NewRecordReader(io.NewSectionReader(t.f, t.off, end-t.off), t.off)
			return nil
		}
		if t.seg < dur.seg {
			t.f.Close()
			t.f, t.seg = nil, t.seg+1
			if err := t.openIndex(t.seg); err != nil {
				return err
			}
			continue
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-t.d.done:
			return status.Error(codes.Unavailable, "the daemon is stopping; subscribe again with --from-tick to go on where this stream ended")
		}
	}
}

// open finds the segment holding t.from.
func (t *tailer) open() error {
	segs, err := listSegments(t.d.cfg.DataDir)
	if err != nil {
		return status.Errorf(codes.Internal, "%v", err)
	}
	if len(segs) == 0 || segs[0].start > t.from {
		oldest := clock.Tick(0)
		if len(segs) > 0 {
			oldest = segs[0].start
		}
		return status.Errorf(codes.OutOfRange, "outputs before %s were pruned with their log segments (the oldest kept starts at %s): subscribe from a later tick, or run the daemon with --keep-log", oldest, oldest)
	}
	t.d.mu.Lock()
	durable := t.d.durable.seg
	t.d.mu.Unlock()
	at := segs[0]
	for _, s := range segs {
		if s.start <= t.from && s.index <= durable { // not one whose header is being written
			at = s
		}
	}
	t.seg = at.index
	return t.openIndex(at.index)
}

// openIndex opens segment index and positions after its header.
func (t *tailer) openIndex(index uint64) error {
	segs, err := listSegments(t.d.cfg.DataDir)
	if err != nil {
		return status.Errorf(codes.Internal, "%v", err)
	}
	for _, s := range segs {
		if s.index != index {
			continue
		}
		f, err := os.Open(s.path)
		if err != nil {
			return status.Errorf(codes.Internal, "%v", err)
		}
		rd, err := replaylog.NewReader(f)
		if err != nil {
			f.Close()
			return status.Errorf(codes.DataLoss, "%s: %v", s.path, err)
		}
		t.f, t.off = f, rd.Offset()
		return nil
	}
	return status.Errorf(codes.OutOfRange, "log segment %d was pruned while the subscriber read it: subscribe again from a later tick", index)
}
