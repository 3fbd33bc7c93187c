/* bcryptprimitives.dll for Wine 8 (Debian 12), which lacks it: Go >= 1.22
 * Windows binaries draw their random bytes from ProcessPrng and exit at
 * start when it is missing. This stub implements ProcessPrng with
 * RtlGenRandom (advapi32's SystemFunction036), which Wine has.
 *
 *   x86_64-w64-mingw32-gcc-win32 -shared -O2 -o bcryptprimitives.dll \
 *       bcryptprimitives.c bcryptprimitives.def -ladvapi32
 *
 * Go loads it with LOAD_LIBRARY_SEARCH_SYSTEM32: it must be in the wine
 * prefix's drive_c/windows/system32 (scripts/wineprefix.sh puts it there). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T n) {
	while (n > 0) {
		ULONG chunk = n > 0x40000000 ? 0x40000000 : (ULONG)n;
		if (!SystemFunction036(data, chunk)) return FALSE;
		data += chunk;
		n -= chunk;
	}
	return TRUE;
}
