package replaylog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// writeBufferSize is the Writer's buffer; a TickDigest for a few hundred
// agents fits many times over.
const writeBufferSize = 64 << 10

// marshalOptions makes the encoding of a message a function of its content
// (map entries of Header.ModuleDigests are sorted), so the same run always
// produces the same bytes.
var marshalOptions = proto.MarshalOptions{Deterministic: true}

// syncer is implemented by *os.File.
type syncer interface{ Sync() error }

// Writer appends records to a replay log. It buffers: records reach the
// underlying writer on [Writer.Flush] (or when the buffer fills), and reach
// stable storage on [Writer.Sync]. A Writer is not safe for concurrent use.
//
// The first error from the underlying writer is sticky: the log may end in a
// partial record (which a [Reader] reports as a torn tail), so every later
// Append, Flush and Sync returns that error. Errors about the record itself
// (empty, too large, not encodable) write nothing and are not sticky.
type Writer struct {
	dst     io.Writer
	bw      *bufio.Writer
	off     int64  // bytes accepted so far, buffered or not
	scratch []byte // frame being built; reused across Append calls
	err     error  // sticky write error
}

// NewWriter writes the magic and the header to w and returns a Writer for
// the records that follow. h is not modified: the header written is a copy
// whose FormatVersion is [FormatVersion] when h leaves it 0. A header asking
// for any other format version is an error, as is a nil header.
//
// The magic and header are buffered like every record; call [Writer.Flush]
// to push them out.
func NewWriter(w io.Writer, h *Header) (*Writer, error) {
	if h == nil {
		return nil, errors.New("replaylog: NewWriter: nil header; pass &replaylog.Header{} at least")
	}
	if v := h.GetFormatVersion(); v != 0 && v != FormatVersion {
		return nil, fmt.Errorf("replaylog: NewWriter: header asks for format version %d, but this build writes only version %d; leave FormatVersion 0", v, FormatVersion)
	}
	if h.GetFormatVersion() == 0 {
		h = proto.CloneOf(h)
		h.FormatVersion = FormatVersion
	}
	lw := &Writer{dst: w, bw: bufio.NewWriterSize(w, writeBufferSize)}
	if _, err := lw.bw.WriteString(Magic); err != nil {
		return nil, fmt.Errorf("replaylog: writing magic: %w", err)
	}
	lw.off = int64(len(Magic))
	if err := lw.append(h, "header"); err != nil {
		return nil, err
	}
	return lw, nil
}

// Append adds r to the log. r must set one of its kinds (a Record holding
// only fields unknown to this build, copied from a newer log, is accepted
// too); an empty record is refused because its frame would be
// indistinguishable from zero-filled garbage.
func (w *Writer) Append(r *Record) error {
	if r == nil {
		return errors.New("replaylog: Append: nil record")
	}
	return w.append(r, "record")
}

// append frames m as uvarint length | payload | CRC-32C and writes it.
func (w *Writer) append(m proto.Message, what string) error {
	if w.err != nil {
		return w.err
	}
	// Marshal after room for the longest length prefix, then put the prefix
	// right before the payload, so the frame goes out in one Write.
	buf := w.scratch[:0]
	buf = append(buf, make([]byte, binary.MaxVarintLen64)...)
	buf, err := marshalOptions.MarshalAppend(buf, m)
	if err != nil {
		return fmt.Errorf("replaylog: %s at byte %d does not encode: %w", what, w.off, err)
	}
	payload := buf[binary.MaxVarintLen64:]
	n := len(payload)
	switch {
	case n == 0:
		return fmt.Errorf("replaylog: %s at byte %d is empty; set one of Command, Tick, End or Inference", what, w.off)
	case n > MaxRecordSize:
		return fmt.Errorf("replaylog: %s at byte %d is %d bytes, over MaxRecordSize (%d); split the data (e.g. one InferenceOutput per output)", what, w.off, n, MaxRecordSize)
	}
	var lenBuf [binary.MaxVarintLen64]byte
	ln := binary.PutUvarint(lenBuf[:], uint64(n))
	start := binary.MaxVarintLen64 - ln
	copy(buf[start:], lenBuf[:ln])
	buf = binary.LittleEndian.AppendUint32(buf, checksum(payload))
	frame := buf[start:]
	if cap(buf) <= keepBuffer {
		w.scratch = buf[:0]
	} else {
		w.scratch = nil // do not pin one huge record's memory
	}

	if _, err := w.bw.Write(frame); err != nil {
		w.err = fmt.Errorf("replaylog: writing %s at byte %d: %w; the log may end in a torn record there", what, w.off, err)
		return w.err
	}
	w.off += int64(len(frame))
	return nil
}

// Flush writes buffered records to the underlying writer. It does not ask
// the operating system to persist them: after Flush a record survives the
// process crashing, not the machine losing power. See [Writer.Sync].
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("replaylog: flushing log before byte %d: %w; the log may end in a torn record", w.off, err)
		return w.err
	}
	return nil
}

// Sync flushes, then, when the underlying writer has a Sync method (an
// *os.File does), calls it so the records reach stable storage. It is
// separate from Flush because an fsync per tick would dominate a fast run;
// the caller picks the cadence.
func (w *Writer) Sync() error {
	if err := w.Flush(); err != nil {
		return err
	}
	if s, ok := w.dst.(syncer); ok {
		if err := s.Sync(); err != nil {
			w.err = fmt.Errorf("replaylog: syncing log before byte %d: %w", w.off, err)
			return w.err
		}
	}
	return nil
}

// Offset returns the number of bytes written so far, including those still
// buffered: the offset at which the next record will start. After a sticky
// write error it is the offset of the record that may be torn.
func (w *Writer) Offset() int64 { return w.off }

// ResumeWriter returns a Writer that appends records to a log whose first
// off bytes (magic, header and whole records: the Offset a [Reader] reached
// in it) are already in w, which is positioned at off. It is how a log cut
// back to its last intact record goes on.
func ResumeWriter(w io.Writer, off int64) (*Writer, error) {
	if off < int64(len(Magic)) {
		return nil, fmt.Errorf("replaylog: ResumeWriter: offset %d is inside the magic; start a new log with NewWriter", off)
	}
	return &Writer{dst: w, bw: bufio.NewWriterSize(w, writeBufferSize), off: off}, nil
}
