// Run by scripts/test-wine.mjs inside Windows node.exe under Wine (and by
// scripts/test-emulated.mjs in the arm64 node under qemu-user): unrelated node.exe
// processes sharing a segment (and the error codes for missing and existing names), a
// Value counter, wait/notify, a Lock whose holder is killed, a Queue, an Event, a
// Barrier, a Condition, a Semaphore, a NamedSemaphore, a ShareableList and a Pipe; every
// waiting primitive in its blocking form and then in its async form (thread-pool waits).
// node.exe under Wine cannot write to a pipe, so every process reports through files.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const shmkit = require(process.env.SHMKIT_PACKAGE);
const { SharedMemory, Value, Lock, Queue, wait, notify, Event, Barrier, Condition, Semaphore, NamedSemaphore, ShareableList, Pipe } = shmkit;

const results = process.env.SHMKIT_RESULTS;
const role = process.argv[2];
const form = process.argv[3];
/** Calls the blocking form of a waiting method, or its async form (`getAsync` for `get`). */
const call = (how, object, method, ...args) => (how === 'async' ? object[`${method}Async`](...args) : object[method](...args));
const tag = process.env.SHMKIT_TAG;
const name = (what) => `shmkit-wine-${tag}-${what}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Polls `predicate` until it holds; fails with `what` after 20 s. */
async function until(predicate, what) {
  for (const t0 = Date.now(); !predicate(); await sleep(10)) {
    if (Date.now() - t0 > 20_000) throw new Error(`timed out waiting for ${what}`);
  }
}
const child = (r, form = 'blocking') => new Promise((resolve) => {
  const c = spawn(process.execPath, [__filename, r, form], { stdio: 'ignore' });
  c.on('exit', (code) => resolve(code));
});

/** Records how far the main process got, for a run that hangs. */
const step = (what) => fs.appendFileSync(path.join(results, 'steps.txt'), `${role ?? 'main'} ${form ?? ''}: ${what}\n`);

async function main() {
  step('segment');
  // A segment made here, written by another node.exe.
  const seg = SharedMemory.create({ name: name('seg'), size: 100 });
  assert.equal(seg.size, 100);
  assert.equal(await child('writer'), 0);
  assert.equal(Buffer.from(seg.buffer, 0, 5).toString(), 'hello');
  assert.throws(() => SharedMemory.create({ name: name('seg'), size: 10 }), { code: 'EEXIST' });
  assert.throws(() => SharedMemory.open(name('missing')), { code: 'ENOENT' });
  const other = SharedMemory.open(name('seg'));
  if (process.platform === 'win32') assert.equal(other.size, 4096, 'an attached segment reports whole pages on Windows');
  else assert.equal(other.size, 100);
  other.close();

  // Two processes × 50,000 Value.add(1).
  step('values');
  const v = Value.create({ name: name('val'), type: 'int32' });
  assert.deepEqual(await Promise.all([child('adder'), child('adder')]), [0, 0]);
  assert.equal(v.value, 100_000);

  // wait in another process, woken by notify from here (the parking lot).
  step('wait');
  const i32 = new Int32Array(seg.buffer, 64, 4);
  const waiter = child('waiter');
  await until(() => Atomics.load(i32, 1) !== 0, 'the waiter to start');
  let woken = 0;
  for (const t0 = Date.now(); woken === 0 && Date.now() - t0 < 10_000; await sleep(10)) woken = notify(i32, 0);
  assert.equal(woken, 1);
  assert.equal(await waiter, 0);
  assert.equal(Atomics.load(i32, 2), 1, 'the waiter saw ok');
  assert.equal(wait(i32, 3, 0, 30), 'timed-out');

  // A NamedSemaphore (a Windows semaphore object) and a ShareableList.
  step('named');
  const ns = NamedSemaphore.create({ name: name('nsem'), value: 0 });
  const list = ShareableList.create({ name: name('list'), items: [1, 2.5, 'text', null, true] });
  assert.equal(await child('named'), 0);
  assert.equal(ns.value, 2);
  assert.deepEqual(list.toArray(), [42, 2.5, 'changed', null, false]);
  for (const o of [seg, v, ns, list]) o.close();

  // The waiting primitives, in their blocking forms and then in their async forms (a
  // thread per wait on Windows, parked in the same parking lot).
  for (const how of ['blocking', 'async']) await waiting(how);
  return 'ok';
}

/** A Lock with a killed holder, a Queue, Event/Barrier/Condition/Semaphore and a Pipe. */
async function waiting(how) {
  const n = (what) => name(`${what}-${how}`);
  // A Lock whose holder is killed: recovered within a second, ownerDied set.
  step(`lock (${how})`);
  const lock = Lock.create({ name: n('lock') });
  const holder = spawn(process.execPath, [__filename, 'holder', how], { stdio: 'ignore' });
  await until(() => lock.locked, 'the holder to take the lock');
  holder.kill('SIGKILL');
  await new Promise((r) => holder.on('exit', r));
  const t0 = Date.now();
  assert.equal(await call(how, lock, 'acquire', { timeout: 5000 }), true);
  assert.ok(Date.now() - t0 < 1000, `recovered after ${Date.now() - t0} ms`);
  assert.equal(lock.ownerDied, true);
  lock.release();

  // A Queue between processes: 20 messages through 8 slots, so the producer waits for room.
  step(`queue (${how})`);
  const q = Queue.create({ name: n('queue'), capacity: 8, maxMessageSize: 64 });
  const producer = child('producer', how);
  const got = [];
  for (let i = 0; i < 20; i++) got.push(await call(how, q, 'get', { timeout: 10_000 }));
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => ({ i })));
  assert.equal(await producer, 0);

  // Event, Barrier, Condition, Semaphore across processes.
  step(`sync (${how})`);
  const ev = Event.create({ name: n('event') });
  const barrier = Barrier.create({ name: n('barrier'), parties: 2 });
  const cond = Condition.create({ name: n('cond') });
  const sem = Semaphore.create({ name: n('sem'), value: 0 });
  const flag = Value.create({ name: n('flag'), type: 'int32' });
  const sync = child('sync', how);
  assert.equal(await call(how, barrier, 'wait', { timeout: 10_000 }) >= 0, true);
  ev.set();
  assert.equal(await call(how, sem, 'acquire', { timeout: 10_000 }), true, 'the child released the semaphore');
  assert.equal(await call(how, cond, 'acquire', { timeout: 10_000 }), true);
  assert.equal(await call(how, cond, 'waitFor', () => flag.value === 7, { timeout: 10_000 }), true);
  cond.release();
  assert.equal(await sync, 0);

  // A Pipe between two node.exe processes; the other end's close is reported.
  step(`pipe (${how})`);
  const pipe = Pipe.create({ name: n('pipe') });
  const peer = child('pipe', how);
  pipe.send({ ping: 1 });
  assert.deepEqual(await call(how, pipe, 'recv'), { pong: 1 });
  await assert.rejects(async () => call(how, pipe, 'recv'), { code: 'ERR_SHMKIT_PIPE_CLOSED' });
  assert.equal(await peer, 0);
  for (const o of [lock, q, ev, barrier, cond, sem, flag, pipe]) o.close();
}

async function helper() {
  if (role === 'writer') SharedMemory.open(name('seg')).write(0, Buffer.from('hello'));
  if (role === 'adder') { const v = Value.open(name('val')); for (let i = 0; i < 50_000; i++) v.add(1); }
  if (role === 'waiter') {
    const i32 = new Int32Array(SharedMemory.open(name('seg')).buffer, 64, 4);
    Atomics.store(i32, 1, 1);
    if (wait(i32, 0, 0, 20_000) === 'ok') Atomics.store(i32, 2, 1);
  }
  const n = (what) => name(`${what}-${form}`);
  if (role === 'holder') { Lock.open(n('lock')).acquire(); setInterval(() => {}, 1000); return; }
  if (role === 'sync') {
    if ((await call(form, Barrier.open(n('barrier')), 'wait', { timeout: 10_000 })) < 0) throw new Error('barrier');
    if (!(await call(form, Event.open(n('event')), 'wait', { timeout: 10_000 }))) throw new Error('event');
    Semaphore.open(n('sem')).release();
    const cond = Condition.open(n('cond'));
    if (!(await call(form, cond, 'acquire', { timeout: 10_000 }))) throw new Error('condition lock');
    Value.open(n('flag')).value = 7;
    cond.notifyAll();
    cond.release();
  }
  if (role === 'named') {
    const ns = NamedSemaphore.open(name('nsem'));
    ns.release();
    ns.release();
    const list = ShareableList.open(name('list'));
    list.set(0, 42);
    list.set(2, 'changed');
    list.set(-1, false);
  }
  if (role === 'pipe') {
    const end = Pipe.open(n('pipe'));
    const m = await call(form, end, 'recv');
    end.send({ pong: m.ping });
    end.close();
  }
  if (role === 'producer') {
    const q = Queue.open(n('queue'));
    for (let i = 0; i < 20; i++) if (!(await call(form, q, 'put', { i }, { timeout: 10_000 }))) throw new Error(`put ${i} timed out`);
  }
}

(role ? helper() : main()).then((r) => {
  if (!role) fs.writeFileSync(path.join(results, 'result.txt'), String(r));
}, (error) => {
  fs.writeFileSync(path.join(results, `error-${role ?? 'main'}.txt`), String(error?.stack ?? error));
  process.exitCode = 1;
});
