// POSIX named segments: shm_open + ftruncate + mmap(MAP_SHARED).
//
// The OS name of segment `jobs` is "/jobs", the same object CPython's
// multiprocessing.shared_memory.SharedMemory("jobs") opens, so both see one segment.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
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

int Ftruncate(int fd, off_t size) {
  int r;
  do r = ftruncate(fd, size);
  while (r == -1 && errno == EINTR);
  return r;
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

}  // namespace

bool SegmentCreate(const std::string& name, uint64_t size, uint32_t mode, Mapping* out,
                   OsError* err) {
  const std::string osName = OsName(name);
  if (size > static_cast<uint64_t>(INT64_MAX)) {
    err->code = EFBIG;
    err->syscall = "ftruncate";
    return false;
  }
  int fd = shm_open(osName.c_str(), O_RDWR | O_CREAT | O_EXCL, static_cast<mode_t>(mode));
  if (fd == -1) return Fail(err, "shm_open");
  bool ok = Ftruncate(fd, static_cast<off_t>(size)) == 0 ? Map(fd, size, false, out, err)
                                                          : Fail(err, "ftruncate");
  CloseFd(fd);  // the mapping keeps the segment; the descriptor is no longer needed
  if (!ok) shm_unlink(osName.c_str());
  return ok;
}

bool SegmentOpen(const std::string& name, bool readOnly, Mapping* out, OsError* err) {
  int fd = shm_open(OsName(name).c_str(), readOnly ? O_RDONLY : O_RDWR, 0);
  if (fd == -1) return Fail(err, "shm_open");
  struct stat st;
  bool ok = fstat(fd, &st) == 0 ? Map(fd, static_cast<uint64_t>(st.st_size), readOnly, out, err)
                                : Fail(err, "fstat");
  CloseFd(fd);
  return ok;
}

void SegmentUnmap(Mapping* m) {
  if (m->addr != nullptr) munmap(m->addr, static_cast<size_t>(m->size));
  m->addr = nullptr;
  m->size = 0;
}

void SegmentRelease(Mapping*) {}  // the descriptor was closed as soon as it was mapped

bool SegmentUnlink(const std::string& name, OsError* err) {
  if (shm_unlink(OsName(name).c_str()) == -1) return Fail(err, "shm_unlink");
  return true;
}

bool SegmentExists(const std::string& name, bool* exists, OsError* err) {
  int fd = shm_open(OsName(name).c_str(), O_RDONLY, 0);
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

size_t MaxNameBytes() {
#ifdef __APPLE__
  return 30;  // PSHMNAMLEN is 31, and that counts the leading slash
#else
  return NAME_MAX;  // the name is a file in /dev/shm
#endif
}

}  // namespace shmkit
