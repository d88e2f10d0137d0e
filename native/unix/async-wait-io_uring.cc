// Waiting without a thread per wait: io_uring's futex operations (Linux 6.7+).
//
// Each waitAsync becomes an IORING_OP_FUTEX_WAIT request, linked to an
// IORING_OP_LINK_TIMEOUT when it has a time limit. The kernel compares the word and
// queues the request on the futex during io_uring_enter, before waitAsync returns, so a
// wait is armed as atomically as a blocking one: a notify from any process after that
// moment reaches it, and counts in notify's total like any other waiter. A thousand
// pending waits are a thousand kernel futex entries and no threads; one reaper thread per
// Node environment collects completions from the ring and hands them to JavaScript.
//
// The ring is used through registered ring descriptors (IORING_REGISTER_RING_FDS, 5.18):
// each of the two threads that enter it (the JavaScript thread, which submits, and the
// reaper) registers it for itself, so a program that closes descriptor numbers it does not
// own (a stray close, a "close every fd above 2" loop) cannot take the ring away.
//
// The constants below are the kernel ABI (include/uapi/linux/io_uring.h, 6.7); they are
// spelled out because distribution headers older than 6.7 lack them.
#include <errno.h>
#include <linux/io_uring.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "../shmkit.h"

namespace shmkit {
namespace {

constexpr uint8_t kOpFutexWait = 51;   // IORING_OP_FUTEX_WAIT
constexpr uint32_t kFutex2SizeU32 = 2;  // FUTEX2_SIZE_U32, shared (no FUTEX2_PRIVATE)

// user_data of requests whose completions are not waits.
constexpr uint64_t kTimeoutTag = 1ull << 63;
constexpr uint64_t kCancelTag = 1ull << 62;
constexpr uint64_t kStop = ~0ull;

constexpr unsigned kRegisterRingFds = 20;        // IORING_REGISTER_RING_FDS
constexpr unsigned kEnterRegisteredRing = 1u << 4;  // IORING_ENTER_REGISTERED_RING
struct RsrcUpdate {  // struct io_uring_rsrc_update
  uint32_t offset;
  uint32_t resv;
  uint64_t data;
};

// How the calling thread enters the ring: its registered index, or the descriptor if the
// kernel would not register it.
struct Entry {
  int fd;
  unsigned flags;
};

Entry Register(int fd) {
  RsrcUpdate u{~0u, 0, static_cast<uint64_t>(fd)};  // offset -1: the kernel picks an index
  if (syscall(__NR_io_uring_register, fd, kRegisterRingFds, &u, 1) == 1) {
    return {static_cast<int>(u.offset), kEnterRegisteredRing};
  }
  return {fd, 0};
}

// A short pause for errors that pass (EAGAIN, EBUSY: the completion ring is being flushed).
void Pause(long ns) {
  timespec ts{0, ns};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int Setup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}

int Enter(Entry e, unsigned submit, unsigned minComplete, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, e.fd, submit, minComplete, flags | e.flags, nullptr, 0));
}

WaitResult FromCqe(int res) {
  if (res == 0) return WaitResult::kOk;
  if (res == -EAGAIN) return WaitResult::kNotEqual;
  // -ECANCELED: the linked timeout fired, or Cancel() asked; JavaScript knows which.
  if (res == -ECANCELED || res == -ETIME || res == -EINTR) return WaitResult::kTimedOut;
  return WaitResult::kNotEqual;
}

class UringAsyncWaits final : public AsyncWaits {
 public:
  UringAsyncWaits(Done done, void* context) : done_(done), context_(context) {}

  ~UringAsyncWaits() override {
    if (reaping_) {
      // The stop is a NOP the reaper reads; a ring refusing it for a moment (EAGAIN, EBUSY)
      // is asked again for up to a second. If it never takes it, the reaper is left
      // behind (detached) rather than joined for ever: exit must not hang.
      bool sent = false;
      for (int i = 0; i < 1000 && !sent; i++) {
        sent = Submit([](io_uring_sqe* sqe) {
                 sqe->opcode = IORING_OP_NOP;
                 sqe->user_data = kStop;
               }) == 1;
        if (!sent) Pause(1000000);
      }
      if (!sent) {
        pthread_detach(reaper_);
        // The ring's mappings stay (the reaper sleeps in it). This object's memory goes;
        // the reaper reads it again only if a completion still arrives, which with the
        // environment gone (its waits cancelled by close) nothing should make. A known
        // residue of a ring that refuses even a NOP for a second.
        return;
      }
      pthread_join(reaper_, nullptr);
    }
    if (sqes_ != nullptr) munmap(sqes_, sqesSize_);
    if (ring_ != nullptr) munmap(ring_, ringSize_);
    // Only if the number is still this ring's: a stray close may have given it to another file.
    struct stat st;
    if (fd_ >= 0 && fstat(fd_, &st) == 0 && st.st_ino == ino_ && st.st_dev == dev_) close(fd_);
  }

  // Sets up the ring and proves, with a wait that must fail at once, that this kernel
  // knows the futex operations. False leaves the caller to use another mechanism.
  bool Init() {
    io_uring_params p;
    memset(&p, 0, sizeof p);
    fd_ = Setup(64, &p);
    if (fd_ < 0 || !(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_NODROP)) {
      return false;
    }
    size_t sqSize = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
    size_t cqSize = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    ringSize_ = sqSize > cqSize ? sqSize : cqSize;
    void* ring = mmap(nullptr, ringSize_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                      IORING_OFF_SQ_RING);
    if (ring == MAP_FAILED) return false;
    ring_ = static_cast<char*>(ring);
    sqesSize_ = p.sq_entries * sizeof(io_uring_sqe);
    void* sqes = mmap(nullptr, sqesSize_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                      IORING_OFF_SQES);
    if (sqes == MAP_FAILED) return false;
    sqes_ = static_cast<io_uring_sqe*>(sqes);
    sqTail_ = reinterpret_cast<uint32_t*>(ring_ + p.sq_off.tail);
    sqMask_ = *reinterpret_cast<uint32_t*>(ring_ + p.sq_off.ring_mask);
    sqArray_ = reinterpret_cast<uint32_t*>(ring_ + p.sq_off.array);
    cqHead_ = reinterpret_cast<uint32_t*>(ring_ + p.cq_off.head);
    cqTail_ = reinterpret_cast<uint32_t*>(ring_ + p.cq_off.tail);
    cqMask_ = *reinterpret_cast<uint32_t*>(ring_ + p.cq_off.ring_mask);
    cqes_ = reinterpret_cast<io_uring_cqe*>(ring_ + p.cq_off.cqes);

    struct stat st;
    if (fstat(fd_, &st) != 0) return false;
    ino_ = st.st_ino;
    dev_ = st.st_dev;
    submitter_ = Register(fd_);

    uint32_t probe = 1;
    if (!StartWait(0, &probe, 0, -1)) return false;
    if (Enter(submitter_, 0, 1, IORING_ENTER_GETEVENTS) < 0) return false;
    int res = 1;
    Drain([&res](uint64_t, int r) { res = r; });
    if (res != -EAGAIN) return false;  // -EINVAL: no futex operations in this kernel
    // pthread, not std::thread: no thread to be had means the threads backend (which will
    // then report its own error), never an abort.
    if (pthread_create(&reaper_, nullptr, [](void* self) -> void* {
          static_cast<UringAsyncWaits*>(self)->Reap();
          return nullptr;
        }, this) != 0) {
      return false;
    }
    reaping_ = true;
    return true;
  }

  bool Start(uint64_t id, uint32_t* addr, uint32_t expected, int64_t timeoutNs) override {
    return StartWait(id, addr, expected, timeoutNs);
  }

  // A cancel the kernel refuses for a moment (EAGAIN, EBUSY while it flushes completions
  // the reaper is draining) is tried again for about 10 ms, then again before each later
  // submission; until it goes out, the wait ends by itself (its time-out, or a wake-up
  // that park.ts then passes on, as for any wait given up too late).
  void Cancel(uint64_t id) override {
    RetryCancels();
    for (int i = 0; i < 100; i++) {
      if (SubmitCancel(id)) return;
      if (errno != EAGAIN && errno != EBUSY && errno != ENOMEM) break;
      Pause(100000);
    }
    cancelsOwed_.push_back(id);
  }

  const char* Backend() const override { return "io_uring"; }

 private:
  bool SubmitCancel(uint64_t id) {
    return Submit([id](io_uring_sqe* sqe) {
             sqe->opcode = IORING_OP_ASYNC_CANCEL;
             sqe->addr = id;
             sqe->user_data = id | kCancelTag;
           }) == 1;
  }

  void RetryCancels() {
    while (!cancelsOwed_.empty() && SubmitCancel(cancelsOwed_.back())) cancelsOwed_.pop_back();
  }

  // Only the JavaScript thread submits, so the submission ring has a single producer.
  // Returns how many of the `count` entries the kernel took (all, or fewer on failure).
  template <typename Fill>
  unsigned Submit(Fill fill, unsigned count = 1) {
    uint32_t tail = *sqTail_;
    for (unsigned i = 0; i < count; i++) {
      uint32_t index = (tail + i) & sqMask_;
      io_uring_sqe* sqe = &sqes_[index];
      memset(sqe, 0, sizeof *sqe);
      sqArray_[index] = index;
    }
    fill(&sqes_[tail & sqMask_]);
    __atomic_store_n(sqTail_, tail + count, __ATOMIC_RELEASE);
    int r;
    do r = Enter(submitter_, count, 0, 0);
    while (r < 0 && errno == EINTR);
    if (r == static_cast<int>(count)) return count;
    // The kernel took none (an error) or only the first entries: the rest are taken back
    // from the ring, so that they never go out later with nobody expecting them.
    const int taken = r < 0 ? 0 : r;
    const int saved = errno;
    __atomic_store_n(sqTail_, tail + taken, __ATOMIC_RELEASE);
    errno = r < 0 ? saved : EAGAIN;
    return static_cast<unsigned>(taken);
  }

  bool StartWait(uint64_t id, uint32_t* addr, uint32_t expected, int64_t timeoutNs) {
    // Read by the kernel while io_uring_enter prepares the request, so the stack will do.
    __kernel_timespec ts;
    ts.tv_sec = timeoutNs / 1000000000;
    ts.tv_nsec = timeoutNs % 1000000000;
    const bool timed = timeoutNs >= 0;
    RetryCancels();  // first: it moves the tail that the linked entry's place is computed from
    const uint32_t mask = sqMask_;
    io_uring_sqe* base = sqes_;
    uint32_t tail = *sqTail_;
    const unsigned count = timed ? 2 : 1;
    const unsigned taken = Submit(
        [&](io_uring_sqe* sqe) {
          sqe->opcode = kOpFutexWait;
          sqe->fd = kFutex2SizeU32;
          sqe->addr = reinterpret_cast<uintptr_t>(addr);
          sqe->addr2 = expected;
          sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
          sqe->user_data = id;
          if (!timed) return;
          sqe->flags = IOSQE_IO_LINK;
          io_uring_sqe* link = &base[(tail + 1) & mask];
          link->opcode = IORING_OP_LINK_TIMEOUT;
          link->addr = reinterpret_cast<uintptr_t>(&ts);
          link->len = 1;
          link->user_data = id | kTimeoutTag;
        },
        count);
    if (taken == count) return true;
    if (taken == 0) return false;  // nothing went out: the caller reports the error
    // The wait went out without its timeout: cancel it now. It completes (as cancelled,
    // which JavaScript reads as a time-out, and loops on) like any wait that was started.
    Cancel(id);
    return true;
  }

  // Consumes every completion in the ring. Only the reaper thread (after Init) reads it.
  template <typename Each>
  void Drain(Each each) {
    uint32_t head = *cqHead_;
    uint32_t tail = __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
      const io_uring_cqe& cqe = cqes_[head & cqMask_];
      each(cqe.user_data, cqe.res);
    }
    __atomic_store_n(cqHead_, head, __ATOMIC_RELEASE);
  }

  // Never gives up while waits may be pending: an error that is not EINTR (EAGAIN, EBUSY,
  // ENOMEM pass; with the ring registered nothing else is expected) is retried after a
  // pause that grows to 100 ms, so that a ring in trouble costs a little CPU, not every
  // pending wait.
  void Reap() {
    const Entry self = Register(fd_);
    bool stop = false;
    long pause = 1000000;
    while (!stop) {
      if (Enter(self, 0, 1, IORING_ENTER_GETEVENTS) < 0 && errno != EINTR) {
        Pause(pause);
        if (pause < 100000000) pause *= 2;
      } else {
        pause = 1000000;
      }
      Drain([&](uint64_t userData, int res) {
        if (userData == kStop) {
          stop = true;
        } else if ((userData & (kTimeoutTag | kCancelTag)) == 0) {
          done_(context_, userData, FromCqe(res));
        }
      });
    }
  }

  Done done_;
  void* context_;
  int fd_ = -1;
  ino_t ino_ = 0;
  dev_t dev_ = 0;
  Entry submitter_{-1, 0};              // the JavaScript thread's way into the ring
  std::vector<uint64_t> cancelsOwed_;  // JavaScript thread only
  char* ring_ = nullptr;
  size_t ringSize_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqesSize_ = 0;
  uint32_t* sqTail_ = nullptr;
  uint32_t sqMask_ = 0;
  uint32_t* sqArray_ = nullptr;
  uint32_t* cqHead_ = nullptr;
  uint32_t* cqTail_ = nullptr;
  uint32_t cqMask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  pthread_t reaper_{};
  bool reaping_ = false;
};

}  // namespace

AsyncWaits* AsyncWaits::Create(Done done, void* context) {
  const char* forced = getenv("SHMKIT_WAIT_BACKEND");
  if (forced == nullptr || strcmp(forced, "threads") != 0) {
    auto* uring = new UringAsyncWaits(done, context);
    if (uring->Init()) return uring;
    delete uring;
  }
  return CreateThreadAsyncWaits(done, context);
}

}  // namespace shmkit
