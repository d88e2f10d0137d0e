// Node-API glue for cross-process waiting (platform-neutral): the blocking wait and
// notify, the async wait, and the owner ids crash-safe locks record. lib/core/wait.ts and
// lib/sync/lock.ts are the callers; they validate first, this checks again.
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_set>

#include "addon.h"

namespace shmkit {
namespace {

// Environments whose AddonData still exists. A thread that finishes an async operation
// after its Worker (or the process) has gone must not touch the freed AddonData, so
// ReportAsync checks here, holding the lock while it reports.
std::mutex liveMu;
std::unordered_set<void*> live;

constexpr double kMaxSafeInteger = 9007199254740991.0;

// Resolves (int32Array, index) to the address of that element, or throws.
bool Address(const Napi::CallbackInfo& info, uint32_t** addr) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowCoded(env, Napi::TypeError::New(env, "The \"int32Array\" argument must be an Int32Array"),
               "ERR_INVALID_ARG_TYPE");
    return false;
  }
  Napi::Int32Array array = info[0].As<Napi::Int32Array>();
  double index = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(index >= 0 && index < static_cast<double>(array.ElementLength())) || std::floor(index) != index) {
    ThrowCoded(env, Napi::RangeError::New(env, "The \"index\" argument is out of range"),
               "ERR_OUT_OF_RANGE");
    return false;
  }
  *addr = reinterpret_cast<uint32_t*>(array.Data()) + static_cast<size_t>(index);
  return true;
}

uint32_t Expected(const Napi::Value& value) {
  return static_cast<uint32_t>(value.As<Napi::Number>().Int32Value());
}

Napi::Value Wait(const Napi::CallbackInfo& info) {
  uint32_t* addr;
  if (!Address(info, &addr)) return info.Env().Undefined();
  WaitResult r = WaitAddress(addr, Expected(info[2]), TimeoutNs(info[3]));
  return Napi::Number::New(info.Env(), static_cast<int>(r));
}

Napi::Value Notify(const Napi::CallbackInfo& info) {
  uint32_t* addr;
  if (!Address(info, &addr)) return info.Env().Undefined();
  double count = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : INFINITY;
  int n = !(count < std::numeric_limits<int>::max()) ? std::numeric_limits<int>::max()
          : count <= 0                               ? 0
                                                     : static_cast<int>(count);
  return Napi::Number::New(info.Env(), n == 0 ? 0 : WakeAddress(addr, n));
}

// Runs on the JavaScript thread: hands every completion collected so far to JavaScript.
void Deliver(Napi::Env env, AddonData* data) {
  std::vector<std::pair<uint64_t, WaitResult>> batch;
  {
    std::lock_guard<std::mutex> lock(data->completedMu);
    batch.swap(data->completed);
    data->deliveryScheduled = false;
  }
  // Every completion is delivered even if a callback throws (with exceptions disabled, a
  // pending exception would make every later Call fail): the first error is thrown again
  // once all are in.
  Napi::Value first;
  for (const auto& [id, result] : batch) {
    data->pending--;
    if (!data->onComplete.IsEmpty()) {
      data->onComplete.Call({Napi::Number::New(env, static_cast<double>(id)),
                             Napi::Number::New(env, static_cast<int>(result))});
      if (env.IsExceptionPending()) {
        Napi::Error e = env.GetAndClearPendingException();
        if (first.IsEmpty()) first = e.Value();
      }
    }
  }
  if (data->pending == 0) data->deliver.Unref(env);
  if (!first.IsEmpty()) Napi::Error(env, first).ThrowAsJavaScriptException();
}

}  // namespace

// Milliseconds, as Atomics.wait takes them (NaN and +Infinity: no limit; below 0: 0),
// to nanoseconds, -1 meaning no limit.
int64_t TimeoutNs(const Napi::Value& value) {
  double ms = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : INFINITY;
  if (std::isnan(ms) || ms >= 9.2e12) return -1;  // beyond ~290 years: no limit
  if (ms <= 0) return 0;
  return static_cast<int64_t>(ms * 1e6);
}

// Called by the platform's mechanism, on any thread.
void ReportAsync(void* context, uint64_t id, WaitResult result) {
  std::lock_guard<std::mutex> alive(liveMu);
  if (live.count(context) == 0) return;
  auto* data = static_cast<AddonData*>(context);
  std::lock_guard<std::mutex> lock(data->completedMu);
  data->completed.emplace_back(id, result);
  if (data->deliveryScheduled) return;
  data->deliveryScheduled = true;
  data->deliver.NonBlockingCall([data](Napi::Env env, Napi::Function) { Deliver(env, data); });
}

void AsyncStarted(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data->pending++ == 0) data->deliver.Ref(env);
}

namespace {

AsyncWaits* Waits(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data->waits == nullptr) data->waits = AsyncWaits::Create(ReportAsync, data);
  return data->waits;
}

// waitAsyncStart(int32Array, index, expected, timeoutMs, id)
Napi::Value WaitAsyncStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* addr;
  if (!Address(info, &addr)) return env.Undefined();
  double id = info[4].IsNumber() ? info[4].As<Napi::Number>().DoubleValue() : 0;
  if (!(id >= 1 && id <= kMaxSafeInteger)) {
    ThrowCoded(env, Napi::RangeError::New(env, "bad wait id"), "ERR_OUT_OF_RANGE");
    return env.Undefined();
  }
  AsyncWaits* waits = Waits(env);
  if (!waits->Start(static_cast<uint64_t>(id), addr, Expected(info[2]), TimeoutNs(info[3]))) {
    const int code = errno;  // before anything else can change it
    Napi::Error error = Napi::Error::New(env, "could not start an asynchronous wait");
    error.Set("errno", Napi::Number::New(env, code));
    const bool threads = std::string(waits->Backend()) == "threads";
    error.Set("syscall", Napi::String::New(env, threads ? "pthread_create" : "io_uring_enter"));
    error.Set("osError", Napi::Boolean::New(env, true));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  AsyncStarted(env);
  return env.Undefined();
}

Napi::Value WaitAsyncCancel(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) Waits(info.Env())->Cancel(static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}

Napi::Value SetWaitCallback(const Napi::CallbackInfo& info) {
  auto* data = info.Env().GetInstanceData<AddonData>();
  data->onComplete = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value WaitBackend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Waits(info.Env())->Backend());
}

Napi::Value OwnerId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), CurrentOwnerId());
}

Napi::Value IsOwnerAlive(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  return Napi::Boolean::New(info.Env(), OwnerAlive(id & 0x3fffffff));
}

}  // namespace

AddonData::~AddonData() {
  {
    std::lock_guard<std::mutex> lock(liveMu);
    live.erase(this);
  }
  CancelSemaphoreWaits(this);
  // Stops the mechanism's threads: nothing reports after this. The thread-safe function
  // itself is not released here: Node closes it as the environment goes, and on Node 24
  // runs this very finalizer from inside that close, where releasing it would deadlock.
  delete waits;
}

void InitWait(Napi::Env env, Napi::Object exports, AddonData* data) {
  {
    std::lock_guard<std::mutex> lock(liveMu);
    live.insert(data);
  }
  data->deliver = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                                "shmkit async wait", 0, 1);
  data->deliver.Unref(env);
  exports.Set("wait", Napi::Function::New<Wait>(env, "wait"));
  exports.Set("notify", Napi::Function::New<Notify>(env, "notify"));
  exports.Set("waitAsyncStart", Napi::Function::New<WaitAsyncStart>(env, "waitAsyncStart"));
  exports.Set("waitAsyncCancel", Napi::Function::New<WaitAsyncCancel>(env, "waitAsyncCancel"));
  exports.Set("setWaitCallback", Napi::Function::New<SetWaitCallback>(env, "setWaitCallback"));
  exports.Set("waitBackend", Napi::Function::New<WaitBackend>(env, "waitBackend"));
  exports.Set("ownerId", Napi::Function::New<OwnerId>(env, "ownerId"));
  exports.Set("ownerAlive", Napi::Function::New<IsOwnerAlive>(env, "ownerAlive"));
}

}  // namespace shmkit
