// Owner ids for crash-safe locks, and whether their thread still lives (Linux).
//
// A lock word holds its owner's id. When a waiter has slept long enough to suspect the
// owner, it asks OwnerAlive; a thread that has exited (or a process that was killed)
// is gone from /proc, and a TID the kernel has since handed to a new thread is caught
// by the start-time bits.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../shmkit.h"

namespace shmkit {
namespace {

constexpr uint32_t kTidBits = 22;  // PID_MAX_LIMIT on 64-bit Linux is 2^22
constexpr uint32_t kTidMask = (1u << kTidBits) - 1;

// Reads field 3 (state) and field 22 (start time, in clock ticks since boot) of
// /proc/<tid>/stat. Returns false if the thread does not exist; sets *known false if
// /proc cannot say.
bool ThreadStat(uint32_t tid, char* state, uint64_t* start, bool* known) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/stat", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *known = errno == ENOENT || errno == ESRCH;
    return false;
  }
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  *known = false;
  if (n <= 0) return true;
  buf[n] = '\0';
  // The command name (field 2) is in parentheses and may itself contain ") ".
  const char* p = strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ') return true;
  *state = p[2];
  // After ")" come fields 3, 4, …, each behind one space; stop at the one before 22.
  for (int field = 3; field <= 22; field++) {
    p = strchr(p + 1, ' ');
    if (p == nullptr) return true;
  }
  *start = strtoull(p + 1, nullptr, 10);
  *known = true;
  return true;
}

}  // namespace

uint32_t CurrentOwnerId() {
  uint32_t tid = static_cast<uint32_t>(syscall(SYS_gettid)) & kTidMask;
  uint64_t start = 0;
  char state = 0;
  bool known = false;
  ThreadStat(tid, &state, &start, &known);
  return ((static_cast<uint32_t>(start) & 0xff) << kTidBits) | tid;
}

bool OwnerAlive(uint32_t ownerId) {
  uint32_t tid = ownerId & kTidMask;
  if (tid == 0) return false;
  uint64_t start = 0;
  char state = 0;
  bool known = false;
  if (!ThreadStat(tid, &state, &start, &known)) return !known;
  if (!known) return kill(static_cast<pid_t>(tid), 0) == 0 || errno == EPERM;
  // A killed process lingers as a zombie until its parent reaps it: it holds nothing.
  if (state == 'Z' || state == 'X' || state == 'x') return false;
  return (static_cast<uint32_t>(start) & 0xff) == (ownerId >> kTidBits);
}

}  // namespace shmkit
