/* Test-only: Wine 8 (Debian 12) lacks bcryptprimitives.dll, whose ProcessPrng Rust's standard
 * library imports on Windows for its random numbers. This shim, built with mingw and copied
 * into a test's own Wine prefix, forwards it to RtlGenRandom (advapi32's SystemFunction036).
 * Never shipped: real Windows has the DLL. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
