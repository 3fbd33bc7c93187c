package wasmagent

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
)

// resident counts the pages of b that are in memory.
func resident(t *testing.T, b []byte) int {
	t.Helper()
	vec := make([]byte, (len(b)+os.Getpagesize()-1)/os.Getpagesize())
	// The x/sys/unix this module uses has no Mincore.
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestReleaseTogether frees written memories: their slots wait, dirty and
// resident, until release gives their pages back (none resident after,
// every byte zero) and frees them; put releases once the dirty slots may
// hold maxDirtyBytes, and get before it maps a new chunk.
func TestReleaseTogether(t *testing.T) {
	s := newSlabs(64)
	defer s.close()
	mems := make([]experimental.LinearMemory, 5)
	slots := make([][]byte, len(mems))
	for i := range mems {
		mems[i] = s.Allocate(2*pageBytes, 64*pageBytes)
		b := mems[i].Reallocate(2 * pageBytes)
		b[0], b[pageBytes], b[len(b)-1] = 1, 2, 3
		slots[i] = b
	}
	for _, i := range []int{3, 0, 4, 1, 2} { // not in address order
		mems[i].Free()
	}
	if len(s.dirty) != len(mems) || len(s.classes[0].free) != 0 {
		t.Fatalf("%d dirty and %d free slots after freeing %d, want all dirty", len(s.dirty), len(s.classes[0].free), len(mems))
	}
	for _, b := range slots {
		if resident(t, b) == 0 {
			t.Fatal("a dirty slot's pages went back before release")
		}
	}
	s.mu.Lock()
	s.release()
	s.mu.Unlock()
	for i, b := range slots {
		if n := resident(t, b); n != 0 {
			t.Errorf("slot %d: %d pages still resident after release", i, n)
		}
		if slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
			t.Errorf("slot %d is not zero after release", i)
		}
	}
	if len(s.dirty) != 0 || len(s.classes[0].free) != len(mems) {
		t.Fatalf("%d dirty and %d free slots after release, want all free", len(s.dirty), len(s.classes[0].free))
	}

	// put releases at maxDirtyBytes.
	n := maxDirtyBytes / (2 * pageBytes)
	many := make([]experimental.LinearMemory, n)
	for i := range many {
		many[i] = s.Allocate(2*pageBytes, 64*pageBytes)
		many[i].Reallocate(2 * pageBytes)[0] = 1
	}
	for i, m := range many {
		m.Free()
		if want := (i + 1) % n; len(s.dirty) != want {
			t.Fatalf("%d dirty slots after freeing %d of %d, want %d", len(s.dirty), i+1, n, want)
		}
	}

	// get releases before it maps a new chunk.
	m := s.Allocate(2*pageBytes, 64*pageBytes)
	b := m.Reallocate(2 * pageBytes)
	b[0] = 1
	s.classes[0].free = nil
	s.classes[0].spare = nil // as if the chunk were used up
	m.Free()
	chunks := len(s.chunks)
	again := s.Allocate(2*pageBytes, 64*pageBytes).Reallocate(2 * pageBytes)
	if len(s.chunks) != chunks || unsafe.SliceData(again) != unsafe.SliceData(b) || again[0] != 0 {
		t.Fatalf("get mapped %d new chunks, reused the dirty slot: %v, its first byte %d; want it released and reused",
			len(s.chunks)-chunks, unsafe.SliceData(again) == unsafe.SliceData(b), again[0])
	}
}

// TestMapFileRefused: when the system refuses to map a memory file, the
// memory is not mapped, stays usable and zero, and counts against no
// limit.
func TestMapFileRefused(t *testing.T) {
	s := newSlabs(64)
	defer s.close()
	m := s.Allocate(4*pageBytes, 64*pageBytes).(*slotMemory)
	b := m.Reallocate(4 * pageBytes)
	before := fileSlots.Load()
	ok, err := m.mapFile(&memoryFile{fd: -1, size: 4 * pageBytes}) // EBADF
	if ok || err != nil {
		t.Fatalf("mapFile with a bad descriptor: %v, %v; want refused without error", ok, err)
	}
	if s.filed != 0 || fileSlots.Load() != before || m.filed != 0 {
		t.Errorf("a refused mapping counts: runtime %d, process %d more, memory %d bytes", s.filed, fileSlots.Load()-before, m.filed)
	}
	b[len(b)-1] = 1 // still mapped, writable
	if slices.ContainsFunc(b[:len(b)-1], func(c byte) bool { return c != 0 }) {
		t.Error("the memory is not zero after a refused mapping")
	}
	m.Free()
}
