package wasmagent

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestSlabs grows a memory past its slot (it moves, its bytes with it),
// past its limit (refused), frees it and takes its slot again: zero.
func TestSlabs(t *testing.T) {
	s := newSlabs(64) // 4 MiB
	if s == nil {
		t.Skip("no memory mapping on this platform")
	}
	defer s.close()
	m := s.Allocate(2*pageBytes, 64*pageBytes)
	b := m.Reallocate(2 * pageBytes)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	want := bytes.Clone(b)
	grown := m.Reallocate(5 * pageBytes) // over the 256 KiB slot: a 512 KiB one
	switch {
	case len(grown) != 5*pageBytes:
		t.Fatalf("grown to %d bytes, want %d", len(grown), 5*pageBytes)
	case !bytes.Equal(grown[:len(want)], want):
		t.Fatal("growing past the slot lost the memory's bytes")
	case !bytes.Equal(grown[len(want):], make([]byte, len(grown)-len(want))):
		t.Fatal("the grown part is not zero")
	}
	if got := m.Reallocate(65 * pageBytes); got != nil {
		t.Fatalf("grew to %d bytes, past the 64-page limit", len(got))
	}
	m.Free()
	s.mu.Lock()
	s.release() // as get does once it would map more
	s.mu.Unlock()
	again := s.Allocate(5*pageBytes, 64*pageBytes).Reallocate(5 * pageBytes)
	if unsafe.SliceData(again) != unsafe.SliceData(grown) {
		t.Fatal("the freed slot was not reused")
	}
	if !bytes.Equal(again, make([]byte, len(again))) {
		t.Fatal("a reused slot is not zero")
	}
}

// fileRuns is data for a memory file: two runs, 200 KiB in all.
func fileRuns() []MemoryRun {
	a, b := make([]byte, 136<<10), make([]byte, 64<<10)
	for i := range a {
		a[i] = byte(i*13 + 5)
	}
	for i := range b {
		b[i] = byte(i*3 + 1)
	}
	return []MemoryRun{{Offset: 4096, Data: a}, {Offset: 3 * pageBytes, Data: b}}
}

// wantFiled is what a memory of n bytes holds with runs mapped or copied.
func wantFiled(runs []MemoryRun, n int) []byte {
	want := make([]byte, n)
	for _, r := range runs {
		copy(want[r.Offset:], r.Data)
	}
	return want
}

// TestMemoryFile maps a memory file over fresh memories: they read its
// bytes then zero; writes stay in the memory that made them; a memory
// grown past its slot keeps its bytes; a freed slot is zero again when
// reused, its file part included, and so is one written past the file;
// past maxFiled slots of the runtime or maxFileSlots of the process, and on
// the heap, memories are refused (their instances copy).
func TestMemoryFile(t *testing.T) {
	s := newSlabs(64)
	if s == nil {
		t.Skip("no memory mapping on this platform")
	}
	defer s.close()
	runs := fileRuns()
	mf := s.file("test", runs)
	if mf == nil {
		t.Skip("no memory files on this system")
	}
	if small := s.file("small", []MemoryRun{{Offset: 0, Data: make([]byte, fileMinBytes-1)}}); small != nil {
		t.Errorf("a file for %d bytes of data, under fileMinBytes", fileMinBytes-1)
	}
	// Mostly holes, which a guest's reads would fill: refused.
	sparse := []MemoryRun{runs[0], {Offset: 64 * pageBytes, Data: make([]byte, 4096)}}
	sparse[1].Data[0] = 1
	if f := s.file("sparse", sparse); f != nil {
		t.Errorf("a file of %d bytes for %d of data", f.size, len(sparse[0].Data)+len(sparse[1].Data))
	}
	mapped := func(m *slotMemory) bool {
		t.Helper()
		ok, err := m.mapFile(mf)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	s.maxFiled = 2
	mems := make([]*slotMemory, 3)
	for i := range mems {
		mems[i] = s.Allocate(4*pageBytes, 64*pageBytes).(*slotMemory)
		mems[i].Reallocate(4 * pageBytes)
		if got, want := mapped(mems[i]), i < 2; got != want {
			t.Fatalf("memory %d: mapped %v, want %v (at most %d)", i, got, want, s.maxFiled)
		}
	}
	want := wantFiled(runs, 4*pageBytes)
	a := mems[0].Reallocate(4 * pageBytes)
	if !bytes.Equal(a, want) {
		t.Fatal("a mapped memory does not read as the file's bytes then zero")
	}
	a[5000], a[4*pageBytes-1] = 0xee, 0xee // in the file's part, and past it
	if b := mems[1].Reallocate(4 * pageBytes); !bytes.Equal(b, want) {
		t.Fatal("a write to one mapped memory shows in another")
	}
	want[5000], want[4*pageBytes-1] = 0xee, 0xee
	grown := mems[0].Reallocate(9 * pageBytes) // past the 256 KiB slot
	if !bytes.Equal(grown[:4*pageBytes], want) || !bytes.Equal(grown[4*pageBytes:], make([]byte, 5*pageBytes)) {
		t.Fatal("growing a mapped memory past its slot lost or added bytes")
	}
	if !mapped(mems[2]) { // the move gave its file slot back
		t.Fatal("a slot freed by a move still counts against maxFiled")
	}
	for _, m := range mems[1:] {
		m.Free()
	}
	for range 2 {
		again := s.Allocate(4*pageBytes, 64*pageBytes).Reallocate(4 * pageBytes)
		if !bytes.Equal(again, make([]byte, len(again))) {
			t.Fatal("a reused slot that had the file mapped is not zero")
		}
	}
	if heap := (&slotMemory{s: s, slot: make([]byte, 4*pageBytes), onHeap: true}); mapped(heap) {
		t.Error("mapped a file over a memory on the Go heap")
	}
	mems[0].Free()
	if s.filed != 0 {
		t.Errorf("%d slots still count as mapped after every memory was freed", s.filed)
	}

	// A memory larger than the file, written past it: its slot waits dirty
	// and comes back zero.
	big := s.Allocate(8*pageBytes, 64*pageBytes).(*slotMemory)
	b := big.Reallocate(8 * pageBytes)
	if !mapped(big) {
		t.Fatal("no file over an 8-page memory")
	}
	b[5000], b[6*pageBytes] = 1, 1
	big.Free()
	s.mu.Lock()
	dirty := len(s.dirty)
	s.release()
	s.mu.Unlock()
	again := s.Allocate(8*pageBytes, 64*pageBytes).Reallocate(8 * pageBytes)
	if dirty != 1 || unsafe.SliceData(again) != unsafe.SliceData(b) || !bytes.Equal(again, make([]byte, len(again))) {
		t.Fatalf("a slot written past its file: %d dirty on free (want 1), reused %v, zero %v",
			dirty, unsafe.SliceData(again) == unsafe.SliceData(b), bytes.Equal(again, make([]byte, len(again))))
	}

	// The process's limit holds across runtimes.
	s.maxFiled = maxFileSlots
	taken := maxFileSlots - fileSlots.Load()
	fileSlots.Add(taken)
	defer fileSlots.Add(-taken)
	other := s.Allocate(4*pageBytes, 64*pageBytes).(*slotMemory)
	defer other.Free()
	if mapped(other) {
		t.Error("mapped a file past the process's maxFileSlots")
	}
}
