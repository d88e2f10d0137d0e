// POSIX named semaphores: sem_open and friends. The OS name of semaphore `jobs` is
// "/jobs", as C programs and Python (through ctypes or posix_ipc) spell it.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <string>

#include "../shmkit.h"

namespace shmkit {

struct NamedSemaphore {
  sem_t* sem;
};

namespace {

bool Fail(OsError* err, const char* syscall) {
  err->code = errno;
  err->syscall = syscall;
  return false;
}

}  // namespace

NamedSemaphore* SemaphoreOpen(const std::string& name, bool create, uint32_t mode, uint32_t value,
                              OsError* err) {
  const std::string osName = "/" + name;
#ifdef __linux__
  // glibc's sem_open opens /dev/shm/sem.NAME without O_NONBLOCK (a FIFO there would block
  // for ever) and maps it without looking at its size (a short file is SIGBUS at the first
  // sem_wait or sem_getvalue). Look first; what is planted after this look is the
  // residual race of any name-based API.
  if (!create) {
    int fd = open(("/dev/shm/sem." + name).c_str(), O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      struct stat st;
      const bool ok = CheckRegular(fd, sizeof(sem_t), &st, err);
      close(fd);
      if (!ok) return nullptr;
    }
  }
#endif
  sem_t* sem = create ? sem_open(osName.c_str(), O_CREAT | O_EXCL, static_cast<mode_t>(mode), value)
                      : sem_open(osName.c_str(), 0);
  if (sem == SEM_FAILED) {
    Fail(err, "sem_open");
    return nullptr;
  }
  return new NamedSemaphore{sem};
}

WaitResult SemaphoreWait(NamedSemaphore* s, int64_t timeoutNs, OsError* err) {
  if (timeoutNs < 0) {
    int r;
    do r = sem_wait(s->sem);
    while (r == -1 && errno == EINTR);
    if (r == 0) return WaitResult::kOk;
    Fail(err, "sem_wait");
    return WaitResult::kNotEqual;
  }
#if defined(__linux__) && defined(__GLIBC__)
  // sem_clockwait (glibc 2.30) takes a CLOCK_MONOTONIC deadline, which a change of the
  // wall clock cannot stretch or cut short. (musl has no sem_clockwait: it takes the
  // sem_trywait loop below, which a change of the wall clock cannot disturb either.)
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t deadline = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec + timeoutNs;
  struct timespec abs = {static_cast<time_t>(deadline / 1000000000), static_cast<long>(deadline % 1000000000)};
  int r;
  do r = sem_clockwait(s->sem, CLOCK_MONOTONIC, &abs);
  while (r == -1 && errno == EINTR);
  if (r == 0) return WaitResult::kOk;
  if (errno == ETIMEDOUT) return WaitResult::kTimedOut;
  Fail(err, "sem_clockwait");
  return WaitResult::kNotEqual;
#else
  // macOS has no sem_timedwait, and musl's takes a CLOCK_REALTIME deadline: poll
  // sem_trywait, sleeping 50 µs at first and up to 5 ms, until a CLOCK_MONOTONIC
  // deadline. (Untested on macOS and musl: built, never run.)
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const int64_t deadline = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec + timeoutNs;
  for (int64_t pause = 50000;; pause = pause * 2 > 5000000 ? 5000000 : pause * 2) {
    if (sem_trywait(s->sem) == 0) return WaitResult::kOk;
    if (errno != EAGAIN && errno != EINTR) {
      Fail(err, "sem_trywait");
      return WaitResult::kNotEqual;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int64_t left = deadline - (static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec);
    if (left <= 0) return WaitResult::kTimedOut;
    const int64_t nap = pause < left ? pause : left;
    struct timespec ts = {static_cast<time_t>(nap / 1000000000), static_cast<long>(nap % 1000000000)};
    nanosleep(&ts, nullptr);
  }
#endif
}

bool SemaphoreTryWait(NamedSemaphore* s, bool* acquired, OsError* err) {
  if (sem_trywait(s->sem) == 0) {
    *acquired = true;
    return true;
  }
  if (errno == EAGAIN) {
    *acquired = false;
    return true;
  }
  return Fail(err, "sem_trywait");
}

bool SemaphorePost(NamedSemaphore* s, OsError* err) {
  return sem_post(s->sem) == 0 || Fail(err, "sem_post");
}

bool SemaphoreValue(NamedSemaphore* s, int* value, OsError* err) {
#ifdef __APPLE__
  // macOS does not implement sem_getvalue (ENOSYS): report 1 if a unit could be taken
  // (and give it back), else 0, as on Windows.
  bool acquired = false;
  if (!SemaphoreTryWait(s, &acquired, err)) return false;
  *value = acquired ? 1 : 0;
  return !acquired || SemaphorePost(s, err);
#else
  return sem_getvalue(s->sem, value) == 0 || Fail(err, "sem_getvalue");
#endif
}

void SemaphoreClose(NamedSemaphore* s) {
  sem_close(s->sem);
  delete s;
}

bool SemaphoreUnlink(const std::string& name, OsError* err) {
  return sem_unlink(("/" + name).c_str()) == 0 || Fail(err, "sem_unlink");
}

size_t MaxSemaphoreNameBytes() {
#ifdef __APPLE__
  return 30;
#else
  return NAME_MAX - 4;  // glibc stores "/name" as /dev/shm/sem.name
#endif
}

}  // namespace shmkit
