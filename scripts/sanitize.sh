#!/usr/bin/env bash
# The addon built with AddressSanitizer and UndefinedBehaviorSanitizer (clang, Debian's
# libclang-rt-dev), then the whole suite run against it: every process the tests start
# (node children, Workers) loads the sanitized addon. Node itself is not instrumented, so
# the ASan runtime is preloaded, and leak checking is off (Node does not free at exit).
# Every report is written to a file; the run fails if the suite fails or any report exists.
# Usage: bash scripts/sanitize.sh [test files...]
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build-sanitize
CXX=clang++ node node_modules/cmake-js/bin/cmake-js compile --out build-sanitize --CDSHMKIT_SANITIZE=ON >/dev/null
addon="$PWD/build-sanitize/Release/shmkit.node"
runtime=$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)
symbols=$(nm -D "$addon")
grep -q __asan_report_load <<<"$symbols" && grep -q __ubsan_handle <<<"$symbols" || { echo "the addon is not instrumented"; exit 1; }
reports=$(mktemp -d)
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/*.test.mjs)
status=0
LD_PRELOAD="$runtime" SHMKIT_NATIVE="$addon" \
  ASAN_OPTIONS="detect_leaks=0:log_path=$reports/asan:abort_on_error=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
  node --test "${files[@]}" >"$reports/suite.txt" 2>&1 || status=$?
grep -E '^# (tests|pass|fail|skipped)' "$reports/suite.txt"
if ls "$reports" | grep -qE '^(asan|ubsan)\.'; then
  echo "sanitizer reports:"; cat "$reports"/asan.* "$reports"/ubsan.* 2>/dev/null | head -100
  status=1
fi
[ "$status" = 0 ] || { grep -E -A30 '^not ok' "$reports/suite.txt" | head -80; }
rm -rf "$reports"
[ "$status" = 0 ] && echo "sanitizers: the suite passed with no report"
exit "$status"
