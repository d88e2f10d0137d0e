// The addon built as for a runtime that forbids external ArrayBuffers (Electron):
// NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED defined. It must compile, copy access must work
// across processes, and the zero-copy members must fail with a clear error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { CHILD, assertOk, isWindows, root, runNode, uniqueName } from './helpers.mjs';

const out = join(root, 'build-noext');
const addon = join(out, 'Release', 'shmkit.node');

function newestSource(dir) {
  return Math.max(...readdirSync(dir, { recursive: true }).map((f) => statSync(join(dir, f)).mtimeMs));
}

before(() => {
  if (isWindows) return;
  if (existsSync(addon) && statSync(addon).mtimeMs > newestSource(join(root, 'native'))) return;
  const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', out, '--CDSHMKIT_NO_EXTERNAL_BUFFERS=ON'],
    { cwd: root, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `cmake-js build failed:\n${r.stdout}\n${r.stderr}`);
});

const env = () => ({ SHMKIT_NATIVE: addon });

test('copy access works across processes without external ArrayBuffers', { skip: isWindows && 'builds the addon with cmake-js, on Linux' }, async (t) => {
  const name = uniqueName(t);
  const first = assertOk(await runNode(`${CHILD}
    const shm = SharedMemory.create({ name: args.name, size: 1024 });
    const codes = [];
    for (const f of [() => shm.buffer, () => shm.view(0, 10)]) {
      try { f(); codes.push('worked'); } catch (e) { codes.push(e.code); }
    }
    shm.write(100, Buffer.from('copied in'));
    shm.close();
    console.log(JSON.stringify(codes));`, { args: { name }, env: env() }));
  assert.deepEqual(JSON.parse(first.stdout), ['ERR_SHMKIT_NO_EXTERNAL_BUFFERS', 'ERR_SHMKIT_NO_EXTERNAL_BUFFERS']);

  const second = assertOk(await runNode(`${CHILD}
    const shm = SharedMemory.open(args.name);
    const text = shm.read(100, 9).toString();
    shm.write(0, new Uint16Array([0xbeef]));
    let closed;
    shm.close();
    try { shm.read(0, 1); } catch (e) { closed = e.code; }
    console.log(JSON.stringify({ text, closed }));`, { args: { name }, env: env() }));
  assert.deepEqual(JSON.parse(second.stdout), { text: 'copied in', closed: 'ERR_SHMKIT_CLOSED' });

  const { SharedMemory } = await import('shmkit'); // the regular build, zero-copy
  const shm = SharedMemory.open(name);
  assert.equal(new Uint16Array(shm.buffer)[0], 0xbeef);
  shm.close();
});
