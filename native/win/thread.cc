// Helper threads (Windows): CreateThread, its handle closed at once (detached).
// std::thread would abort the process when no thread can be had.
#include <windows.h>

#include <cerrno>
#include <functional>
#include <memory>

#include "../shmkit.h"

namespace shmkit {
namespace {

DWORD WINAPI Run(LPVOID arg) {
  std::unique_ptr<std::function<void()>> body(static_cast<std::function<void()>*>(arg));
  (*body)();
  return 0;
}

}  // namespace

bool StartThread(std::function<void()> body, int* error) {
  auto* heap = new std::function<void()>(std::move(body));
  HANDLE thread = CreateThread(nullptr, 0, Run, heap, 0, nullptr);
  if (thread == nullptr) {
    delete heap;
    *error = GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? ENOMEM : EAGAIN;
    return false;
  }
  CloseHandle(thread);
  return true;
}

}  // namespace shmkit
