// Owners whose life the kernel vouches for (Linux): open-file-description locks.
//
// An owner is an OS thread. The first time a thread asks for its id it registers: it
// takes an exclusive OFD lock (F_OFD_SETLK, F_WRLCK) on one byte of a registry file in
// /dev/shm, the tmpfs every participant shares (containers of one pod share it while
// their PID namespaces and /proc differ). The descriptor is the thread's own, so the
// kernel drops the lock when the thread ends (thread_local destructor: a terminated
// Worker's thread exits) or when the process dies however it dies (SIGKILL included).
// Anyone who can read the registry file asks F_OFD_GETLK about that byte: a write lock
// there means the owner lives. No PID, no /proc, no clock is consulted.
//
// Owner id (30 bits, as lock words have room for): registry number r (bits 22-29) and
// the byte (bits 0-21, never 0) the owner holds in registry r. Registry r is the file
// /dev/shm/.shmkit-owners-XX (XX = r in two hex digits); docs/memory-layout.md has its
// bytes. Registries are per user: a thread registers only in a file that its effective
// uid owns, so only that user (and root) can unlink or replace a file whose locks vouch
// for its owners ("sticky" /dev/shm). Other users open it read-only, to ask.
//
// Why a false "dead" cannot happen: a live owner holds F_WRLCK on its byte in the inode
// its id names; no other descriptor can hold or remove a lock there meanwhile, and a read
// lock (all another user can take) cannot coexist with it, so F_OFD_GETLK reports it. A
// false "alive" can: a byte is reused once the registry's 2^22 - 1 bytes have been handed
// out (sequentially, from a counter in the file) and a dead owner's claim is still
// unrecovered; a user who can read a registry can hold write locks it cannot (only read
// locks), so it cannot fake life either; the owner user itself writing the counter only
// makes reuse come sooner. A thread that can register nowhere (every registry name taken
// by other users, or every byte of its own locked by someone) gets no id at all (0):
// shmkit objects then refuse it (ERR_SHMKIT_NO_OWNER) rather than give two threads one id.
// A registry this process makes starts its counter at a random byte, so that one made
// after the user's earlier registry was removed (RemoveIPC) is unlikely to hand out ids
// of owners still alive in the removed one.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "../shmkit.h"

namespace shmkit {
namespace {

constexpr uint32_t kByteBits = 22;
constexpr uint32_t kByteMask = (1u << kByteBits) - 1;
constexpr uint32_t kRegistries = 255;  // r = 255 is never a registry (ids of it are refused)
constexpr size_t kRegistrySize = 4096;
constexpr uint64_t kMagic = 0x31524e574f4b4d53ull;  // "SMKOWNR1", little-endian
constexpr int kTriesPerRegistry = 64;

void RegistryPath(uint32_t r, char* out, size_t n) {
  snprintf(out, n, "/dev/shm/.shmkit-owners-%02x", r);
}

// Header of a registry file (the rest of its 4096 bytes is reserved, zero).
struct RegistryHeader {
  uint64_t magic;  // kMagic once set up
  uint32_t next;   // the byte the next registrant tries first (a hint; wraps)
  uint32_t version;  // 1
};

int FcntlLock(int fd, int cmd, short type, uint32_t byte, short* found) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  int rc;
  do rc = fcntl(fd, cmd, &fl);
  while (rc < 0 && errno == EINTR);
  if (rc == 0 && found != nullptr) *found = fl.l_type;
  return rc;
}

// This thread's registration: the descriptor whose lock vouches for it.
struct Registration {
  uint32_t id = 0;
  int fd = -1;
  bool failed = false;
  ~Registration() {
    if (fd >= 0) close(fd);  // the kernel drops the lock: this owner is dead to everyone
  }
};

thread_local Registration self;

// Tries to register in registry r: a file this user owns (made if absent).
bool RegisterIn(uint32_t r, uid_t uid) {
  char path[64];
  RegistryPath(r, path, sizeof path);
  // O_NONBLOCK: a FIFO planted under the name must not hang us; S_ISREG is checked below.
  int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT) {
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd >= 0) {
      fchmod(fd, 0644);  // whatever the umask: other users must be able to ask
    } else if (errno == EEXIST) {
      fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    }
  }
  if (fd < 0) return false;
  // Ours alone: a regular file this user owns, with one name (not a hard link another
  // user made to some file of ours), that nobody else may write, of the registry's size
  // (or empty: just made, or its maker killed before sizing it).
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != uid || st.st_nlink != 1 ||
      (st.st_mode & 022) != 0 || (st.st_size != 0 && st.st_size != static_cast<off_t>(kRegistrySize)) ||
      (st.st_size == 0 && ftruncate(fd, kRegistrySize) != 0)) {
    close(fd);
    return false;
  }
  void* map = mmap(nullptr, kRegistrySize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    close(fd);
    return false;
  }
  auto* h = static_cast<RegistryHeader*>(map);
  // Set up by whichever registrant of this user comes first (a creator killed half-way
  // leaves zeros, which the next one completes). Anything else there is not a registry.
  uint64_t magic = 0;
  if (__atomic_load_n(&h->magic, __ATOMIC_SEQ_CST) == 0) {
    uint32_t start = 0;
    int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
      if (read(rfd, &start, sizeof start) != static_cast<ssize_t>(sizeof start)) start = 0;
      close(rfd);
    }
    uint32_t zero = 0;
    __atomic_compare_exchange_n(&h->next, &zero, start, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  }
  __atomic_compare_exchange_n(&h->magic, &magic, kMagic, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  bool ok = false;
  if (magic == 0 || magic == kMagic) {
    __atomic_store_n(&h->version, 1u, __ATOMIC_RELAXED);
    for (int i = 0; i < kTriesPerRegistry && !ok; i++) {
      uint32_t byte = (__atomic_fetch_add(&h->next, 1u, __ATOMIC_RELAXED) % kByteMask) + 1;
      if (FcntlLock(fd, F_OFD_SETLK, F_WRLCK, byte, nullptr) == 0) {
        self.id = (r << kByteBits) | byte;
        ok = true;
      }
    }
  }
  munmap(map, kRegistrySize);
  if (!ok) {
    close(fd);
    return false;
  }
  self.fd = fd;
  return true;
}

void Register() {
  uid_t uid = geteuid();
  for (uint32_t r = 0; r < kRegistries; r++) {
    if (RegisterIn(r, uid)) return;
  }
  self.id = 0;  // nowhere to register: no id rather than one another thread may have
  self.failed = true;
}

// Read-only descriptors this process asks through, per registry: every file the name
// has named while this process asked (a registry that was removed and made again keeps
// its old owners' locks in the old file, so the old file is asked too). A few per
// registry at most; opened on first use.
std::mutex askMu;
std::vector<int> askFds[kRegistries];
std::vector<ino_t> askInos[kRegistries];

// Opens registry r to ask, and keeps the descriptor unless that file is already kept.
// Returns -errno on failure, 0 if the file was known, 1 if it was added.
int AddAskFd(uint32_t r) {
  char path[64];
  RegistryPath(r, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -EINVAL;
  }
  for (ino_t ino : askInos[r]) {
    if (ino == st.st_ino) {
      close(fd);
      return 0;
    }
  }
  askFds[r].push_back(fd);
  askInos[r].push_back(st.st_ino);
  return 1;
}

// 1: a write lock is held on the byte (alive); 0: none; -1: cannot tell.
int Ask(int fd, uint32_t byte) {
  short found = F_UNLCK;
  if (FcntlLock(fd, F_OFD_GETLK, F_WRLCK, byte, &found) != 0) return -1;
  return found == F_WRLCK ? 1 : 0;
}

}  // namespace

uint32_t CurrentOwnerId() {
  if (self.id == 0 && !self.failed) {
    Register();
    // The registry this thread is in is the one its neighbours are asked about most:
    // opened now, so that asking later opens nothing.
    if (self.id != 0) {
      std::lock_guard<std::mutex> lock(askMu);
      AddAskFd(self.id >> kByteBits);
    }
  }
  return self.id;
}

bool OwnerAlive(uint32_t ownerId) {
  uint32_t r = ownerId >> kByteBits;
  uint32_t byte = ownerId & kByteMask;
  if (byte == 0 || r >= kRegistries) return false;  // never an id: nobody owns with it
  std::lock_guard<std::mutex> lock(askMu);
  for (int fd : askFds[r]) {
    if (Ask(fd, byte) != 0) return true;  // alive, or cannot tell (errs on the side of alive)
  }
  // No lock in the files we know: ask the file the name points at now, if it is new.
  int added = AddAskFd(r);
  // No file under the name: nobody can hold a lock in it. Any other failure: cannot tell.
  if (added < 0) return added != -ENOENT;
  return added == 1 && Ask(askFds[r].back(), byte) != 0;
}

}  // namespace shmkit
