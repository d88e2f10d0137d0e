// Value: every type's edges, Python's typecodes, bigint for 64-bit, bad input, and an
// increment that stays exact across processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedMemory, Value } from 'shmkit';
import { CHILD, assertOk, isWindows, runNode, uniqueName } from './helpers.mjs';

function make(t, options) {
  const v = Value.create({ name: uniqueName(t), ...options });
  t.after(() => v.close());
  return v;
}

const code = (c) => (e) => {
  assert.equal(e.code, c, e.message);
  return true;
};

const INTS = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1],
};

test('integer types hold their range edges and refuse one beyond', (t) => {
  for (const [type, [min, max]] of Object.entries(INTS)) {
    const v = make(t, { type, value: max });
    assert.equal(v.value, max, type);
    v.value = min;
    assert.equal(v.value, min, type);
    assert.throws(() => { v.value = max + 1; }, code('ERR_OUT_OF_RANGE'), `${type} max+1`);
    assert.throws(() => { v.value = min - 1; }, code('ERR_OUT_OF_RANGE'), `${type} min-1`);
    assert.throws(() => { v.value = 1.5; }, code('ERR_OUT_OF_RANGE'));
    assert.throws(() => { v.value = NaN; }, code('ERR_OUT_OF_RANGE'));
    assert.throws(() => { v.value = 1n; }, code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => { v.value = '1'; }, code('ERR_INVALID_ARG_TYPE'));
    assert.equal(v.value, min, 'a refused store changes nothing');
    // Arithmetic wraps like C and returns the previous value, as Atomics does.
    v.value = max;
    assert.equal(v.add(1), max);
    assert.equal(v.value, min, `${type} wraps`);
    assert.equal(v.sub(1), min);
    assert.equal(v.value, max);
  }
});

test('64-bit integers are bigints at both edges; safe-integer numbers are accepted', (t) => {
  const i = make(t, { type: 'int64', value: -(2n ** 63n) });
  assert.equal(i.value, -(2n ** 63n));
  i.value = 2n ** 63n - 1n;
  assert.equal(i.value, 2n ** 63n - 1n);
  assert.equal(i.add(1n), 2n ** 63n - 1n);
  assert.equal(i.value, -(2n ** 63n), 'wraps');
  i.value = 42;
  assert.equal(i.value, 42n);
  assert.throws(() => { i.value = 2n ** 63n; }, code('ERR_OUT_OF_RANGE'));
  assert.throws(() => { i.value = 2 ** 53; }, code('ERR_OUT_OF_RANGE'));
  assert.throws(() => { i.value = 0.5; }, code('ERR_OUT_OF_RANGE'));
  const u = make(t, { type: 'Q', value: 2n ** 64n - 1n });
  assert.equal(u.type, 'uint64');
  assert.equal(u.xor(2n ** 64n - 1n), 2n ** 64n - 1n);
  assert.equal(u.value, 0n);
  assert.throws(() => { u.value = -1n; }, code('ERR_OUT_OF_RANGE'));
});

test('bitwise operations, exchange and compareExchange return the previous value', (t) => {
  const v = make(t, { type: 'uint8', value: 0b1100 });
  assert.equal(v.and(0b1010), 0b1100);
  assert.equal(v.value, 0b1000);
  assert.equal(v.or(0b0001), 0b1000);
  assert.equal(v.xor(0b1111), 0b1001);
  assert.equal(v.value, 0b0110);
  assert.equal(v.exchange(200), 0b0110);
  assert.equal(v.compareExchange(1, 2), 200, 'no match: unchanged');
  assert.equal(v.value, 200);
  assert.equal(v.compareExchange(200, 7), 200);
  assert.equal(v.value, 7);
});

test('floats: float32 rounds, float64 is exact, -0, NaN and infinities survive', (t) => {
  const f = make(t, { type: 'f', value: 0.1 });
  assert.equal(f.type, 'float32');
  assert.equal(f.value, Math.fround(0.1));
  const d = make(t, { type: 'd', value: 0.1 });
  assert.equal(d.value, 0.1);
  for (const x of [-0, NaN, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE]) {
    d.value = x;
    assert.ok(Object.is(d.value, x), `float64 ${x}`);
  }
  assert.equal(d.exchange(1.5), Number.MAX_VALUE);
  assert.equal(d.compareExchange(-0, 2), 1.5, 'bit-pattern compare: 1.5 is not -0');
  d.value = 0;
  assert.ok(Object.is(d.compareExchange(-0, 3), 0), '+0 does not match -0');
  assert.equal(d.value, 0);
  for (const op of ['add', 'sub', 'and', 'or', 'xor']) assert.throws(() => d[op](1), code('ERR_SHMKIT_UNSUPPORTED_OPERATION'));
  assert.throws(() => { d.value = 1n; }, code('ERR_INVALID_ARG_TYPE'));
});

test('bool holds true and false only', (t) => {
  const b = make(t, { type: '?' });
  assert.equal(b.type, 'bool');
  assert.equal(b.value, false);
  b.value = true;
  assert.equal(b.value, true);
  assert.equal(b.exchange(false), true);
  assert.equal(b.compareExchange(false, true), false);
  assert.equal(b.value, true);
  assert.throws(() => { b.value = 1; }, code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => b.add(true), code('ERR_SHMKIT_UNSUPPORTED_OPERATION'));
});

test('types and typecodes: every alias, and clear errors for the rest', (t) => {
  const aliases = { b: 'int8', B: 'uint8', h: 'int16', H: 'uint16', i: 'int32', I: 'uint32', q: 'int64', Q: 'uint64',
    l: isWindows ? 'int32' : 'int64', L: isWindows ? 'uint32' : 'uint64', f: 'float32', d: 'float64', '?': 'bool' }; // l, L: C's long
  for (const [c, name] of Object.entries(aliases)) assert.equal(make(t, { type: c }).type, name, c);
  for (const type of ['int', 'c', 'u', 'float', '', 'INT8']) {
    assert.throws(() => Value.create({ name: uniqueName(t), type }), code('ERR_INVALID_ARG_VALUE'), type);
  }
  assert.throws(() => Value.create({ name: uniqueName(t), type: 8 }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => Value.create({ name: uniqueName(t) }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => Value.create(), code('ERR_INVALID_ARG_TYPE'));
  const name = uniqueName(t);
  assert.throws(() => Value.create({ name, type: 'int8', value: 300 }), code('ERR_OUT_OF_RANGE'));
  assert.equal(SharedMemory.exists(name), false, 'a refused create leaves nothing');
});

test('open takes the type from the segment; closed Values refuse use', (t) => {
  const v = make(t, { type: 'int16', value: -7 });
  const w = Value.open(v.name);
  assert.equal(w.type, 'int16');
  assert.equal(w.value, -7);
  w.add(10);
  assert.equal(v.value, 3);
  w.close();
  w.close();
  assert.throws(() => w.value, code('ERR_SHMKIT_CLOSED'));
  assert.throws(() => w.add(1), code('ERR_SHMKIT_CLOSED'));
  assert.equal(v.value, 3, 'closing one handle leaves the other working');
});

test('Value.at places counters in memory the caller owns', (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 1024 });
  t.after(() => shm.close());
  assert.equal(Value.byteLength, 16);
  const counters = Array.from({ length: 64 }, (_, i) => Value.at(shm, i * Value.byteLength, { type: 'uint32' }));
  counters.forEach((c, i) => c.add(i));
  const again = Value.at(shm, 5 * 16, { type: 'uint32' });
  assert.equal(again.value, 5);
  assert.equal(new Uint32Array(shm.buffer, 5 * 16, 1)[0], 5, 'the documented layout: value at offset 0');
  assert.throws(() => Value.at(shm, 4, { type: 'int32' }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => Value.at(shm, 1024, { type: 'int32' }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => Value.at({}, 0, { type: 'int32' }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => Value.at(shm, 0, { type: 'nope' }), code('ERR_INVALID_ARG_VALUE'));
});

test('4 processes × 200,000 Value.add(1) end at exactly 800,000', async (t) => {
  const v = make(t, { type: 'int32' });
  const results = await Promise.all([0, 1, 2, 3].map(() => runNode(`${CHILD}
    const v = Value.open(args.name);
    for (let i = 0; i < 200_000; i++) v.add(1);
    v.close();`, { args: { name: v.name }, timeout: 60_000 })));
  results.forEach(assertOk);
  assert.equal(v.value, 800_000);
});
