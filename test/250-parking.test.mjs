// The parking layer (lib/core/park.ts) and the lifecycle it gives every object: close()
// ends every pending operation at once with ERR_SHMKIT_CLOSED and leaves nothing keeping
// the process alive; objects placed in a segment follow it; an abort is seen before every
// sleep; an abort racing a wake-up or a release never swallows it; a read-only attach
// refuses waits; no thread to be had is an error, not an abort.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Event, Lock, NamedSemaphore, Semaphore, SharedMemory, notify, wait, waitAsync } from 'shmkit';
import { CHILD, asNobody, cannotSwitchUid, isWindows, runNode, uniqueName } from './helpers.mjs';

const code = (c) => (e) => e?.code === c;

test('close() ends every kind of pending wait with ERR_SHMKIT_CLOSED, and the process then exits by itself', async (t) => {
  const names = Array.from({ length: 12 }, () => uniqueName(t));
  const semName = uniqueName(t);
  t.after(() => { try { NamedSemaphore.unlink(semName); } catch {} });
  // Every wait has a 60 s time-out: a child that does not exit within the test's bound
  // was kept alive by one of them.
  const r = await runNode(`${CHILD}
    import { Queue, Pipe, NamedSemaphore } from 'shmkit';
    import { Worker } from 'node:worker_threads';
    const [n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11] = args.names;
    const T = { timeout: 60000 };
    const held = Lock.create({ name: n6 });
    // Another thread holds the lock, so that this one's acquireAsync has to wait.
    const holder = new Worker("import { Lock } from 'shmkit'; import { parentPort, workerData } from 'node:worker_threads'; const l = Lock.open(workerData); l.acquire(); parentPort.postMessage('held'); setInterval(() => {}, 1000);", { eval: true, workerData: n6 });
    await new Promise((r) => holder.once('message', r));
    const shm = SharedMemory.create({ name: n0, size: 64 });
    const placed = Event.at(shm, 8);
    const objects = {
      event: Event.create({ name: n1 }),
      semaphore: Semaphore.create({ name: n2, value: 0 }),
      condition: Condition.create({ name: n3 }),
      queueGet: Queue.create({ name: n4, capacity: 2 }),
      queuePut: Queue.create({ name: n5, capacity: 1 }),
      lock: Lock.open(n6),
      barrier: Barrier.create({ name: n7, parties: 3 }),
      pipe: Pipe.create({ name: n8 }),
      named: NamedSemaphore.create({ name: args.semName, value: 0 }),
    };
    objects.queuePut.put('fills it');
    await objects.condition.acquireAsync();
    const pending = {
      raw: waitAsync(new Int32Array(shm.buffer, 0, 1), 0, 0, 60000),
      placed: placed.waitAsync(T),
      event: objects.event.waitAsync(T),
      semaphore: objects.semaphore.acquireAsync(T),
      condition: objects.condition.waitAsync(T),
      queueGet: objects.queueGet.getAsync(T),
      queuePut: objects.queuePut.putAsync('no room', T),
      lock: objects.lock.acquireAsync(T),
      barrier: objects.barrier.waitAsync(T),
      pipeRecv: objects.pipe.recvAsync(),
      pipePoll: objects.pipe.pollAsync(T),
      named: objects.named.acquireAsync(T),
    };
    await new Promise((r) => setTimeout(r, 50)); // every one of them is asleep by now
    const t0 = performance.now();
    shm.close();
    for (const o of Object.values(objects)) o.close();
    const results = {};
    for (const [k, p] of Object.entries(pending)) results[k] = await p.then((v) => 'resolved ' + v, (e) => e.code ?? String(e));
    const after = { placedClosed: placed.closed, placedUse: (() => { try { placed.set(); return 'worked'; } catch (e) { return e.code; } })() };
    console.log(JSON.stringify({ results, after, ms: performance.now() - t0 }));
    await holder.terminate();
    held.close();
    for (const n of args.names) { try { SharedMemory.unlink(n); } catch {} }
    NamedSemaphore.unlink(args.semName);
    // Nothing else: the process must now exit by itself.`, { args: { names, semName }, timeout: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  for (const [k, v] of Object.entries(report.results)) assert.equal(v, 'ERR_SHMKIT_CLOSED', `${k}: ${v}`);
  assert.deepEqual(report.after, { placedClosed: true, placedUse: 'ERR_SHMKIT_CLOSED' });
  assert.ok(report.ms < 1000, `settled ${report.ms} ms after close()`);
});

test('objects placed in a SharedMemory follow it: closed with it, ERR_SHMKIT_CLOSED after, never a TypeError', (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 64 });
  const lock = Lock.at(shm, 0);
  const event = Event.at(shm, 8);
  lock.acquire();
  lock.release();
  shm.close();
  for (const [what, f] of [['acquire', () => lock.acquire()], ['release', () => lock.release()], ['locked', () => lock.locked],
    ['tryAcquire', () => lock.tryAcquire()], ['set', () => event.set()], ['isSet', () => event.isSet()]]) {
    assert.throws(f, code('ERR_SHMKIT_CLOSED'), what);
  }
  assert.equal(lock.closed, true);
  assert.equal(event.closed, true);
});

test('closing an object placed in a segment that stays open ends only that object\'s pending waits', async (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 64 });
  t.after(() => shm.close());
  const a = Event.at(shm, 0);
  const b = Event.at(shm, 8);
  const pa = a.waitAsync({ timeout: 10_000 }).then(() => 'resolved', (e) => e.code);
  const pb = b.waitAsync({ timeout: 10_000 }).then((v) => v, (e) => e.code);
  a.close();
  assert.equal(await pa, 'ERR_SHMKIT_CLOSED');
  Event.at(shm, 8).set(); // b is still waiting, and still wakes
  assert.equal(await pb, true);
});

// A guard (this did not reproduce on the main this layer replaced): the abort is looked at
// before every sleep, so whatever moment it lands at, the wait ends within the test's bound.
test('an abort that lands at any moment ends the wait at once (10 random moments, a live holder)', async (t) => {
  const lock = Lock.create({ name: uniqueName(t) });
  t.after(() => lock.close());
  const done = Event.create({ name: uniqueName(t) });
  t.after(() => done.close());
  let ready;
  const held = new Promise((r) => { ready = r; });
  const holder = runNode(`${CHILD}
    const l = Lock.open(args.name); l.acquire(); console.log('held');
    Event.open(args.done).wait({ timeout: 30000 }); l.release();`, {
    args: { name: lock.name, done: done.name }, onStdout: (d) => d.includes('held') && ready(),
  });
  await held;
  try {
    for (let i = 0; i < 10; i++) {
      const controller = new AbortController();
      const p = lock.acquireAsync({ signal: controller.signal, timeout: 3000 });
      const at = Math.random() * 450; // across the 200 ms spells the waiting loop sleeps in
      await new Promise((r) => setTimeout(r, at));
      const abortedAt = performance.now();
      controller.abort(new Error('stop'));
      const outcome = await p.then((v) => `resolved ${v}`, (e) => e.message);
      const late = performance.now() - abortedAt;
      assert.equal(outcome, 'stop', `trial ${i} (abort after ${at.toFixed(0)} ms)`);
      assert.ok(late < 100, `trial ${i}: rejected ${late.toFixed(0)} ms after the abort (at ${at.toFixed(0)} ms)`);
    }
  } finally {
    done.set();
    assert.equal((await holder).code, 0);
  }
});

test('threads backend: 20 aborted waits, then a live waiter gets the unit within 100 ms of the release', { skip: isWindows && 'the POSIX threads backend' }, async (t) => {
  const sem = Semaphore.create({ name: uniqueName(t), value: 0 });
  t.after(() => sem.close());
  const r = await runNode(`${CHILD}
    const s = Semaphore.open(args.name);
    for (let i = 0; i < 20; i++) {
      const c = new AbortController();
      const p = s.acquireAsync({ signal: c.signal });
      await new Promise((r) => setTimeout(r, 2)); // asleep in its thread
      c.abort();
      await p.catch(() => {});
    }
    const live = s.acquireAsync({ timeout: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    s.release();
    const got = await live;
    console.log(JSON.stringify({ backend: waitBackend(), got, ms: performance.now() - t0, left: s.value }));`, {
    args: { name: sem.name }, env: { SHMKIT_WAIT_BACKEND: 'threads' }, timeout: 20_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.backend, 'threads');
  assert.equal(report.got, true);
  assert.equal(report.left, 0, 'the unit went to the live waiter, not to an aborted one');
  assert.ok(report.ms < 100, `woken ${report.ms} ms after the release`);
});

// A guard: Semaphore units live in the word, so an aborted waiter never held one; the
// NamedSemaphore half is the race the handed-back unit fixes (the test below forces it).
for (const backend of isWindows ? ['threadpool'] : ['io_uring', 'threads']) {
  test(`abort racing release (${backend} backend), 1,000 times: Semaphore and NamedSemaphore units are all accounted for`, async (t) => {
    const sem = Semaphore.create({ name: uniqueName(t), value: 0 });
    const semName = uniqueName(t);
    const named = isWindows ? undefined : NamedSemaphore.create({ name: semName, value: 0 });
    t.after(() => { sem.close(); named?.close(); if (named) NamedSemaphore.unlink(semName); });
    const r = await runNode(`${CHILD}
      import { NamedSemaphore } from 'shmkit';
      const race = async (s, n) => {
        let acquired = 0, rejected = 0;
        for (let i = 0; i < n; i++) {
          const c = new AbortController();
          const p = s.acquireAsync({ signal: c.signal, timeout: 5000 });
          // The unit and the abort arrive at nearly the same moment, in either order.
          if (i % 2) { s.release(); c.abort(); } else { c.abort(); s.release(); }
          await p.then((v) => { if (v) acquired++; }, () => { rejected++; });
        }
        // Whatever the aborted waits got was handed back: drain it.
        let left = 0;
        for (const deadline = performance.now() + 2000; left + acquired < n && performance.now() < deadline;) {
          if (s.tryAcquire()) left++; else await new Promise((r) => setTimeout(r, 1));
        }
        return { acquired, rejected, left, extra: s.tryAcquire() };
      };
      const out = { semaphore: await race(Semaphore.open(args.name), 1000) };
      if (args.semName) out.named = await race(NamedSemaphore.open(args.semName), 1000);
      console.log(JSON.stringify(out));`, {
      args: { name: sem.name, semName: named && semName }, env: { SHMKIT_WAIT_BACKEND: backend }, timeout: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').pop());
    for (const [kind, x] of Object.entries(report)) {
      assert.equal(x.acquired + x.left, 1000, `${kind}: every unit posted is acquired or still there: ${JSON.stringify(x)}`);
      assert.equal(x.extra, false, `${kind}: and no unit appeared from nowhere`);
    }
  });
}

// The other primitives, raced the same way inside one child (the abort and the wake-up
// are given in the same tick, in either order). Each round has a second, live waiter B
// beside the aborted one A: a wake-up that A took and dropped would leave B asleep until
// its next liveness spell (LIVENESS_MS, 200 ms) or its timeout, so slow rounds are counted.
for (const backend of isWindows ? ['threadpool'] : ['io_uring', 'threads']) {
  test(`abort racing wake-up (${backend} backend), 1,000 times each: Lock, Condition, Barrier and Queue lose nothing and stay usable`, async (t) => {
    const names = { lock: uniqueName(t), cond: uniqueName(t), barrier: uniqueName(t), queue: uniqueName(t) };
    const r = await runNode(`${CHILD}
      import { Queue } from 'shmkit';
      const N = 1000;
      const settle = (p) => p.then((v) => ({ ok: v }), (e) => ({ error: e.name === 'AbortError' ? 'abort' : e.code ?? e.message }));
      // The abort comes before the wake-up, just after it, after the waiting side has had
      // 0-30 µs to take it (the event loop still blocked), or a turn of the loop later.
      const raced = async (i, wake, abort) => {
        const mode = i % 4;
        if (mode === 0) abort();
        const woken = wake();
        if (mode === 1) abort();
        if (mode === 2) { for (const end = performance.now() + Math.random() * 0.03; performance.now() < end;); abort(); }
        if (mode === 3) { await new Promise((r) => setImmediate(r)); abort(); }
        return [woken]; // (boxed: an async function would adopt a promise)
      };
      const rounds = async (body) => {
        let slow = 0, aRes = 0, aRej = 0;
        for (let i = 0; i < N; i++) {
          const t0 = performance.now();
          const a = await body(i);
          if (a) aRes++; else aRej++;
          if (performance.now() - t0 > 100) slow++;
        }
        return { slow, aRes, aRej };
      };
      const out = {};

      // Lock: this thread holds it; A (aborted) and B wait; release and abort race.
      const lock = Lock.create({ name: args.lock, unlinkOnExit: true });
      out.lock = await rounds(async (i) => {
        lock.acquire();
        const c = new AbortController();
        const A = settle(lock.acquireAsync({ signal: c.signal, timeout: 5000 }));
        const B = settle(lock.acquireAsync({ timeout: 5000 }));
        await raced(i, () => lock.release(), () => c.abort());
        const a = await A;
        if (a.error && a.error !== 'abort') throw new Error('A: ' + a.error);
        if (a.ok === false) throw new Error('A timed out');
        if (a.ok) lock.release();
        const b = await B;
        if (b.ok !== true) throw new Error('B did not get the lock: ' + JSON.stringify(b));
        lock.release();
        if (!lock.tryAcquire()) throw new Error('the lock is not free after the round');
        lock.release();
        return !!a.ok;
      });

      // Condition: A (aborted) and B wait; notify(1) and the abort race.
      const cond = Condition.create({ name: args.cond, unlinkOnExit: true });
      out.condition = await rounds(async (i) => {
        const c = new AbortController();
        cond.acquire();
        const A = settle(cond.waitAsync({ signal: c.signal, timeout: 5000 }));
        cond.acquire();
        const B = settle(cond.waitAsync({ timeout: 5000 }));
        cond.acquire();
        await raced(i, () => { cond.notify(1); cond.release(); }, () => c.abort());
        const a = await A; // resolved or rejected, A holds the lock again
        if (a.error && a.error !== 'abort') throw new Error('A: ' + a.error);
        if (!cond.lock.owned) throw new Error('A settled without the lock');
        if (a.ok) cond.notify(1); // A took that wake-up: B needs its own
        cond.release();
        const b = await B;
        if (b.ok !== true) throw new Error('B was never woken: ' + JSON.stringify(b));
        cond.release();
        return !!a.ok;
      });

      // Barrier (2 parties): A waits (aborted); B arrives and trips it, racing the abort.
      let actions = 0, trips = 0;
      const barrier = Barrier.create({ name: args.barrier, parties: 2, action: () => { actions++; }, unlinkOnExit: true });
      out.barrier = await rounds(async (i) => {
        const c = new AbortController();
        const A = settle(barrier.waitAsync({ signal: c.signal, timeout: 5000 }));
        const [B] = await raced(i, () => settle(barrier.waitAsync({ timeout: 5000 })), () => c.abort());
        const [a, b] = await Promise.all([A, B]);
        if (b.ok !== undefined) {
          // Tripped: A passed too, or its abort came after the trip (its rejection is the abort's).
          trips++;
          if (a.error && a.error !== 'abort') throw new Error('tripped, yet A: ' + a.error);
          if (barrier.broken || barrier.nWaiting !== 0) throw new Error('tripped but left ' + JSON.stringify({ broken: barrier.broken, n: barrier.nWaiting }));
        } else {
          // The abort broke it before B arrived: B saw it broken; nobody passed alone.
          if (b.error !== 'ERR_SHMKIT_BROKEN_BARRIER') throw new Error('B: ' + b.error);
          if (a.error !== 'abort') throw new Error('broken, yet A: ' + JSON.stringify(a));
          if (!barrier.broken) throw new Error('B was refused by a barrier that is not broken');
          barrier.reset();
        }
        return a.ok !== undefined;
      });
      out.barrier.trips = trips; out.barrier.actions = actions;

      // Queue: A (aborted) and B wait to get; a put races the abort.
      const q = Queue.create({ name: args.queue, capacity: 4, maxMessageSize: 64, unlinkOnExit: true });
      const got = [];
      let put = 0;
      out.queue = await rounds(async (i) => {
        const c = new AbortController();
        const A = settle(q.getAsync({ signal: c.signal, timeout: 5000 }));
        const B = settle(q.getAsync({ timeout: 5000 }));
        await raced(i, () => q.put(put++), () => c.abort());
        const a = await A;
        if (a.error && a.error !== 'abort') throw new Error('A: ' + a.error);
        if ('ok' in a) { if (a.ok === undefined) throw new Error('A timed out'); got.push(a.ok); q.put(put++); }
        const b = await B;
        if (b.ok === undefined) throw new Error('B was never woken: ' + JSON.stringify(b));
        got.push(b.ok);
        return 'ok' in a;
      });
      let m;
      while ((m = q.tryGet()) !== undefined) got.push(m);
      out.queue.put = put; out.queue.got = got.length; out.queue.distinct = new Set(got).size;
      console.log(JSON.stringify(out));`, {
      args: names, env: { SHMKIT_WAIT_BACKEND: backend }, timeout: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').pop());
    t.diagnostic(JSON.stringify(report));
    for (const [kind, x] of Object.entries(report)) {
      assert.equal(x.aRes + x.aRej, 1000, kind);
      // A lost wake-up costs B a 200 ms spell (Lock, Barrier, Queue) or its 5 s timeout;
      // a loaded machine may make a few rounds slow on its own.
      assert.ok(x.slow <= 10, `${kind}: ${x.slow} rounds over 100 ms: ${JSON.stringify(x)}`);
    }
    assert.equal(report.barrier.actions, report.barrier.trips, 'the action ran once per trip');
    assert.deepEqual([report.queue.got, report.queue.distinct], [report.queue.put, report.queue.put], 'every message put was got once, or is still queued');
  });
}

test('NamedSemaphore: 100 units taken by waits that are aborted before they hear of it are all handed back', { skip: isWindows && 'POSIX' }, async (t) => {
  const name = uniqueName(t);
  const sem = NamedSemaphore.create({ name, value: 0 });
  t.after(() => { sem.close(); NamedSemaphore.unlink(name); });
  const settled = [];
  for (let i = 0; i < 100; i++) {
    const c = new AbortController();
    let over = false; // this wait already took a unit an earlier round handed back
    settled.push(sem.acquireAsync({ signal: c.signal }).then((v) => ((over = true), v), () => false));
    await new Promise((r) => setTimeout(r, 1)); // its thread is in sem_timedwait
    sem.release();
    // The waiting thread has taken the unit (its report is on its way to this thread)
    // when the abort comes: the unit must be handed back, not lost with the report.
    for (const deadline = Date.now() + 1000; !over && sem.value > 0 && Date.now() < deadline;);
    c.abort();
  }
  const acquired = (await Promise.all(settled)).filter(Boolean).length;
  let left = 0;
  for (const deadline = Date.now() + 2000; acquired + left < 100 && Date.now() < deadline;) {
    if (sem.tryAcquire()) left++; else await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(acquired + left, 100, `${acquired} acquired, ${left} left`);
});

// The wake-up goes to the first waiter, which is aborted before its completion reaches
// JavaScript; the second waiter must get it. A raw notify changes no word, so nothing but
// the hand-on can save it. On the threads backend a wait is in the kernel's queue only once
// its thread gets there: the child waits for that (its threads in a shared futex wait, read
// in /proc/self/task) instead of sleeping; that window is documented (docs/design.md).
for (const backend of isWindows ? ['threadpool'] : ['io_uring', 'threads']) {
  test(`a wake-up taken by a wait that is aborted before it hears of it goes to the next waiter, 500 times (${backend} backend)`, async () => {
    const r = await runNode(`${CHILD}
      import { readdirSync, readFileSync } from 'node:fs';
      const w = new Int32Array(SharedMemory.create({ size: 8, unlinkOnExit: true }).buffer);
      // Threads of this process asleep in a shared (not process-private) futex wait:
      // syscall futex (202 on x86-64 hosts, 98 on arm64) with FUTEX_PRIVATE_FLAG clear.
      const sleepers = () => readdirSync('/proc/self/task').filter((t) => {
        try {
          const [nr, , op] = readFileSync('/proc/self/task/' + t + '/syscall', 'utf8').split(' ');
          return (nr === '202' || nr === '98') && (Number(op) & 0x80) === 0;
        } catch { return false; }
      }).length;
      const threads = waitBackend() === 'threads';
      const until = (n) => {
        for (const end = performance.now() + 5000; sleepers() < n;) {
          if (performance.now() > end) throw new Error('the wait threads never reached the kernel');
        }
      };
      let aWoken = 0, woken = 0, worst = 0;
      for (let i = 0; i < 500; i++) {
        const base = threads ? sleepers() : 0;
        const c = new AbortController();
        const a = waitAsync(w, 0, 0, 5000, { signal: c.signal }).catch((e) => e.name);
        if (threads) until(base + 1); // a in the kernel's queue first
        const b = waitAsync(w, 0, 0, 3000); // queued behind a
        if (threads) until(base + 2);
        const t0 = performance.now();
        woken += notify(w, 0, 1); // wakes a, the first in the queue
        c.abort(); // before a's completion reaches JavaScript
        const got = await b;
        worst = Math.max(worst, performance.now() - t0);
        if (got !== 'ok') { console.log(JSON.stringify({ round: i, b: got, a: await a })); process.exit(1); }
        if ((await a) === 'ok') aWoken++;
        // A thread of an aborted wait leaves within a slice; let it go before the next round
        // counts sleepers.
        if (threads) while (sleepers() > base) await new Promise((r) => setImmediate(r));
      }
      console.log(JSON.stringify({ backend: waitBackend(), woken, aWoken, worst }));`, { env: { SHMKIT_WAIT_BACKEND: backend }, timeout: 120_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').pop());
    // (A kernel without io_uring futex operations runs the io_uring case on the threads fallback.)
    assert.ok(report.backend === backend || (backend === 'io_uring' && report.backend === 'threads'), report.backend);
    assert.equal(report.woken, 500, 'every notify woke the first waiter');
    assert.ok(report.worst < 500, `the second waiter got each wake-up within ${report.worst} ms`);
  });
}

test('an aborted Barrier wait breaks the barrier (as an exception out of Python\'s wait does): no lone party trips it', async (t) => {
  const { Barrier } = await import('shmkit');
  let actions = 0;
  const barrier = Barrier.create({ name: uniqueName(t), parties: 2, action: () => { actions++; } });
  t.after(() => barrier.close());
  const c = new AbortController();
  const p = barrier.waitAsync({ signal: c.signal, timeout: 10_000 });
  while (barrier.nWaiting < 1) await new Promise((r) => setTimeout(r, 1));
  c.abort(new Error('gone'));
  await assert.rejects(p, /gone/);
  assert.equal(barrier.broken, true);
  assert.throws(() => barrier.wait({ timeout: 100 }), code('ERR_SHMKIT_BROKEN_BARRIER'));
  assert.equal(actions, 0, 'the action never ran');
  barrier.reset();
  const both = [barrier.waitAsync({ timeout: 5000 }), barrier.waitAsync({ timeout: 5000 })];
  assert.deepEqual((await Promise.all(both)).sort(), [0, 1], 'after reset() two parties trip it');
  assert.equal(actions, 1);
});

test('wait(), waitAsync() and notify() on a read-only attach are ERR_SHMKIT_READ_ONLY', (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 8 });
  const ro = SharedMemory.open(shm.name, { readOnly: true });
  t.after(() => { ro.close(); shm.close(); });
  const words = new Int32Array(ro.buffer);
  assert.throws(() => wait(words, 0, 0, 10), code('ERR_SHMKIT_READ_ONLY'));
  assert.throws(() => notify(words, 0), code('ERR_SHMKIT_READ_ONLY'));
  return assert.rejects(waitAsync(words, 0, 0, 10), code('ERR_SHMKIT_READ_ONLY'));
});

test('no thread to be had (ulimit -u) on the threads backend: an EAGAIN error for the caller, never an abort', { skip: isWindows ? 'POSIX' : cannotSwitchUid }, async (t) => {
  const old = process.umask(0);
  const sem = Semaphore.create({ name: uniqueName(t), value: 0, mode: 0o666 });
  process.umask(old);
  t.after(() => sem.close());
  const r = await runNode(`${CHILD}
    const s = Semaphore.open(args.name);
    const outcomes = await Promise.all(Array.from({ length: 200 }, () => s.acquireAsync({ timeout: 200 }).then((v) => String(v), (e) => e.code)));
    const counts = {};
    for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
    console.log(JSON.stringify(counts));`, {
    args: { name: sem.name }, env: { SHMKIT_WAIT_BACKEND: 'threads' }, timeout: 30_000,
    wrap: ['prlimit', '--nproc=40', ...asNobody],
  });
  assert.equal(r.code, 0, `exit ${r.code} ${r.signal}: ${r.stderr}`);
  const counts = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.ok(counts.EAGAIN > 0, `some waits found no thread: ${r.stdout}`);
  assert.equal((counts.EAGAIN ?? 0) + (counts.false ?? 0), 200, r.stdout);
});

test('an aborted Condition wait takes the lock back before it rejects, even when another task holds it meanwhile', async (t) => {
  const { Condition } = await import('shmkit');
  const c = Condition.create({ name: uniqueName(t), lock: 'lock' });
  t.after(() => c.close());
  await c.acquireAsync();
  const ac = new AbortController();
  let settled = false;
  const p = c.waitAsync({ signal: ac.signal }).finally(() => { settled = true; });
  assert.equal(c.lock.tryAcquire(), true, 'another task of this thread takes the lock');
  ac.abort(new Error('stop'));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'still waiting for the lock');
  c.lock.release(); // the other task is done
  await assert.rejects(p, /stop/);
  assert.equal(c.lock.owned, true, 'rejected with the lock held, as a time-out returns');
  c.lock.release();
});

test('closing a segment under a wait that took a wake-up passes the wake-up on (another open of it is waiting too)', async (t) => {
  const a = SharedMemory.create({ name: uniqueName(t), size: 8 });
  const b = SharedMemory.open(a.name);
  t.after(() => { a.close(); b.close(); });
  const wa = new Int32Array(a.buffer);
  const wb = new Int32Array(b.buffer);
  const first = waitAsync(wa, 0, 0, 10_000).then((r) => r, (e) => e.code);
  await new Promise((r) => setTimeout(r, 20));
  const second = waitAsync(wb, 0, 0, 3000);
  await new Promise((r) => setTimeout(r, 20));
  const t0 = performance.now();
  assert.equal(notify(wb, 0, 1), 1); // wakes the first, asleep longest
  a.close(); // before its report arrives
  assert.equal(await first, 'ERR_SHMKIT_CLOSED');
  assert.equal(await second, 'ok');
  assert.ok(performance.now() - t0 < 500, 'passed on at once, not at the second wait\'s time-out');
});

test('RLock: two acquireAsync calls of one thread in the same tick hold two levels', async (t) => {
  const { RLock } = await import('shmkit');
  const l = RLock.create({ name: uniqueName(t) });
  t.after(() => l.close());
  const both = await Promise.all([l.acquireAsync(), l.acquireAsync()]);
  assert.deepEqual(both, [true, true]);
  assert.equal(l.level, 2);
  l.release();
  assert.equal(l.owned, true);
  l.release();
  assert.equal(l.locked, false);
});

test('NamedSemaphore: a unit taken by an acquire that close() gives up is posted back, not lost', { skip: isWindows && 'POSIX' }, async (t) => {
  const name = uniqueName(t);
  const other = NamedSemaphore.create({ name, value: 0 });
  t.after(() => { other.close(); NamedSemaphore.unlink(name); });
  const s = NamedSemaphore.open(name);
  const p = s.acquireAsync({ timeout: 5000 }).then((v) => v, (e) => e.code);
  await new Promise((r) => setTimeout(r, 5)); // its thread is in sem_timedwait
  other.release();
  for (const deadline = Date.now() + 1000; other.value !== 0 && Date.now() < deadline;); // the thread took it
  s.close();
  assert.equal(await p, 'ERR_SHMKIT_CLOSED');
  for (const deadline = Date.now() + 2000; other.value !== 1 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
  assert.equal(other.value, 1, 'the unit is back');
});

test('a waiter that times out while the tripping party runs its action (paused there) never blocks its event loop, and passes', { skip: isWindows && 'SIGSTOP' }, async (t) => {
  const name = uniqueName(t);
  let tripper = 0;
  t.after(() => { try { process.kill(tripper, 'SIGKILL'); } catch {} });
  // The waiter's side runs in a child: on a blocked event loop it would never send the
  // SIGCONT, and its kill timer is the bound.
  const r = await runNode(`${CHILD}
    import { spawn } from 'node:child_process';
    const b = Barrier.create({ name: args.name, parties: 2, unlinkOnExit: true });
    const child = spawn(process.execPath, ['--input-type=module', '-e', \`
      import { Barrier } from 'shmkit';
      const b = Barrier.open(process.argv[1], { action: () => { console.log('in action'); process.kill(process.pid, 'SIGSTOP'); } });
      console.log('ready');
      process.stdin.once('data', () => console.log(b.wait()));\`, args.name], { stdio: ['pipe', 'pipe', 'inherit'] });
    console.log(JSON.stringify({ tripper: child.pid }));
    let out = '';
    const seen = (what) => new Promise((r) => { const f = () => { if (out.includes(what)) { child.stdout.off('data', f); r(); } }; child.stdout.on('data', (d) => { out += d; f(); }); });
    await seen('ready');
    const t0 = performance.now();
    const outcome = b.waitAsync({ timeout: 500 }).then((i) => ({ passed: i }), (e) => ({ error: e.code }));
    child.stdin.end('go\\n');
    await seen('in action');
    // The waiter's 500 ms pass with the bookkeeping lock held by a live, stopped party.
    let ticks = 0;
    const interval = setInterval(() => ticks++, 10);
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 700 - performance.now())));
    clearInterval(interval);
    process.kill(child.pid, 'SIGCONT');
    const result = await outcome;
    await new Promise((r) => child.on('exit', r));
    console.log(JSON.stringify({ ticks, ...result, tripperIndex: Number(out.trim().split('\\n').pop()) }));`, { args: { name }, timeout: 15_000, onStdout: (d) => { const m = /"tripper":(\d+)/.exec(d); if (m) tripper = Number(m[1]); } });
  assert.equal(r.code, 0, `the waiter's process ${r.signal ? 'was killed by its timer: its event loop was blocked' : 'failed'}: ${r.stderr}`);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.ok(report.ticks >= 5, `timers ran while the lock was held: ${report.ticks}`);
  assert.deepEqual([report.passed, report.tripperIndex], [0, 1], `the trip had begun before the time-out: ${r.stdout}`);
});

test('io_uring backend: a program that closes the ring\'s descriptor number (a stray close) leaves async waits working', { skip: process.platform !== 'linux' && 'Linux io_uring' }, async () => {
  const r = await runNode(`${CHILD}
    import fs from 'node:fs';
    const w = new Int32Array(SharedMemory.create({ size: 8, unlinkOnExit: true }).buffer);
    // Only shmkit's ring, made at the first async wait: libuv (Node 22+) has rings of its own.
    const rings = () => fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:[io_uring]'; } catch { return false; } });
    const before = new Set(rings());
    const first = waitAsync(w, 0, 0, 5000);
    if (waitBackend() !== 'io_uring') { console.log(JSON.stringify({ backend: waitBackend() })); process.exit(0); }
    let closed = 0;
    for (const fd of rings()) if (!before.has(fd)) { fs.closeSync(Number(fd)); closed++; }
    const out = { backend: 'io_uring', closed };
    notify(w, 0, 1);
    out.first = await first;
    const results = [];
    for (let i = 0; i < 3; i++) {
      const p = waitAsync(w, 0, 0, 5000);
      notify(w, 0, 1);
      results.push(await p);
    }
    out.later = results;
    out.timed = await waitAsync(w, 0, 0, 20);
    console.log(JSON.stringify(out));`, { timeout: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  if (report.backend !== 'io_uring') return; // this kernel has no io_uring futex operations (the threads test covers it)
  assert.equal(report.closed, 1, r.stdout);
  assert.deepEqual([report.first, report.later, report.timed], ['ok', ['ok', 'ok', 'ok'], 'timed-out'], r.stdout);
});
