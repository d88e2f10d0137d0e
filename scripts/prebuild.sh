#!/usr/bin/env bash
# npm run prebuild: every prebuild this machine can make, into prebuilds/ (npm pack ships
# them; node-gyp-build loads the one that matches the platform, architecture and libc, so
# installs need no compiler):
#   - linux-x64, glibc: prebuildify on this machine, one Node-API binary for every Node
#     version, tagged glibc (shmkit.glibc.node) so that node-gyp-build never hands it to musl;
#   - linux-arm64 glibc, linux-x64 and linux-arm64 musl: scripts/build-cross.sh (Debian's
#     g++-aarch64-linux-gnu, and zig from npm), which also compiles and checks macOS;
#   - win32-x64: scripts/build-win32.sh, when mingw-w64 is installed (Debian: g++-mingw-w64-x86-64).
set -euo pipefail
cd "$(dirname "$0")/.."
prebuildify --napi --strip --tag-libc
bash scripts/build-cross.sh
if command -v x86_64-w64-mingw32-g++-posix >/dev/null; then
  bash scripts/build-win32.sh
else
  echo "prebuild: no win32-x64 prebuild: mingw-w64 is not installed (Debian: g++-mingw-w64-x86-64)" >&2
fi
ls prebuilds/*/
