package replaylog

import (
	"encoding/binary"
	"hash/crc32"
)

// FormatVersion is the version of the log format this package writes, and
// the newest it reads. It is stored in [Header.FormatVersion].
const FormatVersion = 1

// MaxRecordSize is the largest payload, in bytes, a record may have. The
// writer refuses bigger records, and the reader treats a bigger length as
// corruption, so a garbage length never makes it allocate gigabytes.
const MaxRecordSize = 64 << 20

// Magic is the 8 bytes every replay log starts with.
const Magic = "LKSTRPL1"

// maxLenBytes is the longest minimal uvarint encoding of a length up to
// MaxRecordSize.
var maxLenBytes = binary.PutUvarint(make([]byte, binary.MaxVarintLen64), MaxRecordSize)

// keepBuffer is the largest scratch buffer the Reader and Writer keep
// between records; a bigger one, left by a rare huge record, is dropped.
const keepBuffer = 1 << 20

// crcSize is the size of the checksum that follows each payload.
const crcSize = 4

// castagnoli is the CRC-32C table; crc32 uses the SSE4.2/ARMv8 instructions
// for it where the CPU has them.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of a record's payload.
func checksum(payload []byte) uint32 { return crc32.Checksum(payload, castagnoli) }
