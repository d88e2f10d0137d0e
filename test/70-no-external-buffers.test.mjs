// The addon built as for a runtime that forbids external ArrayBuffers (Electron). It must
// compile, copy access must work across processes, and the zero-copy members and every
// typed object (they all live on views) must fail with a clear error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { CHILD, assertOk, isWindows, noNativeBuild, root, runNode, uniqueName } from './helpers.mjs';

// Two builds: NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED defined (views compiled out), and one
// whose napi_create_external_arraybuffer answers napi_no_external_buffers_allowed at run
// time, as Electron's does (CMake's SHMKIT_STUB_EXTERNAL_BUFFERS).
const BUILDS = {
  'compiled without external ArrayBuffers': { out: join(root, 'build-noext'), flag: '--CDSHMKIT_NO_EXTERNAL_BUFFERS=ON' },
  'refused at run time, as in Electron': { out: join(root, 'build-noext-runtime'), flag: '--CDSHMKIT_STUB_EXTERNAL_BUFFERS=ON' },
};
const addonOf = (b) => join(b.out, 'Release', 'shmkit.node');

function newestSource(dir) {
  return Math.max(...readdirSync(dir, { recursive: true }).map((f) => statSync(join(dir, f)).mtimeMs));
}

before(() => {
  if (isWindows || noNativeBuild) return;
  for (const b of Object.values(BUILDS)) {
    if (existsSync(addonOf(b)) && statSync(addonOf(b)).mtimeMs > newestSource(join(root, 'native'))) continue;
    const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
    const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', b.out, b.flag], { cwd: root, encoding: 'utf8', timeout: 240_000 });
    assert.equal(r.status, 0, `cmake-js build failed:\n${r.stdout}\n${r.stderr}`);
  }
});

for (const [how, build] of Object.entries(BUILDS)) {
  const env = () => ({ SHMKIT_NATIVE: addonOf(build) });

  test(`${how}: copy access works across processes, zero-copy members say why they cannot`, { skip: (isWindows && 'builds the addon with cmake-js, on Linux') || noNativeBuild }, async (t) => {
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

  test(`${how}: every typed object's create says ERR_SHMKIT_NO_EXTERNAL_BUFFERS and leaves no name; a NamedSemaphore works`, { skip: (isWindows && 'builds the addon with cmake-js, on Linux') || noNativeBuild }, async (t) => {
    const name = uniqueName(t);
    const r = assertOk(await runNode(`${CHILD}
      import { Queue, Pipe, SharedMap } from 'shmkit';
      const makers = {
        Value: (name) => Value.create({ name, type: 'int32' }), SharedArray: (name) => SharedArray.create({ name, type: 'int32', length: 4 }),
        ShareableList: (name) => ShareableList.create({ name, items: [1] }), Lock: (name) => Lock.create({ name }), RLock: (name) => RLock.create({ name }),
        Semaphore: (name) => Semaphore.create({ name }), BoundedSemaphore: (name) => BoundedSemaphore.create({ name }), Event: (name) => Event.create({ name }),
        Condition: (name) => Condition.create({ name }), Barrier: (name) => Barrier.create({ name, parties: 2 }),
        Queue: (name) => Queue.create({ name, capacity: 4 }), Pipe: (name) => Pipe.create({ name }), SharedMap: (name) => SharedMap.create({ name }),
      };
      const out = {};
      // A NamedSemaphore lives in the OS, not on a view: it works.
      const { NamedSemaphore } = await import('shmkit');
      const sem = NamedSemaphore.create({ name: args.name + '-sem', value: 1 });
      sem.acquire(); sem.release();
      out.namedSemaphore = sem.value; sem.close(); NamedSemaphore.unlink(args.name + '-sem');
      for (const [kind, make] of Object.entries(makers)) {
        const n = args.name + '-' + kind;
        try { make(n); out[kind] = 'worked'; } catch (e) { out[kind] = e.code; }
        out[kind + ' left'] = SharedMemory.exists(n);
      }
      console.log(JSON.stringify(out));`, { args: { name }, env: env() }));
    const out = JSON.parse(r.stdout);
    assert.equal(out.namedSemaphore, 1, 'a NamedSemaphore works');
    delete out.namedSemaphore;
    for (const [k, v] of Object.entries(out)) {
      if (k.endsWith(' left')) assert.equal(v, false, `${k}: nothing stays under the name`);
      else assert.equal(v, 'ERR_SHMKIT_NO_EXTERNAL_BUFFERS', k);
    }
  });
}
