package wasmagent

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/tetratelabs/wazero"

	"github.com/lockstep-rt/lockstep/wasmagent/meter"
)

// ImageStage says how much of an agent's initialisation its module's
// pre-initialised image holds, so that New and Init skip it.
type ImageStage uint8

// Stages of a module's image, in the order an agent's initialisation
// runs them.
const (
	// ImageNone: no image; every agent runs its start function on New,
	// _initialize and agent_init on Init.
	ImageNone ImageStage = iota
	// ImageStarted: the image holds the state after the start function
	// and _initialize; Init runs agent_init.
	ImageStarted
	// ImageInitialised: the image holds the state after agent_init too;
	// Init runs nothing.
	ImageInitialised
)

func (s ImageStage) String() string {
	switch s {
	case ImageStarted:
		return "started"
	case ImageInitialised:
		return "initialised"
	}
	return "none"
}

// image is a module's pre-initialised image: the state of a template
// instance after the initialisation stages that read nothing an agent
// could see differently (its WASI random source, its clocks, its config,
// its context through a host function). An instance that starts from it
// is the instance those stages would have made. See RATIONALE.md: "Why
// pre-initialised images?".
type image struct {
	snap  *SnapshotContents
	stage ImageStage
	// fresh are the parts of a fresh instance's memory that are not zero
	// (its data segments): all an instance started from the image has to
	// clear before it copies the image's memory in.
	fresh []MemoryRun
}

// ImageStage says how much of an agent's initialisation New and Init take
// from the module's pre-initialised image, and why no more: the first
// input the module's initialisation read that another agent could see
// differently, or "" when the image holds all of it. An agent started
// from the image is the agent a full initialisation makes, bit for bit.
func (m *Module) ImageStage() (ImageStage, string) {
	if m.image == nil {
		return ImageNone, m.noImage
	}
	return m.image.stage, m.noImage
}

// observe notes that the instance read an input another agent could see
// differently: a template's stage that does is not in the image.
func (in *instance) observe(what string) {
	if in.template && in.observed == "" {
		in.observed = what
	}
}

// preinitialise makes the module's image: it instantiates a template and
// runs its initialisation stages (start function and _initialize, then
// agent_init) as long as they observe nothing agent-specific and succeed,
// and keeps a snapshot of the state after the last such stage. Nothing to
// keep (no stage ran, or the first observed something) leaves m.image nil;
// m.noImage says why.
func (m *Module) preinitialise(ctx context.Context) {
	stop := func(stage ImageStage, format string, args ...any) {
		m.noImage = fmt.Sprintf("%s stage: %s", stage, fmt.Sprintf(format, args...))
	}
	if err := m.snapErr; err != nil {
		m.noImage = err.Error()
		return
	}
	t, err := m.instantiate(ctx, nil, nil, asTemplate)
	if err != nil {
		stop(ImageStarted, "the start function failed: %v", err)
		return
	}
	defer t.close()
	if t.observed != "" {
		stop(ImageStarted, "the start function read %s", t.observed)
		return
	}
	started := m.start
	var snap []byte
	stage := ImageNone
	take := func(s ImageStage) bool {
		b, err := t.Snapshot()
		if err != nil {
			stop(s, "%v", err)
			return false
		}
		snap, stage = b, s
		return true
	}
	if m.init {
		if err := t.initModule(t.export("_initialize")); err != nil {
			stop(ImageStarted, "_initialize failed: %v", err)
			return
		}
		started = true
	}
	switch {
	case t.observed != "":
		stop(ImageStarted, "_initialize read %s", t.observed)
	case started && !take(ImageStarted): // take has said why
	default:
		code, err := t.call(t.export("agent_init"), initCall)
		switch {
		case t.observed != "":
			stop(ImageInitialised, "agent_init read %s", t.observed)
		case err != nil:
			stop(ImageInitialised, "agent_init failed: %v", err)
		case code != 0:
			stop(ImageInitialised, "agent_init returned %d", int32(code))
		default:
			take(ImageInitialised)
		}
	}
	if snap == nil {
		return
	}
	s, err := decodeSnapshot(snap)
	if err == nil {
		var f *SnapshotContents
		if f, err = m.freshMemory(ctx); err == nil {
			// Never nil, even with no data segments: load looks at every
			// block without it.
			fresh := append(make([]MemoryRun, 0, len(f.Memory)), f.Memory...)
			m.image = &image{snap: s, stage: stage, fresh: fresh}
			m.imageFile = m.fileOf(s.Memory, fresh)
			return
		}
	}
	stop(stage, "%v", err)
}

// fileOf is the memory file of an image's memory runs, nil if there is
// none (see slabs.file), or if a fresh instance may have a byte that is not
// zero past the file's end (fresh are its non-zero parts): mapped over a
// fresh memory, the file must make it the image's memory.
func (m *Module) fileOf(runs, fresh []MemoryRun) *memoryFile {
	if m.rt.memory == nil || len(runs) == 0 {
		return nil
	}
	last := runs[len(runs)-1]
	end := uint64(last.Offset) + uint64(len(last.Data))
	for _, r := range fresh {
		if uint64(r.Offset)+uint64(len(r.Data)) > end {
			return nil
		}
	}
	return m.rt.memory.file(m.Name, runs)
}

// freshMemory is a snapshot of an instance before its start function: the
// parts of its memory that are not zero, its data segments.
func (m *Module) freshMemory(ctx context.Context) (*SnapshotContents, error) {
	in, err := m.instantiate(ctx, nil, nil, skipStart)
	if err != nil {
		return nil, err
	}
	defer in.close()
	b, err := in.Snapshot()
	if err != nil {
		return nil, err
	}
	return decodeSnapshot(b)
}

// newInstance is an agent's instance: one started from the module's image
// if it has one, else a fresh one.
func (m *Module) newInstance(random *rand.ChaCha8, config []byte) (*instance, error) {
	ctx := context.Background()
	im := m.image
	if im == nil {
		return m.instantiate(ctx, random, config, runStart)
	}
	in, err := m.instantiate(ctx, random, config, fromImage)
	if err != nil {
		return nil, err
	}
	globals, err := in.exportedGlobals()
	if err == nil {
		err = in.load(im.snap, globals, im.fresh, in.filed)
	}
	if err != nil {
		in.close()
		return nil, fmt.Errorf("starting from the module's image: %w", err)
	}
	in.stage = im.stage
	return in, nil
}

// dataRuns is what the data segments write into a new instance's memory,
// in runs of snapBlock-sized blocks that are not all zero: nil for none.
// A segment outside the module's initial memory is the error wazero would
// give when instantiating it.
func dataRuns(segs []meter.DataSegment, compiled wazero.CompiledModule) ([]MemoryRun, error) {
	if len(segs) == 0 {
		return nil, nil
	}
	var size uint64
	if def, ok := compiled.ExportedMemories()["memory"]; ok {
		size = uint64(def.Min()) * pageBytes
	}
	var end uint64
	for i, s := range segs {
		e := uint64(s.Offset) + uint64(len(s.Bytes))
		if e > size {
			return nil, fmt.Errorf("data segment %d (%d bytes at %#x) is outside the %d-byte initial memory", i, len(s.Bytes), s.Offset, size)
		}
		end = max(end, e)
	}
	mem := make([]byte, (end+snapBlock-1)/snapBlock*snapBlock)
	for _, s := range segs {
		copy(mem[s.Offset:], s.Bytes)
	}
	var runs []MemoryRun
	for i := 0; i < len(mem); {
		if zero(mem[i : i+snapBlock]) {
			i += snapBlock
			continue
		}
		j := i + snapBlock
		for j < len(mem) && !zero(mem[j:j+snapBlock]) {
			j += snapBlock
		}
		runs = append(runs, MemoryRun{Offset: uint32(i), Data: mem[i:j]})
		i = j
	}
	return runs, nil
}
