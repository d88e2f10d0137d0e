// Owner ids for crash-safe locks, and whether their owner still lives (macOS). UNTESTED:
// written against Apple's documentation; no Mac has run it yet (README, Platforms).
//
// macOS has no host-wide small thread id that another process can look up (thread ids
// are 64-bit and per-task), so an owner id is the process id (PID_MAX is 99999: 17 bits)
// and a number this process gives each thread that asks (13 bits). Liveness is the
// process's: a lock whose owner process died (or is a zombie) is recovered; a thread
// that ends holding a lock while its process lives on is not noticed, and a recycled
// process id looks alive until that process, too, ends.
#include <errno.h>
#include <libproc.h>
#include <signal.h>
#include <sys/proc.h>
#include <sys/proc_info.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "../shmkit.h"

namespace shmkit {
namespace {

constexpr uint32_t kPidBits = 17;
constexpr uint32_t kPidMask = (1u << kPidBits) - 1;
constexpr uint32_t kThreadBits = 13;

std::atomic<uint32_t> nextThread{0};

}  // namespace

uint32_t CurrentOwnerId() {
  // Thread numbers run 1..8191 and then wrap, sharing numbers among threads of one
  // process that are long gone; 0 is never used, so no id is 0.
  thread_local const uint32_t thread = nextThread.fetch_add(1) % ((1u << kThreadBits) - 1) + 1;
  return (thread << kPidBits) | (static_cast<uint32_t>(getpid()) & kPidMask);
}

bool OwnerAlive(uint32_t ownerId) {
  const pid_t pid = static_cast<pid_t>(ownerId & kPidMask);
  if (pid == 0) return false;
  if (kill(pid, 0) == -1 && errno == ESRCH) return false;
  // A killed process lingers as a zombie until its parent reaps it: it holds nothing.
  struct proc_bsdinfo info;
  if (proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &info, sizeof info) == static_cast<int>(sizeof info)) {
    return info.pbi_status != SZOMB;
  }
  return true;  // cannot tell: alive
}

}  // namespace shmkit
