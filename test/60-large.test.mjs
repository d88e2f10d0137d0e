// Segments beyond the 4 GiB ArrayBuffer limit of Node 20: every byte reachable through
// view(), and a sparse segment costs only the pages that are touched.
import assert from 'node:assert/strict';
import { constants } from 'node:buffer';
import { test } from 'node:test';
import { SharedMemory } from 'shmkit';
import { CHILD, assertOk, isWindows, runNode, uniqueName } from './helpers.mjs';

const GiB = 2 ** 30;
const SIZE = 6 * GiB;

test('a 6 GiB sparse segment: last byte written by one process, read by another, RSS flat', async (t) => {
  const name = uniqueName(t);
  // On Windows a name goes with its last handle: this process holds one for the children.
  const keeper = isWindows ? SharedMemory.create({ name, size: SIZE }) : undefined;
  t.after(() => keeper?.close());
  const writer = assertOk(await runNode(`${CHILD}
    const before = process.memoryUsage().rss;
    const shm = args.open ? SharedMemory.open(args.name) : SharedMemory.create({ name: args.name, size: args.size });
    new Uint8Array(shm.view(args.size - 1, 1))[0] = 0xa5;
    new Uint8Array(shm.view(5 * 2 ** 30 + 123, 4)).set([1, 2, 3, 4]);
    let whole;
    try { whole = shm.buffer.byteLength; } catch (e) { whole = e.code; }
    shm.close();
    console.log(JSON.stringify({ grew: process.memoryUsage().rss - before, whole }));`, { args: { name, size: SIZE, open: isWindows } }));
  const w = JSON.parse(writer.stdout);
  assert.equal(w.whole, SIZE > constants.MAX_LENGTH ? 'ERR_OUT_OF_RANGE' : SIZE, '.buffer beyond the runtime limit is a clear error');
  assert.ok(w.grew < 8 * 2 ** 20, `writer RSS grew by ${w.grew} bytes`);

  const reader = assertOk(await runNode(`${CHILD}
    const before = process.memoryUsage().rss;
    const shm = SharedMemory.open(args.name);
    const last = new Uint8Array(shm.view(shm.size - 1))[0];
    const mid = [...new Uint8Array(shm.view(5 * 2 ** 30 + 123, 4))];
    const copy = [...shm.read(shm.size - 2, 2)];
    const zero = new Uint8Array(shm.view(3 * 2 ** 30, 1))[0];
    shm.close();
    console.log(JSON.stringify({ size: shm.size, last, mid, copy, zero, grew: process.memoryUsage().rss - before }));`, { args: { name } }));
  const r = JSON.parse(reader.stdout);
  assert.deepEqual({ size: r.size, last: r.last, mid: r.mid, copy: r.copy, zero: r.zero },
    { size: SIZE, last: 0xa5, mid: [1, 2, 3, 4], copy: [0, 0xa5], zero: 0 });
  assert.ok(r.grew < 8 * 2 ** 20, `reader RSS grew by ${r.grew} bytes`);
});
