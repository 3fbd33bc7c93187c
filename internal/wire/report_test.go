package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// reports are the seeds: every action kind, a failure, empty payloads.
var reports = []engine.Report{
	{Digest: 0x0123456789abcdef, Fuel: 77, Actions: []engine.Action{
		{Kind: engine.ActSend, Target: "b", Payload: []byte("hi")},
		{Kind: engine.ActPublish, Target: "ch", Payload: []byte{0, 1, 2}},
		{Kind: engine.ActJoin, Target: "ch"},
		{Kind: engine.ActLeave, Target: "ch"},
		{Kind: engine.ActLog, Level: agent.LevelWarn, Payload: []byte("careful")},
		{Kind: engine.ActState, Target: "count", Payload: []byte{9}},
		{Kind: engine.ActInfer, Target: "flowers", Version: "1", Payload: []byte("tensor")},
	}},
	{},
	{Failed: true, Reason: "agent \"x\" failed at t3 in step: trap", Trace: "f <- g"},
}

// TestRoundTrip: what AppendReport writes, ReadReports reads back, slot by
// slot, field by field.
func TestRoundTrip(t *testing.T) {
	var b []byte
	for i := range reports {
		b = AppendReport(b, 2*i, &reports[i])
	}
	var got []engine.Report
	err := ReadReports(b, 2*len(reports), func(slot int, r engine.Report) error {
		if slot != 2*len(got) {
			t.Errorf("report %d has slot %d, want %d", len(got), slot, 2*len(got))
		}
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, reports) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, reports)
	}
}

// TestRefused: truncations, huge counts and lengths, bad flags and slots
// out of range are errors that name the byte, never panics or
// allocations of what the input claims.
func TestRefused(t *testing.T) {
	full := AppendReport(nil, 1, &reports[0])
	for n := range len(full) {
		if err := ReadReports(full[:n], 4, func(int, engine.Report) error { return nil }); n > 0 && !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d of %d bytes: %v", n, len(full), err)
		}
	}
	for name, b := range map[string][]byte{
		"flag":         {0, 7},
		"slot":         AppendReport(nil, 9, &reports[1]),
		"action count": append([]byte{0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"length":       {0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if err := ReadReports(b, 4, func(int, engine.Report) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzReadReports: any input is read without panicking; what reads back
// encodes to the same bytes.
func FuzzReadReports(f *testing.F) {
	for i := range reports {
		f.Add(AppendReport(nil, i, &reports[i]))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var again []byte
		err := ReadReports(b, 1<<20, func(slot int, r engine.Report) error {
			again = AppendReport(again, slot, &r)
			return nil
		})
		if err == nil && !bytes.Equal(again, b) {
			// Varints have one shortest form; longer forms of the same
			// value read alike and re-encode shorter: compare by reading.
			var a, c []engine.Report
			_ = ReadReports(b, 1<<20, func(_ int, r engine.Report) error { a = append(a, r); return nil })
			_ = ReadReports(again, 1<<20, func(_ int, r engine.Report) error { c = append(c, r); return nil })
			if !reflect.DeepEqual(a, c) {
				t.Fatalf("%x reads as %+v, which encodes as %x, read as %+v", b, a, again, c)
			}
		}
	})
}
