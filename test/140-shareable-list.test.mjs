// ShareableList against real CPython, in both directions, with every Python 3.9+ on the
// machine; CPython's own test cases, ported; and hostile segments.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedMemory, ShareableList } from 'shmkit';
import { CHILD, assertOk, isWindows, noPython, pythons, runNode, runPython, uniqueName } from './helpers.mjs';

const code = (c) => (e) => {
  assert.equal(e.code, c, e.message);
  return true;
};


// Attach without CPython's resource tracker, which would unlink the list at exit.
const PY = `
import json, math, os, sys
from multiprocessing import shared_memory, resource_tracker
args = json.loads(os.environ['SHMKIT_TEST_ARGS'])
def attach(name):
    if sys.version_info >= (3, 13):
        return shared_memory.ShareableList(name=name)  # 3.13's ShareableList has no track flag; unregister below
    return shared_memory.ShareableList(name=name)
def untrack(sl):
    try:
        resource_tracker.unregister(sl.shm._name, 'shared_memory')
    except Exception:
        pass
def show(v):
    if isinstance(v, float):
        return ['float', 'nan' if math.isnan(v) else repr(v)]
    if isinstance(v, bool): return ['bool', v]
    if isinstance(v, int): return ['int', str(v)]
    if isinstance(v, str): return ['str', v]
    if isinstance(v, bytes): return ['bytes', list(v)]
    return ['None', None]
`;

/** What CPython's show() prints for a JavaScript value read from a list. */
function show(v) {
  if (v === null) return ['None', null];
  if (typeof v === 'boolean') return ['bool', v];
  if (typeof v === 'bigint') return ['int', String(v)];
  if (typeof v === 'string') return ['str', v];
  if (v instanceof Uint8Array) return ['bytes', [...v]];
  return ['number', Number.isNaN(v) ? 'nan' : Object.is(v, -0) ? '-0' : String(v)];
}

const PY_ITEMS = `[0, -1, 2**63 - 1, -2**63, 2**53 + 1, 1.5, -0.0, float('nan'), float('inf'), float('-inf'), 2.0,
  True, False, None, '', 'ascii', 'é', 'naïve 日本', 'a\\x00b', b'', b'\\x00\\x01\\xff', b'x' * 40, 'y' * 100]`;
const JS_EXPECTED = [0, -1, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, 1.5, -0, NaN, Infinity, -Infinity, 2,
  true, false, null, '', 'ascii', 'é', 'naïve 日本', 'a\0b', new Uint8Array(0), new Uint8Array([0, 1, 255]),
  new Uint8Array(40).fill(120), 'y'.repeat(100)];
// (Strings are chosen to fit the slots CPython sizes by characters; gh-88336, which cuts
// longer multibyte strings when CPython creates them, is shown by the documented example.)

for (const [version, python] of pythons()) {
  test(`CPython ${version} creates every item type; Node reads them exactly, writes new ones, and CPython reads those back`, async (t) => {
    const name = uniqueName(t);
    assertOk(await runPython(`${PY}
sl = shared_memory.ShareableList(${PY_ITEMS}, name=args['name'])
untrack(sl)
sl.shm.close()`, { args: { name }, python }));
    const sl = ShareableList.open(name);
    t.after(() => sl.close());
    assert.equal(sl.length, JS_EXPECTED.length);
    assert.deepEqual(sl.toArray().map(show), JS_EXPECTED.map(show));
    assert.equal(typeof sl.get(2), 'bigint', 'int64 max is a bigint');
    assert.equal(typeof sl.get(0), 'number', 'a small int is a number');
    // Write a value of each type (some changing the slot's type), keeping float/int identity.
    sl.set(0, 2.5);                        // int slot -> float
    sl.set(1, 7);                          // int stays int
    sl.set(5, 2);                          // float slot, integer value: stays a Python float
    sl.set(6, ShareableList.int(3));       // forced int
    sl.set(7, -(2n ** 63n));
    sl.set(8, null);
    sl.set(9, true);
    sl.set(10, 'päivä');                   // float slot -> str (7 bytes in the 8-byte slot)
    sl.set(14, 'x');                       // str '' slot (8 bytes)
    sl.set(15, new Uint8Array([1, 2, 3])); // str slot -> bytes
    sl.set(-1, '😀'.repeat(26));           // 104 bytes of UTF-8 in the 104-byte slot
    sl.set(-4, new Uint8Array([0, 0, 7])); // leading NULs are kept
    const back = assertOk(await runPython(`${PY}
sl = attach(args['name'])
untrack(sl)
print(json.dumps([show(v) for v in sl]))
print(sl.format)
sl.shm.close()`, { args: { name }, python }));
    const [items, format] = back.stdout.trim().split('\n');
    const got = JSON.parse(items);
    assert.deepEqual(got[0], ['float', '2.5']);
    assert.deepEqual(got[1], ['int', '7']);
    assert.deepEqual(got[5], ['float', '2.0'], 'a Python float stays a float');
    assert.deepEqual(got[6], ['int', '3']);
    assert.deepEqual(got[7], ['int', String(-(2n ** 63n))]);
    assert.deepEqual(got[8], ['None', null]);
    assert.deepEqual(got[9], ['bool', true]);
    assert.deepEqual(got[10], ['str', 'päivä']);
    assert.deepEqual(got[14], ['str', 'x']);
    assert.deepEqual(got[15], ['bytes', [1, 2, 3]]);
    assert.deepEqual(got[22], ['str', '😀'.repeat(26)]);
    assert.deepEqual(got[19], ['bytes', [0, 0, 7]]);
    assert.deepEqual(got[11], ['bool', true], 'untouched items unchanged');
    assert.equal(format, sl.format, 'both sides agree on the format');
    assert.equal(SharedMemory.exists(name), true, 'CPython attaching did not unlink the list');
  });

  test(`Node creates every item type; CPython ${version} reads them exactly and writes back`, async (t) => {
    const name = uniqueName(t);
    const sl = ShareableList.create({ name, items: JS_EXPECTED.concat([ShareableList.float(3), 'é'.repeat(9)]) });
    t.after(() => sl.close());
    const out = assertOk(await runPython(`${PY}
sl = attach(args['name'])
untrack(sl)
print(json.dumps([show(v) for v in sl]))
sl[0] = 1.25
sl[2] = 'ok'
sl[-1] = 'ü' * 12
sl.shm.close()`, { args: { name }, python }));
    const got = JSON.parse(out.stdout);
    const expected = JS_EXPECTED.map((v) => {
      if (v === null) return ['None', null];
      if (typeof v === 'boolean') return ['bool', v];
      if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0))) return ['int', String(v)];
      // (-0 can only be a float, so it is stored as one)
      if (typeof v === 'number') return ['float', Number.isNaN(v) ? 'nan' : Object.is(v, -0) ? '-0.0' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v)];
      if (typeof v === 'string') return ['str', v];
      return ['bytes', [...v]];
    });
    expected[10] = ['int', '2']; // the number 2 is written as an int unless tagged
    expected.push(['float', '3.0'], ['str', 'é'.repeat(9)]);
    assert.deepEqual(got, expected);
    assert.equal(sl.get(0), 1.25);
    assert.equal(sl.get(2), 'ok');
    assert.equal(sl.get(-1), 'ü'.repeat(12), 'a slot sized by UTF-8 bytes holds 12 two-byte characters');
    assert.equal(SharedMemory.exists(name), true, 'CPython attaching did not unlink the list');
  });
}

test('the documented example is byte-identical to CPython\'s', { skip: noPython }, async (t) => {
  const name = uniqueName(t);
  assertOk(await runPython(`${PY}
sl = shared_memory.ShareableList([7, 2.5, True, None, "hi", b"ab\\x00", "é"*9], name=args['name'])
untrack(sl)
sl.shm.close()`, { args: { name } }));
  const py = ShareableList.open(name);
  t.after(() => py.close());
  assert.equal(py.shm.size, 199);
  assert.equal(py.format, 'qdxxxxxxx?xxxxxx?x8s8s16s');
  const v = new DataView(py.shm.buffer);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => Number(v.getBigInt64(8 + 8 * i, true))), [0, 8, 16, 24, 32, 40, 48, 64]);
  assert.deepEqual([...new Int8Array(py.shm.buffer, 192, 7)], [0, 0, 0, 3, 1, 2, 1]);
  assert.equal(py.get(6), 'é'.repeat(8), 'CPython sized that slot by characters and cut the string (gh-88336)');
  // Where CPython does not cut anything, a list made here is byte for byte the same, up
  // to CPython's size; after it, the change counts (docs/memory-layout.md), which CPython
  // never reads: it opens such a list as its own (the "Node creates every item type" tests).
  const pyName = uniqueName(t);
  assertOk(await runPython(`${PY}
sl = shared_memory.ShareableList([7, 2.5, True, None, "hi", b"ab\\x00", "é"*3, -2**63], name=args['name'])
untrack(sl)
sl.shm.close()`, { args: { name: pyName } }));
  const theirs = SharedMemory.open(pyName);
  t.after(() => theirs.close());
  const ours = ShareableList.create({ name: uniqueName(t), items: [7, 2.5, true, null, 'hi', new Uint8Array([97, 98, 0]), 'é'.repeat(3), -(2n ** 63n)] });
  t.after(() => ours.close());
  assert.deepEqual(Buffer.from(ours.shm.buffer, 0, theirs.size), Buffer.from(theirs.buffer));
  const counts = Math.ceil(theirs.size / 8) * 8;
  assert.equal(ours.shm.size, counts + 8 + 4 * 8);
  assert.deepEqual([...new Uint32Array(ours.shm.buffer, counts, 2 + 8)], [0x43434c53, 8, 2, 2, 2, 2, 2, 2, 2, 2], 'each item written once (odd, then even)');
  assert.deepEqual(Buffer.from(ours.shm.buffer, theirs.size, counts - theirs.size), Buffer.alloc(counts - theirs.size));
});

test('CPython\'s own ShareableList test cases, ported', (t) => {
  const sl = ShareableList.create({ name: uniqueName(t), items: ['howdy', new TextEncoder().encode('HoWdY'), -273.154, 100, null, true, 42] });
  t.after(() => sl.close());
  assert.equal(sl.format, '8s8sdqxxxxxx?xxxxxxxx?q');
  assert.equal(sl.length, 7);
  assert.equal(sl.get(-1), 42);
  assert.equal(sl.get(-7), 'howdy');
  assert.throws(() => sl.get(7), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => sl.get(-8), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => sl.set(7, 1), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => sl.set(-8, 1), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => sl.get(1.5), code('ERR_OUT_OF_RANGE'));
  assert.equal(sl.indexOf(100), 3);
  assert.equal(sl.indexOf(42), 6);
  assert.equal(sl.indexOf(43), -1);
  assert.equal(sl.count(42), 1);
  sl.set(3, 42);
  assert.equal(sl.count(42), 2);
  assert.equal(sl.count(42n), 2, 'bigints and numbers compare by value');
  assert.equal(sl.indexOf(new TextEncoder().encode('HoWdY')), 1, 'bytes compare by content');
  // Type changes rewrite the format.
  sl.set(4, 'some');
  assert.equal(sl.format, '8s8sdq8sxxxxxxx?q');
  sl.set(2, 7);
  assert.equal(sl.format, '8s8sdq8sxxxxxxx?q', 'an integer written over a float stays a float');
  assert.equal(sl.get(2), 7);
  sl.set(2, ShareableList.int(7));
  assert.equal(sl.format, '8s8sqq8sxxxxxxx?q');
  sl.set(5, null);
  assert.equal(sl.format, '8s8sqq8sxxxxxx?xq');
  // Too long for the slot: an error, and the old value stays.
  assert.throws(() => sl.set(4, 'far too many'), code('ERR_OUT_OF_RANGE'));
  assert.equal(sl.get(4), 'some');
  sl.set(0, 'encodés'); // exactly 8 bytes of UTF-8
  assert.equal(sl.get(0), 'encodés');
  assert.deepEqual(sl.get(1), new TextEncoder().encode('HoWdY'), 'no spill into the neighbour');
  assert.throws(() => sl.set(0, 'encodées'), code('ERR_OUT_OF_RANGE')); // 9 bytes
  assert.equal(sl.get(0), 'encodés');
  assert.throws(() => sl.set(1, new Uint8Array(9)), code('ERR_OUT_OF_RANGE'));
  assert.deepEqual(sl.get(1), new TextEncoder().encode('HoWdY'));
  const empty = ShareableList.create({ name: uniqueName(t), items: [] });
  t.after(() => empty.close());
  assert.equal(empty.length, 0);
  assert.equal(empty.format, '');
  assert.deepEqual(empty.toArray(), []);
  assert.throws(() => empty.get(0), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => empty.get(-1), code('ERR_OUT_OF_RANGE'));
  const again = ShareableList.open(empty.shm.name);
  assert.equal(again.length, 0);
  again.close();
});

test('bad input: unsupported items, out-of-range ints, overlong strings, trailing NULs', (t) => {
  const name = uniqueName(t);
  for (const item of [{}, [], () => 1, Symbol('s'), undefined, new Uint16Array(2), new Date(), new ArrayBuffer(2)]) {
    assert.throws(() => ShareableList.create({ name, items: [item] }), code('ERR_INVALID_ARG_TYPE'), String(item?.constructor?.name ?? typeof item));
  }
  assert.throws(() => ShareableList.create({ name, items: [2n ** 63n] }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => ShareableList.create({ name, items: [-(2n ** 63n) - 1n] }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => ShareableList.create({ name, items: [2 ** 64] }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => ShareableList.create({ name, items: [ShareableList.int(1.5)] }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => ShareableList.create({ name, items: ['x'.repeat(9_999_992)] }), code('ERR_OUT_OF_RANGE'), 'format would be "10000000s"');
  assert.throws(() => ShareableList.create({ name, items: ['\uD800'] }), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => ShareableList.create({ name, items: 5 }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => ShareableList.create(), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => ShareableList.create({ name, items: ['a\0'], trailingNul: 'throw' }), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => ShareableList.create({ name, items: [], trailingNul: 'keep' }), code('ERR_INVALID_ARG_VALUE'));
  assert.equal(SharedMemory.exists(name), false, 'no rejected create left a segment');
  const sl = ShareableList.create({ name, items: ['abc', new Uint8Array([1]), 5] });
  t.after(() => sl.close());
  sl.set(0, 'ab\0');
  assert.equal(sl.get(0), 'ab', 'trailing NULs are lost, as in CPython');
  assert.throws(() => sl.set(2, {}), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => sl.set(2, undefined), code('ERR_INVALID_ARG_TYPE'));
  assert.equal(sl.get(2), 5);
  const strict = ShareableList.open(name, { trailingNul: 'throw' });
  t.after(() => strict.close());
  assert.throws(() => strict.set(1, new Uint8Array([1, 0])), code('ERR_INVALID_ARG_VALUE'));
  assert.deepEqual(strict.get(1), new Uint8Array([1]));
  sl.close();
  assert.throws(() => sl.get(0), code('ERR_SHMKIT_CLOSED'));
  assert.throws(() => sl.toArray(), code('ERR_SHMKIT_CLOSED'));
});

test('segments that are not well-formed lists are refused, never read out of bounds', (t) => {
  const make = (size, fill) => {
    const shm = SharedMemory.create({ name: uniqueName(t), size });
    t.after(() => shm.close());
    fill(new DataView(shm.buffer));
    return shm.name;
  };
  const cases = {
    // (On Windows an attached segment is whole pages, so 8 bytes read as 4096 zeros: an
    // empty list, well-formed.)
    ...(isWindows ? {} : { tiny: make(8, () => {}) }),
    negativeLength: make(64, (v) => v.setBigInt64(0, -1n, true)),
    hugeLength: make(64, (v) => v.setBigInt64(0, 2n ** 40n, true)),
    offsetPastEnd: make(64, (v) => { v.setBigInt64(0, 1n, true); v.setBigInt64(16, 4096n, true); }),
    firstOffsetNotZero: make(64, (v) => { v.setBigInt64(0, 1n, true); v.setBigInt64(8, 8n, true); v.setBigInt64(16, 16n, true); }),
    shrinkingOffsets: make(128, (v) => { v.setBigInt64(0, 2n, true); v.setBigInt64(16, 16n, true); v.setBigInt64(24, 8n, true); }),
  };
  for (const [label, name] of Object.entries(cases)) {
    assert.throws(() => ShareableList.open(name), code('ERR_SHMKIT_KIND'), label);
  }
  // A well-formed list whose format another program then scribbles over.
  const sl = ShareableList.create({ name: uniqueName(t), items: ['abcdefg', 1] });
  t.after(() => sl.close());
  const raw = new Uint8Array(sl.shm.buffer);
  const formats = 8 * 4 + 16; // data area at 32, two 8-byte slots
  raw.set(new TextEncoder().encode('9999s\0\0\0'), formats);
  assert.throws(() => sl.get(0), code('ERR_SHMKIT_KIND'), 'a format larger than its slot');
  raw.set(new TextEncoder().encode('zz\0\0\0\0\0\0'), formats);
  assert.throws(() => sl.get(0), code('ERR_SHMKIT_KIND'), 'an unknown format');
  raw.set(new TextEncoder().encode('8s\0\0\0\0\0\0'), formats);
  raw[formats + 16] = 9;
  assert.throws(() => sl.get(0), code('ERR_SHMKIT_KIND'), 'an unknown back-transform code');
  raw[formats + 16] = 1;
  raw[32] = 0xff; // invalid UTF-8 at the start of the str slot (the data area starts at 8 × (2 + 2))
  assert.throws(() => sl.get(0), code('ERR_ENCODING_INVALID_ENCODED_DATA'));
});

test('a reader in one process and a writer in another: int64 items never tear, and an item changing type reads as a value written, whole', async (t) => {
  const name = uniqueName(t);
  // Values whose halves all differ, inside and beyond ±2^53 (the bigint path).
  const ints = [0, -1, 0x100000001, -0x1ffffffff, 2n ** 62n + 3n, -(2n ** 62n) - 5n];
  const list = ShareableList.create({ name, items: [0, 'flux', 0] });
  t.after(() => list.close());
  const writer = runNode(`${CHILD}
    const list = ShareableList.open(args.name);
    const ints = args.ints.map((v) => typeof v === 'string' ? BigInt(v) : v);
    // Item 0: int64s; item 1 changes type (int, str, float, bool); item 2 is the stop flag.
    // Item 0 is rewritten flat out; item 1's type changes every fourth write, cycling back
    // to each type again and again (a reader stalled across a whole cycle must still
    // notice: the item's change count does), while leaving a reader time to read it whole
    // (a writer that changes one item's type flat out can keep a reader looking again for
    // up to FLUX_MS: docs/api.md).
    for (let i = 0; list.get(2) === 0; i++) {
      list.set(0, ints[i % ints.length]);
      if (i % 4 === 0) list.set(1, [7, 'text', 2.5, true][(i >> 2) % 4]);
    }
    list.close();`, { args: { name, ints: ints.map((v) => typeof v === 'bigint' ? String(v) : v) }, timeout: 60_000 });
  const reader = runNode(`${CHILD}
    const list = ShareableList.open(args.name);
    const ints = new Set(args.ints.map((v) => typeof v === 'string' ? BigInt(v) : v));
    const written = [7, 'text', 2.5, true, 'flux']; // (and the value it was made with)
    let torn = 0, threw = 0, strange = 0, reads = 0, seen = new Set();
    const end = performance.now() + 1500;
    while (performance.now() < end) {
      for (let k = 0; k < 1000; k++, reads++) {
        const v = list.get(0);
        if (!ints.has(v)) torn++;
        try {
          const v = list.get(1);
          seen.add(typeof v);
          if (!written.includes(v)) { strange++; if (strange === 1) console.error('never written:', v); }
        } catch (e) { threw++; if (threw === 1) console.error(e); }
      }
    }
    list.set(2, 1);
    list.close();
    console.log(JSON.stringify({ torn, threw, strange, reads, seen: [...seen].sort() }));`, { args: { name, ints: ints.map((v) => typeof v === 'bigint' ? String(v) : v) }, timeout: 60_000 });
  const [w, r] = await Promise.all([writer, reader]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.ok(out.reads > 10_000, `the reader read (${out.reads} times)`);
  assert.equal(out.torn, 0, `of ${out.reads} int64 reads, ${out.torn} were half old, half new`);
  // An item changing type: a read bracketed by the item's change count looks again if a
  // change overlapped it, so no read gives a value never written (with the code and format
  // alone, a reader stalled across a whole cycle of types could not tell: 65 in 4.4 M reads
  // under Wine). A writer descheduled mid-change for over 20 ms makes a read throw its
  // coded error instead (docs/api.md): rare, so a rate is asserted for that alone.
  assert.equal(out.strange, 0, `of ${out.reads} reads of an item changing type, ${out.strange} gave a value never written: ${r.stderr}`);
  assert.ok(out.threw * 100_000 < out.reads, `of ${out.reads} reads of an item changing type, ${out.threw} threw: ${r.stderr}`);
  assert.deepEqual(out.seen.filter((s) => s !== 'number').length > 0, true, `the reader saw the type change: ${out.seen}`);
});

test('ShareableList.open of a shmkit typed object says what it holds', async (t) => {
  const { Queue } = await import('shmkit');
  const q = Queue.create({ name: uniqueName(t), capacity: 4 });
  t.after(() => q.close());
  assert.throws(() => ShareableList.open(q.name), (e) => e.code === 'ERR_SHMKIT_KIND' && /holds a shmkit Queue/.test(e.message));
});

test('an item a writer left mid-change (its change count odd) reads as in flux, and any set() repairs it, a number of its own type too', async (t) => {
  const list = ShareableList.create({ name: uniqueName(t), items: [1, 2.5] });
  t.after(() => list.close());
  const raw = SharedMemory.open(list.name);
  t.after(() => raw.close());
  const counts = Math.ceil((8 * (2 + 2) + 16 + 9 * 2) / 8) * 8; // after CPython's bytes (docs/memory-layout.md)
  const w = new Int32Array(raw.buffer, counts, 4);
  assert.deepEqual([w[0], w[1]], [0x43434c53, 2]);
  for (const [i, v] of [[0, 7], [1, 0.5]]) {
    w[2 + i] |= 1; // as a writer killed between its first and last store leaves it
    assert.throws(() => list.get(i), { code: 'ERR_SHMKIT_KIND', message: /middle of a change/ });
    list.set(i, v);
    assert.equal(w[2 + i] & 1, 0, 'the count is even again');
    assert.equal(list.get(i), v);
  }
});
