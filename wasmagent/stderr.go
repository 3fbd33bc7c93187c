package wasmagent

import (
	"bytes"
	"fmt"
	"strings"
)

// stderrKeep is how much of a call's stderr guestStderr keeps: Go's runtime
// writes its "fatal error: " line within its first few hundred bytes, then
// a goroutine dump of tens of KiB.
const stderrKeep = 2048

// goFatal starts the line Go's runtime writes to stderr before it aborts
// (with a wasm unreachable: c-shared modules crash rather than exit).
const goFatal = "fatal error: "

// guestStderr is a WASI guest's fd 2: it keeps the first stderrKeep bytes
// written since the last reset (the start of a call) and drops the rest.
// Nothing of it is logged or recorded: a guest could flood it, and it only
// explains a trap (see abort).
type guestStderr struct{ buf []byte }

// Write keeps what fits of p.
func (s *guestStderr) Write(p []byte) (int, error) {
	if room := stderrKeep - len(s.buf); room > 0 {
		s.buf = append(s.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (s *guestStderr) reset() { s.buf = s.buf[:0] }

// abort is the reason Go's runtime gave on stderr for the trap that ended
// the call, "" if it gave none. An out-of-memory abort names the module's
// memory limit of maxPages pages and the fix. The line (quoted, so any
// bytes are valid text) is as deterministic as the run: the reason, which
// enters the tick's digest, is the same on every engine and replay.
func (s *guestStderr) abort(maxPages uint32) string {
	rest := s.buf
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		if !bytes.HasPrefix(line, []byte(goFatal)) {
			continue
		}
		fatal := string(line)
		if strings.Contains(fatal, "out of memory") || strings.Contains(fatal, "cannot allocate memory") {
			return fmt.Sprintf("the Go runtime ran out of memory (%q): it needs more than max_pages=%d (%s) of the module; raise the module's max_pages "+
				"(Go's runtime takes some 3 MiB before the agent allocates anything, and its garbage collector first runs at a 4 MiB heap: give a Go agent 128 pages or more)",
				fatal, maxPages, pagesSize(maxPages))
		}
		return fmt.Sprintf("the Go runtime aborted (%q)", fatal)
	}
	return ""
}

// pagesSize is the size of n 64 KiB pages, in MiB when it is whole MiB.
func pagesSize(n uint32) string {
	if n%16 == 0 {
		return fmt.Sprintf("%d MiB", n/16)
	}
	return fmt.Sprintf("%d KiB", uint64(n)*64)
}
