// Package replaylog reads and writes Lockstep's on-disk replay log: the
// append-only record of everything a run needs that cannot be recomputed
// (external commands and inputs, non-deterministic inference outputs) plus
// a digest per tick, so that a replay can reproduce the run and name the
// first tick where it diverges.
//
// # File format
//
// A log is the 8-byte magic "LKSTRPL1" ([Magic]) followed by frames. The
// first frame holds a [Header]; every later frame holds a [Record]. A frame
// is
//
//	uvarint length | payload (length bytes of protobuf) | CRC-32C(payload), 4 bytes little-endian
//
// The length is the minimal uvarint encoding of a value in
// 1..[MaxRecordSize]; the checksum uses the Castagnoli polynomial. Payloads
// are the messages of replay.proto (package lockstep.replay.v1), encoded
// deterministically. [Header.FormatVersion] is [FormatVersion]. There is no
// index and no footer: a log is valid at every frame boundary, so a crash
// loses at most the frame being written. A log that was closed cleanly ends
// with a Record holding an [End].
//
// # Writing
//
//  1. [NewWriter] writes the magic and the header (FormatVersion filled in).
//  2. [Writer.Append] adds records in order. Per tick t the host appends the
//     Commands applied before t, the InferenceOutputs of t, then the
//     TickDigest of t.
//  3. [Writer.Flush] hands buffered frames to the file (survives a process
//     crash); [Writer.Sync] also fsyncs (survives power loss). The caller
//     picks the cadence, typically Flush per tick and Sync at the end.
//  4. Append a Record with an End, then Sync, and close the file.
//
// # Reading: the reader's contract
//
//  1. [NewReader] reads 8 bytes. Fewer than 8 bytes that match the start of
//     the magic (including none) is a torn [*CorruptError]; any other bytes
//     are a [*CorruptError] whose Reason says "not a Lockstep replay log".
//  2. It reads the header frame as steps 3 to 6 read a record. A bad header is a
//     [*CorruptError] with Record -1. A FormatVersion of 0 is corruption; one
//     above [FormatVersion] is an error matching [ErrNewerFormat] (the log
//     is fine; upgrade Lockstep).
//  3. Each [Reader.Next] reads one frame starting at [Reader.Offset]. When
//     the file ends exactly there, Next returns io.EOF: a clean end.
//  4. When the file ends anywhere later in the frame, Next returns a
//     [*CorruptError] with Torn true: a crash cut the tail short.
//  5. A length of 0, above MaxRecordSize or not minimally encoded, a
//     checksum mismatch, or a payload that does not decode is a
//     [*CorruptError] with Torn false: bad bytes. The length is checked
//     before anything is allocated, and the payload buffer grows only as
//     data arrives.
//  6. Otherwise Next returns the decoded Record and Offset moves past the
//     frame.
//  7. Every [*CorruptError] matches [ErrCorrupt]; its Offset is the start of
//     the frame that failed and its Record the number of intact records
//     before it. Everything before Offset is intact: truncating the file
//     there yields a valid log of those records.
//  8. After an error (io.EOF included), every later Next returns the same
//     error.
//  9. Fields unknown to this build are kept and survive re-encoding. A
//     Record whose kind is nil was written by a newer Lockstep with a kind
//     this build does not know; a replay must stop there.
//
// [ReadFile] runs these steps over a file and returns the intact prefix
// together with any error, prefixed with the path.
//
// replay.pb.go is generated from replay.proto; see gen.go to regenerate it.
package replaylog
