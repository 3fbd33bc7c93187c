/* The example counter, as released: the "before" of the diff test. */
#include "../../../../../examples/wasm/counter.c"
