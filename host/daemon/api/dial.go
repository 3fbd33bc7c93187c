package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// DialOptions say which daemon Dial connects to.
type DialOptions struct {
	// DataDir is the daemon's data directory: without Addr, Dial connects
	// to its SocketFile.
	DataDir string
	// Addr, when set, is the daemon's TCP address, HOST:PORT (the address
	// agenthost serve listens on); DataDir is then not used.
	Addr string
	// Token is sent with every call over TCP as "authorization: Bearer
	// Token": the full or the read-only token. It is not sent over the
	// socket, which needs none.
	Token string
}

// Dial returns a connection to the daemon that o names; use it with
// NewAgenthostClient and close it when done. Like grpc.NewClient it
// connects on the first call; a call that cannot connect fails with
// codes.Unavailable and a message naming the socket or address, why, and
// what to check. Over the socket Dial first checks that the socket exists;
// if not, its error is a status error with codes.Unavailable too, so that
// status.Code tells "no daemon there" apart from anything else.
//
// TCP is plaintext: the token and every message can be read and changed
// by anyone on the path. Use it on trusted networks, or behind a proxy that
// terminates TLS.
func Dial(o DialOptions) (*grpc.ClientConn, error) {
	d := &dialer{}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(d.dial),
		grpc.WithChainUnaryInterceptor(d.unary),
		grpc.WithChainStreamInterceptor(d.stream),
	}
	var target string
	switch {
	case o.Addr != "":
		if _, _, err := net.SplitHostPort(o.Addr); err != nil {
			return nil, fmt.Errorf("daemon address %q: give HOST:PORT, the address agenthost serve listens on: %w", o.Addr, err)
		}
		d.network, d.address = "tcp", o.Addr
		d.hint = "is agenthost serve running there and listening on TCP?"
		target = "passthrough:///" + o.Addr
		if o.Token != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(o.Token)))
		}
	case o.DataDir != "":
		sock := filepath.Join(o.DataDir, SocketFile)
		fi, err := os.Stat(sock)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, status.Errorf(codes.Unavailable, "no daemon socket %s: is agenthost serve running with --data-dir %s?", sock, o.DataDir)
		case err != nil:
			return nil, fmt.Errorf("daemon socket: %w", err)
		case fi.Mode().Type() != fs.ModeSocket:
			return nil, status.Errorf(codes.Unavailable, "%s is not a socket: is %s the data directory of agenthost serve?", sock, o.DataDir)
		}
		d.network, d.address = "unix", sock
		d.hint = fmt.Sprintf("is agenthost serve running with --data-dir %s?", o.DataDir)
		target = "passthrough:///localhost" // the dialer ignores it; it is the :authority
	default:
		return nil, fmt.Errorf("no daemon given: give its data directory (--data-dir or $%s) for its socket, or its TCP address (--addr HOST:PORT)", DataDirEnv)
	}
	return grpc.NewClient(target, opts...)
}

// bearerToken is the per-call credentials of a token over TCP.
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity is false: the API's TCP transport is plaintext
// (see Dial).
func (bearerToken) RequireTransportSecurity() bool { return false }

// dialer connects to the socket or the TCP address and remembers why the
// last attempt failed, so that a call failing for it can say so plainly
// instead of in gRPC's transport terms.
type dialer struct {
	network, address, hint string
	failed                 atomic.Pointer[error] // nil after a connection succeeds
}

func (d *dialer) dial(ctx context.Context, _ string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, d.network, d.address)
	if err != nil {
		d.failed.Store(&err)
		return nil, err
	}
	d.failed.Store(nil)
	return c, nil
}

// explain rewrites a call's codes.Unavailable error when connecting failed.
func (d *dialer) explain(err error) error {
	if status.Code(err) != codes.Unavailable {
		return err
	}
	p := d.failed.Load()
	if p == nil {
		return err
	}
	cause := *p
	var op *net.OpError
	if errors.As(cause, &op) && op.Err != nil {
		cause = op.Err // "connect: connection refused" without repeating the address
	}
	return status.Errorf(codes.Unavailable, "cannot connect to %s (%v): %s", d.address, cause, d.hint)
}

func (d *dialer) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return d.explain(invoker(ctx, method, req, reply, cc, opts...))
}

func (d *dialer) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, d.explain(err)
	}
	return &explainedStream{s, d}, nil
}

// explainedStream explains a stream's errors as dialer.explain does.
type explainedStream struct {
	grpc.ClientStream
	d *dialer
}

func (s *explainedStream) RecvMsg(m any) error { return s.d.explain(s.ClientStream.RecvMsg(m)) }
func (s *explainedStream) SendMsg(m any) error { return s.d.explain(s.ClientStream.SendMsg(m)) }
