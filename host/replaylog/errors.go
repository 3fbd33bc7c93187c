package replaylog

import (
	"errors"
	"fmt"
)

// ErrCorrupt is the sentinel every corruption error matches with
// [errors.Is]. The error itself is a [*CorruptError] that says where and why.
var ErrCorrupt = errors.New("replaylog: corrupt log")

// ErrNewerFormat matches (with [errors.Is]) the error returned for a log
// whose header names a format version newer than [FormatVersion]. The log is
// not corrupt; this build cannot read it.
var ErrNewerFormat = errors.New("replaylog: log written by a newer Lockstep")

// CorruptError says where and why reading a log stopped. Everything before
// Offset is intact; truncating the file at Offset leaves a valid log of the
// records read so far (unless Record is -1: then the magic or the header is
// bad and nothing can be recovered).
type CorruptError struct {
	// Offset is the byte offset of the start of the record that could not
	// be read: the magic (0), the header (8) or a record.
	Offset int64
	// Record is the index of the bad record among the records after the
	// header, which is also the number of intact records before it (the
	// length of the slice [ReadFile] returns). It is -1 when the magic or
	// the header is bad.
	Record int
	// Torn is true when the file ends inside the record: a crash while
	// writing left the tail cut short. It is false for bad bytes: a checksum
	// mismatch, an impossible length, a payload that is not the expected
	// protobuf, a bad magic. A length corrupted to point past the end of the
	// file is indistinguishable from a torn tail and is reported as torn; the
	// remedy is the same.
	Torn bool
	// Reason is a short description of what is wrong, without the offset.
	Reason string
}

// Error describes the corruption, where it is and what to do about it.
func (e *CorruptError) Error() string {
	if e.Record < 0 {
		return fmt.Sprintf("replaylog: corrupt log at byte %d (header): %s; the log has no intact header, so nothing in it can be replayed — check that this is the right file, or re-record", e.Offset, e.Reason)
	}
	return fmt.Sprintf("replaylog: corrupt log at byte %d (record %d): %s; everything before byte %d is intact — truncate the file there (truncate -s %d FILE) or re-record", e.Offset, e.Record, e.Reason, e.Offset, e.Offset)
}

// Is reports whether target is [ErrCorrupt].
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
