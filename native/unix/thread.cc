// Helper threads (POSIX): pthread_create, detached. std::thread would abort the process
// (std::terminate, as the addon is built without exceptions) when no thread can be had.
#include <pthread.h>

#include <functional>
#include <memory>

#include "../shmkit.h"

namespace shmkit {
namespace {

void* Run(void* arg) {
  std::unique_ptr<std::function<void()>> body(static_cast<std::function<void()>*>(arg));
  (*body)();
  return nullptr;
}

}  // namespace

bool StartThread(std::function<void()> body, int* error) {
  auto* heap = new std::function<void()>(std::move(body));
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int r = pthread_create(&thread, &attr, Run, heap);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    delete heap;
    *error = r;  // EAGAIN: a limit on threads (ulimit -u) or no memory for a stack
    return false;
  }
  return true;
}

}  // namespace shmkit
