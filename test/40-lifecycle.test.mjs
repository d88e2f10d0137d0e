// close() detaches, names live until unlinked, and unlinkOnExit cleans up on the way out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { Lock, SharedMemory, Value } from 'shmkit';
import { CHILD, assertOk, isWindows, runNode, uniqueName } from './helpers.mjs';

// On Windows a name lives only while some process holds a handle to it (docs/api.md).
const namesDieWithHandles = isWindows && 'Windows: a name goes with its last handle, so it cannot outlive a process';

test('close() detaches every ArrayBuffer and typed array handed out', (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 4096 });
  const keeper = isWindows ? SharedMemory.open(name) : undefined; // keeps the name on Windows
  t.after(() => keeper?.close());
  const whole = shm.buffer;
  const views = [shm.view(), shm.view(100, 50), shm.view(4000)];
  const typed = [new Uint8Array(whole), new Float64Array(views[1], 0, 6), new DataView(views[2])];
  typed[0][0] = 1;
  shm.close();
  assert.equal(shm.closed, true);
  for (const ab of [whole, ...views]) assert.equal(ab.byteLength, 0);
  assert.equal(typed[0].length, 0);
  assert.equal(typed[1].length, 0);
  assert.equal(typed[0][0], undefined, 'reads of a detached array are empty, not a crash');
  typed[0][0] = 5; // a write is dropped, not a crash
  assert.throws(() => typed[2].getUint8(0), TypeError);
  const again = SharedMemory.open(name);
  assert.equal(new Uint8Array(again.buffer)[0], 1, 'the data is still there under the name');
  again.close();
});

test('close() is idempotent and every use afterwards throws ERR_SHMKIT_CLOSED', (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 16 });
  shm.close();
  shm.close();
  shm[Symbol.dispose]();
  const closed = (e) => e.code === 'ERR_SHMKIT_CLOSED' && /is closed/.test(e.message);
  assert.throws(() => shm.buffer, closed);
  assert.throws(() => shm.view(0, 1), closed);
  assert.throws(() => shm.read(0, 1), closed);
  assert.throws(() => shm.write(0, new Uint8Array(1)), closed);
  assert.equal(shm.size, 16, 'descriptive members stay readable');
  if (isWindows) assert.equal(SharedMemory.exists(shm.name), false, 'the name went with the last handle');
  else shm.unlink(); // the name is still there to remove
});

test('[Symbol.dispose] closes', (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 16 });
  const ab = shm.buffer;
  shm[Symbol.dispose]();
  assert.equal(shm.closed, true);
  assert.equal(ab.byteLength, 0);
});

test('close() unmaps: the mapping leaves the address space once its views are detached',
  { skip: isWindows && 'reads /proc/self/maps' }, async (t) => {
  const name = uniqueName(t);
  SharedMemory.create({ name, size: 8192 }).close();
  const result = await runNode(`${CHILD}
    import { readFileSync } from 'node:fs';
    const mapped = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.endsWith('/dev/shm/' + args.name)).length;
    const shm = SharedMemory.open(args.name);
    const views = [shm.buffer, shm.view(0, 10), shm.view(4096)];
    const before = mapped();
    shm.close();
    await new Promise((r) => setImmediate(r));
    console.log(JSON.stringify({ before, after: mapped() }));`, { args: { name }, timeout: 10_000 });
  assertOk(result);
  assert.deepEqual(JSON.parse(result.stdout), { before: 1, after: 0 });
});

test('an ArrayBuffer that escapes detachment keeps its memory mapped instead of dangling', async (t) => {
  // Node 20 copies on transfer; Node 22+ refuses to transfer external buffers, but
  // ArrayBuffer.prototype.transfer() hands the same memory to a new, untracked object.
  const name = uniqueName(t);
  const creator = SharedMemory.create({ name, size: 8192 });
  t.after(() => creator.close());
  const result = await runNode(`${CHILD}
    const shm = SharedMemory.open(args.name);
    const view = shm.view(0, 4096);
    let escaped;
    try { escaped = new Uint8Array(structuredClone(view, { transfer: [view] })); } catch {}
    const other = shm.view(0, 4096);
    if (typeof other.transfer === 'function') escaped = new Uint8Array(other.transfer());
    shm.close();
    for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
    escaped[100] = 5; // must not fault
    console.log(escaped[100]);`, { args: { name }, execArgv: ['--expose-gc'], timeout: 10_000 });
  assertOk(result);
  assert.equal(result.stdout.trim(), '5');
});

test('views outlive a SharedMemory that was garbage-collected without close()', async (t) => {
  const name = uniqueName(t);
  const result = await runNode(`${CHILD}
    let shm = SharedMemory.create({ name: args.name, size: 1 << 16 });
    const keep = new Uint8Array(shm.view(1000, 1000));
    shm = null;
    for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
    keep.fill(7); // must still be mapped
    // Many short-lived views: their bookkeeping goes with them.
    const other = SharedMemory.open(args.name);
    for (let i = 0; i < 20000; i++) other.view(i % 1000, 16);
    for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
    console.log(other.read(1000, 1000).every((b) => b === 7));
    other.close();`, { args: { name }, execArgv: ['--expose-gc'] });
  assertOk(result);
  assert.equal(result.stdout.trim(), 'true');
});

const exitCases = {
  'normal exit': { code: '', expect: { code: 0, signal: null } },
  'process.exit(3)': { code: 'process.exit(3);', expect: { code: 3, signal: null } },
  'an uncaught exception': { code: 'setTimeout(() => { throw new Error("boom"); }, 10);', expect: { code: 1, signal: null } },
  SIGINT: { code: 'process.kill(process.pid, "SIGINT"); setTimeout(() => {}, 5000);', expect: { code: null, signal: 'SIGINT' } },
  SIGTERM: { code: 'process.kill(process.pid, "SIGTERM"); setTimeout(() => {}, 5000);', expect: { code: null, signal: 'SIGTERM' } },
};

for (const [label, { code, expect }] of Object.entries(exitCases)) {
  test(`unlinkOnExit removes the name on ${label}, and only the opted-in one`, { skip: namesDieWithHandles }, async (t) => {
    const [owned, kept] = [uniqueName(t), uniqueName(t)];
    const result = await runNode(`${CHILD}
      SharedMemory.create({ name: args.owned, size: 8, unlinkOnExit: true });
      SharedMemory.create({ name: args.kept, size: 8 });
      ${code}`, { args: { owned, kept } });
    assert.deepEqual({ code: result.code, signal: result.signal }, expect, result.stderr);
    assert.equal(SharedMemory.exists(owned), false, 'the opted-in name is gone');
    assert.equal(SharedMemory.exists(kept), true, 'a name without unlinkOnExit stays');
  });
}

test('unlinkOnExit leaves a signal to an application that handles it, then cleans up at exit',
  { skip: isWindows && 'Windows has no signals between processes, and names do not outlive processes' }, async (t) => {
  const name = uniqueName(t);
  const result = await runNode(`${CHILD}
    SharedMemory.create({ name: args.name, size: 8, unlinkOnExit: true });
    process.on('SIGTERM', () => {
      console.log('handled, still there:', SharedMemory.exists(args.name));
      setTimeout(() => process.exit(0), 10);
    });
    process.kill(process.pid, 'SIGTERM');
    setTimeout(() => {}, 5000);`, { args: { name } });
  assertOk(result);
  assert.match(result.stdout, /handled, still there: true/);
  assert.equal(SharedMemory.exists(name), false);
});

test('unlinkOnExit forgets a name unlinked by hand, and never removes a successor', { skip: namesDieWithHandles }, async (t) => {
  const name = uniqueName(t);
  const result = await runNode(`${CHILD}
    const a = SharedMemory.create({ name: args.name, size: 8, unlinkOnExit: true });
    a.unlink();
    SharedMemory.create({ name: args.name, size: 8 }); // someone else's now`, { args: { name } });
  assertOk(result);
  assert.equal(SharedMemory.exists(name), true);
});

test('100,000 open/close cycles in one turn leave no mapping behind (/proc/self/maps)', { skip: process.platform !== 'linux' && 'reads /proc/self/maps' }, (t) => {
  const value = Value.create({ name: uniqueName(t), type: 'int32' });
  t.after(() => value.close());
  // By inode: the creator's mapping carries the temporary name it was made under.
  const inode = String(statSync(`/dev/shm/${value.name}`).ino);
  const mapped = () => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.split(/\s+/)[4] === inode).length;
  assert.equal(mapped(), 1, 'the creator\'s own mapping');
  for (let i = 0; i < 100_000; i++) Value.open(value.name).close();
  assert.equal(mapped(), 1, 'close() unmapped each at once (before: one mapping each until the views were collected)');
});

test('close() lets go of the descriptor and mapping at once: 2,000 create/close and open/close cycles use none more', { skip: process.platform !== 'linux' && 'counts /proc/self/fd' }, (t) => {
  const fds = () => readdirSync('/proc/self/fd').length;
  const cycle = (i) => {
    const l = Lock.create({ name: `${base}-${i}` });
    l.acquire(); // views made while open, too
    l.release();
    l.close();
    l.unlink();
    Value.open(value.name).close();
  };
  const base = uniqueName(t);
  const value = Value.create({ name: uniqueName(t), type: 'int32' });
  t.after(() => value.close());
  for (let i = 0; i < 10; i++) cycle(i); // warm-up: descriptors opened once per process
  const before = fds();
  for (let i = 10; i < 2010; i++) cycle(i);
  assert.equal(fds(), before, 'no descriptor kept per closed object (before the fix: one each until garbage collection)');
});
