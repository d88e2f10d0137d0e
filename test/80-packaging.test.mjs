// The package as users load it: ESM and CommonJS give the same objects, and the
// published .d.ts files type-check a program that uses the API.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import * as esm from 'shmkit';
import { root } from './helpers.mjs';

test('import and require() load one library, not two copies', () => {
  const cjs = createRequire(import.meta.url)('shmkit');
  assert.equal(esm.SharedMemory, cjs.SharedMemory);
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).filter((k) => k !== '__esModule').sort());
});

test('the published types compile a program that uses the API (strict, nodenext)', () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--lib', 'es2024,esnext.disposable', '--types', 'node', join(root, 'test', 'types', 'usage.mts')],
  { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
