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

// Registers the wait/notify functions (native/wait.cc).
void InitWait(Napi::Env env, Napi::Object exports, AddonData* data);

}  // namespace shmkit

#endif  // SHMKIT_NATIVE_ADDON_H_
