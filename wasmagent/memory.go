package wasmagent

import (
	"math/bits"
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// Sizes of the slots linear memories live in.
const (
	// minSlot is the smallest slot: a C agent's 64 KiB stack, its data and
	// the block the host writes into fit, and eight slots share a 2 MiB
	// page table.
	minSlot = 256 << 10
	// chunkBytes is the size of one mapping that slots of a size are cut
	// from (one slot if a slot is larger): few mappings (Linux lets a
	// process hold about 65 000), none of them huge.
	chunkBytes = 1 << 30
	pageBytes  = 65536
)

// slabs hands out agents' linear memories from large anonymous mappings:
// a memory lives in a slot, a power of two of at least minSlot bytes, and
// grows in place up to its slot's size, then moves to a slot twice as
// large. Pages the agent never touched take no memory (the operating
// system maps them on first write), and agents spawned one after the other
// lie side by side, so that a tick touching every agent's memory walks few
// page tables. A freed slot is given back to the operating system (its
// pages zeroed and released) and reused. See RATIONALE.md: "Why reserve
// linear memory outside the Go heap?".
type slabs struct {
	limit uint64 // the largest memory: the runtime's page limit
	mu    sync.Mutex
	// classes are the slots of each size, minSlot << i.
	classes []slabClass
	chunks  [][]byte // every mapping, released by close
}

// slabClass holds the free slots of one size.
type slabClass struct {
	free  [][]byte // slots ready for reuse, all zero
	spare []byte   // the part of the newest mapping not handed out yet
}

// newSlabs returns the allocator of a runtime whose memories have at most
// maxPages pages, or nil where memory cannot be mapped or address space is
// short (then wazero keeps memories on the Go heap, as it does by
// default).
func newSlabs(maxPages uint32) *slabs {
	if !canMap || bits.UintSize < 64 { // 32 bits: no address space to reserve
		return nil
	}
	limit := uint64(maxPages) * pageBytes
	return &slabs{limit: limit, classes: make([]slabClass, class(limit)+1)}
}

// class is the index of the smallest slot size that holds n bytes.
func class(n uint64) int {
	if n <= minSlot {
		return 0
	}
	return bits.Len64((n - 1) / minSlot) // minSlot << class ≥ n
}

// get returns a zero slot of at least n bytes, its length its size, or nil
// if no memory can be mapped.
func (s *slabs) get(n uint64) []byte {
	c := class(n)
	size := uint64(minSlot) << c
	s.mu.Lock()
	defer s.mu.Unlock()
	cl := &s.classes[c]
	if k := len(cl.free); k > 0 {
		b := cl.free[k-1]
		cl.free = cl.free[:k-1]
		return b
	}
	if uint64(len(cl.spare)) < size {
		chunk, err := mapMemory(max(chunkBytes, size))
		if err != nil {
			return nil
		}
		s.chunks = append(s.chunks, chunk)
		cl.spare = chunk
	}
	b := cl.spare[:size:size]
	cl.spare = cl.spare[size:]
	return b
}

// put takes back slot b, of which the first used bytes may not be zero.
func (s *slabs) put(b []byte, used uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chunks == nil {
		return // closed: the mappings are gone
	}
	if used > 0 && releaseMemory(b[:used]) != nil {
		clear(b[:used]) // still zero for its next user
	}
	cl := &s.classes[class(uint64(len(b)))]
	cl.free = append(cl.free, b)
}

// Allocate implements experimental.MemoryAllocator. wazero asks for the
// memory's initial size as capacity; the slot is the smallest that holds
// it.
func (s *slabs) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	m := &slotMemory{s: s, limit: min(maxBytes, s.limit)}
	if m.slot = s.get(capacity); m.slot == nil { // mapping failed
		m.slot, m.onHeap = make([]byte, capacity), true
	}
	return m
}

// close releases every mapping: call it only once no instance of the
// runtime is left.
func (s *slabs) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.chunks {
		unmapMemory(c)
	}
	s.chunks = nil
	clear(s.classes)
}

// slotMemory is one linear memory: in a slot, or on the Go heap if no slot
// could be mapped (a memory must not fail to grow for a reason of the
// host's: the guest would see it).
type slotMemory struct {
	s      *slabs
	limit  uint64 // the most it may grow to
	slot   []byte
	used   uint64 // the largest length it had in this slot: what put clears
	onHeap bool
}

// Reallocate implements experimental.LinearMemory: the memory's length
// changes in place, or it moves to a larger slot.
func (m *slotMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		return nil
	}
	if size > uint64(len(m.slot)) {
		b, onHeap := m.s.get(size), false
		if b == nil {
			b, onHeap = make([]byte, size), true
		}
		copy(b, m.slot[:m.used])
		m.release()
		m.slot, m.onHeap = b, onHeap
	}
	m.used = max(m.used, size)
	return m.slot[:size:size]
}

// Free implements experimental.LinearMemory: the slot's pages go back to
// the operating system, zero, and the slot to its free list.
func (m *slotMemory) Free() {
	m.release()
	m.slot = nil
}

func (m *slotMemory) release() {
	if m.slot != nil && !m.onHeap {
		m.s.put(m.slot, m.used)
	}
	m.used = 0
}
