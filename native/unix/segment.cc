// POSIX named segments: shm_open + ftruncate + mmap(MAP_SHARED).
//
// The OS name of segment `jobs` is "/jobs", the same object CPython's
// multiprocessing.shared_memory.SharedMemory("jobs") opens, so both see one segment.
//
// Linux: every create and open keeps its descriptor while the segment is mapped and holds
// a shared OFD lock on kUsageByte through it. `shmkit gc` removes a segment only while it
// holds that lock exclusively, so "nobody uses it" is the kernel's word, in every PID
// namespace. A create or open that finds the exclusive lock taken waits a moment for gc
// to finish, and after locking checks that its file still has a name (st_nlink): if gc
// removed it in between, it starts again (a create makes the name anew; an open then
// finds it gone, ENOENT). macOS has no OFD locks: descriptors are closed once mapped.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "../shmkit.h"

namespace shmkit {
namespace {

std::string OsName(const std::string& name) { return "/" + name; }

bool Fail(OsError* err, const char* syscall) {
  err->code = errno;
  err->syscall = syscall;
  return false;
}

void CloseFd(int fd) {
  // close() may report EINTR, but the descriptor is released regardless on Linux and
  // macOS; retrying could close a descriptor another thread just received.
  (void)close(fd);
}

#ifdef __linux__
// Takes the usage lock shared. A collector holds it exclusively for microseconds, so a
// refusal is retried for about 50 ms; past that (a collector that was paused, or a
// process with write access holding it for good) the create or open fails with EBUSY,
// rather than using a segment that gc could then remove under it.
bool HoldUsage(int fd) {
  struct flock fl = {};
  fl.l_type = F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kUsageByte;
  fl.l_len = 1;
  for (int i = 0; i < 100; i++) {
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return true;
    if (errno != EAGAIN && errno != EACCES && errno != EINTR) return true;  // no OFD locks here: nothing to protect
    struct timespec ts = {0, 500 * 1000};
    nanosleep(&ts, nullptr);
  }
  errno = EBUSY;
  return false;
}

// After HoldUsage: false if the file lost its name meanwhile (a collector removed it).
bool StillNamed(int fd, struct stat* st) {
  return fstat(fd, st) == 0 && st->st_nlink > 0;
}
#endif

// After a create or open has mapped (ok) or failed: records the file's identity, and
// keeps the descriptor with its usage lock (Linux) or closes it (elsewhere the mapping
// keeps the segment, and the descriptor is no longer needed).
void Keep(int fd, const struct stat& st, bool ok, Mapping* out) {
  out->dev = static_cast<uint64_t>(st.st_dev);
  out->ino = static_cast<uint64_t>(st.st_ino);
#ifdef __linux__
  if (ok) {
    out->usageFd = fd;
    return;
  }
#else
  (void)ok;
#endif
  CloseFd(fd);
}

int Ftruncate(int fd, off_t size) {
  int r;
  do r = ftruncate(fd, size);
  while (r == -1 && errno == EINTR);
  return r;
}

// posix_fallocate, retried on EINTR as PostgreSQL's dsm_impl.c does (a signal during a
// large reservation is common); it returns the error rather than setting errno.
// fallocate(2) itself, not posix_fallocate: where the filesystem cannot reserve (not
// tmpfs), glibc's fallback reads and rewrites every block, which on a live segment could
// undo a peer's write; here that is "cannot reserve", and the segment stays sparse.
// Signals are blocked around it, as PostgreSQL's dsm_impl.c does: tmpfs stops a large
// reservation at any pending signal (EINTR), and retrying from the start under a steady
// stream of signals (a profiler's SIGPROF) might never finish.
bool Reserve(int fd, uint64_t offset, uint64_t length, OsError* err) {
#ifdef __linux__
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int r;
  do r = fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length));
  while (r == -1 && errno == EINTR);
  const int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (r == 0 || e == EOPNOTSUPP || e == ENOSYS) return true;
  errno = e;
  return Fail(err, "fallocate");
#else
  (void)fd, (void)offset, (void)length, (void)err;
  return true;  // macOS has no posix_fallocate; its shared memory is not a size-limited tmpfs
#endif
}

bool Map(int fd, uint64_t size, bool readOnly, Mapping* out, OsError* err) {
  out->readOnly = readOnly;
  out->size = size;
  out->addr = nullptr;
  if (size == 0) return true;
  if (size > SIZE_MAX) {
    err->code = ENOMEM;
    err->syscall = "mmap";
    return false;
  }
  // A read-only attach gets a private, writable, copy-on-write mapping of a descriptor
  // opened O_RDONLY. JavaScript cannot be given a read-only ArrayBuffer, and a PROT_READ
  // mapping under a writable one would turn a stray store into SIGSEGV. Private pages
  // take the store instead; the segment never sees it. MAP_NORESERVE keeps the kernel
  // from charging the whole size against the commit limit for pages that will almost
  // never be copied.
#ifdef __APPLE__
  // macOS maps POSIX shared memory MAP_SHARED only (XNU's pshm_mmap refuses anything
  // else), so a read-only attach is PROT_READ and hands out no views (untested).
  int prot = readOnly ? PROT_READ : PROT_READ | PROT_WRITE;
  int flags = MAP_SHARED;
  out->viewsAllowed = !readOnly;
#else
  int prot = PROT_READ | PROT_WRITE;
  int flags = readOnly ? (MAP_PRIVATE | MAP_NORESERVE) : MAP_SHARED;
#endif
  void* addr = mmap(nullptr, static_cast<size_t>(size), prot, flags, fd, 0);
  if (addr == MAP_FAILED) return Fail(err, "mmap");
  out->addr = addr;
  return true;
}

// The guarded copy: a thread in SegmentCopy has its jump buffer here; a SIGBUS it takes
// jumps back out of the copy. Initial-exec TLS: a plain load in the handler, no lazy
// allocation (the addon is loaded with dlopen, where other TLS models may allocate).
// Volatile: the compiler must not move the stores around the copy (memmove touches no
// globals as far as it knows, so it would otherwise drop them as dead).
__attribute__((tls_model("initial-exec"))) thread_local sigjmp_buf* volatile tCopying = nullptr;
// The segment side of the copy in flight: only a fault the kernel raised there is ours.
__attribute__((tls_model("initial-exec"))) thread_local const char* volatile tFrom = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local const char* volatile tTo = nullptr;
struct sigaction previousBus;
pthread_once_t busOnce = PTHREAD_ONCE_INIT;

void OnBus(int sig, siginfo_t* info, void* context) {
  sigjmp_buf* jump = tCopying;
  const char* at = static_cast<const char*>(info->si_addr);
  // A fault of the copy itself: raised by the kernel (si_code > 0; kill -BUS is SI_USER),
  // at an address of the segment side of the copy.
  if (jump != nullptr && info->si_code > 0 && at >= tFrom && at < tTo) {
    tCopying = nullptr;
    siglongjmp(*jump, 1);
  }
  // Not ours: what was installed before, or the default.
  if (previousBus.sa_flags & SA_SIGINFO) {
    if (previousBus.sa_sigaction != nullptr) return previousBus.sa_sigaction(sig, info, context);
  } else if (previousBus.sa_handler == SIG_IGN) {
    if (info->si_code <= 0) return;  // a sent SIGBUS that was to be ignored
  } else if (previousBus.sa_handler != SIG_DFL) {
    return previousBus.sa_handler(sig);
  }
  // The default: a fault re-runs the access on return and dies of it; a sent signal is
  // raised again. Either way the process dies of SIGBUS, as it would have without us.
  signal(SIGBUS, SIG_DFL);
  if (info->si_code <= 0) raise(SIGBUS);
}

void InstallBusHandler() {
  struct sigaction sa = {};
  sa.sa_sigaction = OnBus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &previousBus);
}

}  // namespace

bool SegmentCopy(void* dst, const void* src, size_t n, bool fromSegment) {
  if (n == 0) return true;
  pthread_once(&busOnce, InstallBusHandler);
  sigjmp_buf jump;
  // savemask 1: the handler ran with SIGBUS blocked unless SA_NODEFER; restore either way.
  if (sigsetjmp(jump, 1) != 0) return false;
  const char* segment = static_cast<const char*>(fromSegment ? src : dst);
  tFrom = segment;
  tTo = segment + n;
  tCopying = &jump;
  std::memmove(dst, src, n);
  tCopying = nullptr;
  return true;
}

bool CheckRegular(int fd, uint64_t minSize, void* where, OsError* err) {
  struct stat* st = static_cast<struct stat*>(where);
  if (fstat(fd, st) != 0) return Fail(err, "fstat");
  const mode_t t = st->st_mode & S_IFMT;
  err->notSegment = t == S_IFIFO ? "a FIFO" : t == S_IFDIR ? "a directory" : t == S_IFCHR || t == S_IFBLK ? "a device"
                  : t == S_IFSOCK ? "a socket" : t != S_IFREG ? "not a regular file"
                  : static_cast<uint64_t>(st->st_size) < minSize ? "too short" : nullptr;
  return err->notSegment == nullptr;
}

bool SegmentCreate(const std::string& name, uint64_t size, uint32_t mode, bool reserve, Mapping* out,
                   std::string* made, OsError* err) {
#ifdef __linux__
  // A temporary name: 64 random bits, so that concurrent creators never meet.
  uint64_t r = 0;
  int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (rfd < 0 || read(rfd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) {
    r ^= reinterpret_cast<uintptr_t>(&r) ^ static_cast<uint64_t>(getpid()) << 32 ^ static_cast<uint64_t>(time(nullptr));
  }
  if (rfd >= 0) CloseFd(rfd);
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  *made = std::string(kTemporaryPrefix) + hex;
  (void)name;
#else
  *made = name;
#endif
  const std::string osName = OsName(*made);
  if (size > static_cast<uint64_t>(INT64_MAX)) {
    err->code = EFBIG;
    err->syscall = "ftruncate";
    return false;
  }
  for (int attempt = 0;; attempt++) {
    int fd = shm_open(osName.c_str(), O_RDWR | O_CREAT | O_EXCL, static_cast<mode_t>(mode));
    if (fd == -1) return Fail(err, "shm_open");
    struct stat st = {};
#ifdef __linux__
    if (!HoldUsage(fd)) {
      int e = errno;
      CloseFd(fd);
      shm_unlink(osName.c_str());
      errno = e;
      return Fail(err, "fcntl");
    }
    if (!StillNamed(fd, &st) && attempt < 100) {  // collected before we held it: make it again
      CloseFd(fd);
      continue;
    }
#else
    (void)attempt;  // a name is made again only where gc can collect it (Linux)
    fstat(fd, &st);
#endif
    bool ok = Ftruncate(fd, static_cast<off_t>(size)) != 0 ? Fail(err, "ftruncate")
              : reserve && !Reserve(fd, 0, size, err)        ? false
                                                             : Map(fd, size, false, out, err);
    Keep(fd, st, ok, out);
    if (!ok) shm_unlink(osName.c_str());
    return ok;
  }
}

bool SegmentOpen(const std::string& name, bool readOnly, Mapping* out, OsError* err) {
  for (int attempt = 0;; attempt++) {
    // O_NONBLOCK: opening a FIFO planted under the name must not wait for a writer. (glibc
    // adds O_NOFOLLOW.) It changes nothing for a regular file.
    int fd = shm_open(OsName(name).c_str(), (readOnly ? O_RDONLY : O_RDWR) | O_NONBLOCK, 0);
    if (fd == -1) return Fail(err, "shm_open");
    struct stat st;
    if (!CheckRegular(fd, 0, &st, err)) {
      CloseFd(fd);
      return false;
    }
#ifdef __linux__
    if (!HoldUsage(fd)) {
      int e = errno;
      CloseFd(fd);
      errno = e;
      return Fail(err, "fcntl");
    }
    if (!StillNamed(fd, &st)) {  // collected as we opened it: what the name names now, if anything
      CloseFd(fd);
      if (attempt < 100) continue;
      errno = ENOENT;
      return Fail(err, "shm_open");
    }
#else
    (void)attempt;
    if (fstat(fd, &st) != 0) {
      CloseFd(fd);
      return Fail(err, "fstat");
    }
#endif
    bool ok = Map(fd, static_cast<uint64_t>(st.st_size), readOnly, out, err);
    Keep(fd, st, ok, out);
    return ok;
  }
}

bool SegmentCovers(const Mapping* m, uint64_t end) {
#ifdef __linux__
  struct stat st;
  return m->usageFd >= 0 && fstat(m->usageFd, &st) == 0 && static_cast<uint64_t>(st.st_size) >= end;
#else
  (void)m, (void)end;
  return false;
#endif
}

bool SegmentReserve(Mapping* m, uint64_t offset, uint64_t length, OsError* err) {
#ifdef __linux__
  if (m->usageFd < 0) {
    err->code = EBADF;
    err->syscall = "fallocate";
    return false;
  }
  return length == 0 || Reserve(m->usageFd, offset, length, err);
#else
  (void)m, (void)offset, (void)length, (void)err;
  return true;
#endif
}

void SegmentUnmap(Mapping* m) {
  if (m->addr != nullptr) munmap(m->addr, static_cast<size_t>(m->size));
  m->addr = nullptr;
  m->size = 0;
  if (m->usageFd >= 0) CloseFd(m->usageFd);  // unmapped: no longer in use by this process
  m->usageFd = -1;
}

// The usage lock is let go with the mapping (SegmentUnmap): memory a view that escaped
// detachment can still reach is still in use.
void SegmentRelease(Mapping*) {}

bool SegmentUnlink(const std::string& name, OsError* err) {
  if (shm_unlink(OsName(name).c_str()) == -1) return Fail(err, "shm_unlink");
  return true;
}

bool SegmentExists(const std::string& name, bool* exists, OsError* err) {
  // Whatever the name holds, it is taken (a create would be EEXIST); O_NONBLOCK so that a
  // FIFO does not wait for a writer.
  int fd = shm_open(OsName(name).c_str(), O_RDONLY | O_NONBLOCK, 0);
  if (fd != -1) {
    CloseFd(fd);
    *exists = true;
    return true;
  }
  if (errno == ENOENT) {
    *exists = false;
    return true;
  }
  if (errno == EACCES) {  // there, but not ours to read
    *exists = true;
    return true;
  }
  return Fail(err, "shm_open");
}

bool SegmentIdentity(const std::string& name, uint64_t* dev, uint64_t* ino, OsError* err) {
#ifdef __linux__
  // stat needs no permission on the file itself (another user's mode-0 successor too).
  struct stat lst;
  if (stat(("/dev/shm/" + name).c_str(), &lst) != 0) return Fail(err, "stat");
  *dev = static_cast<uint64_t>(lst.st_dev);
  *ino = static_cast<uint64_t>(lst.st_ino);
  return true;
#endif
  int fd = shm_open(OsName(name).c_str(), O_RDONLY | O_NONBLOCK, 0);
  if (fd == -1) return Fail(err, "shm_open");
  struct stat st;
  bool ok = fstat(fd, &st) == 0;
  if (!ok) Fail(err, "fstat");
  CloseFd(fd);
  *dev = static_cast<uint64_t>(st.st_dev);
  *ino = static_cast<uint64_t>(st.st_ino);
  return ok;
}

bool SegmentLockUnused(const std::string& name, bool* inUse, Unused* out, OsError* err) {
#ifdef __linux__
  *inUse = false;
  // O_NONBLOCK: a FIFO planted under the name must not hang the collector.
  int fd = shm_open(OsName(name).c_str(), O_RDWR | O_NONBLOCK, 0);
  if (fd == -1) return Fail(err, "shm_open");
  struct stat st;
  bool statted = fstat(fd, &st) == 0;
  if (!statted || !S_ISREG(st.st_mode)) {
    int e = statted ? EINVAL : errno;
    CloseFd(fd);
    errno = e;
    return Fail(err, "fstat");
  }
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kUsageByte;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    int e = errno;
    CloseFd(fd);
    if (e == EAGAIN || e == EACCES) {
      *inUse = true;
      return true;
    }
    errno = e;
    return Fail(err, "fcntl");
  }
  out->fd = fd;
  out->size = static_cast<uint64_t>(st.st_size);
  out->dev = static_cast<uint64_t>(st.st_dev);
  out->ino = static_cast<uint64_t>(st.st_ino);
  ssize_t n = pread(fd, out->head, sizeof out->head, 0);
  out->headLength = n > 0 ? static_cast<size_t>(n) : 0;
  return true;
#else
  (void)name;
  (void)inUse;
  (void)out;
  err->code = ENOTSUP;
  err->syscall = "fcntl";
  return false;
#endif
}

void SegmentUnlockUnused(Unused* u) {
  if (u->fd >= 0) CloseFd(u->fd);
  u->fd = -1;
}

bool SegmentPublish(const std::string& made, const std::string& name, OsError* err) {
  if (made == name) return true;
  // glibc keeps POSIX shared memory in /dev/shm, where shm_open found the file just made.
  const std::string from = "/dev/shm/" + made;
  const std::string to = "/dev/shm/" + name;
  // The temporary name stays, whatever happens: the caller removes it (a taken name may
  // be retried with another first).
  if (link(from.c_str(), to.c_str()) != 0) return Fail(err, "link");
  return true;
}

size_t MaxNameBytes() {
#ifdef __APPLE__
  return 30;  // PSHMNAMLEN is 31, and that counts the leading slash
#else
  return NAME_MAX;  // the name is a file in /dev/shm
#endif
}

}  // namespace shmkit
