// Cross-process wait/wake on a 32-bit word, macOS. UNTESTED: written against Apple's
// documentation and headers; no Mac has run it yet (README, Platforms).
//
// macOS 14.4 and later: os_sync_wait_on_address / os_sync_wake_by_address_* with
// OS_SYNC_WAIT_ON_ADDRESS_SHARED, the documented cross-process address wait. Older
// macOS: __ulock_wait / __ulock_wake with UL_COMPARE_AND_WAIT_SHARED, the private
// system calls libc++'s std::atomic::wait and Chromium use for the same purpose.
// Both compare the word in the kernel before sleeping, as a futex does.
//
// The new calls are looked up at run time (dlsym), not linked: a weak import depends on
// the linker keeping it weak (zig's drops it, and the addon would then fail to load on
// macOS before 14.4), and the SDK's headers for them are not needed to build.
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "../shmkit.h"

extern "C" {
// bsd/sys/ulock.h (private, stable since macOS 10.12)
int __ulock_wait(uint32_t operation, void* addr, uint64_t value, uint32_t timeout_us);
int __ulock_wake(uint32_t operation, void* addr, uint64_t wake_value);
}

namespace shmkit {
namespace {

constexpr uint32_t kOsSyncShared = 0x00000001;         // OS_SYNC_WAIT_ON_ADDRESS_SHARED / OS_SYNC_WAKE_BY_ADDRESS_SHARED
constexpr uint32_t kOsClockMachAbsolute = 32;          // OS_CLOCK_MACH_ABSOLUTE_TIME
constexpr uint32_t kUlCompareAndWaitShared = 3;        // UL_COMPARE_AND_WAIT_SHARED
constexpr uint32_t kUlfWakeAll = 0x00000100;           // ULF_WAKE_ALL
constexpr uint32_t kUlfNoErrno = 0x01000000;           // ULF_NO_ERRNO: errors as negative returns

// <os/os_sync_wait_on_address.h> (macOS 14.4)
struct OsSync {
  int (*wait)(void* addr, uint64_t value, size_t size, uint32_t flags);
  int (*waitWithTimeout)(void* addr, uint64_t value, size_t size, uint32_t flags, uint32_t clockid, uint64_t timeout_ns);
  int (*wakeAny)(void* addr, size_t size, uint32_t flags);
  int (*wakeAll)(void* addr, size_t size, uint32_t flags);
};

// All four, or none (then __ulock_*): looked up once, on first use.
const OsSync& Os() {
  static const OsSync os = [] {
    OsSync o;
    o.wait = reinterpret_cast<decltype(o.wait)>(dlsym(RTLD_DEFAULT, "os_sync_wait_on_address"));
    o.waitWithTimeout = reinterpret_cast<decltype(o.waitWithTimeout)>(dlsym(RTLD_DEFAULT, "os_sync_wait_on_address_with_timeout"));
    o.wakeAny = reinterpret_cast<decltype(o.wakeAny)>(dlsym(RTLD_DEFAULT, "os_sync_wake_by_address_any"));
    o.wakeAll = reinterpret_cast<decltype(o.wakeAll)>(dlsym(RTLD_DEFAULT, "os_sync_wake_by_address_all"));
    if (o.wait == nullptr || o.waitWithTimeout == nullptr || o.wakeAny == nullptr || o.wakeAll == nullptr) o = OsSync{};
    return o;
  }();
  return os;
}

bool HaveOsSync() {
  return Os().wait != nullptr;
}

int64_t MonotonicNs() {
  return static_cast<int64_t>(clock_gettime_nsec_np(CLOCK_UPTIME_RAW));
}

}  // namespace

WaitResult WaitAddress(uint32_t* addr, uint32_t expected, int64_t timeoutNs) {
  const int64_t deadline = timeoutNs < 0 ? -1 : MonotonicNs() + timeoutNs;
  // The word is compared by the kernel, never read here: an async wait's thread may still
  // be in this loop when its segment is closed and unmapped, and a load of unmapped memory
  // would be SIGSEGV where the kernel's read is EFAULT.
  for (;;) {
    int64_t left = deadline < 0 ? -1 : deadline - MonotonicNs();
    if (deadline >= 0 && left <= 0) return WaitResult::kTimedOut;
    int r;
    if (HaveOsSync()) {
      // The timeout is relative, in nanoseconds of the given clock; an interrupted wait
      // comes back round this loop with what is left of it.
      r = left < 0 ? Os().wait(addr, expected, 4, kOsSyncShared)
                   : Os().waitWithTimeout(addr, expected, 4, kOsSyncShared, kOsClockMachAbsolute, static_cast<uint64_t>(left));
      if (r >= 0) return WaitResult::kOk;
      if (errno == ETIMEDOUT) continue;  // the loop decides against the deadline
      if (errno == EINTR) continue;
      return WaitResult::kNotEqual;  // EFAULT (unmapped), or the word differs
    }
    // __ulock_wait takes microseconds, 0 meaning no limit.
    uint32_t us = left < 0 ? 0 : static_cast<uint32_t>(left / 1000 > UINT32_MAX ? UINT32_MAX : (left / 1000 == 0 ? 1 : left / 1000));
    r = __ulock_wait(kUlCompareAndWaitShared | kUlfNoErrno, addr, expected, us);
    if (r >= 0) return WaitResult::kOk;
    if (r == -ETIMEDOUT || r == -EINTR) continue;
    return WaitResult::kNotEqual;  // EFAULT (unmapped), or the word differs
  }
}

namespace {

// Wakes one waiter; false if there was none.
bool WakeOne(uint32_t* addr) {
  if (HaveOsSync()) return Os().wakeAny(addr, 4, kOsSyncShared) == 0;
  return __ulock_wake(kUlCompareAndWaitShared | kUlfNoErrno, addr, 0) == 0;
}

}  // namespace

int WakeAddress(uint32_t* addr, int count) {
  // Neither mechanism says how many a wake-all woke, so a finite count wakes one at a
  // time (exact, as on Linux); "all" reports 1 if it woke any.
  if (count < INT32_MAX) {
    int n = 0;
    while (n < count && WakeOne(addr)) n++;
    return n;
  }
  if (HaveOsSync()) return Os().wakeAll(addr, 4, kOsSyncShared) == 0 ? 1 : 0;
  return __ulock_wake(kUlCompareAndWaitShared | kUlfNoErrno | kUlfWakeAll, addr, 0) == 0 ? 1 : 0;
}

AsyncWaits* AsyncWaits::Create(Done done, void* context) {
  return CreateThreadAsyncWaits(done, context);  // a thread per pending wait
}

}  // namespace shmkit
