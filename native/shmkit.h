// The internal platform interface: everything shmkit asks of the operating system.
//
// Each platform implements it in its own directory (native/unix/ for POSIX, native/win/
// for Windows), in the manner of libuv's src/unix and src/win. The Node-API glue in
// native/addon.cc is the only caller, and it is platform-neutral. Nothing here knows
// about JavaScript, and nothing here knows about shmkit's data structures: those live
// in lib/ (TypeScript) on top of the bytes this layer maps.
#ifndef SHMKIT_NATIVE_SHMKIT_H_
#define SHMKIT_NATIVE_SHMKIT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace shmkit {

// An operating-system failure. `code` is an errno value from the platform's <errno.h>
// (ports whose OS speaks another language, such as Win32 error codes, translate to
// these names); `syscall` names the call that failed, as Node's system errors do.
struct OsError {
  int code = 0;
  const char* syscall = "";
  // Set instead of code when the name holds something that is not a segment (a FIFO, a
  // directory, a device, a semaphore file too short to be one): what it is. Thrown as
  // ERR_SHMKIT_KIND, the error of opening an object of the wrong kind.
  const char* notSegment = nullptr;
};

// Checks that `fd` is a regular file of at least `minSize` bytes (POSIX); fills *st.
// Otherwise false with err->notSegment (or err->code if fstat fails).
bool CheckRegular(int fd, uint64_t minSize, void* st, OsError* err);

// A segment mapped into this process. `addr` is null when `size` is 0: an empty
// segment has nothing to map.
struct Mapping {
  void* addr = nullptr;
  uint64_t size = 0;
  bool readOnly = false;
  // False where a read-only mapping cannot take a stray store in a private page (macOS
  // maps POSIX shared memory MAP_SHARED only): zero-copy views of it are refused, since a
  // store through one would fault; read() still works.
  bool viewsAllowed = true;
#ifdef _WIN32
  // The section handle: on Windows a name lives only while some handle to it is open.
  void* handle = nullptr;
#else
  // Linux: the descriptor, kept open for as long as the segment is mapped, through which
  // this process holds the segment's usage lock (a shared OFD lock on kUsageByte): the
  // kernel's evidence, for `shmkit gc`, that the segment is in use. -1 elsewhere.
  int usageFd = -1;
#endif
  // Which file the segment is (device and inode; 0 and 0 where the OS has no such thing),
  // so that "is this name still the object I made?" can be asked later.
  uint64_t dev = 0;
  uint64_t ino = 0;
};

// The byte of a segment's file whose OFD lock says who uses it: far past any data
// (locks are advisory and may lie beyond the end of a file).
constexpr int64_t kUsageByte = int64_t{1} << 62;

// Names reach this layer already validated by lib/ and by the glue (ValidateName in
// addon.cc), without the POSIX leading slash: each platform forms its own OS name.

// Creates a new segment of `size` bytes with permission bits `mode` (subject to the
// umask, as open(2)), maps it read-write, and leaves it under a name of its own until
// SegmentPublish gives it `name`. Linux: the name made here is a temporary one,
// kTemporaryPrefix and 16 hex digits, and publishing links the file into place
// (link(2): never over an existing name, EEXIST), so a name appears only once the
// segment is whole (sized; typed objects also write their header first), and a creator
// killed before that leaves only a temporary name that `shmkit gc` removes once nobody
// holds it. Elsewhere (no hard links for shared memory) the segment is made under `name`
// at once (O_EXCL) and publishing does nothing. *made is the name used. On any failure
// the name made is removed again.
// With `reserve`, the memory is reserved before anything is mapped (Linux:
// fallocate(2)), so that a /dev/shm without room is ENOSPC here instead of SIGBUS on
// first touch; without it the segment is sparse.
bool SegmentCreate(const std::string& name, uint64_t size, uint32_t mode, bool reserve, Mapping* out,
                   std::string* made, OsError* err);

// Reserves bytes [offset, offset + length) of a mapped segment (Linux: fallocate(2)
// through the descriptor the mapping keeps): ENOSPC if /dev/shm has no room. Where the
// OS commits memory at create (Windows) or has no such call (macOS) it does nothing.
bool SegmentReserve(Mapping* m, uint64_t offset, uint64_t length, OsError* err);

// Gives the segment made as `made` its name `name` (see SegmentCreate): EEXIST if the
// name is taken. The temporary name stays either way: the caller unlinks it (after a
// taken random name it may first retry with another).
bool SegmentPublish(const std::string& made, const std::string& name, OsError* err);

// Where SegmentCreate keeps segments it has not published (Linux).
constexpr const char* kTemporaryPrefix = ".shmkit-tmp-";

// Attaches to an existing segment and maps all of it. A read-only attach maps the
// segment copy-on-write: a write through it lands in a private page of this process,
// never in the segment, and never faults.
bool SegmentOpen(const std::string& name, bool readOnly, Mapping* out, OsError* err);

// Copies n bytes between a segment's mapping and ordinary memory (memmove), surviving a
// peer that truncated the segment under the mapping: false instead of SIGBUS (POSIX: a
// SIGBUS handler that returns from the copy, chained to any previous handler for every
// other fault). Windows sections cannot shrink: a plain copy.
// `fromSegment`: whether src (a read) or dst (a write) is the mapping.
bool SegmentCopy(void* dst, const void* src, size_t n, bool fromSegment);

// After a copy that faulted: whether the segment's file still covers bytes up to `end`
// (then the fault was /dev/shm running out of room under a sparse segment, not a
// truncation). Linux; false elsewhere.
bool SegmentCovers(const Mapping* m, uint64_t end);

// Unmaps. Idempotent; `m` is left empty.
void SegmentUnmap(Mapping* m);

// Lets go of the name while the memory stays mapped, for close() when a view that
// escaped detachment keeps the mapping alive. Windows: closes the section handle, so the
// name goes as soon as no process holds one, as it would without that view. POSIX:
// nothing (the descriptor was closed once mapped). Idempotent.
void SegmentRelease(Mapping* m);

// Removes the name. Processes that have the segment mapped keep their mapping.
bool SegmentUnlink(const std::string& name, OsError* err);

// Whether the name exists, including when this user may not open it.
bool SegmentExists(const std::string& name, bool* exists, OsError* err);

// The identity (as Mapping::dev/ino) of the segment the name names now. ENOENT if none.
bool SegmentIdentity(const std::string& name, uint64_t* dev, uint64_t* ino, OsError* err);

// A segment nobody uses, held so that nobody can start to while it is judged and removed.
struct Unused {
  int fd = -1;
  uint64_t size = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint8_t head[64] = {};
  size_t headLength = 0;  // bytes of head read (the segment's first bytes)
};

// Linux: takes the segment's usage lock exclusively, which succeeds only if no process
// has it mapped through SegmentCreate/SegmentOpen (each holds it shared) — in any PID
// namespace, whatever /proc shows. *inUse is set when another holds it. The lock is held
// (creates and opens of that file wait a moment, then re-check that the name still
// names it) until SegmentUnlockUnused. Elsewhere: ENOTSUP.
bool SegmentLockUnused(const std::string& name, bool* inUse, Unused* out, OsError* err);
void SegmentUnlockUnused(Unused* u);

// The longest name, in bytes of UTF-8, that this platform accepts (leading slash not
// counted).
size_t MaxNameBytes();

// --- Waiting on a 32-bit word of a mapping, across processes -------------------------

enum class WaitResult { kOk = 0, kNotEqual = 1, kTimedOut = 2, kCancelled = 3 };

// Sleeps while *addr == expected, until woken by WakeAddress (from any process that maps
// the same memory) or until timeoutNs passes (negative: no limit). Returns kNotEqual at
// once if the word differs. Signals do not end the wait early.
WaitResult WaitAddress(uint32_t* addr, uint32_t expected, int64_t timeoutNs);

// Wakes up to `count` waiters on addr, in any process; returns how many were woken.
int WakeAddress(uint32_t* addr, int count);

// Waits that do not block the calling thread. One instance per Node environment; the
// platform picks the mechanism (Linux: io_uring futex operations when the kernel has
// them, else a thread per pending wait). Completions are reported to `done`, which may
// be called on any thread.
class AsyncWaits {
 public:
  using Done = void (*)(void* context, uint64_t id, WaitResult result);
  static AsyncWaits* Create(Done done, void* context);
  virtual ~AsyncWaits() = default;
  // Starts a wait identified by `id`. False (with errno set) if it could not start.
  virtual bool Start(uint64_t id, uint32_t* addr, uint32_t expected, int64_t timeoutNs) = 0;
  // Asks a pending wait to end with kCancelled (it may still end otherwise if it raced).
  virtual void Cancel(uint64_t id) = 0;
  virtual const char* Backend() const = 0;
};

// The portable mechanism: a thread per pending wait, built on WaitAddress.
AsyncWaits* CreateThreadAsyncWaits(AsyncWaits::Done done, void* context);

// --- Named OS semaphores ------------------------------------------------------------------

// A semaphore any program can open by name (POSIX sem_open: "/name"; on Linux the file
// /dev/shm/sem.name). Opaque; closed with SemaphoreClose.
struct NamedSemaphore;

// Creates (O_CREAT | O_EXCL, `mode`, initial `value`) or opens an existing one.
NamedSemaphore* SemaphoreOpen(const std::string& name, bool create, uint32_t mode, uint32_t value,
                              OsError* err);
// Decrements, waiting up to timeoutNs (negative: no limit). kOk, or kTimedOut; errors
// other than a time-out are reported through `err` with kNotEqual.
WaitResult SemaphoreWait(NamedSemaphore* sem, int64_t timeoutNs, OsError* err);
bool SemaphoreTryWait(NamedSemaphore* sem, bool* acquired, OsError* err);
bool SemaphorePost(NamedSemaphore* sem, OsError* err);
bool SemaphoreValue(NamedSemaphore* sem, int* value, OsError* err);
void SemaphoreClose(NamedSemaphore* sem);
bool SemaphoreUnlink(const std::string& name, OsError* err);
// The longest semaphore name, in UTF-8 bytes (Linux: the file name less "sem.").
size_t MaxSemaphoreNameBytes();

// --- Helper threads ---------------------------------------------------------------------

// Starts `body` on a new detached thread (unix/thread.cc, win/thread.cc). False, with an
// errno value in *error (EAGAIN, ENOMEM), when the OS has no thread to give (ulimit -u,
// memory): the caller reports a coded error; the process is never aborted.
bool StartThread(std::function<void()> body, int* error);

// --- Owners: identity and liveness of threads ---------------------------------------------

// The id claims record as their owner: a positive number of at most 30 bits (lock words
// keep flags in the top two) that names the calling OS thread on this host while it runs.
// Registered on first call, per thread. Linux: registry r (bits 22-29) and the byte b
// (bits 0-21) on which this thread holds an exclusive OFD lock in that registry (native/
// unix/owner-linux.cc). 0 if the thread could register nowhere (lib/ refuses it then).
uint32_t CurrentOwnerId();

// Whether the owner an id names still runs, as the kernel says. Never a false "dead";
// errs on the side of "alive" when it cannot tell.
bool OwnerAlive(uint32_t ownerId);

}  // namespace shmkit

#endif  // SHMKIT_NATIVE_SHMKIT_H_
