// What any local user can plant under a name in /dev/shm: a FIFO (whose open would block
// for ever), a zero-byte semaphore file (whose mapping would be SIGBUS). Each is a coded
// error at once. Run in a child with a kill timer: the failure mode is a hang.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { CHILD, runCli, runNode, uniqueName } from './helpers.mjs';

const why = process.platform !== 'linux' && 'Linux /dev/shm';

test('a FIFO planted under a name: exists() answers, every open is ERR_SHMKIT_KIND at once, inspect says so', { skip: why }, async (t) => {
  const name = uniqueName(t);
  execFileSync('mkfifo', ['-m', '0666', `/dev/shm/${name}`]);
  t.after(() => rmSync(`/dev/shm/${name}`, { force: true }));
  const r = await runNode(`${CHILD}
    import { Queue, Pipe, NamedSemaphore } from 'shmkit';
    const attempt = (f) => { try { return f(); } catch (e) { return e.code; } };
    const out = { exists: attempt(() => SharedMemory.exists(args.name)) };
    out.open = attempt(() => SharedMemory.open(args.name));
    out.readOnly = attempt(() => SharedMemory.open(args.name, { readOnly: true }));
    for (const [k, K] of Object.entries({ Lock, Value, Event, Queue, SharedArray, ShareableList, Barrier })) out[k] = attempt(() => K.open(args.name));
    console.log(JSON.stringify(out));`, { args: { name }, timeout: 10_000 });
  assert.equal(r.code, 0, `hung or died: ${r.signal} ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(out.exists, true, 'the name is taken (create would be EEXIST)');
  for (const [k, v] of Object.entries(out)) if (k !== 'exists') assert.equal(v, 'ERR_SHMKIT_KIND', k);
  const cli = await runCli(['inspect', name], { timeout: 10_000 });
  assert.notEqual(cli.signal, 'SIGKILL', 'inspect hung');
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /FIFO|not a shared memory segment/i, cli.stderr);
});

test('a zero-byte or FIFO sem.NAME: NamedSemaphore.open is a coded error, not SIGBUS or a hang', { skip: why }, async (t) => {
  const [zero, fifo] = [uniqueName(t), uniqueName(t)];
  writeFileSync(`/dev/shm/sem.${zero}`, '');
  execFileSync('mkfifo', ['-m', '0666', `/dev/shm/sem.${fifo}`]);
  t.after(() => { for (const n of [zero, fifo]) rmSync(`/dev/shm/sem.${n}`, { force: true }); });
  const r = await runNode(`${CHILD}
    import { NamedSemaphore } from 'shmkit';
    const attempt = (f) => { try { return f(); } catch (e) { return e.code; } };
    console.log(JSON.stringify({ zero: attempt(() => NamedSemaphore.open(args.zero).value), fifo: attempt(() => NamedSemaphore.open(args.fifo).value) }));`,
  { args: { zero, fifo }, timeout: 10_000 });
  assert.equal(r.code, 0, `hung or died: ${r.signal} ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.deepEqual(out, { zero: 'ERR_SHMKIT_KIND', fifo: 'ERR_SHMKIT_KIND' });
});

test('a Semaphore whose value word a peer set negative sleeps, as one of value 0: no spin, the event loop runs, a release still wakes', async (t) => {
  const { Semaphore, SharedMemory } = await import('shmkit');
  const shm = SharedMemory.create({ name: uniqueName(t), size: 64 });
  t.after(() => shm.close()); // (uniqueName unlinks it)
  const sem = Semaphore.at(shm, 0);
  new Int32Array(shm.buffer, 0, 1)[0] = -5; // the value word, as a peer with write access may leave it
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  assert.equal(sem.acquire({ timeout: 300 }), false);
  const wall = performance.now() - t0;
  const used = (process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000;
  assert.ok(used < wall / 3, `asleep, not spinning: ${used.toFixed(0)} ms of CPU in ${wall.toFixed(0)} ms`);
  let ticks = 0;
  const interval = setInterval(() => ticks++, 10);
  const got = await sem.acquireAsync({ timeout: 300 });
  clearInterval(interval);
  assert.equal(got, false);
  assert.ok(ticks >= 10, `the event loop ran meanwhile: ${ticks} ticks`);
  // Used afterwards: a release that makes it positive wakes an async waiter.
  const waiting = sem.acquireAsync({ timeout: 10_000 });
  setImmediate(() => sem.release(6));
  assert.equal(await waiting, true);
  assert.equal(sem.value, 0);
});

test('a peer that truncates a segment: read() and write() (read-write and read-only attach) are ERR_SHMKIT_TRUNCATED, not SIGBUS, and work again once it is regrown', { skip: why }, async (t) => {
  const name = uniqueName(t);
  const r = await runNode(`${CHILD}
    import { truncateSync } from 'node:fs';
    const attempt = (f) => { try { return f(); } catch (e) { return e.code; } };
    const shm = SharedMemory.create({ name: args.name, size: 1 << 20 });
    const ro = SharedMemory.open(args.name, { readOnly: true });
    shm.write(0, Buffer.from('hello'));
    truncateSync('/dev/shm/' + args.name, 0);
    const out = {
      read: attempt(() => shm.read(0, 16)),
      write: attempt(() => shm.write(4096, Buffer.alloc(8192, 1))),
      readOnly: attempt(() => ro.read(0, 16)),
      readTail: attempt(() => shm.read((1 << 20) - 4)),
    };
    truncateSync('/dev/shm/' + args.name, 1 << 20); // regrown: zeros again
    out.after = [...shm.read(0, 4)];
    out.writeAfter = shm.write(0, Buffer.from([9]));
    out.readAfter = ro.read(0, 1)[0];
    shm.close(); ro.close();
    console.log(JSON.stringify(out));
    // A fault outside the guarded copies is still the process's own: a plain view of a
    // truncated segment still dies of SIGBUS (the handler hands it to the default).
    const again = SharedMemory.open(args.name);
    truncateSync('/dev/shm/' + args.name, 0);
    new Uint8Array(again.buffer)[0] = 1;
    console.log('survived');`, {
    args: { name }, timeout: 10_000,
    // Under the sanitizer suite, that deliberate fault is the default's, not ASan's to report.
    env: { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'handle_sigbus=0'].filter(Boolean).join(':') },
  });
  const out = JSON.parse(r.stdout.trim().split('\n')[0]);
  assert.deepEqual(out, { read: 'ERR_SHMKIT_TRUNCATED', write: 'ERR_SHMKIT_TRUNCATED', readOnly: 'ERR_SHMKIT_TRUNCATED', readTail: 'ERR_SHMKIT_TRUNCATED', after: [0, 0, 0, 0], writeAfter: 1, readAfter: 9 });
  assert.equal(r.signal, 'SIGBUS', `a fault outside the copies is not swallowed: ${r.signal} ${r.code} ${r.stdout}`);
});

test('shmkit ls and inspect racing a peer that truncates and regrows segments: 40 runs, never a signal', { skip: why }, async (t) => {
  const names = [uniqueName(t), uniqueName(t)];
  // The peer resizes both segments (a Value, and a plain segment) as fast as it can until
  // the parent's runs are over (it is killed then; its timer bounds it anyway).
  const made = await runNode(`${CHILD}
    Value.create({ name: args.names[0], type: 'int32' }).close();
    SharedMemory.create({ name: args.names[1], size: 1 << 16 }).close();`, { args: { names } });
  assert.equal(made.code, 0, made.stderr);
  let stop;
  const peer = runNode(`${CHILD}
    import { truncateSync } from 'node:fs';
    console.log('resizing');
    for (const end = Date.now() + 60_000; Date.now() < end;) {
      for (const n of args.names) { truncateSync('/dev/shm/' + n, 0); truncateSync('/dev/shm/' + n, 1 << 16); }
    }`, { args: { names }, timeout: 90_000, onSpawn: (child) => { stop = () => child.kill('SIGKILL'); }, onStdout: () => { started(); } }).catch(() => {});
  let started;
  await new Promise((r) => { started = r; });
  try {
    for (let i = 0; i < 20; i++) {
      for (const args of [['ls'], ['inspect', names[i % 2]]]) {
        const r = await runCli(args);
        assert.equal(r.signal, null, `shmkit ${args.join(' ')} died of ${r.signal}: ${r.stderr}`);
        assert.ok(r.code === 0 || r.code === 1, `shmkit ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /^\s+at /m, `a stack: ${r.stderr}`);
      }
    }
  } finally {
    stop();
    await peer;
  }
});

// Queue words as a peer with write access may leave them (docs/memory-layout.md): the
// non-blocking calls answer at once and the blocking ones within their time-out, with a
// coded error when the words cannot be a queue's.
test('a Queue whose words a peer crafted: tryPut, tryGet and put/get with a time-out end promptly, with ERR_SHMKIT_CORRUPT or a plain answer', async (t) => {
  const { Queue, SharedMemory } = await import('shmkit');
  const HEADER = 64, SLOTS = 192, capacity = 4, size = 64, stride = 16 + size;
  const cases = {
    'every slot far ahead': (w) => { for (let i = 0; i < capacity; i++) w[(SLOTS + i * stride) / 4] = 0x3fffffff; },
    'head and tail far apart': (w) => { w[0] = 0; w[16] = 2 ** 29; },
    'tail far behind head': (w) => { w[0] = 2 ** 29; w[16] = 0; },
  };
  for (const [what, craft] of Object.entries(cases)) {
    const q = Queue.create({ name: uniqueName(t), capacity, maxMessageSize: size });
    const raw = SharedMemory.open(q.name);
    try {
      craft(new Int32Array(raw.buffer, HEADER));
      for (const [op, f] of Object.entries({ tryPut: () => q.tryPut('x'), tryGet: () => q.tryGet(), put: () => q.put('x', { timeout: 300 }), get: () => q.get({ timeout: 300 }) })) {
        const t0 = performance.now();
        let outcome;
        try { outcome = f(); } catch (e) { outcome = e.code ?? e.message; }
        const ms = performance.now() - t0;
        assert.ok(ms < (op.startsWith('try') ? 100 : 1000), `${what}, ${op}: ${ms.toFixed(0)} ms`);
        assert.ok(outcome === 'ERR_SHMKIT_CORRUPT' || outcome === true || outcome === false || outcome === undefined || outcome === 'x', `${what}, ${op}: ${outcome}`);
      }
    } finally {
      raw.close();
      q.close();
    }
  }
});

// A crafted ring must be refused at its first odd slot, not walked slot by slot: each
// step of a walk helps the tail (head) along, so how far it moved counts the steps, and
// a walk of the whole ring costs O(capacity) (60 ms at 2^20 slots).
test('a Queue ring of crafted sequences is refused at once: tryPut and tryGet do not walk the ring', async (t) => {
  const { Queue, SharedMemory } = await import('shmkit');
  const HEADER = 64, SLOTS = 192, capacity = 1024, size = 8, stride = 16 + size;
  const every = (seq) => (w) => { for (let i = 0; i < capacity; i++) w[(SLOTS + i * stride) / 4] = seq(i); };
  const cases = {
    'every slot free for the next lap': every((i) => (i + capacity) << 2),
    'every slot published for the next lap': every((i) => ((i + capacity) << 2) + 2),
    'every slot being read at the next lap': every((i) => ((i + capacity) << 2) + 3),
    'every slot far ahead': every(() => 0x3fffffff),
    'every slot free two laps on': every((i) => (i + 2 * capacity) << 2),
  };
  for (const [what, craft] of Object.entries(cases)) {
    for (const op of ['tryPut', 'tryGet']) {
      const q = Queue.create({ name: uniqueName(t), capacity, maxMessageSize: size });
      const raw = SharedMemory.open(q.name);
      try {
        const w = new Int32Array(raw.buffer, HEADER);
        craft(w);
        let outcome;
        try { outcome = op === 'tryPut' ? q.tryPut('x') : q.tryGet(); } catch (e) { outcome = e.code ?? e.message; }
        assert.equal(outcome, 'ERR_SHMKIT_CORRUPT', `${what}, ${op}`);
        assert.ok(w[0] < 64 && w[16] < 64, `${what}, ${op}: walked the ring (head ${w[0]}, tail ${w[16]})`);
      } finally {
        raw.close();
        q.close();
      }
    }
  }
});

test('impossible words (Queue capacity, size, codec; Barrier parties, arrivals; Pipe ring size) are ERR_SHMKIT_CORRUPT naming the object, not a RangeError', async (t) => {
  const { Barrier, Queue, Pipe, SharedMemory } = await import('shmkit');
  const corrupt = (name) => (e) => e.code === 'ERR_SHMKIT_CORRUPT' && e.message.includes(name);
  // [make, payload word, value, what to call after the write]
  const cases = [
    ...[[37, 2 ** 30], [38, 2 ** 30], [37, 3], [37, 0], [38, 0], [39, 9]].map(([word, value]) =>
      [(name) => Queue.create({ name, capacity: 4, maxMessageSize: 64 }), word, value, (name) => Queue.open(name)]),
    ...[0, -1, 3, 70000].map((value) =>
      [(name) => Barrier.create({ name, parties: 2 }), 5, value, (name) => Barrier.open(name)]),
    ...[-1, 2, 0x7fffffff].map((value) =>
      [(name) => Barrier.create({ name, parties: 2 }), 2, value, (name, made) => made.wait({ timeout: 10 })]),
    ...[0, -8, 12, 0x7ffffff8].map((value) =>
      [(name) => Pipe.create({ name, capacity: 2, maxMessageSize: 8 }), 5, value, (name) => Pipe.open(name)]),
  ];
  for (const [make, word, value, use] of cases) {
    const made = make(uniqueName(t));
    const raw = SharedMemory.open(made.name);
    try {
      new Int32Array(raw.buffer, 64)[word] = value;
      // Twice: a refused open leaves nothing claimed (a Pipe's opening end stays free).
      for (let k = 0; k < 2; k++) assert.throws(() => use(made.name, made), corrupt(made.name), `${made.constructor.name} word ${word} = ${value} (${k})`);
    } finally {
      raw.close();
      made.close(); // close() ends the object whatever its words say
      assert.equal(made.closed, true);
    }
  }
});

test('flag words a peer set to values no operation writes: a lock word with flags and no owner is free; an ended word of 2 is ended everywhere', async (t) => {
  const { Lock, Queue, SharedMemory } = await import('shmkit');
  const lock = Lock.create({ name: uniqueName(t) });
  const q = Queue.create({ name: uniqueName(t), capacity: 4, maxMessageSize: 8 });
  const raws = [SharedMemory.open(lock.name), SharedMemory.open(q.name)];
  t.after(() => { for (const x of [lock, q, ...raws]) x.close(); });
  const lockWord = new Int32Array(raws[0].buffer, 64, 1);
  lockWord[0] = 1 << 31; // the waiters bit, no owner: nobody would ever release it
  assert.equal(lock.tryAcquire(), true, 'tryAcquire takes it');
  lock.release();
  lockWord[0] = 1 << 31;
  assert.equal(lock.acquire({ timeout: 100 }), true, 'acquire takes it');
  lock.release();
  new Int32Array(raws[1].buffer, 64)[32] = 2; // ended, as any non-zero value
  const t0 = performance.now();
  assert.throws(() => q.tryGet(), (e) => e.code === 'ERR_SHMKIT_QUEUE_ENDED');
  await assert.rejects(q.getAsync({ timeout: 200 }), (e) => e.code === 'ERR_SHMKIT_QUEUE_ENDED');
  assert.equal(q.ended, true);
  assert.ok(performance.now() - t0 < 150, 'at once, not after the time-out');
});

test('an Event whose flag word a peer set to 2 reads as set everywhere: isSet(), wait(), inspect agree', async (t) => {
  const { Event, SharedMemory } = await import('shmkit');
  const shm = SharedMemory.create({ name: uniqueName(t), size: 64 });
  t.after(() => shm.close());
  const ev = Event.at(shm, 0);
  new Int32Array(shm.buffer, 0, 1)[0] = 2;
  assert.deepEqual([ev.isSet(), ev.wait({ timeout: 0 })], [true, true]);
  ev.clear();
  assert.deepEqual([ev.isSet(), ev.wait({ timeout: 0 })], [false, false]);
});

test('a SIGBUS sent by a process (kill -BUS) is not taken for a fault of a copy: the process dies of it as without shmkit', { skip: why }, async (t) => {
  const r = await runNode(`${CHILD}
    const shm = SharedMemory.create({ name: args.name, size: 4096, unlinkOnExit: true });
    shm.read(0, 8); // the guard's handler is installed
    process.kill(process.pid, 'SIGBUS');
    console.log('survived');`, { args: { name: uniqueName(t) }, timeout: 10_000,
    env: { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'handle_sigbus=0'].filter(Boolean).join(':') } });
  assert.equal(r.signal, 'SIGBUS', `${r.signal} ${r.code} ${r.stdout}`);
});
