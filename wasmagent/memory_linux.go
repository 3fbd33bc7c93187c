package wasmagent

import "syscall"

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
