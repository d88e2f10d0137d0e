// Cross-process wait/wake on Windows. Windows has no futex across processes
// (WaitOnAddress works inside one process only), so a waiter parks on a named event of
// its own thread and registers in a parking lot: a small table in a named section that
// every shmkit process on the host maps. A wait on word w of segment s registers under
// the key (s, offset of w) in bucket key % kBuckets; a wake looks up that bucket and sets
// the events of up to `count` registered waiters. The value is compared with the bucket
// locked, and a waker takes the same lock, so a wake cannot fall between the compare and
// the registration: the futex guarantee. Addresses outside any shmkit segment fall back
// to WaitOnAddress, which is as far as anyone could share them anyway.
#include <windows.h>

#include <cstdio>
#include <string>

#include "../shmkit.h"
#include "internal.h"

namespace shmkit {
namespace {

constexpr int kBuckets = 256;
constexpr int kSlots = 30;
constexpr LONG kFree = 0;
constexpr LONG kWaiting = 1;
constexpr LONG kWoken = 2;

struct Slot {
  volatile LONG64 key;
  volatile LONG state;
  volatile LONG pid;
  volatile LONG tid;
  LONG reserved;
};

struct Bucket {
  volatile LONG lock;  // owner id (thread-win.cc) of the holder, 0 when free
  LONG reserved;
  Slot slots[kSlots];
};

Bucket* Lot() {
  static Bucket* lot = [] {
    HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE, 0, sizeof(Bucket) * kBuckets,
                                  L"shmkit-parking-lot-1");
    if (h == nullptr) return static_cast<Bucket*>(nullptr);
    return static_cast<Bucket*>(MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0));  // kept for the process's life
  }();
  return lot;
}

void Lock(Bucket* b) {
  const LONG me = static_cast<LONG>(CurrentOwnerId());
  for (unsigned spins = 0;; spins++) {
    LONG owner = InterlockedCompareExchange(&b->lock, me, 0);
    if (owner == 0) return;
    if (spins % 4096 == 4095) {
      // Held for long: if its holder died (a process killed mid-operation), take it over.
      if (!OwnerAlive(static_cast<uint32_t>(owner)) && InterlockedCompareExchange(&b->lock, me, owner) == owner) return;
      Sleep(0);
    } else {
      YieldProcessor();
    }
  }
}

void Unlock(Bucket* b) {
  InterlockedExchange(&b->lock, 0);
}

uint64_t Key(const std::string& name, uint64_t offset) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  h = (h ^ offset) * 1099511628211ull;
  return h == 0 ? 1 : h;
}

std::wstring EventName(LONG pid, LONG tid) {
  wchar_t buf[64];
  swprintf(buf, 64, L"shmkit-park-%ld-%ld", static_cast<long>(pid), static_cast<long>(tid));
  return buf;
}

// This thread's parking event (auto-reset), closed when the thread ends.
struct ParkingEvent {
  HANDLE handle;
  ParkingEvent() {
    handle = CreateEventW(nullptr, FALSE, FALSE,
                          EventName(static_cast<LONG>(GetCurrentProcessId()), static_cast<LONG>(GetCurrentThreadId())).c_str());
  }
  ~ParkingEvent() {
    if (handle != nullptr) CloseHandle(handle);
  }
};

HANDLE MyEvent() {
  thread_local ParkingEvent event;
  return event.handle;
}

// Frees slots whose waiter is gone (its event no longer exists: its process died).
void Sweep(Bucket* b) {
  for (Slot& s : b->slots) {
    if (s.state == kFree) continue;
    HANDLE e = OpenEventW(SYNCHRONIZE, FALSE, EventName(s.pid, s.tid).c_str());
    if (e != nullptr) {
      CloseHandle(e);
      continue;
    }
    s.key = 0;
    s.state = kFree;
  }
}

DWORD Millis(int64_t timeoutNs) {
  if (timeoutNs < 0) return INFINITE;
  int64_t ms = (timeoutNs + 999999) / 1000000;
  return ms >= INFINITE ? INFINITE - 1 : static_cast<DWORD>(ms);
}

}  // namespace

WaitResult WaitAddress(uint32_t* addr, uint32_t expected, int64_t timeoutNs) {
  std::string name;
  uint64_t offset = 0;
  const DWORD ms = Millis(timeoutNs);
  Bucket* lot = Lot();
  HANDLE event = MyEvent();
  if (!FindMapping(addr, &name, &offset) || lot == nullptr || event == nullptr) {
    if (*reinterpret_cast<volatile uint32_t*>(addr) != expected) return WaitResult::kNotEqual;
    if (WaitOnAddress(addr, &expected, sizeof expected, ms)) return WaitResult::kOk;
    return GetLastError() == ERROR_TIMEOUT ? WaitResult::kTimedOut : WaitResult::kOk;
  }
  const uint64_t key = Key(name, offset);
  Bucket* b = &lot[key % kBuckets];
  WaitForSingleObject(event, 0);  // drop a wake-up left over from an earlier wait
  Lock(b);
  if (*reinterpret_cast<volatile uint32_t*>(addr) != expected) {
    Unlock(b);
    return WaitResult::kNotEqual;
  }
  Slot* slot = nullptr;
  for (int pass = 0; pass < 2 && slot == nullptr; pass++) {
    if (pass == 1) Sweep(b);
    for (Slot& s : b->slots) {
      if (s.state == kFree) {
        slot = &s;
        break;
      }
    }
  }
  if (slot == nullptr) {  // the bucket is full: a short sleep, reported as a spurious wake
    Unlock(b);
    Sleep(1);
    return WaitResult::kOk;
  }
  slot->pid = static_cast<LONG>(GetCurrentProcessId());
  slot->tid = static_cast<LONG>(GetCurrentThreadId());
  slot->key = static_cast<LONG64>(key);
  slot->state = kWaiting;
  Unlock(b);
  DWORD r = WaitForSingleObject(event, ms);
  Lock(b);
  const bool woken = slot->state == kWoken;
  slot->key = 0;
  slot->state = kFree;
  Unlock(b);
  if (woken) {
    if (r != WAIT_OBJECT_0) WaitForSingleObject(event, 0);  // woken just as the wait timed out
    return WaitResult::kOk;
  }
  return WaitResult::kTimedOut;
}

int WakeAddress(uint32_t* addr, int count) {
  std::string name;
  uint64_t offset = 0;
  Bucket* lot = Lot();
  if (!FindMapping(addr, &name, &offset) || lot == nullptr) {
    if (count == 1) WakeByAddressSingle(addr);
    else WakeByAddressAll(addr);
    return 0;  // WaitOnAddress does not say how many it woke
  }
  const LONG64 key = static_cast<LONG64>(Key(name, offset));
  Bucket* b = &lot[static_cast<uint64_t>(key) % kBuckets];
  int woken = 0;
  Lock(b);
  for (Slot& s : b->slots) {
    if (woken >= count) break;
    if (s.key != key || s.state != kWaiting) continue;
    HANDLE e = OpenEventW(EVENT_MODIFY_STATE, FALSE, EventName(s.pid, s.tid).c_str());
    if (e == nullptr) {  // its process died while registered
      s.key = 0;
      s.state = kFree;
      continue;
    }
    s.state = kWoken;
    SetEvent(e);
    CloseHandle(e);
    woken++;
  }
  Unlock(b);
  return woken;
}

AsyncWaits* AsyncWaits::Create(Done done, void* context) {
  return CreateThreadAsyncWaits(done, context);  // a thread per pending wait, parked as above
}

}  // namespace shmkit
