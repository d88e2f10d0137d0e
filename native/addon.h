// What the Node-API glue files share: the per-environment state of the addon (one per
// main thread or Worker that loads it), and their registration functions.
#ifndef SHMKIT_NATIVE_ADDON_H_
#define SHMKIT_NATIVE_ADDON_H_

#include <napi.h>

#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "shmkit.h"

namespace shmkit {

struct AddonData {
  Napi::FunctionReference segmentConstructor;
  Napi::FunctionReference semaphoreConstructor;

  // Async waits: started on the JavaScript thread, completed on whatever thread the
  // platform's mechanism uses, reported back through `deliver`.
  AsyncWaits* waits = nullptr;
  Napi::ThreadSafeFunction deliver;
  Napi::FunctionReference onComplete;  // JavaScript's (id, result) handler
  std::mutex completedMu;
  std::vector<std::pair<uint64_t, WaitResult>> completed;
  bool deliveryScheduled = false;
  uint32_t pending = 0;  // waits started and not yet reported; the loop stays alive while > 0

  ~AddonData();
};

// Throws a TypeError/RangeError with a Node-style `code`.
void ThrowCoded(Napi::Env env, Napi::Error error, const char* code);

// Throws the plain error lib/core/errors.ts turns into a Node system error.
void ThrowOsError(Napi::Env env, const OsError& err, const std::string& name);

// Checks a name that the OS will see; throws and returns false if it is not valid.
bool ValidateName(Napi::Env env, const Napi::Value& value, size_t maxBytes, std::string* out);

// Milliseconds as Atomics.wait takes them (NaN, +Infinity: no limit; below 0: 0) to
// nanoseconds, -1 meaning no limit.
int64_t TimeoutNs(const Napi::Value& value);

// Async operations other than address waits (named semaphores) report through the same
// channel as async waits: AsyncStarted on the JavaScript thread when one begins, then
// ReportAsync(data, id, result) from any thread when it ends.
void AsyncStarted(Napi::Env env);
void ReportAsync(void* data, uint64_t id, WaitResult result);

// Registers the wait/notify functions (native/wait.cc).
void InitWait(Napi::Env env, Napi::Object exports, AddonData* data);

// Registers the named-semaphore functions (native/named-semaphore.cc).
void InitSemaphore(Napi::Env env, Napi::Object exports);

// Cancels the pending async acquires of an environment that is going away, so that none
// takes a unit nobody will release.
void CancelSemaphoreWaits(void* data);

}  // namespace shmkit

#endif  // SHMKIT_NATIVE_ADDON_H_
