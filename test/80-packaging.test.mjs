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
  // Node's own names for a CommonJS module seen from ESM (__esModule; 'module.exports' from Node 23)
  // come through `export *` too; everything else is the library's.
  const names = (m) => Object.keys(m).filter((k) => k !== '__esModule' && k !== 'module.exports').sort();
  assert.deepEqual(names(esm), names(cjs));
  for (const name of names(cjs)) assert.equal(esm[name], cjs[name], name);
});

test('the registry of kinds: every kind is exported under its name, with a number of its own, and refuses a second one', async () => {
  const { allKinds, registerKind } = await import(new URL('../dist/core/kinds.js', import.meta.url).href);
  const kinds = allKinds();
  assert.deepEqual(kinds.map((k) => k.name), ['Lock', 'Value', 'SharedArray', 'RLock', 'Semaphore', 'BoundedSemaphore',
    'Event', 'Condition', 'Barrier', 'Queue', 'Pipe', 'SharedMap']);
  assert.deepEqual(kinds.map((k) => k.code), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  for (const kind of kinds) {
    assert.equal(esm[kind.name], kind.type, `${kind.name} is exported`);
    for (const factory of ['create', 'open']) assert.equal(typeof kind.type[factory], 'function', `${kind.name}.${factory}`);
  }
  assert.throws(() => registerKind(class Lock {}, { code: 99, inspect: () => ({}) }), /clashes with Lock/);
  assert.throws(() => registerKind(class Other {}, { code: 1, inspect: () => ({}) }), /clashes with Lock/);
});

test('no class can be constructed around its factories', () => {
  for (const [name, type] of Object.entries(esm)) {
    if (typeof type !== 'function' || !/^[A-Z]/.test(name) || name === 'Scope') continue;
    assert.throws(() => new type(), { name: 'TypeError', message: new RegExp(`^${name} cannot be constructed directly: use ${name}\\.create\\(\\)`) }, name);
    assert.throws(() => new type(Symbol('shmkit.construct')), /cannot be constructed directly/, name);
  }
});

test('the published types compile a program that uses the API (strict, nodenext)', () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--lib', 'es2024,esnext.disposable', '--types', 'node', join(root, 'test', 'types', 'usage.mts')],
  { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
