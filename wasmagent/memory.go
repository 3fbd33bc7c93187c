package wasmagent

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

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
	// fileMinBytes is the least data a module's memory file
	// (memoryFile) is made for: below it copying the data at a spawn
	// costs about what mapping it does.
	fileMinBytes = 128 << 10
	// maxFileSlots bounds the slots a memory file is mapped over at once:
	// each splits its mapping in up to three, and Linux lets a process
	// hold about 65 000 (vm.max_map_count). Spawns past it copy.
	maxFileSlots = 16384
	// maxDirtyBytes bounds the memory freed slots hold before their pages
	// go back to the operating system, together (slabs.dirty).
	maxDirtyBytes = 64 << 20
)

// fileSlots counts the slots a memory file is mapped over, in every
// runtime of the process: the limit on mappings (maxFileSlots) is the
// process's.
var fileSlots atomic.Int64

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
	// files are the modules' memory files, closed by close; filed counts
	// the slots one is mapped over in this runtime, at most maxFiled
	// (fileSlots counts them in every runtime, at most maxFileSlots).
	files           []*memoryFile
	filed, maxFiled int
	// dirty are freed slots whose pages have not gone back to the
	// operating system yet, and dirtyBytes what they may hold: put gives
	// them back all at once when that reaches maxDirtyBytes, get before
	// it maps anything new, close with the mappings. Side by side slots
	// then go back in one call (a 100 000-agent host took 1.2 s of
	// madvise calls, one per slot, to close).
	dirty      []dirtySlot
	dirtyBytes uint64
	closed     bool
}

// dirtySlot is a freed slot whose first used bytes may not be zero.
type dirtySlot struct {
	b    []byte
	used uint64
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
	return &slabs{limit: limit, classes: make([]slabClass, class(limit)+1), maxFiled: maxFileSlots}
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
	if s.closed {
		return nil
	}
	cl := &s.classes[c]
	if len(cl.free) == 0 && uint64(len(cl.spare)) < size {
		s.release() // perhaps a slot of this size is dirty
	}
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

// put takes back slot b, of which the first used bytes may not be zero,
// and the first filed bytes are a memory file's (mapFile).
func (s *slabs) put(b []byte, used, filed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return // the mappings are gone
	}
	if filed > 0 {
		if unmapFile(b[:filed]) != nil {
			return // its start is still the file's: not zero, so not reused, and still counted
		}
		s.filed--
		fileSlots.Add(-1)
	}
	if used <= filed { // nothing written outside the file's part
		s.free(b)
		return
	}
	s.dirty = append(s.dirty, dirtySlot{b, used})
	if s.dirtyBytes += used; s.dirtyBytes >= maxDirtyBytes {
		s.release()
	}
}

// free puts zero slot b on its size's free list.
func (s *slabs) free(b []byte) {
	cl := &s.classes[class(uint64(len(b)))]
	cl.free = append(cl.free, b)
}

// release gives the pages of the dirty slots back to the operating system
// and frees the slots: one call for each run of slots side by side in
// memory (their unused ends, never written, cost nothing to include).
func (s *slabs) release() {
	d := s.dirty
	slices.SortFunc(d, func(a, b dirtySlot) int { return cmp.Compare(start(a.b), start(b.b)) })
	for i := 0; i < len(d); {
		j := i + 1
		for j < len(d) && start(d[j-1].b)+uintptr(len(d[j-1].b)) == start(d[j].b) {
			j++
		}
		run := unsafe.Slice(unsafe.SliceData(d[i].b), start(d[j-1].b)-start(d[i].b)+uintptr(d[j-1].used))
		err := releaseMemory(run)
		for _, ds := range d[i:j] {
			if err != nil {
				clear(ds.b[:ds.used]) // still zero for its next user
			}
			s.free(ds.b)
		}
		i = j
	}
	clear(d) // the slots are free: hold none of them here
	s.dirty, s.dirtyBytes = d[:0], 0
}

// start is the address of b's first byte.
func start(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

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

// allocation is the experimental.MemoryAllocator of one instantiation: it
// allocates from s and keeps the memory, which instantiate may map the
// module's memory file over.
type allocation struct {
	s *slabs
	// min is the least slot it asks for: the file's size, so that the
	// file fits whatever the memory's initial size.
	min uint64
	mem *slotMemory
}

// Allocate implements experimental.MemoryAllocator.
func (a *allocation) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	a.mem = a.s.Allocate(max(capacity, min(a.min, maxBytes)), maxBytes).(*slotMemory)
	return a.mem
}

// file returns the memory file of runs for module name, nil if there is
// none: too little data to be worth one (fileMinBytes), or no memory
// files on this system.
func (s *slabs) file(name string, runs []MemoryRun) *memoryFile {
	n := 0
	for _, r := range runs {
		n += len(r.Data)
	}
	if n < fileMinBytes {
		return nil
	}
	// A guest reading a hole of the file fills it, once for all agents:
	// the file must be mostly data, or a module could make a few bytes
	// cost its whole memory limit.
	if last := runs[len(runs)-1]; 2*n < int(last.Offset)+len(last.Data) {
		return nil
	}
	mf, err := newMemoryFile(name, runs)
	if err != nil {
		return nil // instances copy the data instead
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		mf.close()
		return nil
	}
	s.files = append(s.files, mf)
	return mf
}

// close releases every mapping and memory file: call it only once no
// instance of the runtime is left.
func (s *slabs) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.chunks {
		unmapMemory(c)
	}
	for _, f := range s.files {
		f.close()
	}
	fileSlots.Add(-int64(s.filed)) // their mappings are gone too
	s.chunks, s.files, s.dirty, s.filed, s.closed = nil, nil, nil, 0, true
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
	filed  uint64 // the bytes at the slot's start a memory file is mapped over
	onHeap bool
	// lost says the slot cannot be used again: mapFile failed to put its
	// memory back.
	lost bool
}

// mapFile maps mf over the start of the memory, which must be fresh (zero
// past mf's end, and unused: its caller writes it in full if the mapping
// fails), and reports whether it did: not when mf is nil, the memory is on
// the Go heap or smaller than mf, maxFiled slots of its runtime or
// maxFileSlots of the process have a file already, or the system refuses.
// The memory then reads as mf's bytes and zero, as if they had been copied
// in. The error says the memory is unusable: the system refused, and
// failed to map zero memory back over what its refusal may have unmapped
// (a MAP_FIXED can remove the old mapping before it fails).
func (m *slotMemory) mapFile(mf *memoryFile) (bool, error) {
	if mf == nil || m.onHeap || mf.size > uint64(len(m.slot)) {
		return false, nil
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.filed >= s.maxFiled || s.closed {
		return false, nil
	}
	if fileSlots.Add(1) > maxFileSlots {
		fileSlots.Add(-1)
		return false, nil
	}
	if mapErr := mapFile(m.slot, mf); mapErr != nil {
		fileSlots.Add(-1)
		if backErr := unmapFile(m.slot[:mf.size]); backErr != nil {
			m.lost = true
			return false, fmt.Errorf("mapping the module's memory file over a new memory: %w; then mapping zero memory back: %v (the system is out of memory or mappings: see vm.max_map_count and vm.overcommit_memory)", mapErr, backErr)
		}
		return false, nil
	}
	s.filed++
	m.filed = mf.size
	return true, nil
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
	if m.slot != nil && !m.onHeap && !m.lost {
		m.s.put(m.slot, m.used, m.filed)
	}
	m.used, m.filed = 0, 0
}
