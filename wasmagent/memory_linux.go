package wasmagent

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const canMap = true

// mapMemory reserves n bytes of zero memory, read-write, that take no
// memory until written (MAP_NORESERVE: nor are they counted against the
// machine's memory before).
func mapMemory(n uint64) ([]byte, error) {
	return syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
}

func unmapMemory(b []byte) { _ = syscall.Munmap(b) }

// releaseMemory gives b's pages back to the operating system: they read as
// zero afterwards.
func releaseMemory(b []byte) error { return syscall.Madvise(b, syscall.MADV_DONTNEED) }

// memoryFile is the start of a module's linear memory, as its data
// segments leave it, in a sealed memory file (memfd) that slots map
// copy-on-write: the pages an agent only reads are shared by every agent
// of the module, and a spawn copies nothing. See RATIONALE.md: "Why map a
// large module's data copy-on-write?".
type memoryFile struct {
	f    *os.File
	fd   int
	size uint64 // a multiple of the host's page size
}

// newMemoryFile makes the memory file of runs, which must not be empty,
// named after module name (the name shows in /proc/PID/maps).
func newMemoryFile(name string, runs []MemoryRun) (*memoryFile, error) {
	fd, err := unix.MemfdCreate("lockstep:"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "lockstep:"+name)
	last := runs[len(runs)-1]
	page := uint64(os.Getpagesize())
	mf := &memoryFile{f: f, fd: fd, size: (uint64(last.Offset) + uint64(len(last.Data)) + page - 1) / page * page}
	err = f.Truncate(int64(mf.size))
	for _, r := range runs {
		if err == nil {
			_, err = f.WriteAt(r.Data, int64(r.Offset))
		}
	}
	if err == nil {
		// Nothing can change it from now on: guests write to their own
		// copies of its pages.
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return mf, nil
}

func (mf *memoryFile) close() { mf.f.Close() }

// mapFile maps mf over the start of b, private: writes go to copies of its
// pages.
func mapFile(b []byte, mf *memoryFile) error {
	_, err := unix.MmapPtr(mf.fd, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(mf.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	return err
}

// unmapFile puts zero memory, as mapMemory reserves it, back over b, which
// mapFile mapped a file over.
func unmapFile(b []byte) error {
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED|unix.MAP_NORESERVE)
	return err
}
