// Windows named semaphores: CreateSemaphoreW / OpenSemaphoreW, the name as given (the
// session namespace), as other Windows programs open them.
#include <windows.h>

#include <cerrno>
#include <string>

#include "../shmkit.h"
#include "internal.h"

namespace shmkit {

struct NamedSemaphore {
  HANDLE handle;
};

namespace {

bool Fail(OsError* err, const char* syscall) {
  err->code = ErrnoFromWin32(GetLastError());
  err->syscall = syscall;
  return false;
}

}  // namespace

NamedSemaphore* SemaphoreOpen(const std::string& name, bool create, uint32_t mode, uint32_t value, OsError* err) {
  HANDLE h;
  DWORD error;
  if (create) {
    SECURITY_ATTRIBUTES sa = {sizeof sa, UserOnlyIf(mode), FALSE};
    h = CreateSemaphoreW(&sa, static_cast<LONG>(value), 0x7fffffff, Wide(name).c_str());
    error = GetLastError();
    if (sa.lpSecurityDescriptor != nullptr) LocalFree(sa.lpSecurityDescriptor);
    // The name is taken: by a semaphore, or by another kind of object (ERROR_INVALID_HANDLE).
    if ((h != nullptr && error == ERROR_ALREADY_EXISTS) || (h == nullptr && error == ERROR_INVALID_HANDLE)) {
      if (h != nullptr) CloseHandle(h);
      err->code = EEXIST;
      err->syscall = "CreateSemaphoreW";
      return nullptr;
    }
  } else {
    h = OpenSemaphoreW(SEMAPHORE_ALL_ACCESS, FALSE, Wide(name).c_str());
    error = GetLastError();
  }
  if (h == nullptr) {
    SetLastError(error);
    Fail(err, create ? "CreateSemaphoreW" : "OpenSemaphoreW");
    return nullptr;
  }
  return new NamedSemaphore{h};
}

WaitResult SemaphoreWait(NamedSemaphore* s, int64_t timeoutNs, OsError* err) {
  DWORD ms = timeoutNs < 0 ? INFINITE : static_cast<DWORD>(timeoutNs / 1000000 > 0xfffffffe ? 0xfffffffe : timeoutNs / 1000000);
  DWORD r = WaitForSingleObject(s->handle, ms);
  if (r == WAIT_OBJECT_0) return WaitResult::kOk;
  if (r == WAIT_TIMEOUT) return WaitResult::kTimedOut;
  Fail(err, "WaitForSingleObject");
  return WaitResult::kNotEqual;
}

bool SemaphoreTryWait(NamedSemaphore* s, bool* acquired, OsError* err) {
  DWORD r = WaitForSingleObject(s->handle, 0);
  if (r == WAIT_OBJECT_0 || r == WAIT_TIMEOUT) {
    *acquired = r == WAIT_OBJECT_0;
    return true;
  }
  return Fail(err, "WaitForSingleObject");
}

bool SemaphorePost(NamedSemaphore* s, OsError* err) {
  return ReleaseSemaphore(s->handle, 1, nullptr) != 0 || Fail(err, "ReleaseSemaphore");
}

bool SemaphoreValue(NamedSemaphore* s, int* value, OsError* err) {
  // Windows has no "get value": take one if there is one and give it straight back.
  DWORD r = WaitForSingleObject(s->handle, 0);
  if (r == WAIT_TIMEOUT) {
    *value = 0;
    return true;
  }
  if (r != WAIT_OBJECT_0) return Fail(err, "WaitForSingleObject");
  LONG previous = 0;
  if (!ReleaseSemaphore(s->handle, 1, &previous)) return Fail(err, "ReleaseSemaphore");
  *value = static_cast<int>(previous) + 1;
  return true;
}

void SemaphoreClose(NamedSemaphore* s) {
  CloseHandle(s->handle);
  delete s;
}

bool SemaphoreUnlink(const std::string& name, OsError* err) {
  // As for segments: the name goes with the last handle.
  HANDLE h = OpenSemaphoreW(SYNCHRONIZE, FALSE, Wide(name).c_str());
  if (h == nullptr) return Fail(err, "OpenSemaphoreW");
  CloseHandle(h);
  return true;
}

size_t MaxSemaphoreNameBytes() {
  return MAX_PATH;
}

}  // namespace shmkit
