package api_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstep-rt/lockstep/host/daemon/api"
)

// fake is an in-memory Agenthost: enough to see the access control and
// the connection at work.
type fake struct {
	api.UnimplementedAgenthostServer
}

func (fake) Status(context.Context, *api.StatusRequest) (*api.StatusReply, error) {
	return &api.StatusReply{Tick: 7}, nil
}

func (fake) Input(context.Context, *api.InputRequest) (*api.InputReply, error) {
	return &api.InputReply{Tick: 8}, nil
}

func (fake) Subscribe(_ *api.SubscribeRequest, s grpc.ServerStreamingServer[api.Output]) error {
	return s.Send(&api.Output{Tick: 9, From: "a", Channel: "c", Payload: []byte("hi")})
}

// serve serves fake with ServerAuth on the socket in a new data directory
// and on a TCP port of 127.0.0.1, and returns the directory, the TCP
// address and the tokens.
func serve(t *testing.T) (dataDir, addr, full, read string) {
	t.Helper()
	dataDir = t.TempDir()
	full, read, err := api.EnsureTokens(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(api.ServerAuth(full, read)...)
	api.RegisterAgenthostServer(srv, fake{})
	uln, err := net.Listen("unix", filepath.Join(dataDir, api.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(uln)
	go srv.Serve(tln)
	t.Cleanup(srv.Stop)
	return dataDir, tln.Addr().String(), full, read
}

// calls makes a Status, a Subscribe and an Input call and returns their
// codes.
func calls(t *testing.T, o api.DialOptions) (st, sub, in codes.Code) {
	t.Helper()
	conn, err := api.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := api.NewAgenthostClient(conn)
	ctx := context.Background()
	_, err = c.Status(ctx, &api.StatusRequest{})
	st = status.Code(err)
	stream, err := c.Subscribe(ctx, &api.SubscribeRequest{})
	if err == nil {
		var out *api.Output
		if out, err = stream.Recv(); err == nil && out.Tick != 9 {
			t.Errorf("Subscribe: %v", out)
		}
	}
	sub = status.Code(err)
	_, err = c.Input(ctx, &api.InputRequest{To: "a"})
	in = status.Code(err)
	return st, sub, in
}

func TestAccess(t *testing.T) {
	dataDir, addr, full, read := serve(t)
	for _, tc := range []struct {
		name        string
		o           api.DialOptions
		st, sub, in codes.Code
	}{
		{"unix socket, no token", api.DialOptions{DataDir: dataDir}, codes.OK, codes.OK, codes.OK},
		{"unix socket, wrong token", api.DialOptions{DataDir: dataDir, Token: "nope"}, codes.OK, codes.OK, codes.OK},
		{"TCP, no token", api.DialOptions{Addr: addr}, codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated},
		{"TCP, wrong token", api.DialOptions{Addr: addr, Token: strings.Repeat("0", 64)}, codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated},
		{"TCP, read-only token", api.DialOptions{Addr: addr, Token: read}, codes.OK, codes.OK, codes.PermissionDenied},
		{"TCP, full token", api.DialOptions{Addr: addr, Token: full}, codes.OK, codes.OK, codes.OK},
		{"TCP, full token and a data dir", api.DialOptions{Addr: addr, Token: full, DataDir: t.TempDir()}, codes.OK, codes.OK, codes.OK},
	} {
		st, sub, in := calls(t, tc.o)
		if st != tc.st || sub != tc.sub || in != tc.in {
			t.Errorf("%s: Status %v, Subscribe %v, Input %v; want %v, %v, %v", tc.name, st, sub, in, tc.st, tc.sub, tc.in)
		}
	}

	// The rejections say what to do.
	for _, tc := range []struct {
		token string
		code  codes.Code
		want  string
	}{
		{"", codes.Unauthenticated, "no bearer token: pass --token-file <data-dir>/token or set LOCKSTEP_TOKEN"},
		{"nope", codes.Unauthenticated, "not this daemon's"},
		{read, codes.PermissionDenied, "the read-only token allows Status and Subscribe only; Input needs the full token in <data-dir>/token"},
	} {
		conn, err := api.Dial(api.DialOptions{Addr: addr, Token: tc.token})
		if err != nil {
			t.Fatal(err)
		}
		_, err = api.NewAgenthostClient(conn).Input(context.Background(), &api.InputRequest{To: "a"})
		conn.Close()
		if s := status.Convert(err); s.Code() != tc.code || !strings.Contains(s.Message(), tc.want) {
			t.Errorf("token %q: %v; want %v %q", tc.token, err, tc.code, tc.want)
		}
	}
}

// TestServerAuthNoTokens: empty tokens match nothing.
func TestServerAuthNoTokens(t *testing.T) {
	srv := grpc.NewServer(api.ServerAuth("", "")...)
	api.RegisterAgenthostServer(srv, fake{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := api.Dial(api.DialOptions{Addr: ln.Addr().String(), Token: " "})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := api.NewAgenthostClient(conn).Status(context.Background(), &api.StatusRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Status with no tokens configured: %v", err)
	}
}

var tokenRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestEnsureTokens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	full, read, err := api.EnsureTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !tokenRE.MatchString(full) || !tokenRE.MatchString(read) || full == read {
		t.Fatalf("tokens %q, %q: want two different 32-byte hex tokens", full, read)
	}
	for _, name := range []string{api.TokenFile, api.ReadTokenFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != 0o600 {
			t.Fatalf("%s: %v, %v; want mode 0600", name, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("data dir holds %d files, want the two tokens", len(entries))
	}
	// Existing tokens are read, not replaced.
	full2, read2, err := api.EnsureTokens(dir)
	if err != nil || full2 != full || read2 != read {
		t.Fatalf("second EnsureTokens: %v (tokens changed: %v)", err, full2 != full || read2 != read)
	}
	if tok, err := api.ReadToken(filepath.Join(dir, api.TokenFile)); err != nil || tok != full {
		t.Fatalf("ReadToken: %q, %v", tok, err)
	}

	// A token file others can read is refused, saying what to do.
	path := filepath.Join(dir, api.TokenFile)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"EnsureTokens": func() error { _, _, err := api.EnsureTokens(dir); return err },
		"ReadToken":    func() error { _, err := api.ReadToken(path); return err },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("%s of a group-readable token: %v", name, err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}

	// A token file that is not a regular file is refused by EnsureTokens:
	// a symbolic link (which ReadToken, for clients, follows) or a
	// directory.
	link := filepath.Join(dir, api.ReadTokenFile)
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.EnsureTokens(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("EnsureTokens with a symbolic link: %v", err)
	}
	if tok, err := api.ReadToken(link); err != nil || tok != full {
		t.Errorf("ReadToken of a symbolic link: %q, %v", tok, err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(link, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.EnsureTokens(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("EnsureTokens with a directory: %v", err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}

	// Equal tokens would make the read-only one a full one.
	if err := os.WriteFile(link, []byte(full+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.EnsureTokens(dir); err == nil || !strings.Contains(err.Error(), "same token") {
		t.Errorf("EnsureTokens with equal tokens: %v", err)
	}
	// An empty one is refused.
	if err := os.WriteFile(link, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.EnsureTokens(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("EnsureTokens with an empty token: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	if _, err := api.Dial(api.DialOptions{}); err == nil || !strings.Contains(err.Error(), "--data-dir") || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("no data dir, no address: %v", err)
	}
	if _, err := api.Dial(api.DialOptions{Addr: "localhost"}); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("address without port: %v", err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, api.SocketFile)
	if _, err := api.Dial(api.DialOptions{DataDir: dir}); status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "no daemon socket "+sock+": is agenthost serve running with --data-dir "+dir+"?" {
		t.Errorf("no socket: %v", err)
	}
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Dial(api.DialOptions{DataDir: dir}); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a file, not a socket: %v", err)
	}
	os.Remove(sock)

	// A socket nobody listens on (a daemon that died) and a closed TCP
	// port: the call fails with Unavailable, naming the socket or address.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := tln.Addr().String()
	tln.Close()
	for _, tc := range []struct {
		o    api.DialOptions
		want string
	}{
		{api.DialOptions{DataDir: dir}, "cannot connect to " + sock + " (connect: connection refused): is agenthost serve running with --data-dir " + dir + "?"},
		{api.DialOptions{Addr: addr}, "cannot connect to " + addr + " (connect: connection refused): is agenthost serve running there"},
	} {
		conn, err := api.Dial(tc.o)
		if err != nil {
			t.Fatal(err)
		}
		c := api.NewAgenthostClient(conn)
		_, err = c.Status(context.Background(), &api.StatusRequest{})
		if s := status.Convert(err); s.Code() != codes.Unavailable || !strings.HasPrefix(s.Message(), tc.want) {
			t.Errorf("Status: %v; want Unavailable %q", err, tc.want)
		}
		stream, err := c.Subscribe(context.Background(), &api.SubscribeRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		if s := status.Convert(err); s.Code() != codes.Unavailable || !strings.HasPrefix(s.Message(), tc.want) || errors.Is(err, io.EOF) {
			t.Errorf("Subscribe: %v; want Unavailable %q", err, tc.want)
		}
		conn.Close()
	}
}
