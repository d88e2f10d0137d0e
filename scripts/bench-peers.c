// The C baselines of npm run bench (scripts/bench.mjs compiles this with cc -O2), measured
// the way shmkit's rows beside them are, between two processes that share a mapping:
//
//   bench-peers futex ROUNDS [CPU_A CPU_B]   a round trip over one word with shared
//       (non-private) FUTEX_WAIT/FUTEX_WAKE, as shmkit's raw wait/notify ping-pong: the
//       parent writes 2i+1 and wakes, the child answers 2i+2. No spinning.
//   bench-peers mutex N [CPU_A CPU_B]        two processes each take and release one
//       PTHREAD_PROCESS_SHARED, robust pthread mutex N times around a counter increment.
//
// CPU_A and CPU_B pin the parent and the child (sched_setaffinity); without them the
// processes keep the affinity they were started with (taskset -c 0 puts both on one CPU).
// Prints nanoseconds per round trip, or per acquire + release, on stdout.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void futex_wait(uint32_t* w, uint32_t v) { syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0); }
static void futex_wake(uint32_t* w) { syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0); }

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void pin(const char* cpu) {
  if (cpu == NULL) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(atoi(cpu), &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) { perror("sched_setaffinity"); exit(2); }
}

struct shared {
  uint32_t word;
  uint32_t go;
  double elapsed[2];
  long counter;
  pthread_mutex_t mutex;
};

int main(int argc, char** argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s futex|mutex N [CPU_A CPU_B]\n", argv[0]); return 2; }
  const long n = atol(argv[2]);
  const char* cpus[2] = {argc > 3 ? argv[3] : NULL, argc > 4 ? argv[4] : NULL};
  struct shared* s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) { perror("mmap"); return 2; }
  memset(s, 0, sizeof *s);
  const int futex = strcmp(argv[1], "futex") == 0;
  if (!futex) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&s->mutex, &a);
  }
  const pid_t child = fork();
  if (child < 0) { perror("fork"); return 2; }
  const int me = child == 0;
  pin(cpus[me]);
  if (futex) {
    if (me) {
      for (long i = 0; i < n; i++) {
        uint32_t v;
        while ((v = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE)) != (uint32_t)(2 * i + 1)) futex_wait(&s->word, v);
        __atomic_store_n(&s->word, 2 * i + 2, __ATOMIC_RELEASE);
        futex_wake(&s->word);
      }
      _exit(0);
    }
    const double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      __atomic_store_n(&s->word, 2 * i + 1, __ATOMIC_RELEASE);
      futex_wake(&s->word);
      uint32_t v;
      while ((v = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE)) != (uint32_t)(2 * i + 2)) futex_wait(&s->word, v);
    }
    const double t = now_ns() - t0;
    waitpid(child, NULL, 0);
    printf("%.1f\n", t / n);
    return 0;
  }
  // Both start together: each says it is ready, then waits for the other.
  __atomic_add_fetch(&s->go, 1, __ATOMIC_ACQ_REL);
  while (__atomic_load_n(&s->go, __ATOMIC_ACQUIRE) < 2) sched_yield();
  const double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    pthread_mutex_lock(&s->mutex);
    s->counter++;
    pthread_mutex_unlock(&s->mutex);
  }
  s->elapsed[me] = now_ns() - t0;
  if (me) _exit(0);
  waitpid(child, NULL, 0);
  if (s->counter != 2 * n) { fprintf(stderr, "mutex: counter %ld, expected %ld\n", s->counter, 2 * n); return 1; }
  const double t = s->elapsed[0] > s->elapsed[1] ? s->elapsed[0] : s->elapsed[1];
  printf("%.1f\n", t / (2 * n));
  return 0;
}
