/* Minimal ABI v1 plumbing for the wasmagent tests' own modules, written
 * without the SDK so that each test module can break exactly one rule. */
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) __attribute__((import_module("lockstep"), import_name(name)))

IMPORT("send") int32_t ls_send(const char *to, uint32_t to_len, const void *p, uint32_t n);
IMPORT("publish") int32_t ls_publish(const char *ch, uint32_t ch_len, const void *p, uint32_t n);
IMPORT("join") int32_t ls_join(const char *ch, uint32_t ch_len);
IMPORT("log") void ls_log(int32_t level, const char *p, uint32_t n);

static unsigned char scratch[65536];
#ifndef NO_ALLOC
EXPORT("agent_alloc") int32_t agent_alloc(int32_t n) { return n <= (int32_t)sizeof scratch ? (int32_t)(uintptr_t)scratch : 0; }
#endif
#ifndef ABI_VERSION
#define ABI_VERSION 1
#endif
EXPORT("lockstep_abi_version") int32_t lockstep_abi_version(void) { return ABI_VERSION; }
