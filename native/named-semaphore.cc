// Node-API glue for named OS semaphores (platform-neutral; the OS calls are in
// native/unix/semaphore.cc). lib/sync/named-semaphore.ts is the caller.
//
// An OS semaphore cannot be waited on from an event loop, so an async acquire is a
// thread of its own (not a libuv threadpool thread) asleep in the OS wait, in slices of
// at most kSliceNs so that a cancelled acquire lets its thread go. The handle is shared
// with such threads, so closing it from JavaScript never pulls it from under a waiter.
#include <errno.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <map>
#include <utility>

#include "addon.h"

namespace shmkit {
namespace {

constexpr int64_t kSliceNs = 200000000;  // 200 ms

using Handle = std::shared_ptr<NamedSemaphore>;

// Pending async acquires, by (environment, id): each Worker numbers its own waits.
std::mutex cancelMu;
std::map<std::pair<void*, uint64_t>, std::shared_ptr<std::atomic<bool>>> cancelFlags;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

class Semaphore : public Napi::ObjectWrap<Semaphore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NamedSemaphore", {
        InstanceMethod<&Semaphore::Wait>("wait"),
        InstanceMethod<&Semaphore::TryWait>("tryWait"),
        InstanceMethod<&Semaphore::WaitAsync>("waitAsync"),
        InstanceMethod<&Semaphore::Post>("post"),
        InstanceMethod<&Semaphore::Value>("value"),
        InstanceMethod<&Semaphore::Close>("close"),
    });
  }

  explicit Semaphore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Semaphore>(info) {
    if (info.Length() != 2 || !info[0].IsExternal() || !info[1].IsString()) {
      Napi::TypeError::New(info.Env(), "NamedSemaphore cannot be constructed directly").ThrowAsJavaScriptException();
      return;
    }
    handle_ = Handle(info[0].As<Napi::External<NamedSemaphore>>().Data(), SemaphoreClose);
    name_ = info[1].As<Napi::String>().Utf8Value();
  }

 private:
  bool Open(Napi::Env env) {
    if (handle_) return true;
    ThrowCoded(env, Napi::Error::New(env, "The named semaphore is closed"), "ERR_SHMKIT_CLOSED");
    return false;
  }

  Napi::Value Fail(Napi::Env env, const OsError& err) {
    ThrowOsError(env, err, name_);
    return env.Undefined();
  }

  // wait(timeoutMs) -> 0 acquired, 2 timed out
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    OsError err;
    WaitResult r = SemaphoreWait(handle_.get(), TimeoutNs(info[0]), &err);
    if (r == WaitResult::kNotEqual) return Fail(env, err);
    return Napi::Number::New(env, static_cast<int>(r));
  }

  Napi::Value TryWait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    bool acquired = false;
    OsError err;
    if (!SemaphoreTryWait(handle_.get(), &acquired, &err)) return Fail(env, err);
    return Napi::Boolean::New(env, acquired);
  }

  // waitAsync(timeoutMs, id): the result comes through the async-wait callback.
  Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    const int64_t timeoutNs = TimeoutNs(info[0]);
    const uint64_t id = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    void* data = env.GetInstanceData<AddonData>();
    {
      std::lock_guard<std::mutex> lock(cancelMu);
      cancelFlags[{data, id}] = cancelled;
    }
    Handle handle = handle_;
    int error = 0;
    bool started = StartThread([handle, cancelled, id, timeoutNs, data] {
      const int64_t deadline = timeoutNs < 0 ? -1 : NowNs() + timeoutNs;
      WaitResult result = WaitResult::kCancelled;
      while (!cancelled->load()) {
        int64_t left = deadline < 0 ? kSliceNs : deadline - NowNs();
        if (left <= 0) {
          result = WaitResult::kTimedOut;
          break;
        }
        OsError err;
        WaitResult r = SemaphoreWait(handle.get(), left < kSliceNs ? left : kSliceNs, &err);
        if (r == WaitResult::kTimedOut) continue;
        result = r == WaitResult::kOk ? WaitResult::kOk : WaitResult::kNotEqual;
        if (result == WaitResult::kOk && cancelled->load()) {
          // Acquired after all, but nobody is waiting for it any more: give it back.
          OsError ignored;
          SemaphorePost(handle.get(), &ignored);
          result = WaitResult::kCancelled;
        }
        break;
      }
      {
        std::lock_guard<std::mutex> lock(cancelMu);
        cancelFlags.erase({data, id});
      }
      ReportAsync(data, id, result);
    }, &error);
    if (!started) {  // no thread to be had (ulimit -u, memory): an error for the caller
      {
        std::lock_guard<std::mutex> lock(cancelMu);
        cancelFlags.erase({data, id});
      }
      OsError err;
      err.code = error;
      err.syscall = "pthread_create";
      return Fail(env, err);
    }
    AsyncStarted(env);
    return env.Undefined();
  }

  Napi::Value Post(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    OsError err;
    if (!SemaphorePost(handle_.get(), &err)) return Fail(env, err);
    return env.Undefined();
  }

  Napi::Value Value(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    int value = 0;
    OsError err;
    if (!SemaphoreValue(handle_.get(), &value, &err)) return Fail(env, err);
    return Napi::Number::New(env, value);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    handle_.reset();  // threads still waiting keep their share
    return info.Env().Undefined();
  }

  Handle handle_;
  std::string name_;
};

// openSemaphore(name, create, mode, value) -> NamedSemaphore
Napi::Value OpenSemaphore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ValidateName(env, info[0], MaxSemaphoreNameBytes(), &name)) return env.Undefined();
  const bool create = info[1].ToBoolean().Value();
  const uint32_t mode = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() & 0777 : 0600;
  const uint32_t value = info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
  OsError err;
  NamedSemaphore* sem = SemaphoreOpen(name, create, mode, value, &err);
  if (sem == nullptr) {
    ThrowOsError(env, err, name);
    return env.Undefined();
  }
  return env.GetInstanceData<AddonData>()->semaphoreConstructor.New(
      {Napi::External<NamedSemaphore>::New(env, sem), Napi::String::New(env, name)});
}

Napi::Value UnlinkSemaphore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ValidateName(env, info[0], MaxSemaphoreNameBytes(), &name)) return env.Undefined();
  OsError err;
  if (!SemaphoreUnlink(name, &err)) ThrowOsError(env, err, name);
  return env.Undefined();
}

Napi::Value CancelSemaphoreWait(const Napi::CallbackInfo& info) {
  const uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
  void* data = info.Env().GetInstanceData<AddonData>();
  std::lock_guard<std::mutex> lock(cancelMu);
  auto it = cancelFlags.find({data, id});
  if (it != cancelFlags.end()) it->second->store(true);
  return info.Env().Undefined();
}

}  // namespace

void CancelSemaphoreWaits(void* data) {
  std::lock_guard<std::mutex> lock(cancelMu);
  for (auto& [key, flag] : cancelFlags) {
    if (key.first == data) flag->store(true);
  }
}

void InitSemaphore(Napi::Env env, Napi::Object exports) {
  env.GetInstanceData<AddonData>()->semaphoreConstructor = Napi::Persistent(Semaphore::Define(env));
  exports.Set("openSemaphore", Napi::Function::New<OpenSemaphore>(env, "openSemaphore"));
  exports.Set("unlinkSemaphore", Napi::Function::New<UnlinkSemaphore>(env, "unlinkSemaphore"));
  exports.Set("cancelSemaphoreWait", Napi::Function::New<CancelSemaphoreWait>(env, "cancelSemaphoreWait"));
  exports.Set("maxSemaphoreNameBytes", Napi::Number::New(env, static_cast<double>(MaxSemaphoreNameBytes())));
}

}  // namespace shmkit
