// Lock across processes: mutual exclusion that a non-atomic update would betray, the
// blocking/try/async forms, ownership errors, and recovery from a SIGKILLed holder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Lock, SharedArray, SharedMemory, Value } from 'shmkit';
import { CHILD, assertKilled, assertOk, root, runNode, uniqueName, until } from './helpers.mjs';

const code = (c) => (e) => {
  assert.equal(e.code, c, e.message);
  return true;
};

test('4 processes × 50,000 read-modify-writes inside withLock end exact', async (t) => {
  // [0] counter under the lock, [1] counter without, [2] and [3] start barriers.
  const arr = SharedArray.create({ name: uniqueName(t), type: 'int32', length: 4 });
  t.after(() => arr.close());
  const hammer = (locked) => Promise.all([0, 1, 2, 3].map(() => runNode(`${CHILD}
    const a = SharedArray.open(args.name);
    const x = a.array;
    const slot = args.locked ? 0 : 1;
    const step = () => { const v = x[slot]; x[slot] = v + 1; };  // deliberately not atomic
    Atomics.add(x, slot + 2, 1);
    while (Atomics.load(x, slot + 2) < 4);  // start together, so that the loops overlap
    for (let i = 0; i < 50_000; i++) args.locked ? a.lock.withLock(step) : step();
    a.close();`, { args: { name: arr.name, locked }, timeout: 120_000 })));
  (await hammer(false)).forEach(assertOk);
  (await hammer(true)).forEach(assertOk);
  t.diagnostic(`calibration: without the lock the same loop ended at ${arr.array[1]} of 200000`);
  assert.equal(arr.array[0], 200_000);
});

test('tryAcquire, acquire with timeout, release errors, and the sugar', async (t) => {
  const lock = Lock.create({ name: uniqueName(t) });
  t.after(() => lock.close());
  assert.equal(lock.locked, false);
  assert.equal(lock.tryAcquire(), true);
  assert.equal(lock.locked, true);
  assert.equal(lock.tryAcquire(), false);
  assert.throws(() => lock.acquire(), code('ERR_SHMKIT_DEADLOCK'));
  lock.release();
  assert.throws(() => lock.release(), code('ERR_SHMKIT_NOT_OWNER'), 'a second release');
  assert.equal(lock.locked, false);
  assert.throws(() => lock.withLock(() => { throw new Error('inside'); }), /inside/);
  assert.equal(lock.locked, false, 'withLock released after a throw');
  assert.equal(lock.withLock(() => 42), 42);
  {
    const held = lock.hold();
    assert.equal(lock.locked, true);
    held[Symbol.dispose]();
    held[Symbol.dispose]();
  }
  assert.equal(lock.locked, false);
  assert.equal(await lock.runExclusive(async () => { await new Promise((r) => setTimeout(r, 5)); return lock.locked; }), true);
  assert.equal(lock.locked, false);
  assert.throws(() => lock.acquire({ timeout: -1 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => lock.acquire({ timeout: '1' }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => lock.acquire(5), code('ERR_INVALID_ARG_TYPE'));
  await assert.rejects(lock.acquireAsync({ signal: {} }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => lock.withLock('fn'), code('ERR_INVALID_ARG_TYPE'));
});

test('another process holds it: acquire times out, then succeeds once released', async (t) => {
  const lock = Lock.create({ name: uniqueName(t) });
  const flag = Value.create({ name: uniqueName(t), type: 'int32' });
  t.after(() => { lock.close(); flag.close(); });
  const child = runNode(`${CHILD}
    const lock = Lock.open(args.lock);
    const flag = Value.open(args.flag);
    lock.acquire();
    flag.value = 1;
    while (flag.value !== 2) await new Promise((r) => setTimeout(r, 2));
    lock.release();`, { args: { lock: lock.name, flag: flag.name } });
  await until(() => flag.value === 1, 10_000, 'child holds the lock');
  let t0 = performance.now();
  assert.equal(lock.acquire({ timeout: 50 }), false);
  assert.ok(performance.now() - t0 >= 45);
  assert.equal(await lock.acquireAsync({ timeout: 50 }), false);
  assert.equal(lock.tryAcquire(), false);
  const ac = new AbortController();
  const aborted = lock.acquireAsync({ signal: ac.signal });
  ac.abort();
  await assert.rejects(aborted, { name: 'AbortError' });
  const waiting = lock.acquireAsync({ timeout: 10_000 });
  flag.value = 2;
  assert.equal(await waiting, true);
  assert.equal(lock.ownerDied, false);
  lock.release();
  assertOk(await child);
});

test('a thread of the same process is another owner', async (t) => {
  const lock = Lock.create({ name: uniqueName(t) });
  t.after(() => lock.close());
  lock.acquire();
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    const { Lock } = require(workerData.root);
    const lock = Lock.open(workerData.name);
    const out = { try: lock.tryAcquire() };
    try { lock.release(); out.release = 'released'; } catch (e) { out.release = e.code; }
    out.timed = lock.acquire({ timeout: 30 });
    lock.close();
    parentPort.postMessage(out);`, { eval: true, workerData: { root, name: lock.name } });
  const out = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  await worker.terminate();
  assert.deepEqual(out, { try: false, release: 'ERR_SHMKIT_NOT_OWNER', timed: false });
  assert.equal(lock.locked, true);
  lock.release();
});

for (const [label, create, open] of [
  ['a Lock', (name) => Lock.create({ name }), 'Lock.open(args.name)'],
  ["a Value's lock", (name) => Value.create({ name, type: 'int32' }).lock, 'Value.open(args.name).lock'],
]) {
  test(`SIGKILL of a process holding ${label}: a waiter gets it within 1 s and is told the owner died`, async (t) => {
    const name = uniqueName(t);
    const lock = create(name);
    t.after(() => lock.close());
    const holder = runNode(`${CHILD}
      const lock = ${open};
      lock.acquire();
      console.log('held');
      setInterval(() => {}, 1000);`, { args: { name }, onStdout: (d, child) => { if (d.includes('held')) child.kill('SIGKILL'); } });
    const waiter = runNode(`${CHILD}
      const lock = ${open};
      while (!lock.locked) await new Promise((r) => setTimeout(r, 1));
      const got = await lock.acquireAsync({ timeout: 20_000 });
      const at = Date.now();
      const died = lock.ownerDied;
      lock.release();
      const again = lock.tryAcquire() && !lock.ownerDied;
      lock.release();
      console.log(JSON.stringify({ got, died, again, at }));`, { args: { name } });
    const killed = await holder;
    const killedAt = Date.now();
    assertKilled(killed);
    const out = JSON.parse(assertOk(await waiter).stdout);
    assert.equal(out.got, true);
    assert.equal(out.died, true, 'ownerDied tells the new owner');
    assert.equal(out.again, true, 'the lock works normally afterwards');
    assert.ok(out.at - killedAt < 1000, `recovered ${out.at - killedAt} ms after the kill`);
    assert.equal(lock.locked, false);
    assert.equal(lock.tryAcquire(), true);
    assert.equal(lock.ownerDied, false);
    lock.release();
  });
}

test('a holder that is already dead is noticed by acquire, acquireAsync and tryAcquire', async (t) => {
  const lock = Lock.create({ name: uniqueName(t) });
  t.after(() => lock.close());
  for (const how of ['acquire', 'acquireAsync', 'tryAcquire']) {
    const holder = await runNode(`${CHILD} Lock.open(args.name).acquire(); process.kill(process.pid, 'SIGKILL');`, { args: { name: lock.name } });
    assertKilled(holder);
    assert.equal(lock.locked, true);
    const t0 = performance.now();
    assert.equal(await lock[how](), true, how);
    assert.ok(performance.now() - t0 < 1000, `${how} took ${performance.now() - t0} ms`);
    assert.equal(lock.ownerDied, true, how);
    lock.release();
  }
});

test('Lock.at keeps a thousand locks in one segment', async (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 1000 * Lock.byteLength });
  t.after(() => shm.close());
  const locks = Array.from({ length: 1000 }, (_, i) => Lock.at(shm, i * Lock.byteLength));
  locks.forEach((l, i) => i % 2 === 0 && l.acquire());
  const out = assertOk(await runNode(`${CHILD}
    const shm = SharedMemory.open(args.name);
    let free = 0;
    for (let i = 0; i < 1000; i++) { const l = Lock.at(shm, i * 8); if (l.tryAcquire()) { free++; l.release(); } }
    console.log(free);`, { args: { name: shm.name } })).stdout.trim();
  assert.equal(out, '500');
  locks.forEach((l, i) => i % 2 === 0 && l.release());
  assert.throws(() => Lock.at(shm, 3), code('ERR_OUT_OF_RANGE'));
});
