package modelactor

import "unsafe"

// Alignment is the address alignment, in bytes, of every input buffer the
// manager hands to ONNX Runtime. Some of its kernels (ReduceSum,
// ReduceMean) take a vectorised path whose summation order depends on where
// the data starts, so the same values at another address can give other
// last bits. Inputs decoded from an agent's request alias the encoded
// buffer (at offset 4 + 8 + 8·rank and whatever the guest chose), so they
// are copied to an aligned buffer first. See RATIONALE.md: "Why are model
// inputs aligned, and batching opt-in?".
const Alignment = 64

// isAligned reports whether b starts at a multiple of Alignment (an empty
// slice counts as aligned: there is nothing to read).
func isAligned(b []byte) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%Alignment == 0
}

// alignedBuf returns n bytes starting at a multiple of Alignment, reusing
// *pool's memory when it is large enough and growing it otherwise. The
// bytes are not cleared.
func alignedBuf(pool *[]byte, n int) []byte {
	if cap(*pool) < n+Alignment-1 {
		*pool = make([]byte, n+Alignment-1)
	}
	b := (*pool)[:cap(*pool)]
	off := int((Alignment - uintptr(unsafe.Pointer(unsafe.SliceData(b)))%Alignment) % Alignment)
	return b[off : off+n : off+n]
}

// keepBelow bounds the memory kept from run to run for one input or
// output (a session's buffers, a model's join buffers): a larger one gets
// memory of its own for each run, garbage after it, so that one large
// request does not leave a model holding its size until it is unloaded.
const keepBelow = 1 << 20
