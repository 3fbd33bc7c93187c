package replaylog

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/proto"
)

// readChunk bounds how much the reader allocates ahead of the bytes it has
// actually read, so a large length near the end of a file costs no more
// memory than the file holds.
const readChunk = 1 << 20

// Reader reads a replay log written by [Writer]. See the package
// documentation for the steps it follows. A Reader is not safe for
// concurrent use.
type Reader struct {
	br      *bufio.Reader
	hdr     *Header
	off     int64  // end of the last intact record
	records int    // intact records read after the header
	buf     []byte // payload scratch, reused
	err     error  // sticky: io.EOF, *CorruptError or a read error
}

// NewReader reads the magic and the header from r. A missing, short or
// wrong magic, or a header that is torn, fails its checksum or does not
// decode, is a [*CorruptError] with Record -1 (a wrong magic's Reason says
// "not a Lockstep replay log"). A header from a newer format is an error
// matching [ErrNewerFormat].
func NewReader(r io.Reader) (*Reader, error) {
	lr := &Reader{br: bufio.NewReader(r)}
	if err := lr.readMagic(); err != nil {
		return nil, err
	}
	lr.off = int64(len(Magic))
	payload, err := lr.readFrame(-1)
	if err == io.EOF {
		return nil, lr.corrupt(-1, true, "the file ends after the magic, before the header")
	}
	if err != nil {
		return nil, err
	}
	h := new(Header)
	if err := proto.Unmarshal(payload, h); err != nil {
		return nil, lr.corrupt(-1, false, fmt.Sprintf("the header does not decode: %v", err))
	}
	switch v := h.GetFormatVersion(); {
	case v == 0:
		return nil, lr.corrupt(-1, false, "the header has no format_version")
	case v > FormatVersion:
		return nil, fmt.Errorf("%w: format version %d, this build reads up to %d; upgrade Lockstep to read it", ErrNewerFormat, v, FormatVersion)
	}
	lr.hdr = h
	lr.off += lr.frameSize(len(payload))
	return lr, nil
}

// readMagic checks the first 8 bytes.
func (r *Reader) readMagic() error {
	var m [len(Magic)]byte
	n, err := io.ReadFull(r.br, m[:])
	got := m[:n]
	switch {
	case err == nil || err == io.EOF || err == io.ErrUnexpectedEOF:
	default:
		return fmt.Errorf("replaylog: reading magic at byte 0: %w", err)
	}
	if string(got) != Magic[:n] {
		return r.corrupt(-1, false, fmt.Sprintf("not a Lockstep replay log (starts with %q, want %q)", got, Magic))
	}
	if n == 0 {
		return r.corrupt(-1, true, "empty file: no magic, no header")
	}
	if n < len(Magic) {
		return r.corrupt(-1, true, fmt.Sprintf("the file ends inside the magic, after %d of %d bytes", n, len(Magic)))
	}
	return nil
}

// Header returns the log's header.
func (r *Reader) Header() *Header { return r.hdr }

// Offset returns the offset of the end of the last intact record (the
// header's end before the first Next): the length to truncate a damaged
// file to.
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next record. It returns io.EOF when the log ends cleanly
// at a record boundary, a [*CorruptError] when the rest of the file cannot
// be read as records, or the underlying reader's error. Every call after an
// error returns the same error.
//
// A record whose kind is nil holds only fields this build does not know: it
// was written by a newer Lockstep. Tools that only show records may skip it;
// a replay must stop.
func (r *Reader) Next() (*Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	payload, err := r.readFrame(r.records)
	if err != nil {
		r.err = err
		return nil, err
	}
	rec := new(Record)
	if err := proto.Unmarshal(payload, rec); err != nil {
		r.err = r.corrupt(r.records, false, fmt.Sprintf("the payload does not decode as a Record: %v", err))
		return nil, r.err
	}
	r.off += r.frameSize(len(payload))
	r.records++
	if cap(r.buf) > keepBuffer {
		r.buf = nil // do not pin one huge record's memory
	}
	return rec, nil
}

// frameSize is the size on disk of a record with an n-byte payload.
func (r *Reader) frameSize(n int) int64 {
	size := int64(n + crcSize + 1)
	for ; n >= 0x80; n >>= 7 {
		size++
	}
	return size
}

// readFrame reads one length | payload | checksum frame starting at r.off.
// It returns io.EOF only when the file ends exactly at r.off. The payload
// aliases r.buf and is valid until the next call.
func (r *Reader) readFrame(index int) ([]byte, error) {
	n, err := r.readLength(index)
	if err != nil {
		return nil, err
	}
	payload, err := r.readPayload(index, n)
	if err != nil {
		return nil, err
	}
	var sum [crcSize]byte
	got, err := io.ReadFull(r.br, sum[:])
	if err != nil {
		return nil, r.readErr(index, err, fmt.Sprintf("the file ends inside the checksum, after %d of %d bytes", got, crcSize))
	}
	if stored, computed := binary.LittleEndian.Uint32(sum[:]), checksum(payload); stored != computed {
		return nil, r.corrupt(index, false, fmt.Sprintf("checksum mismatch (stored 0x%08x, computed 0x%08x over %d payload bytes)", stored, computed, n))
	}
	return payload, nil
}

// readLength reads the uvarint payload length. It insists on the minimal
// encoding of a length in 1..MaxRecordSize, so garbage is caught before
// anything is allocated for it.
func (r *Reader) readLength(index int) (int, error) {
	var n uint64
	for i := 0; ; i++ {
		b, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF && i == 0 {
				return 0, io.EOF
			}
			return 0, r.readErr(index, err, fmt.Sprintf("the file ends inside the length, after %d bytes", i))
		}
		n |= uint64(b&0x7f) << (7 * i)
		if n > MaxRecordSize {
			return 0, r.corrupt(index, false, fmt.Sprintf("length %d or more exceeds MaxRecordSize (%d)", n, MaxRecordSize))
		}
		if b >= 0x80 {
			if i+1 == maxLenBytes {
				return 0, r.corrupt(index, false, fmt.Sprintf("length is longer than %d bytes, more than MaxRecordSize (%d) needs", maxLenBytes, MaxRecordSize))
			}
			continue
		}
		switch {
		case i > 0 && b == 0:
			return 0, r.corrupt(index, false, "length is not minimally encoded")
		case n == 0:
			return 0, r.corrupt(index, false, "zero length (zero-filled bytes, often left by a crash before the data reached the disk)")
		}
		return int(n), nil
	}
}

// readPayload reads n bytes into r.buf, growing it no faster than the data
// arrives.
func (r *Reader) readPayload(index, n int) ([]byte, error) {
	if cap(r.buf) >= n {
		r.buf = r.buf[:n]
		if got, err := io.ReadFull(r.br, r.buf); err != nil {
			return nil, r.readErr(index, err, fmt.Sprintf("the file ends inside the payload, after %d of %d bytes", got, n))
		}
		return r.buf, nil
	}
	buf := r.buf[:0]
	for len(buf) < n {
		chunk := min(n-len(buf), max(len(buf), readChunk))
		buf = append(buf, make([]byte, chunk)...)
		got, err := io.ReadFull(r.br, buf[len(buf)-chunk:])
		if err != nil {
			return nil, r.readErr(index, err, fmt.Sprintf("the file ends inside the payload, after %d of %d bytes", len(buf)-chunk+got, n))
		}
	}
	r.buf = buf
	return buf, nil
}

// readErr turns an error from the underlying reader into a torn-tail
// CorruptError (end of file inside a frame) or passes it on with the offset.
func (r *Reader) readErr(index int, err error, tornReason string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.corrupt(index, true, tornReason)
	}
	return fmt.Errorf("replaylog: reading the log at byte %d: %w", r.off, err)
}

// corrupt builds the CorruptError for the record starting at r.off.
func (r *Reader) corrupt(index int, torn bool, reason string) *CorruptError {
	return &CorruptError{Offset: r.off, Record: index, Torn: torn, Reason: reason}
}

// ReadFile reads the whole log at path. It returns everything intact before
// any corruption together with the error, so a caller can show or replay
// the good prefix. Errors name the path. A log that ends without an End
// record is not an error here: the run did not close it, and the caller
// decides what that means.
func ReadFile(path string) (*Header, []*Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r, err := NewReader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var recs []*Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return r.Header(), recs, nil
		}
		if err != nil {
			return r.Header(), recs, fmt.Errorf("%s: %w", path, err)
		}
		recs = append(recs, rec)
	}
}

// NewRecordReader reads records from r, which is positioned at offset off
// of a log: at the end of its header or of an intact record (an Offset a
// Reader reached before). It is how a reader follows a log that is still
// being written: read to io.EOF, and later start again where it stopped.
// Header returns nil; errors and offsets are those of the whole file.
func NewRecordReader(r io.Reader, off int64) *Reader {
	return &Reader{br: bufio.NewReader(r), off: off}
}
