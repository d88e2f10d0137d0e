// Owner ids and liveness on Windows. Thread ids are multiples of 4 below 2^32, so the
// id shifted right by two fits the 30 bits a lock word has for it. Unlike Linux, no bits
// are left for the thread's start time: a thread id that Windows recycles quickly can
// look like a living owner until that thread, too, ends.
#include <windows.h>

#include "../shmkit.h"

namespace shmkit {

uint32_t CurrentOwnerId() {
  return (GetCurrentThreadId() >> 2) & 0x3fffffff;
}

bool OwnerAlive(uint32_t ownerId) {
  if (ownerId == 0) return false;
  HANDLE thread = OpenThread(THREAD_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(ownerId) << 2);
  if (thread == nullptr) return GetLastError() != ERROR_INVALID_PARAMETER;  // unsure: alive
  DWORD code = 0;
  bool alive = GetExitCodeThread(thread, &code) == 0 || code == STILL_ACTIVE;
  CloseHandle(thread);
  return alive;
}

}  // namespace shmkit
