// Package server serves a read-only HTTP view (agenthost run --observe,
// cmd/agentui) with limits, so that no client can exhaust the process
// serving it: however many connections are opened, left idle or read
// slowly, the process holds at most Limits.MaxConns of them, each for a
// bounded time, and the run it watches never waits for any of them.
//
// It is a leaf package (the standard library only), so agentui, whose
// live mode never links a host, can use it too:
//
//  1. Listen (net.Listen) where the view is served; a listen that fails
//     names the address.
//  2. Serve(ln, handler, Limits{}) starts serving in a goroutine; zero
//     fields of Limits take the defaults below.
//  3. Shutdown the returned server when the run ends; the channel then
//     yields http.ErrServerClosed (anything else is a serving error).
package server

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// The default limits. A dashboard and a scraper use a handful of
// connections; 64 leaves room for many of both and is far below a
// process's usual file limit (1024). Requests are small GETs without a
// body, so 5 s for the headers, 10 s for the whole request and 16 KiB of
// headers are generous; 30 s to write a response lets a slow client take
// a large snapshot; a keep-alive connection idle for 30 s is closed.
const (
	DefaultMaxConns          = 64
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
)

// Limits bound what HTTP clients can hold of the serving process. A zero
// field takes its default (the Default* constants).
type Limits struct {
	// MaxConns caps the connections open at once. Past it the server stops
	// accepting: new connections wait in the kernel's listen queue (and
	// past that queue are refused) until a connection closes.
	MaxConns int
	// ReadHeaderTimeout bounds the wait for a request's headers, from the
	// connection's start (on a kept-alive connection, from the first byte
	// of the next request): a client that connects and sends nothing, or
	// sends its headers a byte at a time, is closed after it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response, from the end of the request's
	// headers: a client that does not read is closed after it.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers (larger: 431).
	MaxHeaderBytes int
}

// withDefaults fills in zero fields.
func (l Limits) withDefaults() Limits {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	set(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&l.ReadTimeout, DefaultReadTimeout)
	set(&l.WriteTimeout, DefaultWriteTimeout)
	set(&l.IdleTimeout, DefaultIdleTimeout)
	return l
}

// Serve serves h on ln under lim in a new goroutine. It returns the server
// (Shutdown it to stop) and a channel that receives, once, the error
// http.Server.Serve returned: http.ErrServerClosed after Shutdown.
func Serve(ln net.Listener, h http.Handler, lim Limits) (*http.Server, <-chan error) {
	lim = lim.withDefaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(LimitListener(ln, lim.MaxConns)) }()
	return srv, errc
}

// LimitListener returns a listener that has at most n connections from ln
// open at once (n < 1 counts as 1): Accept waits while n are open, and a
// slot frees when a connection is closed. Closing the listener ends a
// waiting Accept. (golang.org/x/net/netutil.LimitListener does the same;
// this module does not otherwise need x/net.)
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max(n, 1)), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{} // one token per open connection
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
