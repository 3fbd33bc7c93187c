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
	again := s.Allocate(5*pageBytes, 64*pageBytes).Reallocate(5 * pageBytes)
	if unsafe.SliceData(again) != unsafe.SliceData(grown) {
		t.Fatal("the freed slot was not reused")
	}
	if !bytes.Equal(again, make([]byte, len(again))) {
		t.Fatal("a reused slot is not zero")
	}
}
