// Node-API glue: turns the platform interface (shmkit.h) into the small object the
// TypeScript layer drives (lib/core/native.ts declares its shape). Platform-neutral.
//
// Lifetime of a mapping. A Region owns the mapping and is shared (std::shared_ptr) by
// the Segment object and by every external ArrayBuffer handed out over it, so garbage
// collection in any order never leaves a view over unmapped memory. Segment.close()
// detaches every view still alive (napi_detach_arraybuffer: its byteLength becomes 0
// and every typed array over it goes empty) and drops the Segment's share; the mapping
// goes with the last share.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>

#include "addon.h"

namespace shmkit {

void ThrowCoded(Napi::Env env, Napi::Error error, const char* code) {
  error.Set("code", Napi::String::New(env, code));
  error.ThrowAsJavaScriptException();
}

// lib/core/errors.ts turns this into a Node system error (code name, libuv errno, message),
// because only JavaScript can reach Node's own table of error names and messages.
void ThrowOsError(Napi::Env env, const OsError& err, const std::string& name) {
  if (err.notSegment != nullptr) {
    ThrowCoded(env, Napi::TypeError::New(env, "'" + name + "' is " + err.notSegment + ", not a shared memory object"),
               "ERR_SHMKIT_KIND");
    return;
  }
  Napi::Error error = Napi::Error::New(env, std::string(err.syscall) + " failed for '" + name +
                                                "': " + std::strerror(err.code));
  error.Set("errno", Napi::Number::New(env, err.code));
  error.Set("syscall", Napi::String::New(env, err.syscall));
  error.Set("osError", Napi::Boolean::New(env, true));
  error.ThrowAsJavaScriptException();
}

// The JavaScript layer validates names first; this is the second line, for anything the
// OS will see: UTF-8, no NUL, no slash, not "." or "..", not empty, not too long.
bool ValidateName(Napi::Env env, const Napi::Value& value, size_t maxBytes, std::string* out) {
  if (!value.IsString()) {
    ThrowCoded(env, Napi::TypeError::New(env, "The \"name\" argument must be of type string"), "ERR_INVALID_ARG_TYPE");
    return false;
  }
  std::string name = value.As<Napi::String>().Utf8Value();
  bool bad = name.empty() || name == "." || name == ".." || name.size() > maxBytes ||
             name.find('/') != std::string::npos || name.find('\0') != std::string::npos;
  if (bad) {
    ThrowCoded(env, Napi::TypeError::New(env, "The argument 'name' is not a valid segment name"),
               "ERR_INVALID_ARG_VALUE");
    return false;
  }
  *out = std::move(name);
  return true;
}

namespace {

// Electron answers napi_create_external_arraybuffer with napi_no_external_buffers_allowed
// at run time. A test build (CMake's SHMKIT_STUB_EXTERNAL_BUFFERS) answers the same, so
// that this branch, which no Node here takes, is run (test/70-no-external-buffers).
#ifdef SHMKIT_STUB_EXTERNAL_ARRAYBUFFER
napi_status CreateExternalArrayBuffer(napi_env, void*, size_t, napi_finalize, void*, napi_value*) {
  return napi_no_external_buffers_allowed;
}
#elif !defined(NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED)
napi_status CreateExternalArrayBuffer(napi_env env, void* data, size_t length, napi_finalize finalize, void* hint,
                                      napi_value* result) {
  return napi_create_external_arraybuffer(env, data, length, finalize, hint, result);
}
#endif

// Every integer a JavaScript number holds exactly.
constexpr double kMaxSafeInteger = 9007199254740991.0;

struct View;

struct Region {
  Mapping mapping;
  std::unordered_set<View*> views;  // views that may still be alive, to detach on close
  ~Region() { SegmentUnmap(&mapping); }
};

struct View {
  std::shared_ptr<Region> region;
  napi_ref ref = nullptr;  // weak; null once the Region has detached this view
};

void ThrowTypeError(Napi::Env env, const std::string& message) {
  ThrowCoded(env, Napi::TypeError::New(env, message), "ERR_INVALID_ARG_TYPE");
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  ThrowCoded(env, Napi::RangeError::New(env, message), "ERR_OUT_OF_RANGE");
}

bool ValidateInteger(Napi::Env env, const Napi::Value& value, const char* what, uint64_t* out) {
  if (!value.IsNumber()) {
    ThrowTypeError(env, std::string("The \"") + what + "\" argument must be of type number");
    return false;
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= kMaxSafeInteger) || std::floor(d) != d) {
    ThrowRangeError(env, std::string("The value of \"") + what +
                             "\" is out of range. It must be an integer >= 0 and <= 2^53 - 1");
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

// "device:inode", or "" where the platform knows no identity (Windows).
std::string IdentityString(uint64_t dev, uint64_t ino) {
  if (dev == 0 && ino == 0) return "";
  return std::to_string(dev) + ":" + std::to_string(ino);
}

class Segment : public Napi::ObjectWrap<Segment> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Segment",
                       {
                           InstanceAccessor<&Segment::Size>("size"),
                           InstanceAccessor<&Segment::ReadOnly>("readOnly"),
                           InstanceAccessor<&Segment::Identity>("identity"),
                           InstanceMethod<&Segment::View>("view"),
                           InstanceMethod<&Segment::Read>("read"),
                           InstanceMethod<&Segment::Write>("write"),
                           InstanceMethod<&Segment::Reserve>("reserve"),
                           InstanceMethod<&Segment::Close>("close"),
                       });
  }

  // Called only from Wrap() below with an External<Mapping> that it moves from.
  explicit Segment(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Segment>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      Napi::TypeError::New(info.Env(), "Segment cannot be constructed directly")
          .ThrowAsJavaScriptException();
      return;
    }
    region_ = std::make_shared<Region>();
    Mapping* m = info[0].As<Napi::External<Mapping>>().Data();
    region_->mapping = *m;
    *m = Mapping{};
    size_ = region_->mapping.size;
    readOnly_ = region_->mapping.readOnly;
    identity_ = IdentityString(region_->mapping.dev, region_->mapping.ino);
  }

  // A Segment collected without close() simply drops its share of the Region: views
  // still alive keep the mapping until the collector takes the last of them.

  static Napi::Value Wrap(Napi::Env env, Mapping* m) {
    return env.GetInstanceData<AddonData>()->segmentConstructor.New({Napi::External<Mapping>::New(env, m)});
  }

 private:
  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(size_));
  }

  Napi::Value ReadOnly(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), readOnly_);
  }

  Napi::Value Identity(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), identity_);
  }

  // Resolves (offset, length) arguments to a byte range inside the mapping, or throws.
  // A copy that faulted: a segment a peer made smaller than its mapping, or (the file
  // still as long) a sparse segment whose page /dev/shm had no room for.
  Napi::Value Faulted(Napi::Env env, const uint8_t* start, uint64_t length) {
    const uint64_t end = static_cast<uint64_t>(start - static_cast<uint8_t*>(region_->mapping.addr)) + length;
    if (SegmentCovers(&region_->mapping, end)) {
      OsError err;
      err.code = ENOSPC;
      err.syscall = "write";
      ThrowOsError(env, err, "");
      return env.Undefined();
    }
    ThrowCoded(env, Napi::Error::New(env, "The segment was truncated by another process: part of the range is beyond its end"),
               "ERR_SHMKIT_TRUNCATED");
    return env.Undefined();
  }

  bool Range(const Napi::CallbackInfo& info, uint8_t** start, uint64_t* length) {
    Napi::Env env = info.Env();
    if (!region_) {
      ThrowCoded(env, Napi::Error::New(env, "The shared memory segment is closed"),
                 "ERR_SHMKIT_CLOSED");
      return false;
    }
    uint64_t offset;
    if (!ValidateInteger(env, info[0], "byteOffset", &offset)) return false;
    if (!ValidateInteger(env, info[1], "byteLength", length)) return false;
    if (offset > size_ || *length > size_ - offset) {
      ThrowRangeError(env, "The byte range is outside the segment");
      return false;
    }
    *start = static_cast<uint8_t*>(region_->mapping.addr) + offset;
    return true;
  }

  Napi::Value View(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* start;
    uint64_t length;
    if (!Range(info, &start, &length)) return env.Undefined();
    if (!region_->mapping.viewsAllowed) {
      ThrowCoded(env, Napi::Error::New(env, "A read-only attach has no zero-copy views on this platform: use read()"),
                 "ERR_SHMKIT_READ_ONLY");
      return env.Undefined();
    }
#ifdef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
    (void)start;
    return NoExternalBuffers(env);
#else
    auto* view = new shmkit::View{region_, nullptr};
    napi_value ab;
    napi_status status = CreateExternalArrayBuffer(env, start, static_cast<size_t>(length), Finalize, view, &ab);
    if (status != napi_ok) {
      delete view;
      if (status == napi_no_external_buffers_allowed) return NoExternalBuffers(env);
      NAPI_THROW_IF_FAILED(env, status, env.Undefined());
    }
    status = napi_create_reference(env, ab, 0, &view->ref);
    // The ArrayBuffer exists and owns `view` through its finalizer from here on.
    NAPI_THROW_IF_FAILED(env, status, env.Undefined());
    region_->views.insert(view);
    return Napi::Value(env, ab);
#endif
  }

  static Napi::Value NoExternalBuffers(Napi::Env env) {
    ThrowCoded(env,
               Napi::Error::New(env,
                                "This runtime does not allow external ArrayBuffers (as in "
                                "Electron), so zero-copy views are unavailable: use "
                                "read(byteOffset, length) and write(byteOffset, bytes)"),
               "ERR_SHMKIT_NO_EXTERNAL_BUFFERS");
    return env.Undefined();
  }

  static void Finalize(napi_env env, void* /*data*/, void* hint) {
    auto* view = static_cast<shmkit::View*>(hint);
    if (view->ref != nullptr) {
      napi_delete_reference(env, view->ref);
      view->region->views.erase(view);
    }
    delete view;  // may drop the last reference to the Region, which unmaps
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    uint8_t* start;
    uint64_t length;
    Napi::Env env = info.Env();
    if (!Range(info, &start, &length)) return env.Undefined();
    Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(length));
    if (env.IsExceptionPending()) return env.Undefined();
    if (!SegmentCopy(out.Data(), start, static_cast<size_t>(length), true)) return Faulted(env, start, length);
    return out;
  }

  // reserve(byteOffset, byteLength): reserves that range of the segment's memory.
  Napi::Value Reserve(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* start;
    uint64_t length;
    if (!Range(info, &start, &length)) return env.Undefined();
    if (readOnly_) {
      ThrowCoded(env, Napi::Error::New(env, "The segment was opened read-only"), "ERR_SHMKIT_READ_ONLY");
      return env.Undefined();
    }
    const uint64_t offset = static_cast<uint64_t>(start - static_cast<uint8_t*>(region_->mapping.addr));
    OsError err;
    if (!SegmentReserve(&region_->mapping, offset, length, &err)) ThrowOsError(env, err, "");
    return env.Undefined();
  }

  // write(byteOffset, Uint8Array): copies the bytes in. memmove, because the source may
  // itself be a view of this very segment.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowTypeError(env, "The \"bytes\" argument must be a Uint8Array");
      return env.Undefined();
    }
    if (readOnly_) {
      ThrowCoded(env, Napi::Error::New(env, "The segment was opened read-only"),
                 "ERR_SHMKIT_READ_ONLY");
      return env.Undefined();
    }
    Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
    uint8_t* start;
    uint64_t length;
    if (!Range(info, &start, &length)) return env.Undefined();
    if (length != bytes.ByteLength()) {
      ThrowRangeError(env, "byteLength does not match the bytes given");
      return env.Undefined();
    }
    if (!SegmentCopy(start, bytes.Data(), static_cast<size_t>(length), false)) return Faulted(env, start, length);
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!region_) return info.Env().Undefined();
    for (shmkit::View* view : region_->views) {
      napi_value ab;
      bool detachedHere = false;
      if (napi_get_reference_value(info.Env(), view->ref, &ab) == napi_ok && ab != nullptr) {
        bool already = false;
        napi_is_detached_arraybuffer(info.Env(), ab, &already);
        // Detached by us, this buffer can reach nothing any more: its share of the Region
        // goes now, so that the mapping (and Linux's descriptor with its usage lock) goes
        // with close() and not at some later garbage collection. One already detached
        // before (transferred: its memory lives on in another ArrayBuffer) or already
        // collected (that other one may still be alive) keeps its share until finalized.
        detachedHere = !already && napi_detach_arraybuffer(info.Env(), ab) == napi_ok;
      }
      napi_delete_reference(info.Env(), view->ref);
      view->ref = nullptr;
      if (detachedHere) view->region.reset();
    }
    region_->views.clear();
    SegmentRelease(&region_->mapping);
    // The unmap happens when the last owner of the Region lets go: now, unless an
    // ArrayBuffer escaped detachment (one transferred to another thread or with
    // ArrayBuffer.prototype.transfer() is a new object that shares the backing store),
    // in which case its finalizer unmaps once it is collected. Memory it can reach stays
    // mapped for as long as it can reach it.
    region_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<Region> region_;
  uint64_t size_ = 0;
  bool readOnly_ = false;
  std::string identity_;
};

// create(name, size, mode) -> Segment
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  uint64_t size, mode;
  if (!ValidateName(env, info[0], MaxNameBytes(), &name)) return env.Undefined();
  if (!ValidateInteger(env, info[1], "size", &size)) return env.Undefined();
  if (!ValidateInteger(env, info[2], "mode", &mode)) return env.Undefined();
  if (size == 0) {
    ThrowRangeError(env, "The value of \"size\" is out of range. It must be >= 1");
    return env.Undefined();
  }
  if (mode > 07777) {
    ThrowRangeError(env, "The value of \"mode\" is out of range. It must be <= 0o7777");
    return env.Undefined();
  }
  Mapping m;
  OsError err, err2;
  std::string made;
  // create(name, size, mode, publish, sparse)
  const bool reserve = !(info.Length() > 4 && info[4].ToBoolean().Value());
  if (!SegmentCreate(name, size, static_cast<uint32_t>(mode), reserve, &m, &made, &err)) {
    ThrowOsError(env, err, name);
    return env.Undefined();
  }
  Napi::Value segment = Segment::Wrap(env, &m);
  // publish = false: the caller fills the segment first and then calls publish(segment).
  bool publish = info.Length() < 4 || info[3].ToBoolean().Value();
  if (!publish) {
    segment.As<Napi::Object>().Set("made", Napi::String::New(env, made));
    return segment;
  }
  bool published = SegmentPublish(made, name, &err);
  if (made != name) SegmentUnlink(made, &err2);
  if (!published) {
    Napi::Object o = segment.As<Napi::Object>();
    o.Get("close").As<Napi::Function>().Call(o, {});
    ThrowOsError(env, err, name);
    return env.Undefined();
  }
  return segment;
}

// publish(made, name): gives a segment created with publish = false its name.
Napi::Value Publish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string made, name;
  if (!ValidateName(env, info[0], MaxNameBytes(), &made)) return env.Undefined();
  if (!ValidateName(env, info[1], MaxNameBytes(), &name)) return env.Undefined();
  OsError err;
  if (!SegmentPublish(made, name, &err)) ThrowOsError(env, err, name);
  return env.Undefined();
}

// open(name, readOnly) -> Segment
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ValidateName(env, info[0], MaxNameBytes(), &name)) return env.Undefined();
  Mapping m;
  OsError err;
  if (!SegmentOpen(name, info[1].ToBoolean().Value(), &m, &err)) {
    ThrowOsError(env, err, name);
    return env.Undefined();
  }
  return Segment::Wrap(env, &m);
}

Napi::Value Unlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ValidateName(env, info[0], MaxNameBytes(), &name)) return env.Undefined();
  OsError err;
  if (!SegmentUnlink(name, &err)) ThrowOsError(env, err, name);
  return env.Undefined();
}

Napi::Value Exists(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ValidateName(env, info[0], MaxNameBytes(), &name)) return env.Undefined();
  bool exists = false;
  OsError err;
  if (!SegmentExists(name, &exists, &err)) {
    ThrowOsError(env, err, name);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, exists);
}

// identity(name) -> "dev:ino" of what the name names now ("" if unknown); ENOENT if nothing.
Napi::Value Identity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ValidateName(env, info[0], MaxNameBytes(), &name)) return env.Undefined();
  uint64_t dev = 0, ino = 0;
  OsError err;
  if (!SegmentIdentity(name, &dev, &ino, &err)) {
    ThrowOsError(env, err, name);
    return env.Undefined();
  }
  return Napi::String::New(env, IdentityString(dev, ino));
}

// lockUnused(name) -> null if some process uses the segment, else
// { handle, size, identity, head } with the segment held unused until unlockUnused(handle).
Napi::Value LockUnused(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ValidateName(env, info[0], MaxNameBytes(), &name)) return env.Undefined();
  Unused u;
  bool inUse = false;
  OsError err;
  if (!SegmentLockUnused(name, &inUse, &u, &err)) {
    ThrowOsError(env, err, name);
    return env.Undefined();
  }
  if (inUse) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::Number::New(env, u.fd));
  o.Set("size", Napi::Number::New(env, static_cast<double>(u.size)));
  o.Set("identity", Napi::String::New(env, IdentityString(u.dev, u.ino)));
  o.Set("head", Napi::Buffer<uint8_t>::Copy(env, u.head, u.headLength));
  return o;
}

Napi::Value UnlockUnused(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) {
    Unused u;
    u.fd = info[0].As<Napi::Number>().Int32Value();
    if (u.fd >= 0) SegmentUnlockUnused(&u);
  }
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->segmentConstructor = Napi::Persistent(Segment::Define(env));
  env.SetInstanceData(data);
  InitWait(env, exports, data);
  InitSemaphore(env, exports);
  exports.Set("create", Napi::Function::New<Create>(env, "create"));
  exports.Set("open", Napi::Function::New<Open>(env, "open"));
  exports.Set("unlink", Napi::Function::New<Unlink>(env, "unlink"));
  exports.Set("exists", Napi::Function::New<Exists>(env, "exists"));
  exports.Set("identity", Napi::Function::New<Identity>(env, "identity"));
  exports.Set("publish", Napi::Function::New<Publish>(env, "publish"));
  exports.Set("lockUnused", Napi::Function::New<LockUnused>(env, "lockUnused"));
  exports.Set("unlockUnused", Napi::Function::New<UnlockUnused>(env, "unlockUnused"));
  exports.Set("maxNameBytes", Napi::Number::New(env, static_cast<double>(MaxNameBytes())));
#ifdef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  exports.Set("externalBuffers", Napi::Boolean::New(env, false));
#else
  exports.Set("externalBuffers", Napi::Boolean::New(env, true));
#endif
  return exports;
}

}  // namespace
}  // namespace shmkit

static Napi::Object InitShmkit(Napi::Env env, Napi::Object exports) {
  return shmkit::Init(env, exports);
}

NODE_API_MODULE(shmkit, InitShmkit)
