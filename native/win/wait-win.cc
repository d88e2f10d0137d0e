// Cross-process wait/wake on Windows. Windows has no futex across processes
// (WaitOnAddress works inside one process only), so a waiter parks on a named event and
// registers in a parking lot: a table in a named section that every shmkit process on
// the host maps (layout: docs/memory-layout.md, "The Windows parking lot").
//
// A wait on word w of segment s registers a slot under the key (s, offset of w) in the
// list of bucket key % kBuckets; a wake walks that list and sets the events of up to
// `count` waiters with that key. The word is compared with the bucket locked and a waker
// takes the same lock, so a wake cannot fall between the compare and the registration:
// the futex guarantee. Memory outside any shmkit segment is keyed by process and address,
// so it works too, within the process, as it can only be shared there.
//
// Blocking waits park on their thread's event. Async waits each get an event of their own
// and a thread-pool wait on it (CreateThreadpoolWait): nothing blocks, no thread is made
// per wait, and a wait is registered, like an io_uring futex request on Linux, before
// waitAsync returns.
//
// A bucket lock is held only for memory operations, never across a system call; events
// are opened and set after it is released. Its holder's owner id is in the lock word, so
// a lock whose holder was killed is taken over.
#include <windows.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../shmkit.h"
#include "internal.h"

namespace shmkit {
namespace {

constexpr LONG kBuckets = 4096;
constexpr LONG kSlots = 65536;  // waiters at once, host-wide

constexpr LONG kFree = 0;
constexpr LONG kWaiting = 1;
constexpr LONG kWoken = 2;
constexpr LONG kClaimed = 3;  // taken from the pool, not yet in a bucket's list

struct Slot {
  volatile LONG64 key;  // the word's key
  volatile LONG state;  // kFree, kClaimed, kWaiting, kWoken
  volatile LONG pid;    // the waiter's process
  volatile LONG token;  // with pid, names the waiter's event (EventName)
  volatile LONG next;   // 1 + index of the next slot in the bucket's list; 0 ends it
  LONG64 reserved;
};
static_assert(sizeof(Slot) == 32, "the parking lot layout is shared between processes");

struct Bucket {
  volatile LONG lock;  // owner id (owner-win.cc) of the holder, 0 when free
  volatile LONG head;  // 1 + index of the first slot in the list; 0 when empty
};

struct Lot {
  volatile LONG hint;  // where the next search of the pool for a free slot starts
  LONG reserved[15];
  Bucket buckets[kBuckets];
  Slot slots[kSlots];
};
static_assert(sizeof(Lot) == 64 + 8 * kBuckets + 32 * kSlots, "the parking lot layout is shared between processes");

Lot* TheLot() {
  static Lot* lot = [] {
    // The name carries the layout's version: shmkit builds with another layout use
    // another lot (and cannot wake each other's waiters).
    HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE, 0, sizeof(Lot),
                                  L"shmkit-parking-lot-3");
    if (h == nullptr) return static_cast<Lot*>(nullptr);
    return static_cast<Lot*>(MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0));  // kept for the process's life
  }();
  return lot;
}

// The holder recorded by a thread that could register as no owner (owner-win.cc gave it
// id 0, which would make the lock look free): judged alive, never taken over.
constexpr LONG kNoOwner = 0x3fffffff;

void Lock(Bucket* b) {
  const LONG id = static_cast<LONG>(CurrentOwnerId());
  const LONG me = id != 0 ? id : kNoOwner;
  for (unsigned spins = 0;; spins++) {
    LONG owner = InterlockedCompareExchange(&b->lock, me, 0);
    if (owner == 0) return;
    if (spins < 64) {
      YieldProcessor();
      continue;
    }
    // The holder may have been preempted: give it the CPU. Now and then, check that it
    // is still alive (a process killed while it held the lock never releases it).
    if (spins % 1024 == 1023 && owner != kNoOwner && !OwnerAlive(static_cast<uint32_t>(owner)) &&
        InterlockedCompareExchange(&b->lock, me, owner) == owner) {
      return;
    }
    SwitchToThread();
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

// The key of a word: its segment's name and offset, or for memory outside any shmkit
// segment, this process and the address.
uint64_t KeyOf(const uint32_t* addr) {
  std::string name;
  uint64_t offset = 0;
  if (FindMapping(addr, &name, &offset)) return Key(name, offset);
  return Key("\x01process:" + std::to_string(GetCurrentProcessId()), reinterpret_cast<uintptr_t>(addr));
}

std::wstring EventName(LONG pid, LONG token) {
  wchar_t buf[64];
  swprintf(buf, 64, L"shmkit-park-%ld-%ld", static_cast<long>(pid), static_cast<long>(token));
  return buf;
}

// Whether the waiter that registered as (pid, token) still exists: its event does.
bool WaiterAlive(LONG pid, LONG token) {
  HANDLE e = OpenEventW(SYNCHRONIZE, FALSE, EventName(pid, token).c_str());
  if (e == nullptr) return GetLastError() == ERROR_ACCESS_DENIED;
  CloseHandle(e);
  return true;
}

Bucket* BucketOf(Lot* lot, uint64_t key) {
  return &lot->buckets[key % kBuckets];
}

// Takes a free slot from the pool, or returns -1 if there is none.
LONG Claim(Lot* lot) {
  for (LONG n = 0; n < kSlots; n++) {
    LONG i = InterlockedIncrement(&lot->hint) & (kSlots - 1);
    if (InterlockedCompareExchange(&lot->slots[i].state, kClaimed, kFree) == kFree) return i;
  }
  return -1;
}

// Takes slot i out of its bucket's list, if it is in it. The caller holds the bucket lock.
void Unlink(Lot* lot, Bucket* b, LONG i) {
  for (volatile LONG* link = &b->head; *link != 0; link = &lot->slots[*link - 1].next) {
    if (*link == i + 1) {
      *link = lot->slots[i].next;
      return;
    }
  }
}

// A waiter seen in slot `index` as (pid, token), found to have no event any more.
struct Seen {
  LONG index, pid, token;
};

// Frees slot `seen.index` if it still holds that waiter (its process died while it
// waited): a slot freed and taken again meanwhile belongs to someone else.
void FreeIfStill(Lot* lot, Bucket* b, const Seen& seen) {
  Slot& s = lot->slots[seen.index];
  Lock(b);
  if (s.state != kFree && s.pid == seen.pid && s.token == seen.token) {
    Unlink(lot, b, seen.index);
    InterlockedExchange(&s.state, kFree);
  }
  Unlock(b);
}

// Frees the slots of waiters that are gone (their process died while they waited), in
// every bucket. Only run when the pool is exhausted, since it opens an event per slot.
void SweepDead(Lot* lot) {
  for (Bucket& b : lot->buckets) {
    std::vector<Seen> waiters;
    Lock(&b);
    for (LONG link = b.head; link != 0; link = lot->slots[link - 1].next) {
      waiters.push_back({link - 1, lot->slots[link - 1].pid, lot->slots[link - 1].token});
    }
    Unlock(&b);
    for (const Seen& w : waiters) {
      if (!WaiterAlive(w.pid, w.token)) FreeIfStill(lot, &b, w);
    }
  }
}

// Registers the waiter (pid, token) on `addr` unless it no longer holds `expected`.
// Returns the slot's index; or -1 with kNotEqual, or -1 with kOk when the pool is full
// (the caller reports a spurious wake-up, which every shmkit primitive tolerates).
LONG Register(Lot* lot, uint32_t* addr, uint32_t expected, LONG token, WaitResult* early) {
  const uint64_t key = KeyOf(addr);
  LONG i = Claim(lot);
  if (i < 0) {
    SweepDead(lot);
    i = Claim(lot);
  }
  if (i < 0) {
    Sleep(1);
    *early = WaitResult::kOk;
    return -1;
  }
  Slot& s = lot->slots[i];
  s.key = static_cast<LONG64>(key);
  s.pid = static_cast<LONG>(GetCurrentProcessId());
  s.token = token;
  s.next = 0;
  Bucket* b = BucketOf(lot, key);
  Lock(b);
  if (*reinterpret_cast<volatile uint32_t*>(addr) != expected) {
    Unlock(b);
    InterlockedExchange(&s.state, kFree);
    *early = WaitResult::kNotEqual;
    return -1;
  }
  s.state = kWaiting;
  volatile LONG* link = &b->head;  // appended, so that waiters are woken in arrival order
  while (*link != 0) link = &lot->slots[*link - 1].next;
  *link = i + 1;
  Unlock(b);
  return i;
}

// Takes slot i out of its bucket and frees it. True if a waker had woken it.
bool Deregister(Lot* lot, LONG i) {
  Slot& s = lot->slots[i];
  Bucket* b = BucketOf(lot, static_cast<uint64_t>(s.key));
  Lock(b);
  const bool woken = s.state == kWoken;
  Unlink(lot, b, i);
  Unlock(b);
  InterlockedExchange(&s.state, kFree);
  return woken;
}

DWORD MillisLeft(ULONGLONG deadline) {
  if (deadline == ~0ull) return INFINITE;
  ULONGLONG now = GetTickCount64();
  if (now >= deadline) return 0;
  ULONGLONG ms = deadline - now;
  return ms >= INFINITE ? INFINITE - 1 : static_cast<DWORD>(ms);
}

// This thread's parking event (auto-reset), closed when the thread ends. Its token is
// the thread id, a multiple of 4; async waits use odd tokens, so the two never meet.
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

}  // namespace

WaitResult WaitAddress(uint32_t* addr, uint32_t expected, int64_t timeoutNs) {
  Lot* lot = TheLot();
  HANDLE event = MyEvent();
  if (lot == nullptr || event == nullptr) {  // no parking lot: look at the word, then sleep briefly
    if (*reinterpret_cast<volatile uint32_t*>(addr) != expected) return WaitResult::kNotEqual;
    Sleep(1);
    return WaitResult::kOk;
  }
  const ULONGLONG deadline = timeoutNs < 0 ? ~0ull : GetTickCount64() + static_cast<ULONGLONG>((timeoutNs + 999999) / 1000000);
  WaitForSingleObject(event, 0);  // drop a wake-up left over from an earlier wait
  WaitResult early;
  LONG i = Register(lot, addr, expected, static_cast<LONG>(GetCurrentThreadId()), &early);
  if (i < 0) return early;
  DWORD r;
  do {
    r = WaitForSingleObject(event, MillisLeft(deadline));
    // A set without kWoken is stray (a waker that marked us woken in an earlier wait,
    // then set the event after that wait had timed out): sleep on.
  } while (r == WAIT_OBJECT_0 && lot->slots[i].state != kWoken);
  const bool woken = Deregister(lot, i);
  if (!woken) return WaitResult::kTimedOut;
  if (r != WAIT_OBJECT_0) WaitForSingleObject(event, 0);  // woken just as the wait timed out
  return WaitResult::kOk;
}

int WakeAddress(uint32_t* addr, int count) {
  Lot* lot = TheLot();
  if (lot == nullptr) return 0;
  const LONG64 key = static_cast<LONG64>(KeyOf(addr));
  Bucket* b = BucketOf(lot, static_cast<uint64_t>(key));
  int n = 0;
  while (n < count) {
    std::vector<Seen> woken;
    Lock(b);
    for (LONG link = b->head; link != 0 && n + static_cast<int>(woken.size()) < count; link = lot->slots[link - 1].next) {
      Slot& s = lot->slots[link - 1];
      if (s.key != key || s.state != kWaiting) continue;
      s.state = kWoken;
      woken.push_back({link - 1, s.pid, s.token});
    }
    Unlock(b);
    if (woken.empty()) break;
    // Their events are set outside the lock. A waiter whose process has died has no
    // event any more: its slot is taken out, and another waiter is woken in its place.
    // One whose event this process may not open (another user's, ERROR_ACCESS_DENIED)
    // lives: its slot stays its own, to deregister itself, as WaiterAlive judges too.
    for (const Seen& w : woken) {
      HANDLE e = OpenEventW(EVENT_MODIFY_STATE, FALSE, EventName(w.pid, w.token).c_str());
      if (e == nullptr) {
        if (GetLastError() != ERROR_ACCESS_DENIED) FreeIfStill(lot, b, w);
        continue;
      }
      SetEvent(e);
      CloseHandle(e);
      n++;
    }
  }
  return n;
}

namespace {

// Async waits: a registration in the lot, an event of its own, and a thread-pool wait on
// that event with the time limit. Exactly one of the callback, Cancel and the destructor
// finishes a wait (whoever flips `finished`); the callback owns it when it wins.
struct PoolWaits;

struct PendingWait {
  std::shared_ptr<PoolWaits> owner;
  uint64_t id;
  LONG slot;
  HANDLE event;
  PTP_WAIT wait = nullptr;
  std::atomic<bool> finished{false};
};

struct PoolWaits {
  AsyncWaits::Done done;
  void* context;
  std::mutex mu;
  std::unordered_map<uint64_t, PendingWait*> pending;
};

std::atomic<LONG> nextToken{1};

// Frees a wait that has been taken out of `pending` and whose callback cannot run again.
// True if a waker had woken it: the wake-up it took must be reported, not dropped.
bool Release(PendingWait* w) {
  const bool woken = Deregister(TheLot(), w->slot);
  CloseHandle(w->event);
  CloseThreadpoolWait(w->wait);
  delete w;
  return woken;
}

VOID CALLBACK OnWait(PTP_CALLBACK_INSTANCE, PVOID context, PTP_WAIT, TP_WAIT_RESULT waitResult) {
  auto* w = static_cast<PendingWait*>(context);
  if (w->finished.exchange(true)) return;  // Cancel or the destructor is finishing it
  std::shared_ptr<PoolWaits> owner = w->owner;
  {
    std::lock_guard<std::mutex> lock(owner->mu);
    owner->pending.erase(w->id);
  }
  const uint64_t id = w->id;
  const bool woken = Deregister(TheLot(), w->slot);
  // The event is set only by a waker that marked the slot woken (or, if a recycled
  // process id made two waiters' event names meet, by a waker of the other: then this
  // is a spurious wake-up, which the Atomics contract's callers loop over anyway).
  const WaitResult result = woken || waitResult == WAIT_OBJECT_0 ? WaitResult::kOk : WaitResult::kTimedOut;
  CloseHandle(w->event);
  CloseThreadpoolWait(w->wait);  // allowed from its own callback: freed once this returns
  delete w;
  owner->done(owner->context, id, result);
}

// Stops a wait whose `finished` the caller has just won: no callback runs after this.
void Disarm(PendingWait* w) {
  SetThreadpoolWait(w->wait, nullptr, nullptr);
  WaitForThreadpoolWaitCallbacks(w->wait, TRUE);
}

class PoolAsyncWaits final : public AsyncWaits {
 public:
  PoolAsyncWaits(Done done, void* context) : state_(std::make_shared<PoolWaits>()) {
    state_->done = done;
    state_->context = context;
  }

  ~PoolAsyncWaits() override {
    std::vector<PendingWait*> mine;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      for (auto& [id, w] : state_->pending) {
        if (!w->finished.exchange(true)) mine.push_back(w);
      }
      state_->pending.clear();
    }
    for (PendingWait* w : mine) {
      Disarm(w);
      Release(w);
    }
  }

  bool Start(uint64_t id, uint32_t* addr, uint32_t expected, int64_t timeoutNs) override {
    Lot* lot = TheLot();
    if (lot == nullptr) {
      errno = ENOMEM;
      return false;
    }
    // Odd tokens, so that they never equal a thread id (a multiple of 4).
    const LONG token = (nextToken.fetch_add(1) & 0x3fffffff) * 2 + 1;
    HANDLE event = CreateEventW(nullptr, FALSE, FALSE, EventName(static_cast<LONG>(GetCurrentProcessId()), token).c_str());
    if (event == nullptr) {
      errno = ErrnoFromWin32(GetLastError());
      return false;
    }
    WaitResult early;
    LONG slot = Register(lot, addr, expected, token, &early);
    if (slot < 0) {
      CloseHandle(event);
      state_->done(state_->context, id, early);
      return true;
    }
    auto* w = new PendingWait{state_, id, slot, event};
    w->wait = CreateThreadpoolWait(OnWait, w, nullptr);
    if (w->wait == nullptr) {
      errno = ErrnoFromWin32(GetLastError());
      Deregister(lot, slot);
      CloseHandle(event);
      delete w;
      return false;
    }
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->pending[id] = w;
    }
    // A relative time limit is a negative count of 100 ns units.
    ULARGE_INTEGER due;
    due.QuadPart = static_cast<ULONGLONG>(-(timeoutNs / 100));
    FILETIME ft;
    ft.dwLowDateTime = due.LowPart;
    ft.dwHighDateTime = due.HighPart;
    SetThreadpoolWait(w->wait, event, timeoutNs < 0 ? nullptr : &ft);
    return true;
  }

  void Cancel(uint64_t id) override {
    PendingWait* w = nullptr;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      auto it = state_->pending.find(id);
      if (it == state_->pending.end() || it->second->finished.exchange(true)) return;
      w = it->second;
      state_->pending.erase(it);
    }
    Disarm(w);
    // A waker that marked this slot woken counted it among the waiters it woke and woke
    // no other in its place: the wait ends as a wake-up, so that the caller (who gave up
    // on it) hands the wake-up on instead of swallowing it.
    const bool woken = Release(w);
    state_->done(state_->context, id, woken ? WaitResult::kOk : WaitResult::kCancelled);
  }

  const char* Backend() const override { return "threadpool"; }

 private:
  std::shared_ptr<PoolWaits> state_;
};

}  // namespace

AsyncWaits* AsyncWaits::Create(Done done, void* context) {
  return new PoolAsyncWaits(done, context);
}

}  // namespace shmkit
