// Cross-process wait/wake on a 32-bit word: Linux futexes on a shared mapping. The
// operations are the shared ones (no FUTEX_PRIVATE_FLAG): the kernel keys the wait on
// the physical page, so any process mapping the segment meets the same queue.
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

#include "../shmkit.h"

namespace shmkit {
namespace {

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

WaitResult WaitAddress(uint32_t* addr, uint32_t expected, int64_t timeoutNs) {
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a wait restarted
  // after EINTR keeps its original deadline instead of starting the clock again.
  const int64_t deadline = timeoutNs < 0 ? -1 : MonotonicNs() + timeoutNs;
  struct timespec abs;
  if (deadline >= 0) {
    abs.tv_sec = deadline / 1000000000;
    abs.tv_nsec = deadline % 1000000000;
  }
  for (;;) {
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, expected, deadline < 0 ? nullptr : &abs,
                     nullptr, FUTEX_BITSET_MATCH_ANY);
    if (r == 0) return WaitResult::kOk;
    if (errno == EAGAIN) return WaitResult::kNotEqual;
    if (errno == ETIMEDOUT) return WaitResult::kTimedOut;
    if (errno != EINTR) return WaitResult::kNotEqual;  // EFAULT/EINVAL: JS checked the address
  }
}

int WakeAddress(uint32_t* addr, int count) {
  long r = syscall(SYS_futex, addr, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return r < 0 ? 0 : static_cast<int>(r);
}

}  // namespace shmkit
