// Owners whose life the kernel vouches for (Windows): named mutexes.
//
// An owner is an OS thread. The first time a thread asks for its id it registers: it
// creates the mutex ".shmkit-owner-<id>" (in the session's namespace, beside the
// segments) already owned by itself, and keeps its handle for as long as it runs. Windows
// abandons a mutex whose owning thread ends however it ends (TerminateProcess included),
// and destroys the object once its last handle is closed. So "is <id> alive" is: open
// that name; no such mutex, or a wait of 0 ms that is granted (WAIT_ABANDONED, or
// WAIT_OBJECT_0 after an earlier asker released an abandoned one), means dead; only
// WAIT_TIMEOUT, the owner still holding it, means alive. No thread id, no clock.
//
// Why a false "dead" cannot happen: while the thread runs, nobody else can own its mutex,
// so every wait times out. A false "alive": an id whose mutex is gone can be registered
// again by a new thread while a dead owner's claim is still unrecovered; ids are drawn at
// random from 2^30, so that needs a draw to hit the dead id (about live threads / 2^30).
// A name another user made first (or an object of another type under it) is skipped;
// the DACL grants everyone SYNCHRONIZE and MUTEX_MODIFY_STATE so that a waiter of another
// user can ask, which lets nobody own the mutex before its thread has ended.
#include <windows.h>
#include <sddl.h>

#include <cstdint>
#include <cwchar>

#include "../shmkit.h"

namespace shmkit {
namespace {

constexpr int kTries = 64;

void MutexName(uint32_t id, wchar_t* out, size_t n) {
  swprintf(out, n, L".shmkit-owner-%u", id);
}

// A 30-bit draw, never 0 (splitmix64 over the time, the process and the thread).
uint32_t Draw(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  uint32_t id = static_cast<uint32_t>(z) & 0x3fffffff;
  return id == 0 || id == 0x3fffffff ? 1 : id;  // 0x3fffffff: the parking lot's "no owner" (wait-win.cc)
}

struct Registration {
  uint32_t id = 0;
  HANDLE mutex = nullptr;
  bool tried = false;
  ~Registration() {
    if (mutex != nullptr) {  // the thread is ending: its id goes with it
      ReleaseMutex(mutex);
      CloseHandle(mutex);
    }
  }
};

thread_local Registration self;

void Register() {
  self.tried = true;
  PSECURITY_DESCRIPTOR sd = nullptr;
  // Owner: all access; everyone: SYNCHRONIZE (0x100000) and MUTEX_MODIFY_STATE (0x1), to ask.
  ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P(A;;GA;;;OW)(A;;0x100001;;;WD)", SDDL_REVISION_1, &sd, nullptr);
  SECURITY_ATTRIBUTES sa = {sizeof sa, sd, FALSE};
  LARGE_INTEGER now;
  QueryPerformanceCounter(&now);
  uint64_t state = static_cast<uint64_t>(now.QuadPart) ^ (static_cast<uint64_t>(GetCurrentProcessId()) << 32) ^ GetCurrentThreadId();
  for (int i = 0; i < kTries; i++) {
    uint32_t id = Draw(&state);
    wchar_t name[40];
    MutexName(id, name, 40);
    HANDLE mutex = CreateMutexW(sd != nullptr ? &sa : nullptr, TRUE, name);
    if (mutex == nullptr) continue;  // another type of object, or another user's name
    if (GetLastError() == ERROR_ALREADY_EXISTS) {  // someone's (live, or being asked about): not granted
      CloseHandle(mutex);
      continue;
    }
    self.id = id;
    self.mutex = mutex;
    break;
  }
  if (sd != nullptr) LocalFree(sd);
}

}  // namespace

uint32_t CurrentOwnerId() {
  if (!self.tried) Register();
  return self.id;
}

bool OwnerAlive(uint32_t ownerId) {
  if (ownerId == 0 || ownerId > 0x3fffffff) return false;
  if (ownerId == self.id) return true;
  wchar_t name[40];
  MutexName(ownerId, name, 40);
  HANDLE mutex = OpenMutexW(SYNCHRONIZE | MUTEX_MODIFY_STATE, FALSE, name);
  if (mutex == nullptr) {
    DWORD error = GetLastError();
    // No such object, or one of another type under the name: nobody holds this id.
    // Anything else (access denied by a DACL not ours): cannot tell, so alive.
    return !(error == ERROR_FILE_NOT_FOUND || error == ERROR_INVALID_HANDLE);
  }
  DWORD r = WaitForSingleObject(mutex, 0);
  if (r == WAIT_ABANDONED || r == WAIT_OBJECT_0) ReleaseMutex(mutex);  // granted: its thread has ended
  CloseHandle(mutex);
  return r == WAIT_TIMEOUT || r == WAIT_FAILED;
}

}  // namespace shmkit
