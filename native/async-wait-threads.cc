// The portable way to wait without blocking the JavaScript thread: each pending wait
// gets a thread of its own, asleep in WaitAddress. Used where the platform offers
// nothing better (Linux without io_uring futex support, or when SHMKIT_WAIT_BACKEND=threads).
//
// A pending wait cannot be interrupted without waking the word for every process, so a
// thread sleeps in slices of at most kSliceNs and looks at its cancelled flag between
// slices: a cancelled wait releases its thread within a slice. The JavaScript side has
// already settled the cancelled promise by then and ignores the late report.
#include <errno.h>

#include <atomic>
#include <cstdint>
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "shmkit.h"

namespace shmkit {
namespace {

constexpr int64_t kSliceNs = 1000000000;  // 1 s

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Shared between the owner and its threads, so that a thread finishing after the
// environment is gone touches nothing that was freed.
struct State {
  std::mutex mu;
  bool closed = false;
  AsyncWaits::Done done;
  void* context;
  std::unordered_map<uint64_t, std::shared_ptr<std::atomic<bool>>> cancelled;
};

class ThreadAsyncWaits final : public AsyncWaits {
 public:
  ThreadAsyncWaits(Done done, void* context) : state_(std::make_shared<State>()) {
    state_->done = done;
    state_->context = context;
  }

  ~ThreadAsyncWaits() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->closed = true;
    for (auto& entry : state_->cancelled) entry.second->store(true);
  }

  bool Start(uint64_t id, uint32_t* addr, uint32_t expected, int64_t timeoutNs) override {
    auto flag = std::make_shared<std::atomic<bool>>(false);
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->cancelled[id] = flag;
    }
    std::shared_ptr<State> state = state_;
    int error = 0;
    bool started = StartThread([state, flag, id, addr, expected, timeoutNs] {
      const int64_t deadline = timeoutNs < 0 ? -1 : NowNs() + timeoutNs;
      WaitResult result = WaitResult::kCancelled;
      for (bool first = true; !flag->load(); first = false) {
        int64_t left = deadline < 0 ? kSliceNs : deadline - NowNs();
        if (left <= 0) {
          result = WaitResult::kTimedOut;
          break;
        }
        WaitResult r = WaitAddress(addr, expected, left < kSliceNs ? left : kSliceNs);
        if (r == WaitResult::kTimedOut) continue;  // a slice ended; look at the flag again
        // After the first slice, a changed word means we may have slept through the
        // wake that came with the change: report it as one.
        result = (r == WaitResult::kNotEqual && !first) ? WaitResult::kOk : r;
        break;
      }
      std::lock_guard<std::mutex> lock(state->mu);
      state->cancelled.erase(id);
      if (!state->closed) state->done(state->context, id, result);
    }, &error);
    if (!started) {  // no thread to be had (ulimit -u, memory): an error for the caller
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->cancelled.erase(id);
      errno = error;
      return false;
    }
    return true;
  }

  void Cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto it = state_->cancelled.find(id);
    if (it != state_->cancelled.end()) it->second->store(true);
  }

  const char* Backend() const override { return "threads"; }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

AsyncWaits* CreateThreadAsyncWaits(AsyncWaits::Done done, void* context) {
  return new ThreadAsyncWaits(done, context);
}

}  // namespace shmkit
