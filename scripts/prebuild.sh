#!/usr/bin/env bash
# npm run prebuild: every prebuild this machine can make, into prebuilds/ (npm pack ships
# them; node-gyp-build loads the matching one, so installs need no compiler):
#   - this platform (linux-x64 here): prebuildify, one Node-API binary for every Node version;
#   - win32-x64: scripts/build-win32.sh, when mingw-w64 is installed (Debian: g++-mingw-w64-x86-64).
set -euo pipefail
cd "$(dirname "$0")/.."
prebuildify --napi --strip
if command -v x86_64-w64-mingw32-g++-posix >/dev/null; then
  bash scripts/build-win32.sh
else
  echo "prebuild: no win32-x64 prebuild: mingw-w64 is not installed (Debian: g++-mingw-w64-x86-64)" >&2
fi
ls prebuilds/*/
