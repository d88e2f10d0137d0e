#!/usr/bin/env bash
# Packs shmkit (prebuilds included: run `npm run prebuild`
# first), installs the tarball into an empty project with a PATH that holds node and npm
# and nothing else — no compiler, no make, no python3 — and checks that the prebuild loads
# and works. With a node.exe argument, also loads the Windows prebuild from that install
# in node.exe under Wine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
test -f "$root/prebuilds/linux-x64/shmkit.glibc.node"
tarball=$(cd "$root" && npm pack --silent --pack-destination "$work" 2>/dev/null | tail -1)
echo "packed $tarball ($(du -h "$work/$tarball" | cut -f1))"
tar -tzf "$work/$tarball" | grep -E 'prebuilds/' | sed 's/^/  /'

mkdir -p "$work/bin" "$work/app"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v npm)" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"   # npm runs install scripts with sh
for tool in g++ gcc cc make python3 cmake; do
  PATH="$work/bin" command -v "$tool" >/dev/null 2>&1 && { echo "$tool is visible"; exit 1; }
done
cd "$work/app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' > package.json
PATH="$work/bin" npm install --no-audit --no-fund "$work/$tarball" >/dev/null
test ! -e node_modules/shmkit/build || { echo "it compiled instead of using the prebuild"; exit 1; }
PATH="$work/bin" node -e "
  const { SharedMemory, Value } = require('shmkit');
  const path = require('node-gyp-build').path(require('path').dirname(require.resolve('shmkit/package.json')));
  if (!path.includes('prebuilds')) throw new Error('loaded ' + path);
  const v = Value.create({ type: 'int32', value: 41 }); v.add(1);
  if (Value.open(v.name).value !== 42) throw new Error('wrong value');
  v.unlink();
  console.log('linux: the prebuild loads from the installed tarball:', path);
"
# Each libc gets its own build: node-gyp-build tells musl by /etc/alpine-release, or LIBC.
PATH="$work/bin" node -e "
  const dir = require('path').dirname(require.resolve('shmkit/package.json'));
  const glibc = require('node-gyp-build').path(dir);
  if (!glibc.endsWith('linux-x64/shmkit.glibc.node')) throw new Error('glibc: ' + glibc);
  console.log('linux: glibc gets', glibc.slice(dir.length + 1));
"
PATH="$work/bin" LIBC=musl node -e "
  const dir = require('path').dirname(require.resolve('shmkit/package.json'));
  const musl = require('node-gyp-build').path(dir);
  if (!musl.endsWith('linux-x64/shmkit.musl.node')) throw new Error('musl: ' + musl);
  console.log('linux: musl gets', musl.slice(dir.length + 1));
"
# The package's bin: the shmkit command, installed with it, finds an object by name.
PATH="$work/bin" node -e "
  const { Value } = require('shmkit');
  const v = Value.create({ name: 'shmkit-test-' + process.pid + '-pack-cli', type: 'int32', value: 7 });
  const r = require('child_process').spawnSync('node_modules/.bin/shmkit', ['inspect', v.name, '--json'], { encoding: 'utf8' });
  v.close(); v.unlink();
  if (r.status !== 0 || JSON.parse(r.stdout).value !== 7) throw new Error('shmkit inspect: ' + r.status + ' ' + r.stdout + r.stderr);
  console.log('linux: node_modules/.bin/shmkit runs from the installed tarball');
"
if [ $# -ge 1 ]; then
  wine=""
  for w in /usr/lib/wine/wine64 /usr/bin/wine64 /usr/bin/wine; do [ -x "$w" ] && { wine=$w; break; }; done
  cat > "$work/app/win-check.cjs" <<'JS'
const fs = require('fs');
try {
  const { Value } = require('shmkit');
  const v = Value.create({ type: 'int32', value: 41 }); v.add(1);
  fs.writeFileSync(process.argv[2], String(Value.open(v.name).value));
} catch (e) { fs.writeFileSync(process.argv[2], String(e.stack)); }
JS
  (cd "$work/app" && WINEDEBUG=-all NODE_SKIP_PLATFORM_CHECK=1 "$wine" "$1" "Z:${work}/app/win-check.cjs" "Z:${work}/app/win-result.txt" >/dev/null 2>&1 || true)
  result=$(cat "$work/app/win-result.txt" 2>/dev/null || echo "no result")
  [ "$result" = 42 ] || { echo "windows: $result"; exit 1; }
  echo "windows: the win32-x64 prebuild loads in node.exe from the installed tarball"
fi
