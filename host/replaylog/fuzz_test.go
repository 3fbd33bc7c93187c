package replaylog_test

import (
	"github.com/lockstep-rt/lockstep/internal/fuzzcorpus"

	"bytes"
	"errors"
	"flag"
	"io"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/host/replaylog"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzReader")

// seedLogs are valid and broken logs, named after what they exercise.
func seedLogs(t testing.TB) map[string][]byte {
	full := encode(t, testHeader(), testRecords())
	last := len(full.starts) - 2
	flip := func(data []byte, off int64) []byte {
		data = bytes.Clone(data)
		data[off] ^= 0x10
		return data
	}
	future := []byte(replaylog.Magic)
	future = append(future, frame(mustMarshal(t, &replaylog.Header{FormatVersion: replaylog.FormatVersion + 1}))...)
	unknown := protowire.AppendTag(nil, 99, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, []byte("future"))
	return map[string][]byte{
		"valid_full":        full.data,
		"valid_header_only": encode(t, &replaylog.Header{Seed: 1}, nil).data,
		"torn_tail":         full.data[:full.starts[last]+3],
		"torn_header":       full.data[:full.headerEnd-1],
		"flipped_payload":   flip(full.data, full.starts[5]+5),
		"flipped_checksum":  flip(full.data, full.starts[6]-2),
		"flipped_length":    flip(full.data, full.starts[3]),
		"absurd_length":     append(bytes.Clone(full.data[:full.starts[2]]), 0xff, 0xff, 0xff, 0xff, 0x7f),
		"zero_fill":         append(bytes.Clone(full.data[:full.starts[2]]), make([]byte, 16)...),
		"unknown_kind":      append(bytes.Clone(full.data), frame(unknown)...),
		"future_version":    future,
		"wrong_magic":       []byte("LKSTRPL0\x02\x08\x01"),
		"empty":             {},
	}
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzReader in step with seedLogs; run
// with -update-corpus after changing the format or the seeds.
func TestFuzzCorpus(t *testing.T) {
	fuzzcorpus.Check(t, "FuzzReader", seedLogs(t), *updateCorpus, "-update-corpus")
}

// FuzzReader reads arbitrary bytes as a log. It must not panic, must keep
// the reader's contract (doc.go), and the records it returns before an
// error must re-encode identically.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, recs, r, err := readAll(data)
		if r == nil {
			// NewReader failed: corrupt or a newer format, nothing else.
			if !errors.Is(err, replaylog.ErrCorrupt) && !errors.Is(err, replaylog.ErrNewerFormat) {
				t.Fatalf("NewReader: unexpected error %v", err)
			}
			var ce *replaylog.CorruptError
			if errors.As(err, &ce) && (ce.Record != -1 || ce.Offset > 8) {
				t.Fatalf("header error %+v: want Record -1, Offset 0 or 8", ce)
			}
			return
		}
		if err != io.EOF {
			var ce *replaylog.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Next: unexpected error %v", err)
			}
			if ce.Record != len(recs) || ce.Offset != r.Offset() {
				t.Fatalf("error %+v after %d records, Offset() %d", ce, len(recs), r.Offset())
			}
		}
		if _, again := r.Next(); again != err {
			t.Fatalf("Next after %v returned %v", err, again)
		}
		if r.Offset() > int64(len(data)) {
			t.Fatalf("Offset() %d beyond the %d-byte input", r.Offset(), len(data))
		}

		// Everything before Offset is a clean log of the same records.
		h2, recs2, _, err2 := readAll(data[:r.Offset()])
		if err2 != io.EOF {
			t.Fatalf("prefix up to Offset() %d: %v, want io.EOF", r.Offset(), err2)
		}
		if !proto.Equal(h, h2) || !equalRecords(recs, recs2) {
			t.Fatal("the prefix up to Offset() reads differently")
		}

		// The records re-encode, read back equal and re-encode to the same
		// bytes.
		enc := reencode(t, h, recs)
		h3, recs3, _, err3 := readAll(enc)
		if err3 != io.EOF {
			t.Fatalf("re-encoded log: %v", err3)
		}
		if !proto.Equal(h, h3) || !equalRecords(recs, recs3) {
			t.Fatal("re-encoded records read back differently")
		}
		if again := reencode(t, h3, recs3); !bytes.Equal(enc, again) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

func reencode(t *testing.T, h *replaylog.Header, recs []*replaylog.Record) []byte {
	var buf bytes.Buffer
	w, err := replaylog.NewWriter(&buf, h)
	if err != nil {
		t.Fatalf("NewWriter with a header read back: %v", err)
	}
	for i, rec := range recs {
		if err := w.Append(rec); err != nil {
			t.Fatalf("Append of record %d read back: %v", i, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func equalRecords(a, b []*replaylog.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
