package replaylog_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// testHeader is a header with every field set.
func testHeader() *replaylog.Header {
	return &replaylog.Header{
		AbiVersion:      1,
		Seed:            0xdeadbeef,
		ConfigDigest:    bytes.Repeat([]byte{0xc0}, 32),
		Topology:        []byte("agents:\n  - id: a\n    kind: counter\n"),
		TopologyFormat:  "yaml",
		ModuleDigests:   map[string][]byte{"counter": bytes.Repeat([]byte{1}, 32), "echo": bytes.Repeat([]byte{2}, 32)},
		CreatedBy:       "lockstep test",
		UnsignedAllowed: true,
		Workers:         4,
	}
}

// testRecords holds one record of every kind and every command op.
func testRecords() []*replaylog.Record {
	cmd := func(tick uint64, c *replaylog.Command) *replaylog.Record {
		c.Tick = tick
		return &replaylog.Record{Kind: &replaylog.Record_Command{Command: c}}
	}
	return []*replaylog.Record{
		cmd(0, &replaylog.Command{Op: &replaylog.Command_Spawn{Spawn: &replaylog.Spawn{Id: "a", Kind: "counter", Config: []byte(`{"n":1}`), Priority: -2, Group: "g"}}}),
		cmd(0, &replaylog.Command{Op: &replaylog.Command_Join{Join: &replaylog.Membership{Agent: "a", Channel: "news"}}}),
		cmd(0, &replaylog.Command{Op: &replaylog.Command_Input{Input: &replaylog.Input{To: "a", Payload: []byte("hello")}}}),
		cmd(0, &replaylog.Command{Op: &replaylog.Command_Input{Input: &replaylog.Input{Channel: "news", Payload: []byte{0, 1, 2}}}}),
		{Kind: &replaylog.Record_Inference{Inference: &replaylog.InferenceOutput{Tick: 0, Agent: "a", Seq: 1, Output: []byte{9, 8, 7}}}},
		{Kind: &replaylog.Record_Tick{Tick: &replaylog.TickDigest{
			Tick: 0, Digest: bytes.Repeat([]byte{0xab}, 32),
			AgentDigests: []uint64{1, 1 << 63, 3, 4, 5, 6, 7, 8, 9, 10}, DeadLetters: 2,
			Agents: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"},
			Events: []*replaylog.Event{
				{Kind: replaylog.Event_FAILED, Agent: "b", Detail: "trap: unreachable"},
				{Kind: replaylog.Event_RESTARTED, Agent: "b"},
				{Kind: replaylog.Event_DEAD_LETTER, Agent: "a", Detail: "to: gone"},
			},
		}}},
		cmd(1, &replaylog.Command{Op: &replaylog.Command_Leave{Leave: &replaylog.Membership{Agent: "a", Channel: "news"}}}),
		cmd(1, &replaylog.Command{Op: &replaylog.Command_Stop{Stop: &replaylog.Stop{Id: "a"}}}),
		{Kind: &replaylog.Record_Tick{Tick: &replaylog.TickDigest{Tick: 1, Digest: bytes.Repeat([]byte{0xcd}, 32)}}},
		{Kind: &replaylog.Record_End{End: &replaylog.End{Ticks: 2, FinalDigest: bytes.Repeat([]byte{0xcd}, 32), Reason: "halted"}}},
	}
}

// encoded is a log and the offset at which each record starts; starts[i]
// for i == len(records) is the end of the log.
type encoded struct {
	data      []byte
	headerEnd int64
	starts    []int64
}

func encode(t testing.TB, h *replaylog.Header, recs []*replaylog.Record) encoded {
	t.Helper()
	var buf bytes.Buffer
	w, err := replaylog.NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	e := encoded{headerEnd: w.Offset()}
	for _, r := range recs {
		e.starts = append(e.starts, w.Offset())
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	e.starts = append(e.starts, w.Offset())
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	e.data = buf.Bytes()
	if int64(len(e.data)) != w.Offset() {
		t.Fatalf("Offset() = %d after Flush, wrote %d bytes", w.Offset(), len(e.data))
	}
	return e
}

// readAll reads data to the first error, which it returns (io.EOF for a
// clean end).
func readAll(data []byte) (*replaylog.Header, []*replaylog.Record, *replaylog.Reader, error) {
	r, err := replaylog.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, nil, err
	}
	var recs []*replaylog.Record
	for {
		rec, err := r.Next()
		if err != nil {
			return r.Header(), recs, r, err
		}
		recs = append(recs, rec)
	}
}

// frame encodes payload as the format specifies, independently of Writer.
func frame(payload []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(payload)))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func requireEqual(t *testing.T, got, want []*replaylog.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("record %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

// requireCorrupt checks err is a *CorruptError at the given place.
func requireCorrupt(t *testing.T, err error, offset int64, record int, torn bool) *replaylog.CorruptError {
	t.Helper()
	var ce *replaylog.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want *CorruptError", err, err)
	}
	if !errors.Is(err, replaylog.ErrCorrupt) {
		t.Fatalf("errors.Is(%v, ErrCorrupt) = false", err)
	}
	if ce.Offset != offset || ce.Record != record || ce.Torn != torn {
		t.Fatalf("got Offset %d Record %d Torn %v (%s), want Offset %d Record %d Torn %v",
			ce.Offset, ce.Record, ce.Torn, ce.Reason, offset, record, torn)
	}
	return ce
}

func TestRoundTrip(t *testing.T) {
	want := testRecords()
	e := encode(t, testHeader(), want)
	if got := string(e.data[:8]); got != replaylog.Magic {
		t.Fatalf("log starts with %q, want %q", got, replaylog.Magic)
	}

	r, err := replaylog.NewReader(bytes.NewReader(e.data))
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := testHeader()
	wantHeader.FormatVersion = replaylog.FormatVersion
	if !proto.Equal(r.Header(), wantHeader) {
		t.Fatalf("header:\n got %v\nwant %v", r.Header(), wantHeader)
	}
	if r.Offset() != e.headerEnd {
		t.Fatalf("Offset() after header = %d, want %d", r.Offset(), e.headerEnd)
	}
	var got []*replaylog.Record
	for i := 0; ; i++ {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec)
		if r.Offset() != e.starts[i+1] {
			t.Fatalf("Offset() after record %d = %d, want %d", i, r.Offset(), e.starts[i+1])
		}
	}
	requireEqual(t, got, want)
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next after the end = %v, want io.EOF", err)
		}
	}
}

func TestWriterDoesNotModifyHeader(t *testing.T) {
	h := testHeader()
	encode(t, h, nil)
	if h.FormatVersion != 0 {
		t.Fatalf("NewWriter set the caller's FormatVersion to %d", h.FormatVersion)
	}
}

// TestFormat checks the bytes against the format in doc.go, written out
// independently of the Writer.
func TestFormat(t *testing.T) {
	h := &replaylog.Header{FormatVersion: 1, Seed: 7}
	rec := &replaylog.Record{Kind: &replaylog.Record_End{End: &replaylog.End{Ticks: 3, Reason: "done"}}}
	want := []byte(replaylog.Magic)
	want = append(want, frame(mustMarshal(t, h))...)
	want = append(want, frame(mustMarshal(t, rec))...)
	got := encode(t, &replaylog.Header{Seed: 7}, []*replaylog.Record{rec}).data
	if !bytes.Equal(got, want) {
		t.Fatalf("log bytes\n got %x\nwant %x", got, want)
	}
}

func TestDeterministicBytes(t *testing.T) {
	a := encode(t, testHeader(), testRecords()).data
	for range 5 {
		if b := encode(t, testHeader(), testRecords()).data; !bytes.Equal(a, b) {
			t.Fatal("the same header and records encoded to different bytes")
		}
	}
}

func TestReadFile(t *testing.T) {
	want := testRecords()
	path := filepath.Join(t.TempDir(), "run.lsr")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := replaylog.NewWriter(f, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range want {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	h, got, err := replaylog.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.GetSeed() != 0xdeadbeef {
		t.Fatalf("header seed = %#x", h.GetSeed())
	}
	requireEqual(t, got, want)

	// Corrupt the last record: the rest comes back with an error naming
	// the path and the offset.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h, got, err = replaylog.ReadFile(path)
	if h == nil {
		t.Fatal("ReadFile returned no header with a corrupt last record")
	}
	requireEqual(t, got, want[:len(want)-1])
	requireCorrupt(t, err, int64(len(data)-len(frame(mustMarshal(t, want[len(want)-1])))), len(want)-1, false)
	if msg := err.Error(); !strings.HasPrefix(msg, path+": replaylog: corrupt log at byte ") || !strings.Contains(msg, "checksum mismatch") {
		t.Fatalf("error %q does not name the path, the offset and the reason", msg)
	}

	if _, _, err := replaylog.ReadFile(filepath.Join(t.TempDir(), "missing.lsr")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile(missing) = %v, want os.ErrNotExist", err)
	}
}

// TestTornTail cuts the log at every byte of its last record.
func TestTornTail(t *testing.T) {
	want := testRecords()
	e := encode(t, testHeader(), want)
	last := len(want) - 1
	for cut := e.starts[last] + 1; cut < e.starts[last+1]; cut++ {
		_, got, r, err := readAll(e.data[:cut])
		requireEqual(t, got, want[:last])
		ce := requireCorrupt(t, err, e.starts[last], last, true)
		if r.Offset() != e.starts[last] {
			t.Fatalf("cut %d: Offset() = %d, want %d", cut, r.Offset(), e.starts[last])
		}
		if !strings.Contains(ce.Reason, "the file ends inside the") {
			t.Fatalf("cut %d: reason %q", cut, ce.Reason)
		}
	}
	// A cut at the record boundary is a clean end.
	_, got, _, err := readAll(e.data[:e.starts[last]])
	if err != io.EOF {
		t.Fatalf("cut at the boundary: %v, want io.EOF", err)
	}
	requireEqual(t, got, want[:last])
}

// TestTornHeader cuts the log at every byte of the magic and the header.
func TestTornHeader(t *testing.T) {
	e := encode(t, testHeader(), testRecords())
	for cut := int64(0); cut < e.headerEnd; cut++ {
		_, err := replaylog.NewReader(bytes.NewReader(e.data[:cut]))
		want := int64(0)
		if cut >= 8 {
			want = 8
		}
		requireCorrupt(t, err, want, -1, true)
	}
}

func TestEmptyFile(t *testing.T) {
	_, err := replaylog.NewReader(bytes.NewReader(nil))
	ce := requireCorrupt(t, err, 0, -1, true)
	if !strings.Contains(ce.Reason, "empty file") {
		t.Fatalf("reason %q does not say the file is empty", ce.Reason)
	}
	path := filepath.Join(t.TempDir(), "empty.lsr")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h, recs, err := replaylog.ReadFile(path)
	if h != nil || recs != nil {
		t.Fatal("ReadFile of an empty file returned a header or records")
	}
	requireCorrupt(t, err, 0, -1, true)
	if !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("error %q does not name the path", err)
	}
}

func TestWrongMagic(t *testing.T) {
	for _, data := range []string{"LKSTRPL2rest", "hello world\n", "{", "\x00\x00\x00\x00\x00\x00\x00\x00"} {
		_, err := replaylog.NewReader(strings.NewReader(data))
		ce := requireCorrupt(t, err, 0, -1, false)
		if !strings.Contains(ce.Reason, "not a Lockstep replay log") {
			t.Fatalf("%q: reason %q", data, ce.Reason)
		}
	}
}

func TestFutureFormatVersion(t *testing.T) {
	data := []byte(replaylog.Magic)
	data = append(data, frame(mustMarshal(t, &replaylog.Header{FormatVersion: replaylog.FormatVersion + 1}))...)
	_, err := replaylog.NewReader(bytes.NewReader(data))
	if !errors.Is(err, replaylog.ErrNewerFormat) {
		t.Fatalf("err = %v, want ErrNewerFormat", err)
	}
	if errors.Is(err, replaylog.ErrCorrupt) {
		t.Fatalf("a newer format is reported as corruption: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "written by a newer Lockstep") || !strings.Contains(msg, "upgrade") {
		t.Fatalf("error %q does not say to upgrade", msg)
	}

	if _, err := replaylog.NewWriter(io.Discard, &replaylog.Header{FormatVersion: 2}); err == nil {
		t.Fatal("NewWriter accepted format version 2")
	}
}

func TestHeaderWithoutVersion(t *testing.T) {
	data := []byte(replaylog.Magic)
	data = append(data, frame(mustMarshal(t, &replaylog.Header{Seed: 1}))...)
	_, err := replaylog.NewReader(bytes.NewReader(data))
	requireCorrupt(t, err, 8, -1, false)
}

// TestFlippedByte flips every byte of a record in the middle of the log.
func TestFlippedByte(t *testing.T) {
	want := testRecords()
	e := encode(t, testHeader(), want)
	const bad = 5 // the TickDigest with events
	start, end := e.starts[bad], e.starts[bad+1]
	lenBytes := int64(len(binary.AppendUvarint(nil, uint64(len(mustMarshal(t, want[bad]))))))
	if lenBytes < 2 {
		t.Fatal("the record under test needs a multi-byte length")
	}
	for off := start; off < end; off++ {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			data := bytes.Clone(e.data)
			data[off] ^= mask
			_, got, r, err := readAll(data)
			requireEqual(t, got, want[:bad])
			var ce *replaylog.CorruptError
			if !errors.As(err, &ce) || ce.Offset != start || ce.Record != bad {
				t.Fatalf("flip %#x at %d: err = %v, want corruption at %d (record %d)", mask, off, err, start, bad)
			}
			if r.Offset() != start {
				t.Fatalf("flip %#x at %d: Offset() = %d, want %d", mask, off, r.Offset(), start)
			}
			// A flipped payload or checksum byte is always caught by the
			// checksum. A flipped length byte is bad bytes too, unless it
			// points past the end of the file: that looks like a torn tail.
			if off >= start+lenBytes && ce.Torn {
				t.Fatalf("flip %#x at %d (payload/checksum): Torn = true (%s)", mask, off, ce.Reason)
			}
		}
	}
}

func TestFlippedLengthShorter(t *testing.T) {
	want := testRecords()
	e := encode(t, testHeader(), want)
	const bad = 2
	data := bytes.Clone(e.data)
	data[e.starts[bad]]-- // one byte shorter: the frame no longer checks out
	_, got, _, err := readAll(data)
	requireEqual(t, got, want[:bad])
	ce := requireCorrupt(t, err, e.starts[bad], bad, false)
	if !strings.Contains(ce.Reason, "checksum mismatch") {
		t.Fatalf("reason %q", ce.Reason)
	}
}

func TestBadLengths(t *testing.T) {
	e := encode(t, testHeader(), testRecords()[:2])
	for _, tc := range []struct {
		name, tail, reason string
	}{
		{"absurd", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "exceeds MaxRecordSize"},
		{"just over max", string(binary.AppendUvarint(nil, replaylog.MaxRecordSize+1)), "exceeds MaxRecordSize"},
		{"too many bytes", "\x80\x80\x80\x80\x00", "longer than 4 bytes"},
		{"non-minimal", "\x85\x00", "not minimally encoded"},
		{"zero", "\x00\x00\x00\x00\x00", "zero length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := append(bytes.Clone(e.data), tc.tail...)
			_, got, _, err := readAll(data)
			if len(got) != 2 {
				t.Fatalf("got %d records, want 2", len(got))
			}
			ce := requireCorrupt(t, err, int64(len(e.data)), 2, false)
			if !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("reason %q does not contain %q", ce.Reason, tc.reason)
			}
		})
	}
}

// TestLargeLengthAllocatesLittle checks that a length near MaxRecordSize at
// the end of a small file does not allocate the whole record.
func TestLargeLengthAllocatesLittle(t *testing.T) {
	e := encode(t, testHeader(), nil)
	data := binary.AppendUvarint(bytes.Clone(e.data), replaylog.MaxRecordSize)
	data = append(data, "short"...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, err := readAll(data)
	runtime.ReadMemStats(&after)
	requireCorrupt(t, err, e.headerEnd, 0, true)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("reading a %d-byte file allocated %d bytes", len(data), alloc)
	}
}

func TestUndecodablePayload(t *testing.T) {
	e := encode(t, testHeader(), nil)
	// Field 1 (command) declared as a varint: the wrong wire type.
	payload := protowire.AppendTag(nil, 1, protowire.VarintType)
	payload = protowire.AppendVarint(payload, 3)
	payload = append(payload, 0x0a) // then a truncated field
	data := append(bytes.Clone(e.data), frame(payload)...)
	_, _, _, err := readAll(data)
	ce := requireCorrupt(t, err, e.headerEnd, 0, false)
	if !strings.Contains(ce.Reason, "does not decode") {
		t.Fatalf("reason %q", ce.Reason)
	}
}

// TestUnknownKind reads a record kind from a newer writer: it comes back
// with a nil kind, and re-encodes unchanged.
func TestUnknownKind(t *testing.T) {
	e := encode(t, testHeader(), nil)
	payload := protowire.AppendTag(nil, 99, protowire.BytesType)
	payload = protowire.AppendBytes(payload, []byte("future"))
	data := append(bytes.Clone(e.data), frame(payload)...)
	_, got, _, err := readAll(data)
	if err != io.EOF {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GetKind() != nil {
		t.Fatalf("got %v, want one record with a nil kind", got)
	}
	var buf bytes.Buffer
	w, err := replaylog.NewWriter(&buf, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(got[0]); err != nil {
		t.Fatalf("Append of a record from a newer writer: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("a record with unknown fields did not re-encode unchanged")
	}
}

func TestStickyReadError(t *testing.T) {
	e := encode(t, testHeader(), testRecords())
	data := bytes.Clone(e.data)
	data[e.starts[3]+2] ^= 1
	r, err := replaylog.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var first error
	for first == nil {
		_, first = r.Next()
	}
	for range 3 {
		if _, err := r.Next(); err != first {
			t.Fatalf("Next after %v returned %v", first, err)
		}
	}
}

func TestCorruptErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  replaylog.CorruptError
		want string
	}{
		{
			replaylog.CorruptError{Offset: 1234, Record: 17, Reason: "checksum mismatch"},
			"replaylog: corrupt log at byte 1234 (record 17): checksum mismatch; everything before byte 1234 is intact — truncate the file there (truncate -s 1234 FILE) or re-record",
		},
		{
			replaylog.CorruptError{Offset: 0, Record: -1, Reason: "not a Lockstep replay log"},
			"replaylog: corrupt log at byte 0 (header): not a Lockstep replay log; the log has no intact header, so nothing in it can be replayed — check that this is the right file, or re-record",
		},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() =\n%s\nwant\n%s", got, tc.want)
		}
	}
}

func TestAppendRefuses(t *testing.T) {
	w, err := replaylog.NewWriter(io.Discard, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	off := w.Offset()
	huge := &replaylog.Record{Kind: &replaylog.Record_Inference{Inference: &replaylog.InferenceOutput{Output: make([]byte, replaylog.MaxRecordSize)}}}
	for name, r := range map[string]*replaylog.Record{
		"nil":       nil,
		"empty":     {},
		"too large": huge,
		"bad utf-8": {Kind: &replaylog.Record_Command{Command: &replaylog.Command{Op: &replaylog.Command_Stop{Stop: &replaylog.Stop{Id: "\xff"}}}}},
	} {
		if err := w.Append(r); err == nil {
			t.Errorf("Append(%s) succeeded", name)
		}
	}
	if w.Offset() != off {
		t.Fatalf("refused records moved Offset from %d to %d", off, w.Offset())
	}
	// Refusals are not sticky.
	if err := w.Append(testRecords()[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := replaylog.NewWriter(io.Discard, nil); err == nil {
		t.Fatal("NewWriter(nil header) succeeded")
	}
}

// failingWriter accepts n bytes, then fails.
type failingWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	n := f.n
	f.n = 0
	return n, errDiskFull
}

func TestStickyWriteError(t *testing.T) {
	w, err := replaylog.NewWriter(&failingWriter{n: 100}, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range testRecords() {
		if err := w.Append(r); err != nil {
			t.Fatal(err) // all buffered
		}
	}
	err = w.Flush()
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Flush = %v, want disk full", err)
	}
	if err2 := w.Append(testRecords()[0]); err2 != err {
		t.Fatalf("Append after a write error = %v, want %v", err2, err)
	}
	if err2 := w.Sync(); err2 != err {
		t.Fatalf("Sync after a write error = %v, want %v", err2, err)
	}
}

// TestTruncateAtOffset checks the promise in CorruptError: truncating at
// Offset leaves a clean log of the intact records.
func TestTruncateAtOffset(t *testing.T) {
	want := testRecords()
	e := encode(t, testHeader(), want)
	data := bytes.Clone(e.data)
	data[e.starts[7]+3] ^= 0x40
	_, got, _, err := readAll(data)
	var ce *replaylog.CorruptError
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
	_, again, _, err := readAll(data[:ce.Offset])
	if err != io.EOF {
		t.Fatalf("truncated log: %v, want io.EOF", err)
	}
	requireEqual(t, again, got)
	requireEqual(t, got, want[:7])
}

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReadError checks that an I/O error is passed on with the offset, not
// mistaken for corruption.
func TestReadError(t *testing.T) {
	errIO := errors.New("input/output error")
	e := encode(t, testHeader(), testRecords())
	for _, cut := range []int64{0, 4, 8, e.headerEnd - 1, e.starts[3] + 1} {
		r, err := replaylog.NewReader(&failingReader{data: e.data[:cut], err: errIO})
		for err == nil {
			_, err = r.Next()
		}
		if !errors.Is(err, errIO) || errors.Is(err, replaylog.ErrCorrupt) {
			t.Fatalf("cut %d: err = %v, want the I/O error and not ErrCorrupt", cut, err)
		}
		if !strings.Contains(err.Error(), "at byte ") {
			t.Fatalf("cut %d: error %q does not name the offset", cut, err)
		}
	}
}

// syncFailer is a writer whose Sync fails.
type syncFailer struct{ bytes.Buffer }

var errSync = errors.New("sync failed")

func (*syncFailer) Sync() error { return errSync }

func TestSyncError(t *testing.T) {
	w, err := replaylog.NewWriter(&syncFailer{}, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); !errors.Is(err, errSync) {
		t.Fatalf("Sync = %v, want %v", err, errSync)
	}
	if err := w.Append(testRecords()[0]); !errors.Is(err, errSync) {
		t.Fatalf("Append after a failed Sync = %v, want the sync error", err)
	}
}

func TestNewWriterBadHeader(t *testing.T) {
	if _, err := replaylog.NewWriter(io.Discard, &replaylog.Header{CreatedBy: "\xff"}); err == nil {
		t.Fatal("NewWriter accepted a header with invalid UTF-8")
	}
}

func TestUndecodableHeader(t *testing.T) {
	data := []byte(replaylog.Magic)
	data = append(data, frame([]byte{0x0a, 0x05, 'x'})...) // field 1 with a cut-short length
	_, err := replaylog.NewReader(bytes.NewReader(data))
	ce := requireCorrupt(t, err, 8, -1, false)
	if !strings.Contains(ce.Reason, "header does not decode") {
		t.Fatalf("reason %q", ce.Reason)
	}
}
