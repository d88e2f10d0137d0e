// SharedMap: the Map API and its atomic helpers; values of every type; limits (entries,
// bytes, key and value sizes), ttl, eviction, reuse of space; readers in other processes
// never see a torn value; four writer processes agree with a sequential model; a writer
// SIGKILLed at random moments leaves a map that passes its invariant check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedMap } from 'shmkit';
import { runNode, uniqueName } from './helpers.mjs';

const make = (t, options = {}) => {
  const m = SharedMap.create({ name: uniqueName(t), ...options });
  t.after(() => m.close());
  return m;
};

test('Map API: every value type round-trips, from another process too', async (t) => {
  const m = make(t);
  const values = {
    n: 1.5, i: -7, nan: NaN, negz: -0, big: -(2n ** 63n), huge: 2n ** 70n, t: true, f: false, nul: null, und: undefined,
    s: 'hello', u: 'héllo wörld ✓', lone: 'a\ud800b', empty: '', bytes: new Uint8Array([0, 1, 255]), obj: { a: [1, { b: 2n }], d: new Date(5) },
    map: new Map([[1, 2]]), f32: new Float32Array([1.5]),
  };
  for (const [k, v] of Object.entries(values)) assert.equal(m.set(k, v), m);
  for (const [k, v] of Object.entries(values)) assert.deepEqual(m.get(k), v, k);
  assert.ok(Object.is(m.get('negz'), -0));
  assert.equal(m.size, Object.keys(values).length);
  assert.equal(m.has('und'), true, 'undefined is a value');
  assert.equal(m.has('nope'), false);
  assert.equal(m.get('nope'), undefined);
  assert.deepEqual(new Set(m.keys()), new Set(Object.keys(values)));
  assert.equal([...m].length, m.size);
  let seen = 0;
  m.forEach((v, k, map) => { assert.equal(map, m); assert.deepEqual(v, values[k]); seen++; });
  assert.equal(seen, m.size);
  assert.equal(m.delete('s'), true);
  assert.equal(m.delete('s'), false);
  const r = await runNode(`
    import { SharedMap } from 'shmkit';
    const m = SharedMap.open(JSON.parse(process.env.SHMKIT_TEST_ARGS).name);
    console.log(JSON.stringify([m.get('u'), m.get('i'), String(m.get('big')), m.get('obj').a[1].b === 2n, m.get('s'), m.size]));
    m.set('child', 'was here');
    m.close();`, { args: { name: m.name } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), ['héllo wörld ✓', -7, String(-(2n ** 63n)), true, null, Object.keys(values).length - 1]);
  assert.equal(m.get('child'), 'was here');
  assert.deepEqual(m.check(), []);
});

test('add, update, setIfAbsent, compareAndSet', (t) => {
  const m = make(t);
  assert.equal(m.add('c'), 1);
  assert.equal(m.add('c', 2.5), 3.5);
  assert.equal(m.add('b', 5n), 5n);
  assert.equal(m.add('b', -7n), -2n);
  assert.throws(() => m.add('b', 1), { code: 'ERR_INVALID_ARG_TYPE' });
  m.set('s', 'x');
  assert.throws(() => m.add('s', 1), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.get('s'), 'x');
  assert.equal(m.update('c', (v) => v * 2), 7);
  assert.deepEqual(m.update('new', (v) => [v]), [undefined]);
  assert.throws(() => m.update('c', () => { throw new Error('no'); }), /no/);
  assert.equal(m.get('c'), 7, 'a throwing fn changes nothing');
  assert.throws(() => m.update('c', () => m.get('c') + m.set('x', 1)), { code: 'ERR_SHMKIT_DEADLOCK' });
  assert.equal(m.setIfAbsent('c', 0), false);
  assert.equal(m.setIfAbsent('d', 0), true);
  assert.equal(m.get('d'), 0);
  assert.equal(m.compareAndSet('d', 1, 'no'), false);
  assert.equal(m.compareAndSet('d', 0, 'yes'), true);
  assert.equal(m.compareAndSet('d', 'yes', new Uint8Array([1])), true);
  assert.equal(m.compareAndSet('d', new Uint8Array([1]), 5n), true);
  assert.equal(m.compareAndSet('d', 5, { o: 1 }), true, 'a bigint equals the number of its value');
  assert.equal(m.compareAndSet('d', { o: 1 }, 'done'), true, 'structured values by their bytes');
  assert.equal(m.compareAndSet('missing', undefined, 1), false);
  assert.equal(m.get('d'), 'done');
  assert.deepEqual(m.check(), []);
});

test('bad keys, values and options are coded errors; a read-only handle reads and refuses writes', (t) => {
  const m = make(t);
  for (const key of [1, null, undefined, {}, Symbol('k')]) assert.throws(() => m.set(key, 1), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.get('\ud800'), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => m.set('k'.repeat(65536), 1), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => m.set('é'.repeat(32768), 1), { code: 'ERR_OUT_OF_RANGE' });
  m.set('k'.repeat(65535), 'longest key');
  assert.equal(m.get('k'.repeat(65535)), 'longest key');
  for (const v of [() => 1, Symbol('v'), { f() {} }]) assert.throws(() => m.set('k', v), { code: 'ERR_INVALID_ARG_VALUE' });
  for (const ttl of [0, -1, NaN, Infinity]) assert.throws(() => m.set('k', 1, { ttl }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => m.set('k', 1, { ttl: '5' }), { code: 'ERR_INVALID_ARG_TYPE' });
  for (const o of [{ maxEntries: 0 }, { maxEntries: 2 ** 23 }, { maxBytes: 8 }, { maxBytes: 2 ** 31 }]) {
    assert.throws(() => SharedMap.create(o), { code: 'ERR_OUT_OF_RANGE' }, JSON.stringify(o));
  }
  assert.throws(() => SharedMap.create({ eviction: 'fifo' }), { code: 'ERR_INVALID_ARG_VALUE' });
  m.set('a', 1);
  const r = SharedMap.open(m.name, { readOnly: true });
  t.after(() => r.close());
  assert.equal(r.get('a'), 1);
  for (const f of [() => r.set('a', 2), () => r.add('a'), () => r.delete('a'), () => r.clear(), () => r.update('a', (v) => v)]) {
    assert.throws(f, { code: 'ERR_SHMKIT_READ_ONLY' });
  }
  m.set('a', 3);
  assert.equal(r.get('a'), 3);
  r.close();
  assert.throws(() => r.get('a'), { code: 'ERR_SHMKIT_CLOSED' });
});

test('full: entries and bytes each say what is full; a value at the byte limit fits; deleted space is reused', (t) => {
  const m = make(t, { maxEntries: 4, maxBytes: 4096 });
  for (let i = 0; i < 4; i++) m.set(`k${i}`, i);
  assert.throws(() => m.set('k4', 4), (e) => e.code === 'ERR_SHMKIT_FULL' && /maxEntries/.test(e.message));
  m.set('k0', 'replacing is not adding');
  m.delete('k0');
  m.set('k4', 4);
  const b = make(t, { maxEntries: 16, maxBytes: 4096 });
  assert.throws(() => b.set('big', new Uint8Array(4096)), (e) => e.code === 'ERR_SHMKIT_FULL' && /maxBytes/.test(e.message));
  b.set('big', new Uint8Array(4096 - 32 - 3)); // head + key + value: exactly the arena
  assert.equal(b.get('big').length, 4061);
  assert.throws(() => b.set('x', 1), (e) => e.code === 'ERR_SHMKIT_FULL' && /maxBytes/.test(e.message));
  b.delete('big');
  for (let i = 0; i < 16; i++) b.set(`s${i}`, 'v'.repeat(100)); // the big block's space, carved again once empty
  assert.deepEqual(b.check(), []);
});

test('a million overwrites of one key (values of changing sizes) do not fill the map', (t) => {
  const m = make(t, { maxEntries: 4, maxBytes: 8192 });
  for (let i = 0; i < 1_000_000; i++) m.set('one', i % 7 === 1 ? 'v'.repeat(i % 200) : i);
  assert.equal(m.get('one'), 999_999);
  assert.ok(m.bytesUsed <= 256, `bytes used ${m.bytesUsed}`);
  assert.deepEqual(m.check(), []);
});

test('ttl: an entry is gone once its time passes, and its room is taken back when the map is full', async (t) => {
  const m = make(t, { maxEntries: 2 });
  m.set('short', 1, { ttl: 30 });
  m.set('long', 2, { ttl: 60_000 });
  assert.equal(m.get('short'), 1);
  assert.equal(m.size, 2);
  const until = Date.now() + 31;
  while (Date.now() < until) await new Promise((r) => setTimeout(r, until - Date.now()));
  assert.equal(m.get('short'), undefined);
  assert.equal(m.has('short'), false);
  assert.equal(m.size, 1);
  assert.deepEqual([...m.keys()], ['long']);
  m.set('third', 3); // full by count: the expired entry makes room
  assert.equal(m.get('third'), 3);
  assert.equal(m.add('long', 1), 3);
  assert.deepEqual(m.check(), []);
});

test("eviction 'lru': a full map drops an entry not read lately, and keeps one read since the hand passed", (t) => {
  const m = make(t, { maxEntries: 4, eviction: 'lru' });
  for (let i = 0; i < 4; i++) m.set(`k${i}`, i);
  m.set('k4', 4); // entries start unread: the hand takes the first it meets
  assert.equal(m.size, 4);
  const hot = [...m.keys()][0]; // read before each write below, and only it
  for (let i = 5; i < 40; i++) {
    m.get(hot);
    m.set(`k${i}`, i);
    assert.equal(m.size, 4);
  }
  assert.equal(m.get(hot) !== undefined, true, 'an entry read between writes is never the one evicted');
  const bytes = make(t, { maxEntries: 64, maxBytes: 2048, eviction: 'lru' });
  for (let i = 0; i < 200; i++) bytes.set(`b${i}`, 'x'.repeat(100));
  assert.ok(bytes.size > 5 && bytes.size < 20, `size ${bytes.size}`);
  assert.deepEqual(bytes.check(), []);
  assert.deepEqual(m.check(), []);
});

test('a reader process during 20,000 overwrites of one key with values of different lengths never sees a torn value', async (t) => {
  const m = make(t, { maxEntries: 8, maxBytes: 1 << 16 });
  m.set('k', 'start');
  m.set('go', 0);
  const reader = runNode(`
    import { SharedMap } from 'shmkit';
    const m = SharedMap.open(JSON.parse(process.env.SHMKIT_TEST_ARGS).name);
    m.set('go', 1);
    let reads = 0, bad = 0, changes = 0, last;
    while (m.get('go') !== 2) {
      const v = m.get('k');
      reads++;
      if (v !== last) changes++;
      last = v;
      if (v === 'start') continue;
      // "<n>:" then n times the character (n mod 26)
      const [n, body] = [Number(v.slice(0, v.indexOf(':'))), v.slice(v.indexOf(':') + 1)];
      if (body.length !== n || body !== String.fromCharCode(97 + (n % 26)).repeat(n)) bad++;
    }
    console.log(JSON.stringify({ reads, bad, changes }));
    m.close();`, { args: { name: m.name }, timeout: 60_000 });
  while (m.get('go') !== 1) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 20_000; i++) {
    const n = (i * 7919) % 300;
    m.set('k', `${n}:${String.fromCharCode(97 + (n % 26)).repeat(n)}`);
    if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
  }
  m.set('go', 2);
  const r = await reader;
  assert.equal(r.code, 0, r.stderr);
  const { reads, bad, changes } = JSON.parse(r.stdout);
  assert.equal(bad, 0, `${bad} torn values in ${reads} reads`);
  assert.ok(changes > 10, `the reader saw the value change (${changes} times in ${reads} reads)`);
  assert.deepEqual(m.check(), []);
});

// Each writer owns keys w<i>-<k> (set, delete, compareAndSet, update: its own sequential
// model says what they end as) and shares counters (add: they end as the sum).
test('four writer processes on disjoint and shared keys: the map ends as a sequential model of their operations', async (t) => {
  const m = make(t, { maxEntries: 1024, maxBytes: 1 << 20 });
  const rounds = 3000;
  const writers = Array.from({ length: 4 }, (_, w) => runNode(`
    import { SharedMap } from 'shmkit';
    const { name, w, rounds } = JSON.parse(process.env.SHMKIT_TEST_ARGS);
    const m = SharedMap.open(name);
    const model = {};
    let seed = w + 1;
    const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    for (let i = 0; i < rounds; i++) {
      const k = 'w' + w + '-' + rnd(40);
      switch (rnd(5)) {
        case 0: m.set(k, 'v'.repeat(rnd(50)) + i); model[k] = 'v'.repeat(0) + m.get(k); break;
        case 1: m.delete(k); delete model[k]; break;
        case 2: if (m.compareAndSet(k, model[k], i)) model[k] = i; break;
        case 3: model[k] = m.update(k, (v) => (typeof v === 'number' ? v + 1 : 0)); break;
        case 4: m.add('shared-' + rnd(3), 1); m.add('total', 1n); break;
      }
    }
    console.log(JSON.stringify(model));
    m.close();`, { args: { name: m.name, w, rounds }, timeout: 60_000 }));
  const results = await Promise.all(writers);
  const expected = {};
  let adds = 0;
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    Object.assign(expected, JSON.parse(r.stdout));
  }
  for (const [k, v] of m) {
    if (k.startsWith('shared-')) adds += v;
    else if (k !== 'total') assert.deepEqual(v, expected[k], k);
  }
  assert.equal(BigInt(adds), m.get('total'), 'every add counted once');
  const own = [...m.keys()].filter((k) => k.startsWith('w'));
  assert.deepEqual(new Set(own), new Set(Object.keys(expected)));
  assert.equal(m.size, [...m].length);
  assert.deepEqual(m.check(), []);
});

// A writer that loops over every kind of write is SIGKILLed at a random moment (seeded),
// 100 times; after each kill the map passes its invariant check (which repairs first, as
// the next writer would), every value is one a writer wrote, and the map still works.
test('a writer SIGKILLed at random moments 100 times: the map checks sound, every value is one written, and it works', async (t) => {
  const seed = Number(process.env.SHMKIT_FUZZ_SEED ?? 20261203);
  let s = seed;
  const rnd = (n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
  const { SharedMemory } = await import('shmkit');
  // Four maps at once, 25 kills each: 100 kills in a quarter of the time.
  let dirty = 0;
  await Promise.all([0, 1, 2, 3].map(async (lane) => {
  const m = make(t, { maxEntries: 64, maxBytes: 8192, eviction: lane % 2 ? 'lru' : 'none' });
  const raw = SharedMemory.open(m.name);
  t.after(() => raw.close());
  const dirtyWord = new Int32Array(raw.buffer, 64 + 12, 1);
  const valid = (k, v) => typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && v === `${k}:${v.length}`.padEnd(v.length, 'x').slice(0, v.length))
    || (v instanceof Uint8Array && v.every((b) => b === v.length % 256)) || (typeof v === 'object' && v !== null && v.k === k);
  for (let kill = lane * 25; kill < lane * 25 + 25; kill++) {
    let child;
    const run = runNode(`
      import { SharedMap } from 'shmkit';
      const { name, seed } = JSON.parse(process.env.SHMKIT_TEST_ARGS);
      const m = SharedMap.open(name);
      let s = seed;
      const rnd = (n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
      const str = (k, n) => (k + ':' + n).padEnd(n, 'x').slice(0, n);
      console.log('ready');
      for (let i = 0; ; i++) {
        const k = 'k' + rnd(80);
        try {
          switch (rnd(8)) {
            case 0: case 1: { const n = 4 + rnd(300); m.set(k, str(k, Math.max(n, k.length + 4))); break; }
            case 2: m.set(k, new Uint8Array(rnd(200)).fill(0).map((_, j, a) => a.length % 256)); break;
            case 3: m.set(k, { k, i }); break;
            case 4: m.delete(k); break;
            case 5: m.add('n' + rnd(4), 1); break;
            case 6: m.set(k, i, { ttl: 1 + rnd(20) }); break;
            case 7: if (rnd(50) === 0) m.clear(); else m.update(k, (v) => (typeof v === 'number' ? v + 1 : 0)); break;
          }
        } catch (e) { if (e.code !== 'ERR_SHMKIT_FULL' && e.code !== 'ERR_INVALID_ARG_TYPE') throw e; }
      }`, { args: { name: m.name, seed: seed + kill }, timeout: 30_000, onSpawn: (c) => { child = c; }, onStdout: (d, c) => {
      if (String(d).includes('ready')) setTimeout(() => c.kill('SIGKILL'), rnd(40));
    } });
    const r = await run;
    assert.equal(r.signal, 'SIGKILL', `kill ${kill}: the writer ended by itself: ${r.stderr}`);
    void child;
    if (dirtyWord[0] !== 0) dirty++;
    assert.deepEqual(m.check(), [], `after kill ${kill}`);
    for (const [k, v] of m) assert.ok(valid(k, v), `after kill ${kill}: ${k} = ${String(v).slice(0, 60)}`);
    m.set('probe', kill);
    assert.equal(m.get('probe'), kill);
    m.delete('probe');
  }
  }));
  // The kills must land mid-change often enough for the test to mean something.
  assert.ok(dirty >= 3, `only ${dirty} of 100 kills left the map mid-change`); // 8 of 100 seen
});

test('review: a getter that uses a map while a value is prepared does not store under its key; an entry that can never fit evicts nothing', (t) => {
  const m = make(t, { maxEntries: 16, maxBytes: 2000, eviction: 'lru' });
  m.set('a', { get v() { m.has('bbbb'); return 1; } });
  assert.deepEqual(m.get('a'), { v: 1 });
  assert.equal(m.has('bbbb'), false);
  m.set('t', 1, { get ttl() { m.get('zzzz'); return 60_000; } });
  assert.equal(m.get('t'), 1);
  assert.deepEqual(m.check(), []);
  for (let i = 0; i < 10; i++) m.set(`k${i}`, i);
  const size = m.size;
  assert.throws(() => m.set('huge', new Uint8Array(1883 - 32 - 4)), { code: 'ERR_SHMKIT_FULL' });
  assert.equal(m.size, size, 'nothing evicted for an entry whose block exceeds maxBytes');
});

// Review, second round: each of these failed before its fix.
const rawOf = async (t, m) => {
  const { SharedMemory } = await import('shmkit');
  const raw = SharedMemory.open(m.name);
  t.after(() => raw.close());
  const w = new Int32Array(raw.buffer, 64); // the payload, after the 64-byte typed header
  // The arena is the payload's last maxBytes bytes (docs/memory-layout.md).
  return { raw, w, u8: new Uint8Array(raw.buffer, 64), arena: raw.size - 64 - m.maxBytes };
};

test('review: get and has write nothing in the arena, where a stale reader would write into memory a writer reused (lru)', async (t) => {
  const m = make(t, { maxEntries: 8, maxBytes: 4096, eviction: 'lru' });
  m.set('a', 'x'.repeat(40));
  m.set('b', 7);
  const { u8, arena } = await rawOf(t, m);
  const before = u8.slice(arena);
  assert.equal(m.get('a'), 'x'.repeat(40));
  assert.equal(m.has('b'), true);
  assert.deepEqual(u8.slice(arena), before, 'the arena is as the writer left it');
  // And the access bits still steer eviction: read 'a', fill the map, 'a' survives.
  for (let i = 0; i < 7; i++) m.set(`f${i}`, i);
  assert.equal(m.get('a'), 'x'.repeat(40));
  for (let i = 7; i < 14; i++) m.set(`f${i}`, i);
  assert.equal(m.has('a'), true, 'read since the hand last passed: kept');
  assert.deepEqual(m.check(), []);
});

test('review: a read-only handle waits out a writer rewriting memory instead of failing at once', async (t) => {
  const m = make(t, { maxEntries: 8 });
  m.set('a', 1);
  const { w } = await rawOf(t, m);
  const ro = SharedMap.open(m.name, { readOnly: true });
  t.after(() => ro.close());
  // A peer holds the epoch odd for 150 ms, as a writer does while it rewrites freed memory.
  let odd;
  const isOdd = new Promise((r) => { odd = r; });
  const peer = runNode(`
    import { SharedMemory } from 'shmkit';
    const raw = SharedMemory.open(JSON.parse(process.env.SHMKIT_TEST_ARGS).name);
    const w = new Int32Array(raw.buffer, 64);
    Atomics.add(w, 2, 1);
    console.log('odd');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
    Atomics.add(w, 2, 1);
    raw.close();`, { args: { name: m.name }, timeout: 10_000, onStdout: (d) => { if (String(d).includes('odd')) odd(); } });
  await isOdd;
  assert.equal(w[2] & 1, 1);
  const t0 = performance.now();
  assert.deepEqual([...ro.keys()], ['a']);
  assert.deepEqual([...ro.entries()], [['a', 1]]);
  assert.ok(performance.now() - t0 < 900, 'it waited for the peer, not for its own time limit');
  assert.equal((await peer).code, 0);
});

test('review: close() inside update\'s fn leaves the map usable by every other handle', async (t) => {
  const m = make(t);
  const other = SharedMap.open(m.name);
  t.after(() => other.close());
  // As libuv's uv_close from a callback: the update under way completes, then the handle closes.
  assert.equal(m.update('k', () => {
    m.close();
    assert.equal(m.closed, true);
    assert.throws(() => m.get('k'), { code: 'ERR_SHMKIT_CLOSED' });
    return 1;
  }), 1);
  assert.equal(m.closed, true);
  assert.throws(() => m.set('k', 0), { code: 'ERR_SHMKIT_CLOSED' });
  assert.equal(other.get('k'), 1);
  other.set('k', 2); // the lock must have been let go
  assert.equal(other.get('k'), 2);
  assert.deepEqual(other.check(), []);
});

test('review: a free list a peer made circular never hands one block to two entries', async (t) => {
  const m = make(t, { maxEntries: 16 });
  m.set('keep', 'k'.repeat(20));
  m.set('a', 'a'.repeat(20));
  m.delete('a');
  const { w, arena } = await rawOf(t, m);
  const k = [...w.subarray(16, 124)].findIndex((head) => head !== 0);
  assert.ok(k >= 0, 'a free block');
  const head = w[16 + k];
  w[arena / 4 + (head - 8) / 4 + 1] = head; // its link: itself
  m.set('b', 'b'.repeat(20));
  m.set('c', 'c'.repeat(20));
  assert.equal(m.get('b'), 'b'.repeat(20));
  assert.equal(m.get('c'), 'c'.repeat(20));
  assert.equal(m.get('keep'), 'k'.repeat(20));
  assert.deepEqual(m.check(), []);
});

test('review: an index slot a peer pointed at garbage is repaired by a reader that can write; a read-only one says what is wrong', async (t) => {
  const m = make(t, { maxEntries: 8 });
  m.set('a', 1);
  m.set('b', 2);
  const { w } = await rawOf(t, m);
  const base = 128 + (w[6] & 1) * 2 * w[7];
  let slot = -1;
  for (let i = 0; i < w[7]; i++) if (w[base + 2 * i + 1] > 1) { slot = i; break; }
  const ro = SharedMap.open(m.name, { readOnly: true });
  t.after(() => ro.close());
  w[base + 2 * slot + 1] = 0x7ffffff8; // far outside the arena
  assert.throws(() => { ro.get('a'); ro.get('b'); }, { code: 'ERR_SHMKIT_CORRUPT' });
  const got = [m.get('a'), m.get('b')];
  assert.ok(got.filter((v) => v === undefined).length === 1 && (got.includes(1) || got.includes(2)), `the damaged entry dropped, the other kept: ${got}`);
  assert.deepEqual(m.check(), []);
  m.set('a', 3);
  assert.equal(ro.get('a'), 3);
});

test('a writer paused (SIGSTOP) holding the map: readers go on at once, another writer waits, and both finish after SIGCONT', { skip: process.platform !== 'linux' && 'SIGSTOP, and /proc to see the writer stopped' }, async (t) => {
  const m = make(t, { maxEntries: 16 });
  m.set('k', 'before');
  const { w } = await rawOf(t, m);
  let paused;
  const child = runNode(`
    import { SharedMap } from 'shmkit';
    const m = SharedMap.open(JSON.parse(process.env.SHMKIT_TEST_ARGS).name);
    m.update('k', () => { process.kill(process.pid, 'SIGSTOP'); return 'after'; });
    console.log('done');`, { args: { name: m.name }, timeout: 30_000, onSpawn: (c) => { paused = c; } });
  t.after(() => paused.kill('SIGKILL'));
  // Stopped inside update's fn, the lock held (the map's Lock words are payload 0-1).
  const { readFileSync } = await import('node:fs');
  const state = () => { try { return readFileSync(`/proc/${paused.pid}/stat`, 'utf8').split(') ')[1][0]; } catch { return '?'; } };
  for (const end = Date.now() + 10_000; !(state() === 'T' && w[0] !== 0) && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
  assert.equal(state(), 'T', 'the writer is stopped');
  const t0 = performance.now();
  assert.equal(m.get('k'), 'before', 'a reader is not held up by a paused writer');
  assert.deepEqual([...m.keys()], ['k']);
  assert.ok(performance.now() - t0 < 100, `reads took ${performance.now() - t0} ms`);
  let settled = false;
  const other = runNode(`
    import { SharedMap } from 'shmkit';
    const m = SharedMap.open(JSON.parse(process.env.SHMKIT_TEST_ARGS).name);
    m.set('b', 1);
    console.log(JSON.stringify(m.check()));`, { args: { name: m.name }, timeout: 30_000 });
  other.then(() => { settled = true; });
  // The second writer is parked on the lock (its contended bit), not done.
  for (const end = Date.now() + 10_000; (w[0] & 0x80000000) === 0 && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
  assert.notEqual(w[0] & 0x80000000, 0, 'the other writer waits on the lock');
  assert.equal(settled, false);
  assert.equal(m.has('b'), false, 'nothing taken over from a live, paused writer');
  paused.kill('SIGCONT');
  const [a, b] = await Promise.all([child, other]);
  assert.match(a.stdout, /done/, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout.trim(), '[]');
  assert.deepEqual([m.get('k'), m.get('b')], ['after', 1]);
  assert.deepEqual(m.check(), []);
});
