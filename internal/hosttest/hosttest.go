// Package hosttest holds what tests that run whole hosts share: stepping a
// host through ticks while collecting digests, optional replay logs, and
// fetching from the HTTP endpoints that observe them.
package hosttest

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/lockstep-rt/lockstep/host"
)

// Record returns the io.Writer for host.Options.Record: buf, or nil (no
// log) when buf is nil, which a nil *bytes.Buffer stored in the interface
// would not be.
func Record(buf *bytes.Buffer) io.Writer {
	if buf == nil {
		return nil
	}
	return buf
}

// Steps runs n ticks of h and returns their digests. An error fails t; so
// does any supervision or routing event when quiet is true. each, if not
// nil, sees every result.
func Steps(t testing.TB, h *host.Host, n int, quiet bool, each func(host.TickResult)) [][32]byte {
	t.Helper()
	digests := make([][32]byte, 0, n)
	for range n {
		r, err := h.Step()
		if err != nil {
			t.Fatal(err)
		}
		if quiet && len(r.Events) > 0 {
			t.Fatalf("%s: unexpected events %+v", r.Tick, r.Events)
		}
		if each != nil {
			each(r)
		}
		digests = append(digests, r.Digest)
	}
	return digests
}

// Get fetches url and returns the status code and body, failing t when the
// request cannot be made.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
