// RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier across real
// processes, in their blocking, try and async forms, with abort and with dead parties.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore, SharedMemory, Value } from 'shmkit';
import { CHILD, asleep, assertKilled, assertOk, runNode, uniqueName, until } from './helpers.mjs';

const code = (c) => (e) => {
  assert.equal(e.code, c, e.message);
  return true;
};

test('RLock: re-entrant for its owner, exclusive for everyone else, recovers from a dead owner', async (t) => {
  const lock = RLock.create({ name: uniqueName(t) });
  t.after(() => lock.close());
  assert.equal(lock.acquire(), true);
  assert.equal(lock.acquire(), true);
  assert.equal(lock.tryAcquire(), true);
  assert.equal(await lock.acquireAsync(), true);
  assert.equal(lock.level, 4);
  const other = assertOk(await runNode(`${CHILD}
    const l = RLock.open(args.name);
    let out = [l.tryAcquire(), l.acquire({ timeout: 30 })];
    try { l.release(); } catch (e) { out.push(e.code); }
    console.log(JSON.stringify(out));`, { args: { name: lock.name } }));
  assert.deepEqual(JSON.parse(other.stdout), [false, false, 'ERR_SHMKIT_NOT_OWNER']);
  for (let i = 0; i < 4; i++) lock.release();
  assert.equal(lock.locked, false);
  assert.throws(() => lock.release(), code('ERR_SHMKIT_NOT_OWNER'));
  assert.throws(() => Lock.open(lock.name), code('ERR_SHMKIT_KIND'), 'an RLock is not a Lock');
  // A process that dies holding it three levels deep.
  const killed = await runNode(`${CHILD}
    const l = RLock.open(args.name); l.acquire(); l.acquire(); l.acquire();
    process.kill(process.pid, 'SIGKILL');`, { args: { name: lock.name } });
  assertKilled(killed);
  const t0 = performance.now();
  assert.equal(lock.acquire({ timeout: 5000 }), true);
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(lock.ownerDied, true);
  assert.equal(lock.level, 1, 'a take-over starts at one level');
  lock.release();
  assert.equal(lock.locked, false);
});

test('Semaphore: counts across processes; BoundedSemaphore refuses to overflow', async (t) => {
  const sem = Semaphore.create({ name: uniqueName(t), value: 2 });
  t.after(() => sem.close());
  assert.equal(sem.value, 2);
  assert.equal(sem.tryAcquire(), true);
  assert.equal(sem.acquire({ timeout: 10 }), true);
  assert.equal(sem.tryAcquire(), false);
  assert.equal(sem.acquire({ timeout: 30 }), false);
  assert.equal(await sem.acquireAsync({ timeout: 30 }), false);
  // A child waits blocking and another async; the parent releases two units.
  // Bounded well above a wake-up and well below the time-out, so that a lost wake-up fails
  // instead of passing as slow; the children are known to be asleep (the waiter count in
  // the semaphore's second word, docs/memory-layout.md) before the release.
  const waiters = new Int32Array(SharedMemory.open(sem.name).view(64 + 4, 4));
  const children = ['acquire({ timeout: 5_000 })', 'acquireAsync({ timeout: 5_000 })'].map((call) => runNode(`${CHILD}
    const s = Semaphore.open(args.name);
    const r = await s.${call};
    console.log(JSON.stringify([r, Date.now()]));`, { args: { name: sem.name } }));
  await until(() => Atomics.load(waiters, 0) === 2, 10_000, 'two waiters asleep');
  const releasedAt = Date.now();
  sem.release(2);
  for (const c of await Promise.all(children)) {
    const [r, at] = JSON.parse(assertOk(c).stdout);
    assert.equal(r, true);
    assert.ok(at - releasedAt < 1000, `woken ${at - releasedAt} ms after the release`);
  }
  assert.equal(sem.value, 0);
  sem.release();
  assert.equal(sem.value, 1);
  assert.throws(() => sem.release(0), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => Semaphore.create({ name: uniqueName(t), value: -1 }), code('ERR_OUT_OF_RANGE'));
  const bounded = BoundedSemaphore.create({ name: uniqueName(t), value: 1 });
  t.after(() => bounded.close());
  assert.throws(() => bounded.release(), code('ERR_SHMKIT_SEMAPHORE_OVERFLOW'));
  assert.equal(bounded.acquire(), true);
  bounded.release();
  assert.throws(() => bounded.release(), code('ERR_SHMKIT_SEMAPHORE_OVERFLOW'));
  assert.equal(bounded.value, 1);
  assert.throws(() => Semaphore.open(bounded.name), code('ERR_SHMKIT_KIND'));
  const ac = new AbortController();
  bounded.acquire();
  const pending = bounded.acquireAsync({ signal: ac.signal });
  ac.abort();
  await assert.rejects(pending, { name: 'AbortError' });
});

test('Event: set wakes waiters in other processes, blocking and async; clear; timeouts', async (t) => {
  const ev = Event.create({ name: uniqueName(t) });
  t.after(() => ev.close());
  assert.equal(ev.isSet(), false);
  assert.equal(ev.wait({ timeout: 20 }), false);
  assert.equal(await ev.waitAsync({ timeout: 20 }), false);
  const ready = Value.create({ name: uniqueName(t), type: 'int32' });
  t.after(() => ready.close());
  const spawned = [];
  const children = ['wait({ timeout: 5_000 })', 'waitAsync({ timeout: 5_000 })', 'waitAsync()'].map((call) => runNode(`${CHILD}
    const ev = Event.open(args.name);
    Value.open(args.ready).add(1);
    const r = await ev.${call};
    console.log(JSON.stringify([r, Date.now()]));`, { args: { name: ev.name, ready: ready.name }, onSpawn: (c) => spawned.push(c) }));
  await until(() => ready.value === 3, 10_000, 'three waiters');
  await asleep(spawned); // each is in its wait, not about to enter it
  const setAt = Date.now();
  ev.set();
  for (const c of await Promise.all(children)) {
    const [r, at] = JSON.parse(assertOk(c).stdout);
    assert.equal(r, true);
    assert.ok(at - setAt < 1000, `woken ${at - setAt} ms after set() (a lost wake-up would show as the 5 s time-out)`);
  }
  assert.equal(ev.isSet(), true);
  assert.equal(ev.wait(), true, 'a set event returns at once');
  ev.clear();
  assert.equal(ev.isSet(), false);
  const ac = new AbortController();
  const p = ev.waitAsync({ signal: ac.signal });
  ac.abort();
  await assert.rejects(p, { name: 'AbortError' });
});

test('Condition: wait/notify across processes, waitFor, notify counts, ownership rules', async (t) => {
  const cond = Condition.create({ name: uniqueName(t) });
  const box = Value.create({ name: uniqueName(t), type: 'int32' });
  t.after(() => { cond.close(); box.close(); });
  assert.throws(() => cond.notify(), code('ERR_SHMKIT_NOT_OWNER'));
  assert.throws(() => cond.wait({ timeout: 1 }), code('ERR_SHMKIT_NOT_OWNER'));
  cond.acquire();
  cond.acquire(); // an RLock by default: wait releases both levels and restores them
  assert.equal(cond.wait({ timeout: 20 }), false);
  assert.equal(cond.lock.level, 2);
  cond.release();
  cond.release();
  // Consumers wait for box > 0 with waitFor (blocking) and waitForAsync.
  const spawnedConsumers = [];
  const consumers = ['waitFor', 'waitForAsync'].map((fn) => runNode(`${CHILD}
    const cond = Condition.open(args.cond);
    const box = Value.open(args.box);
    await cond.acquireAsync();
    box.add(100);                                   // "I am waiting"
    const seen = await cond.${fn}(() => box.value % 100 > 0 && box.value, { timeout: 5_000 });
    box.sub(1);
    cond.release();
    console.log(JSON.stringify([seen > 0, Date.now()]));`, { args: { cond: cond.name, box: box.name }, onSpawn: (c) => spawnedConsumers.push(c) }));
  await until(() => box.value === 200, 10_000, 'two waiting consumers');
  await asleep(spawnedConsumers);
  cond.acquire();
  box.add(2);
  const notifiedAt = Date.now();
  cond.notifyAll();
  cond.release();
  for (const c of await Promise.all(consumers)) {
    const [seen, at] = JSON.parse(assertOk(c).stdout);
    assert.equal(seen, true);
    assert.ok(at - notifiedAt < 1000, `woken ${at - notifiedAt} ms after notifyAll()`);
  }
  assert.equal(box.value, 200, 'each consumer took one');
  const plain = Condition.create({ name: uniqueName(t), lock: 'lock' });
  t.after(() => plain.close());
  assert.ok(plain.lock instanceof Lock && !(plain.lock instanceof RLock));
  assert.equal(Condition.open(plain.name).lock instanceof RLock, false, 'the kind of lock comes from the segment');
  assert.throws(() => Condition.create({ name: uniqueName(t), lock: 'mutex' }), code('ERR_INVALID_ARG_VALUE'));
});

test('Barrier: parties meet across processes; indices, action, abort, reset, timeout', async (t) => {
  const name = uniqueName(t);
  let actions = 0;
  const barrier = Barrier.create({ name, parties: 3, action: () => actions++ });
  t.after(() => barrier.close());
  assert.equal(barrier.parties, 3);
  const children = [0, 1].map(() => runNode(`${CHILD}
    const b = Barrier.open(args.name);
    const i = await b.waitAsync({ timeout: 20_000 });
    console.log(i);`, { args: { name } }));
  await until(() => barrier.nWaiting === 2, 10_000, 'two waiting parties');
  const mine = barrier.wait({ timeout: 20_000 });
  assert.equal(mine, 2, 'the last to arrive gets parties - 1');
  assert.equal(actions, 1, 'and runs the action');
  const indices = (await Promise.all(children)).map((c) => Number(assertOk(c).stdout.trim())).sort();
  assert.deepEqual(indices, [0, 1]);
  assert.equal(barrier.nWaiting, 0);
  // A time-out breaks it for everyone; reset makes it usable again.
  assert.throws(() => barrier.wait({ timeout: 30 }), code('ERR_SHMKIT_BROKEN_BARRIER'));
  assert.equal(barrier.broken, true);
  assert.throws(() => barrier.wait(), code('ERR_SHMKIT_BROKEN_BARRIER'));
  barrier.reset();
  assert.equal(barrier.broken, false);
  // abort() wakes a waiter in another process with the error.
  const waiter = runNode(`${CHILD}
    const b = Barrier.open(args.name);
    try { b.wait({ timeout: 20_000 }); console.log('passed'); } catch (e) { console.log(e.code); }`, { args: { name } });
  await until(() => barrier.nWaiting === 1, 10_000, 'one waiter');
  barrier.abort();
  assert.equal(assertOk(await waiter).stdout.trim(), 'ERR_SHMKIT_BROKEN_BARRIER');
  barrier.reset();
  assert.throws(() => Barrier.create({ name: uniqueName(t), parties: 0 }), code('ERR_OUT_OF_RANGE'));
});

test('Barrier: a party killed inside wait() breaks it; the others are told within a second', async (t) => {
  const name = uniqueName(t);
  const barrier = Barrier.create({ name, parties: 3 });
  t.after(() => barrier.close());
  const victim = runNode(`${CHILD}
    const b = Barrier.open(args.name);
    console.log('arriving');
    b.wait();`, { args: { name }, onStdout: (d, child) => {
    // Kill it once it is registered and asleep inside wait().
    until(() => barrier.nWaiting === 1, 10_000, 'the victim waiting').then(() => setTimeout(() => child.kill('SIGKILL'), 50));
  } });
  const killed = await victim;
  assertKilled(killed);
  const t0 = performance.now();
  await assert.rejects(barrier.waitAsync({ timeout: 20_000 }), code('ERR_SHMKIT_BROKEN_BARRIER'));
  assert.ok(performance.now() - t0 < 1000, `noticed after ${performance.now() - t0} ms`);
});

test('a Condition whose waiter was killed, and one whose lock holder was killed, keep working', async (t) => {
  const cond = Condition.create({ name: uniqueName(t) });
  t.after(() => cond.close());
  const waiter = runNode(`${CHILD}
    const c = Condition.open(args.name);
    c.acquire();
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100);
    await c.waitAsync();`, { args: { name: cond.name } });
  assertKilled(await waiter);
  const holder = await runNode(`${CHILD}
    const c = Condition.open(args.name); c.acquire(); process.kill(process.pid, 'SIGKILL');`, { args: { name: cond.name } });
  assertKilled(holder);
  assert.equal(cond.acquire({ timeout: 5000 }), true);
  assert.equal(cond.lock.ownerDied, true);
  cond.notifyAll();
  assert.equal(cond.wait({ timeout: 10 }), false);
  cond.release();
});

test('placed with at(): semaphores, events, conditions and barriers in one segment', (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 4096 });
  t.after(() => shm.close());
  const sem = Semaphore.at(shm, 0);
  assert.equal(sem.value, 0);
  sem.release(3);
  assert.equal(Semaphore.at(shm, 0).value, 3);
  const bounded = BoundedSemaphore.at(shm, 16, { bound: 1 });
  bounded.release();
  assert.throws(() => bounded.release(), code('ERR_SHMKIT_SEMAPHORE_OVERFLOW'));
  const ev = Event.at(shm, 32);
  ev.set();
  assert.equal(Event.at(shm, 32).isSet(), true);
  const cond = Condition.at(shm, 40);
  cond.acquire();
  cond.notify();
  cond.release();
  const barrier = Barrier.at(shm, 64, { parties: 1 });
  assert.equal(barrier.wait(), 0);
  assert.throws(() => Barrier.at(shm, 64, { parties: 2 }), code('ERR_OUT_OF_RANGE'));
});

test('abort signals end pending Condition and Barrier waits, and leave them usable', async (t) => {
  const cond = Condition.create({ name: uniqueName(t) });
  const barrier = Barrier.create({ name: uniqueName(t), parties: 2 });
  const lock = Lock.create({ name: uniqueName(t) });
  t.after(() => { cond.close(); barrier.close(); lock.close(); });
  await cond.acquireAsync();
  const ac = new AbortController();
  const waiting = cond.waitAsync({ signal: ac.signal });
  setImmediate(() => ac.abort());
  await assert.rejects(waiting, { name: 'AbortError' });
  assert.equal(cond.lock.owned, true, 'an aborted wait still takes the lock back, as Python does');
  // Used afterwards: a waiter in another process is woken by a notify from here. It says
  // so while holding the lock, so this side's acquire returns once its wait let go.
  cond.release();
  let holding;
  const held = new Promise((r) => { holding = r; });
  const child = runNode(`${CHILD}
    const c = Condition.open(args.name);
    c.acquire();
    console.log('holding');
    console.log(c.wait({ timeout: 20_000 }));
    c.release();`, { args: { name: cond.name }, onStdout: (d) => d.includes('holding') && holding() });
  await held;
  assert.equal(await cond.acquireAsync({ timeout: 10_000 }), true);
  cond.notify();
  cond.release();
  assert.equal(assertOk(await child).stdout.trim().split('\n').pop(), 'true');

  const ac2 = new AbortController();
  const arrival = barrier.waitAsync({ signal: ac2.signal });
  setImmediate(() => ac2.abort());
  await assert.rejects(arrival, { name: 'AbortError' });
  assert.equal(barrier.broken, true, 'an aborted arrival breaks the barrier (docs/design.md)');
  barrier.reset();
  // Used afterwards: two parties pass it.
  const first = barrier.waitAsync({ timeout: 10_000 });
  assert.equal(barrier.wait({ timeout: 10_000 }), 1);
  assert.equal(await first, 0);

  await assert.rejects(lock.acquireAsync({ signal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.equal(lock.tryAcquire(), true, 'an acquire aborted before it began leaves the lock free');
  lock.release();
});
