package replaylog_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/lockstep-rt/lockstep/host/replaylog"
)

// benchRecord is a TickDigest for 50 agents, without their ids.
func benchRecord() *replaylog.Record {
	td := &replaylog.TickDigest{Tick: 123456, Digest: bytes.Repeat([]byte{0x5a}, 32)}
	for i := range 50 {
		td.AgentDigests = append(td.AgentDigests, uint64(i)*0x9e3779b97f4a7c15)
	}
	return &replaylog.Record{Kind: &replaylog.Record_Tick{Tick: td}}
}

func BenchmarkAppend(b *testing.B) {
	rec := benchRecord()
	w, err := replaylog.NewWriter(io.Discard, testHeader())
	if err != nil {
		b.Fatal(err)
	}
	start := w.Offset()
	if err := w.Append(rec); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(w.Offset() - start)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := w.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRead(b *testing.B) {
	const n = 4096
	recs := make([]*replaylog.Record, n)
	for i := range recs {
		recs[i] = benchRecord()
	}
	e := encode(b, testHeader(), recs)
	b.SetBytes(e.starts[1] - e.starts[0])
	b.ReportAllocs()
	b.ResetTimer()
	src := bytes.NewReader(e.data)
	var r *replaylog.Reader
	for b.Loop() {
		if r == nil {
			src.Reset(e.data)
			var err error
			if r, err = replaylog.NewReader(src); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := r.Next(); err == io.EOF {
			r = nil
		} else if err != nil {
			b.Fatal(err)
		}
	}
}
