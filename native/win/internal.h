// What the Windows files share with each other (not part of the platform interface).
#ifndef SHMKIT_NATIVE_WIN_INTERNAL_H_
#define SHMKIT_NATIVE_WIN_INTERNAL_H_

#include <windows.h>

#include <cstdint>
#include <string>

namespace shmkit {

// UTF-8 to UTF-16, for the W functions.
std::wstring Wide(const std::string& utf8);

// The errno value for a Win32 error, the names Node users know (ENOENT, EEXIST, …).
int ErrnoFromWin32(DWORD error);

// The Windows counterpart of a POSIX mode: for a mode with no group or other bits (the
// default 0o600), a security descriptor whose DACL admits the current user alone; else
// null, which leaves the default DACL. Free it with LocalFree.
PSECURITY_DESCRIPTOR UserOnlyIf(uint32_t mode);

// Finds the shmkit mapping that contains `addr`: the segment's name and the offset of
// `addr` in it. Cross-process waits key on these, since the address differs per process.
bool FindMapping(const void* addr, std::string* name, uint64_t* offset);

}  // namespace shmkit

#endif  // SHMKIT_NATIVE_WIN_INTERNAL_H_
