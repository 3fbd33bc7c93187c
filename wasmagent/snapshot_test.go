package wasmagent_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// snapGuests are example guests of every language, each with state that
// the inputs below change every tick.
var snapGuests = []string{
	"counter",   // C, freestanding: counts messages
	"tally",     // C: counts labels, logs every 50 ticks
	"pinger",    // C: sends a numbered ping every step, logs what it receives
	"floaty",    // C with wasi-libc (a reactor with _initialize)
	"rustagent", // Rust: sums counts, draws host random numbers
	"asagent",   // AssemblyScript: sums counts, allocates strings to log
	"goagent",   // Go wasip1: a runtime, a garbage collector, WASI clocks and random
}

// guestDir returns the directory of the built example guests; without the
// toolchains it skips, unless LOCKSTEP_REQUIRE_GUESTS is set.
func guestDir(tb testing.TB) string {
	tb.Helper()
	dir, err := guests.Dir()
	if err != nil {
		if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
			tb.Skipf("%v (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead)", err)
		}
		tb.Fatal(err)
	}
	return dir
}

func loadGuest(tb testing.TB, rt *wasmagent.Runtime, name string) *wasmagent.Module {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(guestDir(tb), name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := rt.Load(context.Background(), name, data)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// loadTestMod loads the module name of testdata (built by TestMain).
func loadTestMod(tb testing.TB, rt *wasmagent.Runtime, name string) *wasmagent.Module {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(modDir, name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := rt.Load(context.Background(), name, data)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func newRuntime(tb testing.TB, cfg wasmagent.Config) *wasmagent.Runtime {
	tb.Helper()
	rt, err := wasmagent.NewRuntime(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// snapInputs are tick t's deliveries to every agent: an external input, a
// count on channel "counts" (as counter publishes them) and a label on
// channel "labels" (as the classifiers publish them). A few ticks deliver
// nothing.
func snapInputs(t clock.Tick) []agent.Message {
	if t%7 == 3 {
		return nil
	}
	var count [8]byte
	binary.LittleEndian.PutUint64(count[:], uint64(t)*7+3)
	return []agent.Message{
		{Payload: []byte(fmt.Sprintf("input %d", t)), Sent: t - 1},
		{From: "c1", Channel: "counts", Payload: count[:], Sent: t - 1},
		{From: "cls", Channel: "labels", Payload: []byte{byte(t % 3)}, Sent: t - 1},
	}
}

// tickRecord is what an agent did in one tick: its outbox and fuel.
type tickRecord struct {
	Actions []engine.Action
	Fuel    uint64
	Err     string
}

// driver runs one instance tick by tick, as the engine's runner does.
type driver struct {
	a   agent.Agent
	out *engine.Outbox
}

func newDriver(a agent.Agent, seed uint64) *driver {
	return &driver{a: a, out: engine.NewOutbox(&engine.Agent{ID: "a", Seed: seed}, 0)}
}

func (d *driver) init(tb testing.TB) {
	d.out.Reset(0)
	if err := d.a.Init(d.out); err != nil {
		tb.Fatal(err)
	}
}

func (d *driver) tick(t clock.Tick) tickRecord {
	d.out.Reset(t)
	var err error
	for _, m := range snapInputs(t) {
		if err = d.a.Receive(d.out, m); err != nil {
			break
		}
	}
	if err == nil {
		err = d.a.Step(d.out)
	}
	// Payloads are not reused by the outbox; the slice is.
	r := tickRecord{Actions: slices.Clone(d.out.Report().Actions), Fuel: d.a.(agent.Metered).TakeFuel()}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func snapshot(tb testing.TB, a agent.Agent) []byte {
	tb.Helper()
	b, err := a.(agent.Snapshotter).Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// restored returns a fresh instance of m restored from snap.
func restored(tb testing.TB, m *wasmagent.Module, seed uint64, snap []byte) agent.Agent {
	tb.Helper()
	a, err := m.New("a", seed, 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.(agent.Snapshotter).Restore(snap); err != nil {
		tb.Fatal(err)
	}
	return a
}

// TestSnapshotRestoreGuests runs each guest for n ticks, snapshots it at
// tick k, restores the snapshot into a fresh instance and runs both to n:
// every later tick's outbox and fuel must be the same, and so must their
// snapshots then.
func TestSnapshotRestoreGuests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example guest")
	}
	const n, k, seed = 120, 57, 42
	for _, eng := range []string{wasmagent.EngineCompiler, wasmagent.EngineInterpreter} {
		rt := newRuntime(t, wasmagent.Config{Engine: eng})
		for _, name := range snapGuests {
			t.Run(eng+"/"+name, func(t *testing.T) {
				m := loadGuest(t, rt, name)
				a, err := m.New("a", seed, 0, nil)
				if err != nil {
					t.Fatal(err)
				}
				orig := newDriver(a, seed)
				orig.init(t)
				var acted bool
				for tick := clock.Tick(1); tick <= k; tick++ {
					r := orig.tick(tick)
					if r.Err != "" {
						t.Fatalf("tick %d: %s", tick, r.Err)
					}
					acted = acted || len(r.Actions) > 0
				}
				if !acted {
					t.Fatal("the agent did nothing in its first ticks: the test needs an agent with state")
				}
				snap := snapshot(t, a)
				info, err := wasmagent.DecodeSnapshot(snap)
				if err != nil {
					t.Fatal(err)
				}
				var nonZero int
				for _, r := range info.Memory {
					nonZero += len(r.Data)
				}
				t.Logf("snapshot at tick %d: %d bytes: %d pages (%d KiB), %d KiB in %d runs, %d globals",
					k, len(snap), info.Pages, info.MemorySize()>>10, nonZero>>10, len(info.Memory), len(info.Globals))

				b := restored(t, m, seed, snap)
				if again := snapshot(t, b); !bytes.Equal(again, snap) {
					t.Fatal("the restored instance's snapshot differs from the one it was restored from")
				}
				copyDrv := newDriver(b, seed)
				for tick := clock.Tick(k + 1); tick <= n; tick++ {
					want, got := orig.tick(tick), copyDrv.tick(tick)
					if !reflect.DeepEqual(want, got) {
						t.Fatalf("tick %d: the restored instance diverged:\noriginal %+v\nrestored %+v", tick, want, got)
					}
					if want.Err != "" {
						t.Fatalf("tick %d: %s", tick, want.Err)
					}
				}
				if !bytes.Equal(snapshot(t, a), snapshot(t, b)) {
					t.Fatalf("at tick %d the two instances' snapshots differ", n)
				}
				// A snapshot of a fresh instance (before Init) restores too:
				// Init then runs as on the original.
				fresh, _ := m.New("a", seed, 0, nil)
				c := restored(t, m, seed, snapshot(t, fresh))
				d1, d2 := newDriver(fresh, seed), newDriver(c, seed)
				d1.init(t)
				d2.init(t)
				for tick := clock.Tick(1); tick <= 3; tick++ {
					if want, got := d1.tick(tick), d2.tick(tick); !reflect.DeepEqual(want, got) {
						t.Fatalf("restored before Init, tick %d:\noriginal %+v\nrestored %+v", tick, want, got)
					}
				}
			})
		}
	}
}

// TestRestoreRefusals: a snapshot of another module, into an instance
// that is not fresh, into a smaller page limit.
func TestRestoreRefusals(t *testing.T) {
	rt := newRuntime(t, wasmagent.Config{})
	good, faults := loadTestMod(t, rt, "good"), loadTestMod(t, rt, "faults")
	a, _ := good.New("a", 1, 0, nil)
	newDriver(a, 1).init(t)
	snap := snapshot(t, a)

	b, _ := faults.New("a", 1, 0, nil)
	err := b.(agent.Snapshotter).Restore(snap)
	if err == nil || !strings.Contains(err.Error(), `module "faults"`) || !strings.Contains(err.Error(), "another module") {
		t.Errorf("restoring good's snapshot into faults: %v", err)
	}
	// The refused instance is still fresh: it can be restored from its own
	// module's snapshot.
	other, _ := faults.New("b", 1, 0, nil)
	if err := b.(agent.Snapshotter).Restore(snapshot(t, other)); err != nil {
		t.Errorf("after a refusal: %v", err)
	}

	c, _ := good.New("a", 1, 0, nil)
	newDriver(c, 1).init(t)
	if err := c.(agent.Snapshotter).Restore(snap); err == nil || !strings.Contains(err.Error(), "not fresh") {
		t.Errorf("restoring into an initialised instance: %v", err)
	}

	// A snapshot of more pages than the runtime's limit: memory cannot
	// grow to its size.
	info, err := wasmagent.DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	bigger := bytes.Clone(snap)
	binary.LittleEndian.PutUint32(bigger[pagesAt:], info.Pages+1)
	bigger = reseal(bigger)
	small := newRuntime(t, wasmagent.Config{MaxPages: info.Pages})
	h, _ := loadTestMod(t, small, "good").New("a", 1, 0, nil)
	if err := h.(agent.Snapshotter).Restore(bigger); err == nil || !strings.Contains(err.Error(), "cannot grow memory") {
		t.Errorf("restoring %d pages under a limit of %d: %v", info.Pages+1, info.Pages, err)
	}
	// Under a larger limit it restores, the extra page zero.
	if err := restored(t, good, 1, bigger).(agent.Snapshotter).Restore(bigger); err == nil {
		t.Error("restored twice into one instance")
	}
}

// Offsets of fields in a snapshot (see wasmagent.SnapshotVersion).
const pagesAt, scratchAt, globalsAt = 40, 56, 88

// reseal replaces the checksum at the end of b with b's.
func reseal(b []byte) []byte {
	n := len(b) - 4
	return binary.LittleEndian.AppendUint32(b[:n:n], crc32.Checksum(b[:n], crc32.MakeTable(crc32.Castagnoli)))
}

// TestRestoreDamaged: truncated and bit-flipped snapshots, and ones
// re-checksummed after damage (so that the fields' own checks are
// exercised), give errors, never panics, and leave the instance fresh.
func TestRestoreDamaged(t *testing.T) {
	rt := newRuntime(t, wasmagent.Config{})
	m := loadTestMod(t, rt, "good")
	a, _ := m.New("a", 5, 0, nil)
	d := newDriver(a, 5)
	d.init(t)
	for tick := clock.Tick(1); tick <= 5; tick++ {
		d.tick(tick)
	}
	snap := snapshot(t, a)
	b, _ := m.New("a", 5, 0, nil)
	s := b.(agent.Snapshotter)
	try := func(what string, data []byte, want string) {
		t.Helper()
		err := s.Restore(data)
		if err == nil {
			t.Fatalf("%s: restored", what)
		}
		if !strings.Contains(err.Error(), `module "good"`) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v\nwant an error naming the module and saying %q", what, err, want)
		}
	}
	for _, n := range []int{0, 3, 8, 40, 60, len(snap) / 2, len(snap) - 5, len(snap) - 1} {
		try(fmt.Sprintf("truncated to %d bytes", n), snap[:n], "")
	}
	for i := 0; i < len(snap); i += max(1, len(snap)/200) {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(snap)
			bad[i] ^= bit
			try(fmt.Sprintf("bit %#x of byte %d flipped", bit, i), bad, "")
		}
	}
	le := binary.LittleEndian
	field := func(off int, v uint32) []byte {
		bad := bytes.Clone(snap)
		le.PutUint32(bad[off:], v)
		return reseal(bad)
	}
	try("bad magic", append([]byte("XXXX"), snap[4:]...), "not a WebAssembly agent snapshot")
	try("version 2", field(4, 2), "format version 2")
	try("flipped", append(bytes.Clone(snap[:len(snap)-1]), snap[len(snap)-1]^1), "checksum mismatch")
	try("too many pages", field(pagesAt, wasmagent.MaxPagesLimit+1), "over the 65536")
	try("fewer pages than the runs", field(pagesAt, 0), "outside the 0-byte memory")
	try("scratch outside memory", field(scratchAt, 1<<31), "scratch block")
	try("huge globals count", field(globalsAt, 1<<30), "do not fit")
	try("trailing bytes", reseal(append(bytes.Clone(snap), 0)), "1 bytes after the last memory run")
	// Resealed random damage: the checks of the fields, not the checksum,
	// must catch it, or it restores into a valid state; never a panic.
	for i := 8; i < min(len(snap)-4, 200); i++ {
		bad := bytes.Clone(snap)
		bad[i] ^= 0xff
		err := s.Restore(reseal(bad))
		if err == nil {
			// Restored: the instance is no longer fresh.
			b, _ = m.New("a", 5, 0, nil)
			s = b.(agent.Snapshotter)
		}
	}
	// The instance is still fresh after all this.
	if err := s.Restore(snap); err != nil {
		t.Fatalf("the snapshot itself: %v", err)
	}
}

// FuzzRestore feeds Restore (and DecodeSnapshot) damaged snapshots of a C
// agent: an error or a restored instance, never a panic. Restoring the
// same bytes into a second fresh instance gives the same snapshot.
func FuzzRestore(f *testing.F) {
	rt := newRuntime(f, wasmagent.Config{})
	m := loadTestMod(f, rt, "good")
	a, _ := m.New("a", 5, 0, nil)
	d := newDriver(a, 5)
	d.init(f)
	f.Add(snapshot(f, a))
	for tick := clock.Tick(1); tick <= 3; tick++ {
		d.tick(tick)
	}
	f.Add(snapshot(f, a))
	f.Add([]byte("LSWS\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Fuzzing mostly damages the checksum: reseal half the inputs so
		// that the fields' own checks are fuzzed too.
		if len(data) > 8 && data[len(data)-1]&1 == 0 {
			data = reseal(bytes.Clone(data))
		}
		_, decodeErr := wasmagent.DecodeSnapshot(data)
		b, err := m.New("a", 5, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = b.(agent.Snapshotter).Restore(data)
		if err == nil && decodeErr != nil {
			t.Fatalf("DecodeSnapshot: %v, and Restore took it", decodeErr)
		}
		if err != nil {
			b.Shutdown(engine.NewOutbox(&engine.Agent{ID: "a"}, 0))
			return
		}
		c, _ := m.New("a", 5, 0, nil)
		if err := c.(agent.Snapshotter).Restore(data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(snapshot(t, b), snapshot(t, c)) {
			t.Fatal("two restores of the same bytes differ")
		}
		b.Shutdown(engine.NewOutbox(&engine.Agent{ID: "a"}, 0))
		c.Shutdown(engine.NewOutbox(&engine.Agent{ID: "a"}, 0))
	})
}

// TestSnapshotContents: DecodeSnapshot gives the memory and globals a dump
// needs, without a runtime.
func TestSnapshotContents(t *testing.T) {
	rt := newRuntime(t, wasmagent.Config{})
	m := loadTestMod(t, rt, "good")
	a, _ := m.New("a", 5, 0, nil)
	d := newDriver(a, 5)
	d.init(t)
	for tick := clock.Tick(1); tick <= 4; tick++ {
		d.tick(tick)
	}
	s, err := wasmagent.DecodeSnapshot(snapshot(t, a))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != wasmagent.SnapshotVersion || s.Digest != m.Digest || s.Pages == 0 || len(s.Globals) != 1 || s.Globals[0].Index != 0 {
		t.Fatalf("contents: %+v", s)
	}
	var mem bytes.Buffer
	n, err := s.WriteMemory(&mem)
	if err != nil || uint64(n) != s.MemorySize() || uint64(mem.Len()) != s.MemorySize() {
		t.Fatalf("WriteMemory: %d bytes, %v; want %d", n, err, s.MemorySize())
	}
	// The stack pointer global points into memory.
	if sp := s.Globals[0].Bits; sp == 0 || sp > s.MemorySize() {
		t.Errorf("stack pointer %#x", sp)
	}
	for _, r := range s.Memory {
		if !bytes.Equal(mem.Bytes()[r.Offset:int(r.Offset)+len(r.Data)], r.Data) {
			t.Fatalf("run at %#x differs in WriteMemory's output", r.Offset)
		}
	}
}

// TestSnapshotRefusesTableMutation: a module whose code can change a table
// cannot be snapshotted; the error names the module, the instruction and
// what to do. Its agents still run.
func TestSnapshotRefusesTableMutation(t *testing.T) {
	rt := newRuntime(t, wasmagent.Config{})
	m, err := rt.Load(context.Background(), "tables", mod(t, "tables"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.New("a", 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(a, 1)
	d.init(t)
	if r := d.tick(1); r.Err != "" {
		t.Fatal(r.Err)
	}
	_, err = a.(agent.Snapshotter).Snapshot()
	if err == nil || !strings.Contains(err.Error(), `module "tables" cannot be snapshotted`) || !strings.Contains(err.Error(), "table.set in function") || !strings.Contains(err.Error(), "rebuild it") {
		t.Fatalf("Snapshot = %v", err)
	}
	b, _ := m.New("a", 1, 0, nil)
	if err := b.(agent.Snapshotter).Restore([]byte("LSWS")); err == nil || !strings.Contains(err.Error(), "table.set") {
		t.Fatalf("Restore = %v", err)
	}
	if err := m.Snapshottable(); err == nil || !strings.Contains(err.Error(), "table.set") {
		t.Fatalf("Snapshottable = %v", err)
	}
	if err := loadTestMod(t, rt, "good").Snapshottable(); err != nil {
		t.Fatalf("good: Snapshottable = %v", err)
	}
}

// BenchmarkSnapshot and BenchmarkRestore measure a Go agent (MiBs of mostly
// zero memory) and a C agent after 10 ticks; MB/s is of linear memory.
func BenchmarkSnapshot(b *testing.B) {
	for _, name := range []string{"goagent", "counter"} {
		b.Run(name, func(b *testing.B) {
			_, a, mem := benchAgent(b, name)
			b.SetBytes(int64(mem))
			b.ReportAllocs()
			var size int
			for b.Loop() {
				s, err := a.(agent.Snapshotter).Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				size = len(s)
			}
			b.ReportMetric(float64(size), "snapshot-bytes")
		})
	}
}

func BenchmarkRestore(b *testing.B) {
	for _, name := range []string{"goagent", "counter"} {
		b.Run(name, func(b *testing.B) {
			m, a, mem := benchAgent(b, name)
			snap := snapshot(b, a)
			b.SetBytes(int64(mem))
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				c, err := m.New("a", 7, 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := c.(agent.Snapshotter).Restore(snap); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Shutdown(engine.NewOutbox(&engine.Agent{ID: "a"}, 0))
				b.StartTimer()
			}
		})
	}
}

// benchAgent returns an agent of the guest name after 10 ticks, its
// module and the size of its linear memory.
func benchAgent(b *testing.B, name string) (*wasmagent.Module, agent.Agent, int) {
	rt := newRuntime(b, wasmagent.Config{})
	m := loadGuest(b, rt, name)
	a, err := m.New("a", 7, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	d := newDriver(a, 7)
	d.init(b)
	for tick := clock.Tick(1); tick <= 10; tick++ {
		if r := d.tick(tick); r.Err != "" {
			b.Fatal(r.Err)
		}
	}
	s, err := wasmagent.DecodeSnapshot(snapshot(b, a))
	if err != nil {
		b.Fatal(err)
	}
	return m, a, int(s.MemorySize())
}

// TestRestoreZeroes: memory a snapshot says is zero is zero after Restore,
// even where the fresh instance's memory holds data (its data segments).
func TestRestoreZeroes(t *testing.T) {
	rt := newRuntime(t, wasmagent.Config{})
	m := loadTestMod(t, rt, "good")
	a, _ := m.New("a", 1, 0, nil)
	snap := snapshot(t, a)
	s, err := wasmagent.DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Memory) == 0 {
		t.Fatal("a fresh instance of good has no data in memory")
	}
	// Drop every run: memory all zero.
	runsAt := globalsAt + 4 + 13*len(s.Globals)
	runsAt += 1 + int(snap[runsAt])
	empty := reseal(append(binary.LittleEndian.AppendUint32(bytes.Clone(snap[:runsAt]), 0), 0, 0, 0, 0))
	b := restored(t, m, 1, empty)
	got, err := wasmagent.DecodeSnapshot(snapshot(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Memory) != 0 || got.Pages != s.Pages {
		t.Fatalf("after restoring zero memory: %d pages, %d runs at %#x…", got.Pages, len(got.Memory), got.Memory[0].Offset)
	}
}
