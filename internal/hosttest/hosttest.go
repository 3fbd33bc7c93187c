// Package hosttest holds what tests that run whole hosts share besides the
// public test kit (package sdk/agenttest, whose Steps runs a host through
// ticks): optional replay logs, and fetching from the HTTP endpoints that
// observe hosts.
package hosttest

import (
	"bytes"
	"io"
	"net/http"
	"testing"
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
