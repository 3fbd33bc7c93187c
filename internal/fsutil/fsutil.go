// Package fsutil reads the files a run is made of (topologies, modules,
// models) as untrusted input: only regular files, only up to a size cap,
// checked before anything is read.
package fsutil

import (
	"fmt"
	"io"
	"os"
)

// ReadRegular reads the regular file at path, of at most limit bytes. A
// device (/dev/zero), FIFO, socket or directory is refused before it is
// read, and so is a larger file; what names the file in errors ("module
// \"counter\"", "topology").
func ReadRegular(path, what string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s is not a regular file (%s); give the path of a file", what, path, describe(st.Mode()))
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %s has %d bytes, over the limit of %d", what, path, st.Size(), limit)
	}
	// The file may grow after Stat: read at most one byte past the limit.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", what, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %s grew past the limit of %d bytes while it was read", what, path, limit)
	}
	return data, nil
}

func describe(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}
