// wait / waitAsync / notify across processes: the Atomics.wait contract, between
// unrelated processes, with every async mechanism of the platform (Linux: io_uring and
// threads; Windows: the thread pool).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedMemory, notify, wait, waitAsync, waitBackend } from 'shmkit';
import { CHILD, assertOk, emulated, ioUringBackend, isWindows, runNode, uniqueName, until } from './helpers.mjs';

const backends = isWindows ? ['threadpool'] : ['io_uring', 'threads'];

function segment(t, size = 64) {
  const shm = SharedMemory.create({ name: uniqueName(t), size });
  t.after(() => shm.close());
  return [shm, new Int32Array(shm.buffer)];
}

test('bad arguments are rejected with Node\'s codes', async (t) => {
  const [, i32] = segment(t);
  const code = (c) => (e) => e.code === c;
  assert.throws(() => wait(new Uint32Array(4), 0, 0, 0), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => wait([0], 0, 0, 0), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => wait(i32, 16, 0, 0), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wait(i32, -1, 0, 0), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wait(i32, 0.5, 0, 0), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wait(i32, 0, '0', 0), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => wait(i32, 0, 2 ** 32, 0), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => wait(i32, 0, 0, '10'), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => notify(i32, 0, -1), code('ERR_OUT_OF_RANGE'));
  await assert.rejects(waitAsync(i32, 99, 0, 0), code('ERR_OUT_OF_RANGE'));
  await assert.rejects(waitAsync(i32, 0, 0, 10, { signal: 'x' }), code('ERR_INVALID_ARG_TYPE'));
});

test('not-equal and timed-out, blocking and async', async (t) => {
  const [, i32] = segment(t);
  i32[0] = 5;
  assert.equal(wait(i32, 0, 4, 1000), 'not-equal');
  assert.equal(await waitAsync(i32, 0, 4, 1000), 'not-equal');
  let t0 = performance.now();
  assert.equal(wait(i32, 0, 5, 50), 'timed-out');
  let took = performance.now() - t0;
  assert.ok(took >= 45 && took < 2000, `blocking wait of 50 ms took ${took}`);
  t0 = performance.now();
  assert.equal(await waitAsync(i32, 0, 5, 50), 'timed-out');
  took = performance.now() - t0;
  assert.ok(took >= 45 && took < 2000, `async wait of 50 ms took ${took}`);
  assert.equal(wait(i32, 0, 5, 0), 'timed-out');
  assert.equal(notify(i32, 0), 0, 'nobody was waiting');
});

/** Calls notify until `n` waiters in all have been woken (they may not all be asleep yet). */
async function wakeExactly(i32, index, n) {
  let woken = 0;
  await until(() => (woken += notify(i32, index, n - woken)) === n, 10_000, `${n} wakes`);
  return woken;
}

for (const backend of backends) {
  test(`another process wakes this one, blocking and async (${backend} backend in the waiter)`, async (t) => {
    const [shm, i32] = segment(t);
    const child = runNode(`${CHILD}
      const i32 = new Int32Array(SharedMemory.open(args.name).buffer);
      Atomics.store(i32, 1, 1);
      const r1 = wait(i32, 0, 0, 20_000);
      const pending = [1, 2, 3].map(() => waitAsync(i32, 2, 0, 20_000));
      Atomics.store(i32, 3, 1);
      const r2 = await Promise.all(pending);
      console.log(JSON.stringify({ r1, r2, backend: waitBackend() }));`,
    { args: { name: shm.name }, env: { SHMKIT_WAIT_BACKEND: backend } });
    await until(() => Atomics.load(i32, 1) === 1, 10_000, 'child ready');
    await wakeExactly(i32, 0, 1);
    await until(() => Atomics.load(i32, 3) === 1, 10_000, 'async waits started');
    await wakeExactly(i32, 2, 3);
    const out = JSON.parse(assertOk(await child).stdout);
    // Asked for io_uring, a kernel without its futex operations (or qemu-user) gives the
    // threads fallback, as documented.
    const expected = backend === 'io_uring' ? ioUringBackend() : backend;
    if (emulated) assert.equal(ioUringBackend(), 'threads', 'qemu-user has no io_uring: the fallback');
    assert.deepEqual(out, { r1: 'ok', r2: ['ok', 'ok', 'ok'], backend: expected });
  });

  test(`a thousand pending waitAsync calls resolve, and file reads and timers keep their pace (${backend})`, async (t) => {
    const [shm, i32] = segment(t, 8192);
    const child = runNode(`${CHILD}
      import { readFile } from 'node:fs/promises';
      import { monitorEventLoopDelay } from 'node:perf_hooks';
      const i32 = new Int32Array(SharedMemory.open(args.name).buffer);
      async function work() {  // file reads through the libuv threadpool, and timers
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        const t0 = performance.now();
        for (let i = 0; i < 300; i++) await readFile('package.json');
        await Promise.all(Array.from({ length: 50 }, (_, i) => new Promise((r) => setTimeout(r, i % 10))));
        h.disable();
        return { ms: Math.round(performance.now() - t0), p99: h.percentile(99) / 1e6 };
      }
      const before = await work();
      // 750 waits without a time limit, several to a word, on words 16..515, woken by the
      // parent; 250 with a 100 ms limit on words 600..849, which nobody wakes.
      const waits = [];
      for (let i = 0; i < 1000; i++) {
        waits.push(i % 4 === 0 ? waitAsync(i32, 600 + i / 4, 0, 100).then((r) => 'limited:' + r)
                               : waitAsync(i32, 16 + (i % 500), 0).then((r) => 'unlimited:' + r));
      }
      const during = await work();
      Atomics.store(i32, 0, 1);
      const counts = {};
      for (const r of await Promise.all(waits)) counts[r] = (counts[r] ?? 0) + 1;
      console.log(JSON.stringify({ before, during, counts }));`,
    { args: { name: shm.name }, env: { SHMKIT_WAIT_BACKEND: backend }, timeout: 120_000 });
    await until(() => Atomics.load(i32, 0) === 1, 100_000, 'the child to arm its waits and measure');
    let woken = 0;
    await until(() => {
      for (let w = 16; w < 516; w++) woken += notify(i32, w);
      return woken === 750;
    }, 10_000, '750 wakes');
    const out = JSON.parse(assertOk(await child).stdout);
    t.diagnostic(`${backend}: file reads + timers took ${out.before.ms} ms alone, ${out.during.ms} ms with 1000 waits pending; ` +
      `event-loop delay p99 ${out.before.p99} ms / ${out.during.p99} ms`);
    assert.deepEqual(out.counts, { 'limited:timed-out': 250, 'unlimited:ok': 750 });
    // The failure this guards against is waits occupying the threadpool: file reads then
    // stall outright. The bound is loose so that a busy machine does not fail it.
    assert.ok(out.during.ms < out.before.ms * 5 + 1000, `reads and timers slowed from ${out.before.ms} to ${out.during.ms} ms`);
  });

  test(`an AbortSignal ends a pending waitAsync at once (${backend})`, async (t) => {
    const [shm] = segment(t);
    const out = JSON.parse(assertOk(await runNode(`${CHILD}
      const i32 = new Int32Array(SharedMemory.open(args.name).buffer);
      const ac = new AbortController();
      const t0 = performance.now();
      const p = waitAsync(i32, 0, 0, 30_000, { signal: ac.signal });
      setTimeout(() => ac.abort(), 30);
      let outcome;
      try { await p; outcome = 'resolved'; } catch (e) { outcome = e.name; }
      const took = performance.now() - t0;
      let pre;
      try { await waitAsync(i32, 0, 0, 1000, { signal: AbortSignal.abort() }); } catch (e) { pre = e.name; }
      // The aborted wait leaves nothing behind that keeps the process alive.
      console.log(JSON.stringify({ outcome, pre, quick: took < 5000, woken: notify(i32, 0) }));`,
    { args: { name: shm.name }, env: { SHMKIT_WAIT_BACKEND: backend } })).stdout);
    assert.deepEqual(out, { outcome: 'AbortError', pre: 'AbortError', quick: true, woken: out.woken });
    if (backend !== 'threads' && ioUringBackend() !== 'threads') assert.equal(out.woken, 0, 'the cancelled wait is gone');
  });
}

test('notify wakes waiters in other processes, and counts them exactly', async (t) => {
  const [shm, i32] = segment(t);
  const children = [0, 1, 2].map(() => runNode(`${CHILD}
    const i32 = new Int32Array(SharedMemory.open(args.name).buffer);
    Atomics.add(i32, 1, 1);
    console.log(wait(i32, 0, 0, 5_000));`, { args: { name: shm.name } }));
  await until(() => Atomics.load(i32, 1) === 3, 10_000, 'three children');
  // A child counted itself before it sleeps: notify until all three have been reached.
  let woken = 0;
  await until(() => {
    woken += notify(i32, 0, 2 - woken > 0 ? 2 - woken : 0);
    return woken === 2;
  }, 10_000, 'two wakes');
  // The third may still be on its way into the kernel: wake it once it is there.
  await until(() => notify(i32, 0, 1) === 1, 10_000, 'the third wake');
  assert.equal(notify(i32, 0, Infinity), 0, 'exactly three were asleep, and each was woken once');
  const outs = (await Promise.all(children)).map((r) => assertOk(r).stdout.trim());
  assert.deepEqual(outs, ['ok', 'ok', 'ok']);
});

for (const backend of backends) {
  test(`exit with waits still pending, from the main thread and from Workers (${backend})`, async (t) => {
    const [shm] = segment(t);
    const out = assertOk(await runNode(`${CHILD}
      import { Worker } from 'node:worker_threads';
      const i32 = new Int32Array(SharedMemory.open(args.name).buffer);
      void waitAsync(i32, 0, 0);              // never woken
      void waitAsync(i32, 1, 0, 60_000);
      const code = \`
        const { waitAsync, SharedMemory } = require(process.cwd());
        const i32 = new Int32Array(SharedMemory.open(require('node:worker_threads').workerData).buffer);
        waitAsync(i32, 2, 0, 100).then((r) => require('node:worker_threads').parentPort.postMessage(r));
        void waitAsync(i32, 3, 0);\`;
      const w1 = new Worker(code, { eval: true, execArgv: [], workerData: args.name });
      console.log('worker result', await new Promise((r) => w1.once('message', r)));
      await w1.terminate();
      const w2 = new Worker(code, { eval: true, execArgv: [], workerData: args.name });
      await new Promise((r) => w2.once('message', r)); // its first wait ended; the other is pending
      await w2.terminate();
      setTimeout(() => process.exit(0), 20);`, { args: { name: shm.name }, env: { SHMKIT_WAIT_BACKEND: backend }, timeout: 20_000 }));
    assert.match(out.stdout, /worker result timed-out/);
  });
}
