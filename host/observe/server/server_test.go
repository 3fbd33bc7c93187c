package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-rt/lockstep/host/observe/server"
)

// bound is how long any step of these tests may take before it counts as a
// failure; nothing waits for it unless something is wrong.
const bound = 10 * time.Second

func serve(t *testing.T, lim server.Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	srv, errc := server.Serve(ln, mux, lim)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// rawConn is a client connection the test drives by hand.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// get sends GET /healthz (keep-alive) and reads the answer within d.
func (c *rawConn) get(d time.Duration) (string, error) {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return "", err
	}
	return c.read(d)
}

func (c *rawConn) read(d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b), err
}

// closedByServer reports whether the server closes c within bound.
func (c *rawConn) closedByServer() bool {
	c.SetReadDeadline(time.Now().Add(bound))
	_, err := c.br.ReadByte()
	return errors.Is(err, io.EOF)
}

// TestConnectionCap: with MaxConns 2 held by two idle keep-alive clients, a
// third is not served; as soon as one of the two closes, it is.
func TestConnectionCap(t *testing.T) {
	addr := serve(t, server.Limits{MaxConns: 2, IdleTimeout: time.Hour, ReadHeaderTimeout: time.Hour})
	c1, c2 := dial(t, addr), dial(t, addr)
	for _, c := range []*rawConn{c1, c2} {
		if got, err := c.get(bound); err != nil || got != "200 OK ok" {
			t.Fatalf("first clients: %q %v", got, err)
		}
	}
	// Both now wait idle for their next request and hold both slots. A
	// third connects (the kernel queues it) but is not accepted: its
	// request gets no answer within the deadline.
	c3 := dial(t, addr)
	got, err := c3.get(300 * time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("third client over the cap was answered: %q %v", got, err)
	}
	c1.Close()
	if got, err := c3.read(bound); err != nil || got != "200 OK ok" {
		t.Fatalf("third client after a slot freed: %q %v", got, err)
	}
	if got, err := c2.get(bound); err != nil || got != "200 OK ok" {
		t.Fatalf("second client again: %q %v", got, err)
	}
}

// TestIdleConnectionsTimeOut: more connections than the cap, some idle
// after a request and some silent from the start, are all closed by the
// server after their timeouts, and a new client is served meanwhile.
func TestIdleConnectionsTimeOut(t *testing.T) {
	addr := serve(t, server.Limits{MaxConns: 2, IdleTimeout: 100 * time.Millisecond, ReadHeaderTimeout: 100 * time.Millisecond})
	var conns []*rawConn
	for range 2 {
		c := dial(t, addr)
		if got, err := c.get(bound); err != nil || got != "200 OK ok" {
			t.Fatalf("keep-alive client: %q %v", got, err)
		}
		conns = append(conns, c)
	}
	for range 6 {
		conns = append(conns, dial(t, addr)) // connects, sends nothing
	}
	client := &http.Client{Timeout: bound}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("a new client while %d connections sat idle: %v", len(conns), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("new client: %s", resp.Status)
	}
	for i, c := range conns {
		if !c.closedByServer() {
			t.Errorf("idle connection %d was not closed by the server", i)
		}
	}
}

// TestMaxHeaderBytes: headers over the cap are refused with 431.
func TestMaxHeaderBytes(t *testing.T) {
	addr := serve(t, server.Limits{MaxHeaderBytes: 1 << 10})
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := (&http.Client{Timeout: bound}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers: %s, want 431", resp.Status)
	}
}

// TestLimitListenerClose: Close ends an Accept that waits for a slot.
func TestLimitListenerClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := server.LimitListener(inner, 1)
	dial(t, inner.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept() // the one slot is taken: waits
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(bound):
		t.Fatal("Accept still waits after Close")
	}
}

// TestDefaults: zero limits take the documented defaults.
func TestDefaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, errc := server.Serve(ln, http.NotFoundHandler(), server.Limits{})
	defer func() {
		srv.Close()
		<-errc
	}()
	if srv.ReadHeaderTimeout != server.DefaultReadHeaderTimeout || srv.ReadTimeout != server.DefaultReadTimeout ||
		srv.WriteTimeout != server.DefaultWriteTimeout || srv.IdleTimeout != server.DefaultIdleTimeout ||
		srv.MaxHeaderBytes != server.DefaultMaxHeaderBytes {
		t.Fatalf("zero limits: %+v", srv)
	}
}
