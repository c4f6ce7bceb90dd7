/* A stand-in for Windows' bcryptprimitives.dll, for the Wine smoke test
 * only: Debian 12's Wine 8.0 does not ship it, and the Rust standard
 * library (and getrandom) call its ProcessPrng for random bytes. Built by
 * smoke/windows.sh with mingw-w64 and placed beside caucus.exe in a test
 * folder; the product never ships it. It answers from RtlGenRandom
 * (advapi32's SystemFunction036), which Wine implements. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
