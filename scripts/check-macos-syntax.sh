#!/usr/bin/env bash
# The macOS sources cannot be compiled here for real (no SDK), but they can be parsed:
# g++ -fsyntax-only with __APPLE__ defined, against stand-ins for the four Darwin-only
# declarations they use. This catches a macOS file left behind by a change to the
# platform interface (native/shmkit.h); it proves nothing about behaviour on a Mac.
set -euo pipefail
cd "$(dirname "$0")/.."
stubs=$(mktemp -d)
trap 'rm -rf "$stubs"' EXIT
mkdir -p "$stubs/sys"
cat > "$stubs/sys/proc_info.h" <<'H'
#pragma once
#include <stdint.h>
struct proc_bsdinfo { uint32_t pbi_flags; uint32_t pbi_status; };
#define PROC_PIDTBSDINFO 3
H
cat > "$stubs/libproc.h" <<'H'
#include <sys/proc_info.h>
extern "C" int proc_pidinfo(int pid, int flavor, unsigned long long arg, void* buffer, int buffersize);
H
printf '#pragma once\n#define SZOMB 5\n' > "$stubs/sys/proc.h"
cat > "$stubs/darwin-time.h" <<'H'
#include <stdint.h>
#include <time.h>
#define CLOCK_UPTIME_RAW 8
inline uint64_t clock_gettime_nsec_np(int) { return 0; }
H
for f in native/unix/futex-darwin.cc native/unix/owner-darwin.cc native/unix/semaphore.cc native/unix/segment.cc native/unix/thread.cc \
         native/async-wait-threads.cc; do
  g++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -D__APPLE__ -U__linux__ -I"$stubs" -include "$stubs/darwin-time.h" "$f"
done
echo "macOS sources parse"
