package wasmagent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"unsafe"

	"github.com/tetratelabs/wazero/api"

	"github.com/lockstep-rt/lockstep/wasmagent/meter"
)

// SnapshotVersion is the version of the snapshot format Snapshot writes and
// Restore and DecodeSnapshot read.
//
// # Format, version 1
//
// Every integer is little-endian. In order:
//
//	magic       4 bytes "LSWS"
//	version     u32, 1
//	digest      32 bytes: the SHA-256 of the module as loaded (Module.Digest)
//	pages       u32: linear memory size in 64 KiB pages (at most 65 536)
//	clock reads u64: reads of the WASI monotonic clock so far
//	got         u32: messages received since the last step (0 between ticks)
//	scratch     u32, u32: address and size of the last agent_alloc block
//	            the host writes contexts and messages into (within memory)
//	spent       u64: fuel spent of the tick's budget (0 between ticks)
//	used        u64: fuel used since the last TakeFuel (0 between ticks)
//	init left   u64: what is left of the instantiation budget
//	globals     u32 count G, then G entries of 13 bytes, by ascending index:
//	            u32 index in the module's global index space, u8 value type
//	            (0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64), u64 raw bits (i32
//	            and f32 in the low 32 bits, the rest zero): every mutable
//	            global the module defines, the rewrite's fuel and depth
//	            globals excepted (the host sets the fuel before every call,
//	            and the depth back to 0 after a trap)
//	random      u8 length R (at most 64), then R bytes: the WASI random
//	            source, math/rand/v2's ChaCha8 MarshalBinary
//	memory      u32 count N of runs, then N runs in ascending address
//	            order, not overlapping: u32 first 4 KiB block, u32 number of
//	            blocks B (≥ 1, within the pages), B × 4096 bytes. Memory
//	            outside the runs is zero; Snapshot writes maximal runs of
//	            the blocks that are not all zero
//	checksum    u32: CRC-32C (Castagnoli) of every byte before it
//
// Nothing follows the checksum. The same instance state gives the same
// bytes.
const SnapshotVersion = 1

// Sizes of the format.
const (
	snapMagic       = "LSWS"
	snapBlock       = 4096                                       // memory is encoded in blocks of this size
	snapHeader      = 4 + 4 + 32 + 4 + 8 + 4 + 4 + 4 + 8 + 8 + 8 // up to the globals' count
	snapGlobalEntry = 4 + 1 + 8
	snapMaxRandom   = 64 // ChaCha8's MarshalBinary: at most 64 bytes
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zeroBlock is a block of zeros to compare memory with.
var zeroBlock [snapBlock]byte

// SnapshotContents is a decoded snapshot: what a tool needs to show an
// agent's state without instantiating its module (a dump of its memory
// and globals). See SnapshotVersion for the format.
type SnapshotContents struct {
	Version uint32
	// Digest is the SHA-256 of the module the snapshot is of.
	Digest [32]byte
	// Pages is the linear memory's size in 64 KiB pages.
	Pages uint32
	// Globals are the module's mutable globals, by ascending index.
	Globals []SnapshotGlobal
	// Memory holds the parts of linear memory that are not all zero, by
	// ascending offset; the rest is zero. Their Data are views of the
	// decoded bytes.
	Memory []MemoryRun

	// The instance's state besides memory and globals (see
	// SnapshotVersion).
	clockReads                uint64
	random                    []byte
	got, scratch, scratchLen  uint32
	spent, used, initFuelLeft uint64
}

// SnapshotGlobal is one mutable global in a snapshot.
type SnapshotGlobal struct {
	// Index is its index in the module's global index space.
	Index uint32
	// Type is api.ValueTypeI32, I64, F32 or F64.
	Type api.ValueType
	// Bits is its value as wazero's api.Global gives it: i32 and f32 in
	// the low 32 bits.
	Bits uint64
}

// MemoryRun is a part of linear memory.
type MemoryRun struct {
	Offset uint32 // bytes from the start of memory
	Data   []byte
}

// MemorySize is the size of linear memory in bytes.
func (s *SnapshotContents) MemorySize() uint64 { return uint64(s.Pages) * 65536 }

// WriteMemory writes the whole linear memory, MemorySize bytes, zeros
// included, to w: for a dump.
func (s *SnapshotContents) WriteMemory(w io.Writer) (int64, error) {
	var n int64
	zeros := func(k uint64) error {
		for k > 0 {
			c := min(k, snapBlock)
			m, err := w.Write(zeroBlock[:c])
			n += int64(m)
			if err != nil {
				return err
			}
			k -= c
		}
		return nil
	}
	var at uint64
	for _, r := range s.Memory {
		if err := zeros(uint64(r.Offset) - at); err != nil {
			return n, err
		}
		m, err := w.Write(r.Data)
		n += int64(m)
		if err != nil {
			return n, err
		}
		at = uint64(r.Offset) + uint64(len(r.Data))
	}
	return n, zeros(s.MemorySize() - at)
}

// snapReader reads the fields of a snapshot; the first error sticks.
type snapReader struct {
	b   []byte
	off int
	err error
}

func (r *snapReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

// bytes returns the next n bytes of the field what, a view.
func (r *snapReader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail("%s needs %d bytes, %d are left (truncated?)", what, n, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *snapReader) u8(what string) uint8 {
	if b := r.bytes(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *snapReader) u32(what string) uint32 {
	if b := r.bytes(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *snapReader) u64(what string) uint64 {
	if b := r.bytes(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// count reads a count of entries of at least size bytes each, and checks
// they can be there: a damaged count cannot make a large allocation.
func (r *snapReader) count(what string, size int) uint32 {
	n := r.u32(what + " count")
	if r.err == nil && uint64(n)*uint64(size) > uint64(len(r.b)-r.off) {
		r.off -= 4
		r.fail("%d %s of at least %d bytes each do not fit in the %d bytes left (damaged?)", n, what, size, len(r.b)-r.off-4)
		return 0
	}
	return n
}

// DecodeSnapshot decodes and checks a snapshot (see SnapshotVersion)
// without instantiating anything: it allocates only for the globals and
// memory runs the bytes hold. The contents' memory views b.
func DecodeSnapshot(b []byte) (*SnapshotContents, error) {
	s, err := decodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("wasmagent: snapshot of %d bytes: %w", len(b), err)
	}
	return s, nil
}

func decodeSnapshot(b []byte) (*SnapshotContents, error) {
	if len(b) < 8 || string(b[:4]) != snapMagic {
		return nil, errors.New("not a WebAssembly agent snapshot (it does not start with \"LSWS\")")
	}
	s := &SnapshotContents{Version: binary.LittleEndian.Uint32(b[4:])}
	if s.Version != SnapshotVersion {
		return nil, fmt.Errorf("format version %d; this build reads version %d", s.Version, SnapshotVersion)
	}
	if len(b) < snapHeader+4+1+4+4 {
		return nil, fmt.Errorf("truncated: %d bytes are fewer than the %d of an empty snapshot", len(b), snapHeader+4+1+4+4)
	}
	body := b[:len(b)-4]
	if sum, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(body):]); sum != want {
		return nil, fmt.Errorf("checksum mismatch (CRC-32C %08x, the snapshot says %08x): the snapshot is damaged or truncated", sum, want)
	}
	r := &snapReader{b: body, off: 8}
	copy(s.Digest[:], r.bytes(32, "digest"))
	s.Pages = r.u32("pages")
	if s.Pages > MaxPagesLimit {
		r.off -= 4
		r.fail("%d pages of memory, over the %d a wasm32 memory can have", s.Pages, MaxPagesLimit)
	}
	memSize := uint64(s.Pages) * 65536
	s.clockReads = r.u64("clock reads")
	s.got = r.u32("messages received")
	s.scratch = r.u32("scratch address")
	s.scratchLen = r.u32("scratch size")
	if r.err == nil && uint64(s.scratch)+uint64(s.scratchLen) > memSize {
		r.off -= 8
		r.fail("the scratch block %#x+%d is outside the %d-byte memory", s.scratch, s.scratchLen, memSize)
	}
	s.spent = r.u64("fuel spent")
	s.used = r.u64("fuel used")
	s.initFuelLeft = r.u64("instantiation fuel left")
	if r.err == nil && (s.spent > MaxFuel || s.initFuelLeft > MaxFuel) {
		r.off -= 24
		r.fail("fuel spent %d or instantiation fuel left %d is over %d", s.spent, s.initFuelLeft, uint64(MaxFuel))
	}
	n := r.count("globals", snapGlobalEntry)
	if n > 0 {
		s.Globals = make([]SnapshotGlobal, n)
	}
	for i := range s.Globals {
		g := &s.Globals[i]
		g.Index = r.u32("global index")
		g.Type = r.u8("global type")
		g.Bits = r.u64("global value")
		switch {
		case r.err != nil:
		case i > 0 && g.Index <= s.Globals[i-1].Index:
			r.off -= snapGlobalEntry
			r.fail("global %d after global %d: globals must be in ascending order", g.Index, s.Globals[i-1].Index)
		case g.Type != api.ValueTypeI32 && g.Type != api.ValueTypeI64 && g.Type != api.ValueTypeF32 && g.Type != api.ValueTypeF64:
			r.off -= 9
			r.fail("global %d has value type %#x, not i32, i64, f32 or f64", g.Index, g.Type)
		case (g.Type == api.ValueTypeI32 || g.Type == api.ValueTypeF32) && g.Bits>>32 != 0:
			r.off -= 8
			r.fail("global %d, a 32-bit %s, has the 64-bit value %#x", g.Index, api.ValueTypeName(g.Type), g.Bits)
		}
	}
	if k := r.u8("random state length"); k > snapMaxRandom {
		r.off--
		r.fail("random state of %d bytes, over %d", k, snapMaxRandom)
	} else {
		s.random = r.bytes(uint64(k), "random state")
	}
	n = r.count("memory runs", 8)
	if n > 0 {
		s.Memory = make([]MemoryRun, 0, n)
	}
	var next uint64 // the first block after the last run
	for range n {
		first := uint64(r.u32("run's first block"))
		blocks := uint64(r.u32("run's blocks"))
		if r.err != nil {
			break
		}
		if blocks == 0 || first < next || (first+blocks)*snapBlock > memSize {
			r.off -= 8
			r.fail("memory run of %d blocks at block %d: runs must be non-empty, ascending, not overlapping, and within the %d blocks of %d pages",
				blocks, first, memSize/snapBlock, s.Pages)
			break
		}
		data := r.bytes(blocks*snapBlock, "memory run")
		if data == nil {
			break
		}
		s.Memory = append(s.Memory, MemoryRun{Offset: uint32(first * snapBlock), Data: data})
		next = first + blocks
	}
	if r.err == nil && r.off != len(body) {
		r.fail("%d bytes after the last memory run", len(body)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// Snapshottable returns nil if the module's agents can be snapshotted and
// restored, else the error their Snapshot and Restore return: for a host
// to tell before it relies on snapshots of them.
func (m *Module) Snapshottable() error { return m.snapErr }

// snapshottable says why the module's instances cannot be snapshotted,
// nil if they can: everything but its memory and mutable globals must be
// what a fresh instance has, and every global must fit api.Global.
func (m *Module) snapshottable(info *meter.Info) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("wasmagent: module %q cannot be snapshotted (no checkpoints, pre-initialised images or state dumps of its agents): %s", m.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case info.TableMutation != "":
		return refuse("its code can change a table (%s), and a snapshot holds only linear memory and globals; "+
			"rebuild it without reference-types table instructions (function pointers alone do not change tables), or run its agents without snapshots", info.TableMutation)
	case info.DataDrop != "":
		return refuse("its code drops a data segment (%s), which a snapshot cannot hold; "+
			"rebuild it without passive data segments (clang: no -mbulk-memory with shared memory), or run its agents without snapshots", info.DataDrop)
	}
	for _, g := range info.MutableGlobals {
		switch g.Type {
		case api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64:
		case 0x7b: // v128 (wazero's api has no constant for it)
			return refuse("global %d is a mutable v128, of which wazero's API reads and writes only 64 bits; "+
				"rebuild it without SIMD globals (clang/Rust: no simd128 target feature), or run its agents without snapshots", g.Index)
		default:
			return refuse("global %d is a mutable reference (type %#x), which cannot be saved; "+
				"rebuild it without mutable funcref or externref globals, or run its agents without snapshots", g.Index, g.Type)
		}
	}
	return nil
}

// Snapshot implements agent.Snapshotter: it captures the instance's linear
// memory, mutable globals, WASI clock and random state and the host's
// state of the instance, in the format of SnapshotVersion. Call it between
// ticks (after TakeFuel), never during a call. It refuses modules whose
// code changes tables, drops data segments or has mutable v128 or
// reference globals, naming the module and the reason.
func (in *instance) Snapshot() ([]byte, error) {
	if err := in.m.snapErr; err != nil {
		return nil, err
	}
	if in.mod.IsClosed() {
		return nil, fmt.Errorf("wasmagent: snapshot of an agent of module %q: its instance is closed (shut down, or exited)", in.m.Name)
	}
	globals, err := in.exportedGlobals()
	if err != nil {
		return nil, err
	}
	var random []byte
	if in.random != nil {
		if random, err = in.random.MarshalBinary(); err != nil || len(random) > snapMaxRandom {
			return nil, fmt.Errorf("wasmagent: snapshot of an agent of module %q: WASI random state (%d bytes): %v", in.m.Name, len(random), err)
		}
	}
	mem, pages := in.memory()
	type run struct{ first, blocks uint32 }
	var runs []run
	// The size of everything but the runs: header, globals, random, runs
	// count, checksum.
	size := snapHeader + 4 + len(globals)*snapGlobalEntry + 1 + len(random) + 4 + 4
	blocks := len(mem) / snapBlock
	for i := 0; i < blocks; {
		if zero(mem[i*snapBlock : (i+1)*snapBlock]) {
			i++
			continue
		}
		j := i + 1
		for j < blocks && !zero(mem[j*snapBlock:(j+1)*snapBlock]) {
			j++
		}
		runs = append(runs, run{uint32(i), uint32(j - i)})
		size += 8 + (j-i)*snapBlock
		i = j
	}
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	b = append(b, snapMagic...)
	b = le.AppendUint32(b, SnapshotVersion)
	b = append(b, in.m.Digest[:]...)
	b = le.AppendUint32(b, pages)
	b = le.AppendUint64(b, uint64(in.reads))
	b = le.AppendUint32(b, in.got)
	b = le.AppendUint32(b, in.scratch)
	b = le.AppendUint32(b, in.scratchLen)
	b = le.AppendUint64(b, in.budget-in.left)
	b = le.AppendUint64(b, in.used)
	b = le.AppendUint64(b, in.initLeft)
	b = le.AppendUint32(b, uint32(len(globals)))
	for i, g := range globals {
		mg := in.m.globals[i]
		b = le.AppendUint32(b, mg.Index)
		b = append(b, mg.Type)
		v := g.Get()
		if mg.Type == api.ValueTypeI32 || mg.Type == api.ValueTypeF32 {
			v = uint64(uint32(v))
		}
		b = le.AppendUint64(b, v)
	}
	b = append(b, byte(len(random)))
	b = append(b, random...)
	b = le.AppendUint32(b, uint32(len(runs)))
	for _, r := range runs {
		b = le.AppendUint32(b, r.first)
		b = le.AppendUint32(b, r.blocks)
		b = append(b, mem[int(r.first)*snapBlock:int(r.first+r.blocks)*snapBlock]...)
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// memory returns a view of the whole linear memory and its size in pages.
// (api.Memory's Size and Read count bytes in a uint32, which a memory of
// 65 536 pages, 4 GiB, overflows; its buffer is one slice all the same.)
func (in *instance) memory() ([]byte, uint32) {
	pages, _ := in.mem.Grow(0)
	n := uint64(pages) * 65536
	if n <= math.MaxUint32 {
		b, _ := in.mem.Read(0, uint32(n))
		return b, pages
	}
	b, _ := in.mem.Read(0, 1)
	return unsafe.Slice(&b[0], n), pages
}

// zero reports whether b is all zeros.
func zero(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }

// exportedGlobals looks up the module's mutable globals, exported by the
// rewrite, in the order of m.globals.
func (in *instance) exportedGlobals() ([]api.MutableGlobal, error) {
	gs := make([]api.MutableGlobal, len(in.m.globals))
	for i, g := range in.m.globals {
		mg, ok := in.mod.ExportedGlobal(g.Export).(api.MutableGlobal)
		if !ok {
			return nil, fmt.Errorf("wasmagent: module %q: the rewrite did not export its mutable global %d as %q", in.m.Name, g.Index, g.Export)
		}
		gs[i] = mg
	}
	return gs, nil
}

// Restore implements agent.Snapshotter: it makes a fresh instance (from
// Module.New with the snapshotted agent's id, seed, fuel and config, Init
// not called) the instance the snapshot was taken of. It checks everything
// before it changes anything: a snapshot of another module, of another
// format version, damaged or truncated, is an error that says so, and the
// instance stays fresh. After it, Receive and Step behave as they would
// have on the snapshotted instance.
func (in *instance) Restore(b []byte) error {
	if err := in.m.snapErr; err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("wasmagent: restoring an agent of module %q from a snapshot: %s", in.m.Name, fmt.Sprintf(format, args...))
	}
	if in.started {
		return fail("the instance is not fresh (Init, Receive, Step or Restore ran on it): restore into a new instance from Module.New")
	}
	if in.mod.IsClosed() {
		return fail("the instance is closed")
	}
	s, err := decodeSnapshot(b)
	if err != nil {
		return fail("%d bytes: %v", len(b), err)
	}
	if s.Digest != in.m.Digest {
		return fail("the snapshot is of another module (sha256 %x), not of this one (sha256 %x)", s.Digest[:8], in.m.Digest[:8])
	}
	if len(s.Globals) != len(in.m.globals) {
		return fail("it holds %d mutable globals, the module has %d", len(s.Globals), len(in.m.globals))
	}
	for i, g := range s.Globals {
		if mg := in.m.globals[i]; g.Index != mg.Index || g.Type != mg.Type {
			return fail("it holds global %d of type %s where the module has global %d of type %s",
				g.Index, api.ValueTypeName(g.Type), mg.Index, api.ValueTypeName(mg.Type))
		}
	}
	globals, err := in.exportedGlobals()
	if err != nil {
		return err
	}
	var random rand.ChaCha8
	switch {
	case in.random == nil && len(s.random) > 0:
		return fail("it holds a WASI random state, and this instance has no random source")
	case in.random != nil && len(s.random) == 0:
		return fail("it holds no WASI random state")
	case in.random != nil:
		if err := random.UnmarshalBinary(s.random); err != nil {
			return fail("its WASI random state: %v", err)
		}
	}
	if err := in.load(s, globals, nil, false); err != nil {
		return fail("%v", err)
	}
	if in.random != nil {
		*in.random = random
	}
	in.started = true
	return nil
}

// load makes the instance's memory, globals and counters the snapshot's
// (not its random source): for Restore and for starting an agent from its
// module's image. globals are the instance's exportedGlobals, in the order
// of s.Globals. fresh, if not nil, are the parts of memory that may not be
// zero (the rest is known to be): without it, load looks at every block.
// filed says the memory is the snapshot's already (a memory file of it is
// mapped): load only grows it. Only growing the memory can fail, and then
// nothing has changed.
func (in *instance) load(s *SnapshotContents, globals []api.MutableGlobal, fresh []MemoryRun, filed bool) error {
	_, have := in.memory()
	if have > s.Pages {
		return fmt.Errorf("the instance has %d pages of memory, more than the snapshot's %d: it is not fresh, or not of the module the snapshot says", have, s.Pages)
	}
	if s.Pages > have {
		if _, ok := in.mem.Grow(s.Pages - have); !ok {
			return fmt.Errorf("cannot grow memory from %d to the snapshot's %d pages: over the page limit (wasm.max_pages, or the module's maximum); restore with the limit the snapshot was taken with", have, s.Pages)
		}
	}
	mem, _ := in.memory()
	switch {
	case filed:
	case fresh != nil:
		for _, r := range fresh {
			clear(mem[r.Offset : int(r.Offset)+len(r.Data)])
		}
		for _, r := range s.Memory {
			copy(mem[r.Offset:], r.Data)
		}
	default:
		old := uint64(have) * 65536 // past it, grown memory is zero
		var at uint64
		for _, r := range s.Memory {
			if end := min(uint64(r.Offset), old); end > at {
				clearNonZero(mem[at:end])
			}
			copy(mem[r.Offset:], r.Data)
			at = uint64(r.Offset) + uint64(len(r.Data))
		}
		if at < old {
			clearNonZero(mem[at:old])
		}
	}
	for i, g := range s.Globals {
		globals[i].Set(g.Bits)
	}
	in.reads = int64(s.clockReads)
	in.got, in.scratch, in.scratchLen = s.got, s.scratch, s.scratchLen
	in.left = in.budget - min(s.spent, in.budget)
	in.used, in.initLeft = s.used, s.initFuelLeft
	return nil
}

// clearNonZero zeroes the blocks of b that are not zero already, leaving
// the others untouched (not dirtying their pages).
func clearNonZero(b []byte) {
	for len(b) > 0 {
		n := min(len(b), snapBlock)
		if !zero(b[:n]) {
			clear(b[:n])
		}
		b = b[n:]
	}
}
