/* extism_empty: empty.c's step for Extism's go-sdk, the peer
 * cmd/lockstep-bench measures (cmd/lockstep-bench/peers/extism): Extism
 * calls exports that take nothing, so step takes nothing and returns 0.
 * Built like the other guests (freestanding wasm32, 64 KiB stack, two
 * pages of memory), so that the two runtimes run the same empty code. */
__attribute__((export_name("step"))) int step(void) { return 0; }
