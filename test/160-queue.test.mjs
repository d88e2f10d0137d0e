// Queue across processes: exactly-once delivery and per-producer order under load,
// SIGKILLed producers and consumers, the async forms, end(), and bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lock, Queue, SharedArray, SharedMemory } from 'shmkit';
import { CHILD, assertKilled, assertOk, isWindows, runNode, uniqueName, until } from './helpers.mjs';

const code = (c) => (e) => {
  assert.equal(e.code, c, e.message);
  return true;
};

// A producer sends N messages [producer, index (uint32 LE), random padding]; a consumer
// marks each one in a shared array of counts and checks per-producer order as it goes.
const PRODUCER = `${CHILD}
  import { Queue } from 'shmkit';
  const q = Queue.open(args.queue);
  const progress = SharedArray.open(args.progress).array;
  for (let i = 0; i < args.n; i++) {
    const m = new Uint8Array(5 + ((i * 2654435761) >>> 0) % 200);
    m[0] = args.p;
    new DataView(m.buffer).setUint32(1, i, true);
    q.put(m);
    Atomics.store(progress, args.p, i + 1);
  }`;
const CONSUMER = `${CHILD}
  import { Queue } from 'shmkit';
  const q = Queue.open(args.queue);
  const seen = SharedArray.open(args.seen).array;
  const progress = SharedArray.open(args.progress).array;
  const last = [-1, -1, -1];
  let disorder = 0, got = 0;
  for (;;) {
    let m;
    try { m = args.async ? await q.getAsync() : q.get(); } catch (e) { if (e.code === 'ERR_SHMKIT_QUEUE_ENDED') break; throw e; }
    const p = m[0], i = new DataView(m.buffer, m.byteOffset).getUint32(1, true);
    if (i <= last[p]) disorder++;
    last[p] = i;
    Atomics.add(seen, p * args.n + i, 1);
    Atomics.add(progress, 3 + args.c, 1);
    got++;
  }
  console.log(JSON.stringify({ disorder, got }));`;

function pipeline(t, n) {
  const queue = Queue.create({ name: uniqueName(t), capacity: 256, maxMessageSize: 256 });
  const seen = SharedArray.create({ name: uniqueName(t), type: 'uint8', length: 3 * n });
  const progress = SharedArray.create({ name: uniqueName(t), type: 'int32', length: 6 }); // sent per producer, got per consumer
  t.after(() => { queue.close(); seen.close(); progress.close(); });
  const args = { queue: queue.name, seen: seen.name, progress: progress.name, n };
  const kids = {};
  const consumers = [0, 1, 2].map((c) => runNode(CONSUMER, { args: { ...args, c, async: c === 1 }, timeout: 120_000, onSpawn: (k) => (kids[`c${c}`] = k) }));
  const producers = [0, 1, 2].map((p) => runNode(PRODUCER, { args: { ...args, p }, timeout: 120_000, onSpawn: (k) => (kids[`p${p}`] = k) }));
  return { queue, seen, progress, consumers, producers, kids };
}

test('3 producers × 3 consumers × 100,000 messages of random sizes: each delivered once, in order per producer', async (t) => {
  const n = 100_000;
  const { queue, seen, consumers, producers } = pipeline(t, n);
  for (const p of await Promise.all(producers)) assertOk(p);
  queue.end();
  const outs = (await Promise.all(consumers)).map((c) => JSON.parse(assertOk(c).stdout));
  assert.equal(outs.reduce((a, o) => a + o.got, 0), 3 * n);
  assert.deepEqual(outs.map((o) => o.disorder), [0, 0, 0]);
  const counts = seen.array;
  let wrong = 0;
  for (let k = 0; k < counts.length; k++) if (counts[k] !== 1) wrong++;
  assert.equal(wrong, 0, 'messages not delivered exactly once');
});

test('a producer and a consumer SIGKILLed mid-run: the rest finish, nothing is duplicated, at most one message per killed process is lost', async (t) => {
  const n = 60_000;
  const { queue, seen, progress, consumers, producers, kids } = pipeline(t, n);
  await until(() => Atomics.load(progress.array, 0) > n / 3 && Atomics.load(progress.array, 3) > n / 10, 60_000, 'a third of the way');
  kids.p0.kill('SIGKILL');
  kids.c0.kill('SIGKILL');
  const [p0, p1, p2] = await Promise.all(producers);
  assertKilled(p0);
  assertOk(p1);
  assertOk(p2);
  queue.end();
  const [c0, c1, c2] = await Promise.all(consumers);
  assertKilled(c0);
  const outs = [c1, c2].map((c) => JSON.parse(assertOk(c).stdout));
  assert.deepEqual(outs.map((o) => o.disorder), [0, 0]);
  const counts = seen.array;
  let duplicated = 0;
  let missing = 0;
  let maxSeen0 = -1;
  for (let i = 0; i < n; i++) if (counts[i] > 0) maxSeen0 = i;
  for (let k = 0; k < counts.length; k++) {
    if (counts[k] > 1) duplicated++;
    const p = Math.floor(k / n);
    const i = k % n;
    if (counts[k] === 0 && (p > 0 || i <= maxSeen0)) missing++;
  }
  t.diagnostic(`producer 0 got to ${maxSeen0 + 1} messages before its kill; ${missing} lost in all`);
  assert.equal(duplicated, 0);
  assert.ok(missing <= 2, `${missing} messages lost; at most one per killed process may be`);
  assert.ok(maxSeen0 >= n / 3 - 1 - queue.capacity, 'the killed producer\'s messages up to its death were delivered');
});

test('async forms, time-outs, abort, end(), and codecs', async (t) => {
  const q = Queue.create({ name: uniqueName(t), capacity: 2, maxMessageSize: 64 });
  t.after(() => q.close());
  assert.equal(q.get({ timeout: 20 }), undefined);
  assert.equal(await q.getAsync({ timeout: 20 }), undefined);
  assert.equal(q.tryGet(), undefined);
  assert.equal(q.put('a'), true);
  assert.equal(await q.putAsync(new Uint8Array([1, 2])), true);
  assert.equal(q.full, true);
  assert.equal(q.tryPut('c'), false);
  assert.equal(q.put('c', { timeout: 20 }), false);
  assert.equal(await q.putAsync('c', { timeout: 20 }), false);
  const ac = new AbortController();
  const blocked = q.putAsync('c', { signal: ac.signal });
  ac.abort();
  await assert.rejects(blocked, { name: 'AbortError' });
  // A consumer in another process drains; our pending putAsync gets room.
  const pending = q.putAsync({ structured: [1, 'two', 3n] }, { timeout: 10_000 });
  const consumer = assertOk(await runNode(`${CHILD}
    import { Queue } from 'shmkit';
    const q = Queue.open(args.name);
    const out = [];
    for await (const m of q) out.push(m instanceof Uint8Array ? [...m] : m);
    console.log(JSON.stringify(out, (k, v) => typeof v === 'bigint' ? v + 'n' : v));`, {
    args: { name: q.name },
    onSpawn: () => setTimeout(async () => { await pending; q.end(); }, 200),
  }));
  assert.equal(await pending, true);
  assert.deepEqual(JSON.parse(consumer.stdout), ['a', [1, 2], { structured: [1, 'two', '3n'] }]);
  assert.equal(q.ended, true);
  assert.throws(() => q.put('x'), code('ERR_SHMKIT_QUEUE_ENDED'));
  assert.throws(() => q.get(), code('ERR_SHMKIT_QUEUE_ENDED'));
  await assert.rejects(q.getAsync(), code('ERR_SHMKIT_QUEUE_ENDED'));
  const strings = Queue.create({ name: uniqueName(t), capacity: 4, codec: 'string', maxMessageSize: 16 });
  t.after(() => strings.close());
  strings.put('héllo wörld');
  assert.equal(strings.get(), 'héllo wörld');
  assert.throws(() => strings.put(new Uint8Array(1)), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => strings.put('ü'.repeat(9)), code('ERR_OUT_OF_RANGE'), '18 bytes of UTF-8 > 16');
  const bytes = Queue.create({ name: uniqueName(t), capacity: 4, codec: 'bytes' });
  t.after(() => bytes.close());
  bytes.put(new Float64Array([1.5]));
  assert.equal(new Float64Array(bytes.get().buffer)[0], 1.5);
  assert.throws(() => bytes.put('text'), code('ERR_INVALID_ARG_TYPE'));
});

test('bad input: capacities, sizes, codecs, unserializable values, wrong kinds', (t) => {
  const name = uniqueName(t);
  assert.throws(() => Queue.create({ name, capacity: 0 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => Queue.create({ name, capacity: 2 ** 30 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => Queue.create({ name, capacity: 1.5 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => Queue.create({ name, capacity: 2 ** 24 }), code('ERR_OUT_OF_RANGE'), '16M slots of 64 KiB: too large to set up');
  assert.throws(() => Queue.create({ name, capacity: '8' }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => Queue.create({ name, capacity: 8, maxMessageSize: 0 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => Queue.create({ name, capacity: 8, codec: 'json' }), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => Queue.create({ name }), code('ERR_INVALID_ARG_TYPE'));
  assert.equal(SharedMemory.exists(name), false);
  const q = Queue.create({ name, capacity: 4, maxMessageSize: 32 });
  t.after(() => q.close());
  assert.throws(() => q.put(new Uint8Array(33)), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => q.put(() => 1), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => q.put(Symbol('s')), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => q.put(undefined), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => q.put('\uD800'), code('ERR_INVALID_ARG_VALUE'));
  assert.equal(q.size, 0, 'nothing refused got in');
  assert.throws(() => SharedArray.open(q.name), code('ERR_SHMKIT_KIND'));
  const arr = SharedArray.create({ name: uniqueName(t), type: 'int8', length: 1 });
  t.after(() => arr.close());
  assert.throws(() => Queue.open(arr.name), code('ERR_SHMKIT_KIND'));
});

/** The owner id (docs/memory-layout.md) of a thread that no longer exists. */
async function deadOwnerId(t) {
  const lock = Lock.create({ name: uniqueName(t) });
  t.after(() => lock.close());
  const r = await runNode(`${CHILD} Lock.open(args.name).acquire(); process.kill(process.pid, 'SIGKILL');`, { args: { name: lock.name } });
  assertKilled(r);
  const raw = SharedMemory.open(lock.name);
  const id = new Int32Array(raw.buffer, 64, 1)[0] & 0x3fffffff;
  raw.close();
  return id;
}

test('a slot left mid-put or mid-get by a dead process is recovered (the documented slot protocol)', async (t) => {
  const dead = await deadOwnerId(t);
  const q = Queue.create({ name: uniqueName(t), capacity: 4, maxMessageSize: 8 });
  t.after(() => q.close());
  const raw = SharedMemory.open(q.name);
  t.after(() => raw.close());
  const w = new Int32Array(raw.buffer, 64);
  const slot = (pos) => 48 + (pos & 3) * (4 + 2);
  // A writer claimed position 0 and died before publishing.
  w[slot(0)] = (0 << 2) + 1;
  w[slot(0) + 1] = dead;
  q.put('after');
  let t0 = performance.now();
  assert.equal(q.get({ timeout: 5000 }), 'after', 'the tombstone was skipped');
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(w[0], 2, 'head moved past both positions');
  // Fill the ring; a reader claims the oldest message and dies before releasing it.
  for (const m of ['a', 'b', 'c', 'd']) q.put(m);
  const head = w[0];
  w[slot(head)] = (head << 2) + 3;
  w[slot(head) + 1] = dead; // the claimant half of the claim word
  t0 = performance.now();
  assert.equal(await q.putAsync('e', { timeout: 5000 }), true, 'room was freed');
  assert.ok(performance.now() - t0 < 1000);
  assert.deepEqual([q.get(), q.get(), q.get(), q.get()], ['b', 'c', 'd', 'e'], 'only the message in flight was lost');
});

test('a put that cannot encode and a get that cannot decode are errors to that caller; the queue works on for every process', async (t) => {
  const q = Queue.create({ name: uniqueName(t), capacity: 4, maxMessageSize: 256 });
  t.after(() => q.close());
  const buffer = new ArrayBuffer(8);
  const view = new Uint8Array(buffer);
  structuredClone(buffer, { transfer: [buffer] }); // detaches it
  assert.throws(() => q.put(view, { timeout: 100 }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
  assert.equal(q.size, 0);
  // A structured-clone message this Node cannot read (as from a newer one): its header's
  // version byte says 255.
  q.put({ from: 'the future' });
  const raw = SharedMemory.open(q.name);
  t.after(() => raw.close());
  new Uint8Array(raw.buffer, 64 + 192 + 16, 1)[0] = 0xff; // slot 0's first message byte
  new Uint8Array(raw.buffer, 64 + 192 + 17, 1)[0] = 0xff;
  assert.throws(() => q.get({ timeout: 100 }), (e) => e.code === 'ERR_SHMKIT_DECODE' && e.bytes instanceof Uint8Array);
  assert.equal(q.size, 0, 'the message was taken off and its slot freed');
  // Every slot is usable again, from this process and another.
  for (let i = 0; i < 4; i++) assert.equal(q.put(`m${i}`, { timeout: 1000 }), true);
  const r = await runNode(`${CHILD} import { Queue } from 'shmkit'; const q = Queue.open(args.name);
    const got = [0, 1, 2, 3].map(() => q.get({ timeout: 1000 })); q.put('back'); console.log(JSON.stringify(got));`, { args: { name: q.name } });
  assertOk(r);
  assert.deepEqual(JSON.parse(r.stdout), ['m0', 'm1', 'm2', 'm3']);
  assert.equal(q.get({ timeout: 1000 }), 'back');
});

test('a producer paused (SIGSTOP) in the middle of putting 1 MB messages, again and again, loses nothing', { skip: isWindows && 'POSIX signals' }, async (t) => {
  const q = Queue.create({ name: uniqueName(t), capacity: 4, maxMessageSize: 1 << 20 });
  t.after(() => q.close());
  const count = 120;
  let child;
  const producer = runNode(`${CHILD} import { Queue } from 'shmkit'; const q = Queue.open(args.name);
    const m = new Uint8Array(1 << 20);
    for (let i = 0; i < args.count; i++) { m.fill(i & 0xff); new DataView(m.buffer).setUint32(0, i, true); q.put(m); }
    console.log('done');`, { args: { name: q.name, count }, timeout: 60_000, onSpawn: (c) => (child = c) });
  // Pauses at moments the consumer does not choose (it takes one message, then stops the
  // producer, which is then mostly inside a 1 MB copy): one of 3 s, then short ones.
  const got = [];
  let paused = 0;
  while (got.length < count) {
    const m = await q.getAsync({ timeout: 10_000 });
    assert.ok(m instanceof Uint8Array, `message ${got.length} arrived`);
    const i = new DataView(m.buffer, m.byteOffset).getUint32(0, true);
    assert.ok(m[m.length - 1] === (i & 0xff), 'whole');
    got.push(i);
    if (got.length % 20 === 5 && paused < 5) {
      child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, paused === 0 ? 3000 : 400)); // the pause itself
      child.kill('SIGCONT');
      paused++;
    }
  }
  assertOk(await producer);
  assert.deepEqual(got, [...Array(count).keys()], 'every message exactly once, in order');
  assert.equal(q.size, 0);
});
