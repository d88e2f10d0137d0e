#!/usr/bin/env bash
# Cross-compiles the addon for Windows x64 with mingw-w64 (Debian: g++-mingw-w64-x86-64),
# linking against import libraries made from node-api-headers' .def files, so the result
# loads into any node.exe that has Node-API 8. Output: prebuilds/win32-x64/shmkit.node.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-win32
mkdir -p "$out" prebuilds/win32-x64
headers=$(node -p "require('node-api-headers').include_dir")
defs=$(node -p "require('path').join(require.resolve('node-api-headers/package.json'), '..', 'def')")
addon_api=$(node -p "require('node-addon-api').include_dir")
for def in js_native_api node_api; do
  x86_64-w64-mingw32-dlltool -d "$defs/$def.def" -l "$out/lib$def.a" -D node.exe
done
# The posix-threads flavour of the compiler: std::thread needs it.
x86_64-w64-mingw32-g++-posix -std=c++17 -O2 -shared -Wall -Wextra -fno-exceptions \
  -D_WIN32_WINNT=0x0A00 -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
  -I"$headers" -I"$addon_api" \
  native/addon.cc native/wait.cc native/named-semaphore.cc \
  native/win/segment.cc native/win/owner-win.cc native/win/thread.cc native/win/semaphore.cc native/win/wait-win.cc \
  -o prebuilds/win32-x64/shmkit.node \
  -L"$out" -lnode_api -ljs_native_api -ladvapi32 -lsynchronization \
  -static -static-libgcc -static-libstdc++
echo "built prebuilds/win32-x64/shmkit.node"
