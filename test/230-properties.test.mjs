// Property tests (fast-check) over the public API: random arguments and random sequences
// of operations, checked against a model. Every outcome must be a documented error (by
// its code) that changed nothing, or the model's result; never a crash. The seed is
// fixed, so runs are repeatable; SHMKIT_PROPERTY_SEED=<n> explores other cases (a
// failure prints the seed and path that reproduce it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Queue, ShareableList, SharedMemory, Value, notify, wait } from 'shmkit';
import { isWindows, longestName, uniqueName } from './helpers.mjs';

const RUNS = 150;
fc.configureGlobal({ seed: Number(process.env.SHMKIT_PROPERTY_SEED ?? 20261121) });
const codeOf = (error) => error?.code;
/** Anything at all, as a caller might pass it. */
const junk = fc.oneof(
  fc.integer({ min: -(2 ** 33), max: 2 ** 33 }), fc.double(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.boolean(), fc.string({ maxLength: 8 }), fc.constant(undefined), fc.constant(null), fc.constant(NaN),
  fc.constant(Infinity), fc.constant(-0), fc.object({ maxDepth: 1 }), fc.constantFrom(2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53),
);

test('SharedMemory.create with arbitrary names, sizes and options: a segment as asked, or a documented error', (t) => {
  const documented = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE', 'EEXIST', 'ENOMEM', 'EINVAL', 'EFBIG', 'ENOSPC']);
  const base = uniqueName(t);
  let n = 0;
  // Every segment made here, random names included (the leak check in helpers.mjs only
  // knows this file's prefix): none may be left at the end.
  const made = [];
  t.after(() => {
    const left = isWindows ? [] : made.filter((name) => SharedMemory.exists(name));
    for (const name of left) SharedMemory.unlink(name);
    assert.deepEqual(left, [], 'segments this test left behind');
  });
  const name = fc.oneof(
    fc.constant(undefined),
    fc.string({ maxLength: 12 }).map((s) => `${base}-${n++}-${s}`),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.constantFrom('', '/', '..', 'a/b', 'x'.repeat(longestName + 1)),
  );
  const size = fc.oneof(fc.integer({ min: -2, max: 70_000 }), junk);
  const options = fc.record({ name, size, mode: fc.oneof(fc.constant(undefined), fc.integer({ min: -1, max: 0o1000 }), junk),
    unlinkOnExit: fc.oneof(fc.constant(undefined), fc.boolean(), junk) }, { requiredKeys: [] });
  fc.assert(fc.property(fc.oneof(options, junk), (opts) => {
    let shm;
    try {
      shm = SharedMemory.create(opts);
    } catch (error) {
      assert.ok(documented.has(codeOf(error)), `undocumented outcome for ${fc.stringify(opts)}: ${error?.stack}`);
      return;
    }
    made.push(shm.name);
    try {
      assert.equal(shm.size, opts.size, 'the size asked for');
      if (typeof opts.name === 'string') assert.equal(shm.name, opts.name.replace(/^\//, ''));
      assert.equal(SharedMemory.exists(shm.name), true);
      assert.ok(shm.read(0, Math.min(shm.size, 65536)).every((b) => b === 0), 'zero-filled'); // (sizes reach GiBs)
    } finally {
      shm.close();
      if (!isWindows) shm.unlink();
    }
  }), { numRuns: RUNS * 2 });
});

const TYPES = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'bool'];
const OPS = ['add', 'sub', 'and', 'or', 'xor', 'exchange', 'compareExchange', 'set'];

/** Whether `v` is a value of that type, as docs/api.md says. */
function valid(type, v) {
  const bits = Number(type.replace(/\D/g, ''));
  if (type === 'bool') return typeof v === 'boolean';
  if (type.startsWith('float')) return typeof v === 'number';
  const [min, max] = type.startsWith('u') ? [0n, 2n ** BigInt(bits) - 1n] : [-(2n ** BigInt(bits - 1)), 2n ** BigInt(bits - 1) - 1n];
  let big;
  if (bits === 64) big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
  else big = typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : undefined;
  return big !== undefined && big >= min && big <= max;
}

test('Value: random operation sequences with random operands agree with a model, or fail as documented and change nothing', (t) => {
  const documented = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_SHMKIT_UNSUPPORTED_OPERATION']);
  const op = fc.tuple(fc.constantFrom(...OPS), junk, junk);
  fc.assert(fc.property(fc.constantFrom(...TYPES), fc.array(op, { maxLength: 25 }), (type, ops) => {
    const v = Value.create({ name: uniqueName(t), type });
    try {
      const info = { bool: Uint8Array, float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
        uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array }[type];
      const model = new info(1); // a plain typed array of the same type: C's wrap-around, IEEE rounding
      const read = () => (type === 'bool' ? model[0] !== 0 : model[0]);
      const store = (x) => { model[0] = type === 'bool' ? (x ? 1 : 0) : typeof model[0] === 'bigint' ? BigInt(x) : x; };
      const arithmetic = !type.startsWith('float') && type !== 'bool';
      for (const [name, a, b] of ops) {
        const before = read();
        let result;
        try {
          if (name === 'set') v.value = a;
          else if (name === 'compareExchange') result = v.compareExchange(a, b);
          else result = v[name](a);
        } catch (error) {
          assert.ok(documented.has(codeOf(error)), `${type} ${name}(${fc.stringify(a)}): ${error?.stack}`);
          assert.ok(Object.is(v.value, before) || (Number.isNaN(v.value) && Number.isNaN(before)), 'a refused operation changed nothing');
          continue;
        }
        assert.ok(valid(type, a) && (name !== 'compareExchange' || valid(type, b)), `${type} ${name} accepted ${fc.stringify(a)}, ${fc.stringify(b)}`);
        assert.ok(arithmetic || ['set', 'exchange', 'compareExchange'].includes(name), `${type} allowed ${name}`);
        if (name !== 'set') assert.ok(Object.is(result, before) || (Number.isNaN(result) && Number.isNaN(before)), `${type} ${name} returned the previous value`);
        const operand = typeof model[0] === 'bigint' ? BigInt(a) : a;
        if (name === 'add') model[0] += operand;
        else if (name === 'sub') model[0] -= operand;
        else if (name === 'and') model[0] &= operand;
        else if (name === 'or') model[0] |= operand;
        else if (name === 'xor') model[0] ^= operand;
        else if (name === 'set' || name === 'exchange') store(a);
        else if (name === 'compareExchange') {
          // Floats compare by bit pattern: model that with the stored form of `a`.
          const probe = new info(1);
          probe[0] = type === 'bool' ? (a ? 1 : 0) : typeof probe[0] === 'bigint' ? BigInt(a) : a;
          const bitsOf = (arr) => Buffer.from(arr.buffer).toString('hex');
          if (bitsOf(probe) === bitsOf(model)) store(b);
        }
        const now = v.value;
        assert.ok(Object.is(now, read()) || (Number.isNaN(now) && Number.isNaN(read())), `${type} after ${name}: ${now} vs model ${read()}`);
      }
    } finally {
      v.close();
      if (!isWindows) v.unlink();
    }
  }), { numRuns: RUNS });
});

test('ShareableList: random item lists round-trip exactly or are refused as documented', (t) => {
  const documented = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE']);
  const item = fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.double({ noNaN: true }), fc.string({ maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 6 }), fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u)), fc.constant(null), fc.boolean(), junk);
  fc.assert(fc.property(fc.array(item, { maxLength: 12 }), (items) => {
    let list;
    try {
      list = ShareableList.create({ name: uniqueName(t), items });
    } catch (error) {
      assert.ok(documented.has(codeOf(error)), `${fc.stringify(items)}: ${error?.stack}`);
      return;
    }
    try {
      const back = list.toArray();
      assert.equal(back.length, items.length);
      // Trailing NULs of str and bytes items are lost, as in CPython (docs/api.md,
      // ShareableList; trailingNul: 'throw' refuses such values instead).
      const stripped = (x) => (typeof x === 'string' ? x.replace(/\0+$/, '') : Buffer.isBuffer(x) ? x.subarray(0, x.length - (x.toString('latin1').match(/\0*$/)[0].length)) : x);
      back.forEach((got, i) => {
        const want = stripped(items[i]);
        // An integer outside ±2^53 comes back as a bigint (docs/api.md, ShareableList values).
        if (typeof got === 'bigint') assert.ok(Number.isInteger(want) && (want < -(2 ** 53) || want >= 2 ** 53) && got === BigInt(want), `item ${i}: ${got} vs ${want}`);
        else if (typeof want === 'number' && !Number.isNaN(want)) assert.ok(got === want || Object.is(got, want), `item ${i}: ${got} vs ${want}`);
        else if (Buffer.isBuffer(want)) assert.deepEqual(Buffer.from(got), want);
        else if (typeof want === 'string' || typeof want === 'boolean' || want === null) assert.equal(got, want);
      });
      const again = ShareableList.open(list.name);
      assert.deepEqual(again.toArray(), back, 'another attach reads the same');
      again.close();
    } finally {
      list.close();
      if (!isWindows) list.unlink();
    }
  }), { numRuns: RUNS });
});

test('Queue: random tryPut/tryGet sequences behave as a bounded FIFO', (t) => {
  const message = fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.record({ a: fc.integer(), b: fc.string({ maxLength: 5 }) }, { noNullPrototype: true }),
    fc.array(fc.integer(), { maxLength: 5 }), fc.constant(null), fc.boolean());
  const step = fc.oneof(fc.record({ put: message }), fc.constant({ get: true }));
  fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.array(step, { maxLength: 60 }), (asked, steps) => {
    const q = Queue.create({ name: uniqueName(t), capacity: asked, maxMessageSize: 256 });
    try {
      const capacity = 2 ** Math.ceil(Math.log2(asked));
      assert.equal(q.capacity, capacity);
      const model = [];
      for (const s of steps) {
        if ('put' in s) {
          const ok = q.tryPut(s.put);
          assert.equal(ok, model.length < capacity, 'tryPut succeeds exactly when there is room');
          if (ok) model.push(s.put);
        } else {
          const got = q.tryGet();
          if (model.length === 0) assert.equal(got, undefined);
          else assert.deepEqual(got, model.shift());
        }
        assert.equal(q.size, model.length);
      }
    } finally {
      q.close();
      if (!isWindows) q.unlink();
    }
  }), { numRuns: RUNS });
});

test('wait and notify with arbitrary arguments: an Atomics result or a documented error', (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 64 });
  t.after(() => shm.close());
  const i32 = new Int32Array(shm.buffer);
  const documented = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE']);
  fc.assert(fc.property(fc.oneof(fc.constant(i32), junk), fc.oneof(fc.integer({ min: -2, max: 20 }), junk), junk, (array, index, expected) => {
    try {
      const r = wait(array, index, expected, 0);
      assert.ok(['not-equal', 'timed-out'].includes(r), r);
      assert.equal(r === 'not-equal', Atomics.load(i32, index) !== (expected | 0));
    } catch (error) {
      assert.ok(documented.has(codeOf(error)), error?.stack);
    }
    try {
      assert.equal(notify(array, index, 1), 0, 'nobody waits');
    } catch (error) {
      assert.ok(documented.has(codeOf(error)), error?.stack);
    }
  }), { numRuns: RUNS * 2 });
});
