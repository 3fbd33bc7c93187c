//go:build wasip1

package lockstep

import "unsafe"

// Imports from module "lockstep" (sdk/ABI.md). A string parameter is passed
// as (ptr, len: i32), exactly the ABI's string convention. The host copies
// what a pointer points to before it returns, never keeps the pointer and
// never calls back into the module (so no stack moves meanwhile): go:noescape
// lets the compiler keep what is passed on the stack (a StateWrite of a
// local array allocates nothing), as Go's runtime does for its WASI imports.

//go:wasmimport lockstep send
//go:noescape
func hostSend(to string, p unsafe.Pointer, n uint32) int32

//go:wasmimport lockstep publish
//go:noescape
func hostPublish(ch string, p unsafe.Pointer, n uint32) int32

//go:wasmimport lockstep join
//go:noescape
func hostJoin(ch string) int32

//go:wasmimport lockstep leave
//go:noescape
func hostLeave(ch string) int32

//go:wasmimport lockstep log
//go:noescape
func hostLog(level int32, msg string)

//go:wasmimport lockstep tick
func hostTick() int64

//go:wasmimport lockstep random
func hostRandom() int64

//go:wasmimport lockstep state_write
//go:noescape
func hostStateWrite(name string, p unsafe.Pointer, n uint32) int32

//go:wasmimport lockstep state_read
//go:noescape
func hostStateRead(owner, name string, buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport lockstep infer
//go:noescape
func hostInfer(model, version string, p unsafe.Pointer, n uint32) int32

//go:wasmimport lockstep config
//go:noescape
func hostConfig(buf unsafe.Pointer, capacity uint32) int32

func bytesPtr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// Exports.

//go:wasmexport lockstep_abi_version
func exportABIVersion() int32 { return ABIVersion }

// scratch is agent_alloc's grow-only buffer. []uint64 keeps it 8-byte aligned
// and pointer-free; the Go heap never moves it, and the global keeps it alive.
var scratch []uint64

//go:wasmexport agent_alloc
func exportAgentAlloc(size int32) int32 {
	if size < 0 {
		return 0
	}
	words := (int(size) + 7) / 8
	if words == 0 {
		words = 1
	}
	if len(scratch) < words {
		scratch = make([]uint64, max(words, 2*len(scratch)))
	}
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(scratch))))
}

var hookCtx Context

//go:wasmexport agent_init
func exportAgentInit() int32 {
	hookCtx = Context{}
	return call(&hookCtx, func(a Agent) error { return a.Init(&hookCtx) })
}

// lastFrom and lastChannel are the sender and channel of the last message
// received, which the next message often has too: messages share them
// (strings are immutable) instead of allocating copies.
var lastFrom, lastChannel string

//go:wasmexport agent_receive
func exportAgentReceive(msgPtr uint32) int32 {
	h := load(msgPtr, 32)
	lastFrom = reuse(lastFrom, le32(h[8:]), le32(h[12:]))
	lastChannel = reuse(lastChannel, le32(h[16:]), le32(h[20:]))
	m := Message{
		Sent:    le64(h[0:]),
		From:    lastFrom,
		Channel: lastChannel,
		Payload: load(le32(h[24:]), le32(h[28:])),
	}
	hookCtx.hasTick, hookCtx.delivered = false, 0
	return call(&hookCtx, func(a Agent) error { return a.Receive(&hookCtx, m) })
}

//go:wasmexport agent_step
func exportAgentStep(ctxPtr uint32) int32 {
	h := load(ctxPtr, 24)
	hookCtx.tick, hookCtx.hasTick = le64(h[0:]), true
	if self := load(le32(h[8:]), le32(h[12:])); string(self) != hookCtx.self {
		hookCtx.self = string(self)
	}
	hookCtx.delivered = le32(h[16:])
	rc := call(&hookCtx, func(a Agent) error { return a.Step(&hookCtx) })
	hookCtx.hasTick, hookCtx.delivered = false, 0
	return rc
}

//go:wasmexport agent_shutdown
func exportAgentShutdown() int32 {
	hookCtx.hasTick, hookCtx.delivered = false, 0
	return call(&hookCtx, func(a Agent) error { return a.Shutdown(&hookCtx) })
}

// load copies n bytes of linear memory at address p, which the host chose.
// The destination is allocated before the source view exists, so no garbage
// collection can see a pointer to memory the Go heap does not own.
func load(p, n uint32) []byte {
	if n == 0 {
		return nil
	}
	dst := make([]byte, n)
	copy(dst, unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(p))), n))
	return dst
}

// reuse returns last if the n bytes at address p are the same (without
// copying them: nothing can allocate, so no garbage collection runs, while
// the view exists), else a copy of them.
func reuse(last string, p, n uint32) string {
	if int(n) == len(last) && (n == 0 || unsafe.String((*byte)(unsafe.Add(nil, uintptr(p))), n) == last) {
		return last
	}
	return loadString(p, n)
}

func loadString(p, n uint32) string {
	if n == 0 {
		return ""
	}
	b := load(p, n)
	return unsafe.String(&b[0], len(b))
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }
