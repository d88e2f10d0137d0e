// Windows named segments: CreateFileMappingW / OpenFileMappingW / MapViewOfFile.
//
// The name `jobs` is the section object "jobs" in the session namespace, the name CPython's
// SharedMemory("jobs") uses on Windows. Differences from POSIX, which lib/ documents:
// a section has no unlink (its name lives while any process holds a handle, and shmkit
// holds one for as long as a segment is open), and an attached segment reports its size
// rounded up to whole pages (the OS does not keep the size asked for).
#include <windows.h>
#include <sddl.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <string>

#include <cstring>

#include "../shmkit.h"
#include "internal.h"

namespace shmkit {
namespace {

struct Entry {
  uint64_t size;
  std::string name;
};

std::mutex registryMu;
std::map<uintptr_t, Entry> registry;  // base address -> segment, for FindMapping

bool Fail(OsError* err, const char* syscall) {
  err->code = ErrnoFromWin32(GetLastError());
  err->syscall = syscall;
  return false;
}

void Register(const Mapping& m, const std::string& name) {
  if (m.addr == nullptr) return;
  std::lock_guard<std::mutex> lock(registryMu);
  registry[reinterpret_cast<uintptr_t>(m.addr)] = Entry{m.size, name};
}

bool MapView(HANDLE section, const std::string& name, bool readOnly, uint64_t size, Mapping* out, OsError* err) {
  // A read-only attach maps copy-on-write: a stray store lands in a private page.
  void* addr = MapViewOfFile(section, readOnly ? FILE_MAP_COPY : FILE_MAP_ALL_ACCESS, 0, 0, 0);
  if (addr == nullptr) return Fail(err, "MapViewOfFile");
  if (size == 0) {
    MEMORY_BASIC_INFORMATION info;
    if (VirtualQuery(addr, &info, sizeof info) == 0) {
      UnmapViewOfFile(addr);
      return Fail(err, "VirtualQuery");
    }
    size = info.RegionSize;
  }
  out->addr = addr;
  out->size = size;
  out->readOnly = readOnly;
  out->handle = section;
  Register(*out, name);
  return true;
}

}  // namespace

std::wstring Wide(const std::string& utf8) {
  int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), &out[0], n);
  return out;
}

int ErrnoFromWin32(DWORD error) {
  switch (error) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    // Sections, semaphores and events share one namespace: a name held by another kind
    // of object is, for an open, no object of this kind. (A create reports EEXIST.)
    case ERROR_INVALID_HANDLE: return ENOENT;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS: return EEXIST;
    case ERROR_ACCESS_DENIED: return EACCES;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT: return ENOMEM;
    case ERROR_DISK_FULL: return ENOSPC;
    case ERROR_TOO_MANY_OPEN_FILES: return EMFILE;
    case ERROR_INVALID_PARAMETER: return EINVAL;
    case ERROR_TIMEOUT:
    case WAIT_TIMEOUT: return ETIMEDOUT;
    default: return EIO;
  }
}

bool FindMapping(const void* addr, std::string* name, uint64_t* offset) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  std::lock_guard<std::mutex> lock(registryMu);
  auto it = registry.upper_bound(a);
  if (it == registry.begin()) return false;
  --it;
  if (a - it->first >= it->second.size) return false;
  *name = it->second.name;
  *offset = a - it->first;
  return true;
}

PSECURITY_DESCRIPTOR UserOnlyIf(uint32_t mode) {
  // Group and other bits have no exact Windows meaning: any of them leaves the default DACL.
  if ((mode & 077) != 0) return nullptr;
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return nullptr;
  alignas(8) unsigned char buffer[256];
  DWORD length = 0;
  PSECURITY_DESCRIPTOR sd = nullptr;
  wchar_t* sid = nullptr;
  if (GetTokenInformation(token, TokenUser, buffer, sizeof buffer, &length) &&
      ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buffer)->User.Sid, &sid)) {
    std::wstring sddl = std::wstring(L"D:P(A;;GA;;;") + sid + L")";
    ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd, nullptr);
    LocalFree(sid);
  }
  CloseHandle(token);
  return sd;
}

bool SegmentCreate(const std::string& name, uint64_t size, uint32_t mode, bool reserve, Mapping* out, std::string* made, OsError* err) {
  (void)reserve;  // a section's memory is committed against the commit limit when it is made
  *made = name;  // a section's name dies with its last handle: nothing half-made outlives its creator
  SECURITY_ATTRIBUTES sa = {sizeof sa, nullptr, FALSE};
  PSECURITY_DESCRIPTOR sd = UserOnlyIf(mode);
  sa.lpSecurityDescriptor = sd;
  HANDLE section = CreateFileMappingW(INVALID_HANDLE_VALUE, &sa, PAGE_READWRITE, static_cast<DWORD>(size >> 32),
                                      static_cast<DWORD>(size & 0xffffffff), Wide(name).c_str());
  DWORD error = GetLastError();
  if (sd != nullptr) LocalFree(sd);
  if (section == nullptr && error != ERROR_INVALID_HANDLE) {
    SetLastError(error);
    Fail(err, "CreateFileMappingW");
    // The section's memory is committed here: what does not fit is the segment's ENOSPC,
    // as a full /dev/shm is on Linux (not a process out of memory).
    if (error == ERROR_COMMITMENT_LIMIT || error == ERROR_NOT_ENOUGH_MEMORY || error == ERROR_OUTOFMEMORY) err->code = ENOSPC;
    return false;
  }
  if (section == nullptr || error == ERROR_ALREADY_EXISTS) {  // O_EXCL: the name is taken
    if (section != nullptr) CloseHandle(section);
    err->code = EEXIST;
    err->syscall = "CreateFileMappingW";
    return false;
  }
  if (!MapView(section, name, false, size, out, err)) {
    CloseHandle(section);
    return false;
  }
  return true;
}

// A section cannot be made smaller under a mapping: nothing to guard against.
bool SegmentCopy(void* dst, const void* src, size_t n, bool) {
  if (n != 0) memmove(dst, src, n);
  return true;
}

bool SegmentCovers(const Mapping*, uint64_t) { return false; }

// A pagefile-backed section is committed whole at create: there is nothing to reserve.
bool SegmentReserve(Mapping*, uint64_t, uint64_t, OsError*) { return true; }

bool SegmentOpen(const std::string& name, bool readOnly, Mapping* out, OsError* err) {
  HANDLE section = OpenFileMappingW(readOnly ? FILE_MAP_READ | FILE_MAP_COPY : FILE_MAP_ALL_ACCESS, FALSE, Wide(name).c_str());
  if (section == nullptr) return Fail(err, "OpenFileMappingW");
  if (!MapView(section, name, readOnly, 0, out, err)) {
    CloseHandle(section);
    return false;
  }
  return true;
}

void SegmentUnmap(Mapping* m) {
  if (m->addr != nullptr) {
    {
      std::lock_guard<std::mutex> lock(registryMu);
      registry.erase(reinterpret_cast<uintptr_t>(m->addr));
    }
    UnmapViewOfFile(m->addr);
  }
  SegmentRelease(m);
  m->addr = nullptr;
  m->size = 0;
}

void SegmentRelease(Mapping* m) {
  if (m->handle != nullptr) CloseHandle(m->handle);
  m->handle = nullptr;
}

bool SegmentUnlink(const std::string& name, OsError* err) {
  // No unlink on Windows: the name goes with the last handle. Report ENOENT as POSIX would.
  HANDLE section = OpenFileMappingW(FILE_MAP_READ, FALSE, Wide(name).c_str());
  if (section == nullptr && GetLastError() != ERROR_ACCESS_DENIED) return Fail(err, "OpenFileMappingW");
  if (section != nullptr) CloseHandle(section);
  return true;
}

bool SegmentExists(const std::string& name, bool* exists, OsError* err) {
  HANDLE section = OpenFileMappingW(FILE_MAP_READ, FALSE, Wide(name).c_str());
  if (section != nullptr) {
    CloseHandle(section);
    *exists = true;
    return true;
  }
  DWORD error = GetLastError();
  if (error == ERROR_FILE_NOT_FOUND) {
    *exists = false;
    return true;
  }
  if (error == ERROR_ACCESS_DENIED) {
    *exists = true;
    return true;
  }
  return Fail(err, "OpenFileMappingW");
}

bool SegmentPublish(const std::string&, const std::string&, OsError*) { return true; }

// A section has no file identity to compare, and a name dies with its last handle, so a
// successor can only appear once this process let go of it: 0 and 0 say "nothing known".
bool SegmentIdentity(const std::string&, uint64_t* dev, uint64_t* ino, OsError*) {
  *dev = 0;
  *ino = 0;
  return true;
}

// Nothing to collect on Windows: a section goes with its last handle.
bool SegmentLockUnused(const std::string&, bool*, Unused*, OsError* err) {
  err->code = ENOTSUP;
  err->syscall = "SegmentLockUnused";
  return false;
}

void SegmentUnlockUnused(Unused*) {}

size_t MaxNameBytes() {
  return MAX_PATH;  // object names are limited to MAX_PATH characters
}

}  // namespace shmkit
