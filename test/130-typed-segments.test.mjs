// Typed segments: the documented header, ERR_SHMKIT_KIND for anything else, no half-built
// object visible to a racing open; and SharedArray.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Barrier, Condition, Event, Lock, Pipe, Queue, RLock, Semaphore, ShareableList, SharedArray, SharedMemory, Value } from 'shmkit';
import { CHILD, assertOk, isWindows, runNode, uniqueName } from './helpers.mjs';

const code = (c) => (e) => {
  assert.equal(e.code, c, e.message);
  return true;
};

test('the header is laid out as docs/memory-layout.md says', (t) => {
  const v = Value.create({ name: uniqueName(t), type: 'int32', value: -2 });
  t.after(() => v.close());
  const raw = SharedMemory.open(v.name);
  t.after(() => raw.close());
  const h = new DataView(raw.buffer);
  assert.equal(raw.size, isWindows ? 4096 : 64 + 16, 'Windows reports whole pages');
  assert.equal(Buffer.from(raw.buffer, 0, 4).toString('latin1'), 'SHMK');
  assert.equal(h.getUint16(4, true), 3, 'format version');
  assert.equal(h.getUint16(6, true), 2, 'kind: Value');
  assert.equal(h.getUint32(8, true), 64, 'payload offset');
  assert.equal(h.getUint32(12, true), 5, 'element type: int32');
  assert.equal(h.getBigUint64(16, true), 16n, 'payload length');
  assert.equal(h.getBigUint64(24, true), 1n, 'element count');
  assert.equal(h.getUint32(32, true), process.pid, 'creator pid');
  assert.ok(new Uint8Array(raw.buffer, 36, 28).every((b) => b === 0), 'reserved bytes are zero');
  assert.equal(h.getInt32(64, true), -2, 'the value');
  assert.equal(h.getInt32(72, true), 0, 'the lock word, unlocked');
  const a = SharedArray.create({ name: uniqueName(t), type: 'uint16', from: [1, 2, 3] });
  t.after(() => a.close());
  const ar = SharedMemory.open(a.name);
  t.after(() => ar.close());
  const ah = new DataView(ar.buffer);
  assert.deepEqual([ah.getUint16(6, true), ah.getUint32(12, true), ah.getBigUint64(16, true), ah.getBigUint64(24, true)], [3, 4, 16n, 3n]);
  assert.deepEqual([...new Uint16Array(ar.buffer, 72, 3)], [1, 2, 3], 'elements after the 8-byte lock');
});

test('open of the wrong kind, or of something that is not a shmkit object, is ERR_SHMKIT_KIND', (t) => {
  const v = Value.create({ name: uniqueName(t), type: 'int8' });
  const l = Lock.create({ name: uniqueName(t) });
  const a = SharedArray.create({ name: uniqueName(t), type: 'int8', length: 1 });
  t.after(() => { v.close(); l.close(); a.close(); });
  assert.throws(() => Lock.open(v.name), (e) => e.code === 'ERR_SHMKIT_KIND' && /is a shmkit Value, not a Lock/.test(e.message));
  assert.throws(() => Value.open(l.name), code('ERR_SHMKIT_KIND'));
  assert.throws(() => SharedArray.open(v.name), code('ERR_SHMKIT_KIND'));
  assert.throws(() => Value.open(a.name), code('ERR_SHMKIT_KIND'));
  const raw = SharedMemory.create({ name: uniqueName(t), size: 4096 });
  t.after(() => raw.close());
  raw.write(0, Buffer.from('PK\x03\x04 some other format'));
  assert.throws(() => Value.open(raw.name), (e) => e.code === 'ERR_SHMKIT_KIND' && /no shmkit header/.test(e.message));
  const small = SharedMemory.create({ name: uniqueName(t), size: 8 });
  t.after(() => small.close());
  const t0 = performance.now();
  assert.throws(() => Lock.open(small.name), (e) => e.code === 'ERR_SHMKIT_KIND' && /not a complete shmkit Lock/.test(e.message));
  assert.ok(performance.now() - t0 < 5000);
  const future = SharedMemory.create({ name: uniqueName(t), size: 128 });
  t.after(() => future.close());
  future.write(0, Buffer.from('SHMK'));
  future.write(4, new Uint16Array([4, 1]));
  assert.throws(() => Lock.open(future.name), (e) => e.code === 'ERR_SHMKIT_KIND' && /format version 4/.test(e.message));
  assert.throws(() => Lock.open(uniqueName(t)), code('ENOENT'));
  assert.throws(() => Lock.create({ name: l.name }), code('EEXIST'));
});

test('open racing create in another process never sees a half-built object', async (t) => {
  const names = Array.from({ length: 20 }, () => uniqueName(t));
  // The child opens each name as soon as it exists and reports what it saw first.
  let started;
  const ready = new Promise((r) => { started = r; });
  const child = runNode(`${CHILD}
    const seen = [];
    console.log('opening');
    for (const name of args.names) {
      for (;;) {
        try { const v = SharedArray.open(name); seen.push([...v.array].join(',')); v.close(); break; }
        catch (e) { if (e.code !== 'ENOENT') { seen.push(e.code); break; } }
      }
    }
    console.log(JSON.stringify(seen));`, { args: { names }, timeout: 60_000, onStdout: (d) => d.includes('opening') && started() });
  await ready; // the child is trying to open the first name before it exists
  const made = []; // kept open: on Windows a name goes with its last handle
  t.after(() => made.forEach((a) => a.close()));
  for (const name of names) {
    made.push(SharedArray.create({ name, type: 'int32', from: [7, 8, 9, 10] }));
    await new Promise((r) => setImmediate(r));
  }
  const seen = JSON.parse(assertOk(await child).stdout.trim().split("\n").pop());
  assert.deepEqual(seen, names.map(() => '7,8,9,10'));
});

test('SharedArray: create by length or from, open, at, byteLength, and bad input', (t) => {
  const a = SharedArray.create({ name: uniqueName(t), type: 'd', length: 5 });
  t.after(() => a.close());
  assert.equal(a.type, 'float64');
  assert.equal(a.length, 5);
  assert.ok(a.array instanceof Float64Array);
  a.array[4] = 2.5;
  const b = SharedArray.open(a.name);
  assert.equal(b.array[4], 2.5);
  b.close();
  assert.throws(() => b.array, code('ERR_SHMKIT_CLOSED'));
  const big = SharedArray.create({ name: uniqueName(t), type: 'int64', from: [1n, -2n, 3] });
  t.after(() => big.close());
  assert.deepEqual([...big.array], [1n, -2n, 3n]);
  const flags = SharedArray.create({ name: uniqueName(t), type: '?', from: [true, false, true] });
  t.after(() => flags.close());
  assert.deepEqual([...flags.array], [1, 0, 1]);
  assert.equal(SharedArray.byteLength('int16', 3), 16);
  assert.equal(SharedArray.byteLength('int8', 0), 8);
  const shm = SharedMemory.create({ name: uniqueName(t), size: 256 });
  t.after(() => shm.close());
  const placed = SharedArray.at(shm, 8, { type: 'uint8', length: 10 });
  placed.array.set([1, 2, 3]);
  assert.deepEqual([...new Uint8Array(shm.buffer, 16, 3)], [1, 2, 3]);
  const name = uniqueName(t);
  assert.throws(() => SharedArray.create({ name, type: 'int8', length: -1 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => SharedArray.create({ name, type: 'int8', length: 1.5 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => SharedArray.create({ name, type: 'int8', length: 2 ** 53 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => SharedArray.create({ name, type: 'int8', from: [1, 200] }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => SharedArray.create({ name, type: 'int8', from: 5 }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedArray.create({ name, type: 'int8', length: 2, from: [1, 2] }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedArray.create({ name, type: 'int8' }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedArray.at(shm, 0, { type: 'int8', length: 300 }), code('ERR_OUT_OF_RANGE'));
  assert.equal(SharedMemory.exists(name), false);
  const arr = a.array;
  a.close();
  assert.equal(arr.length, 0, 'closing detaches the typed array');
});

test('X.at() of a read-only attach is ERR_SHMKIT_READ_ONLY, for every kind that can be placed', (t) => {
  const shm = SharedMemory.create({ name: uniqueName(t), size: 4096 });
  t.after(() => shm.close());
  const ro = SharedMemory.open(shm.name, { readOnly: true });
  t.after(() => ro.close());
  const placements = {
    Lock: () => Lock.at(ro, 0), RLock: () => RLock.at(ro, 0), Value: () => Value.at(ro, 0, { type: 'int32' }),
    SharedArray: () => SharedArray.at(ro, 0, { type: 'int32', length: 4 }), Semaphore: () => Semaphore.at(ro, 0),
    Event: () => Event.at(ro, 0), Condition: () => Condition.at(ro, 0), Barrier: () => Barrier.at(ro, 0, { parties: 2 }),
  };
  for (const [kind, place] of Object.entries(placements)) {
    assert.throws(place, code('ERR_SHMKIT_READ_ONLY'), kind);
  }
  // The same placements in the writable attach work, and are seen through the read-only one.
  const lock = Lock.at(shm, 0);
  lock.acquire();
  assert.notEqual(new Int32Array(ro.buffer, 0, 1)[0], 0, 'the lock word reached the segment');
  lock.release();
});

test('members the types call readonly cannot be changed at run time', (t) => {
  const objects = [
    SharedMemory.create({ name: uniqueName(t), size: 64 }), Value.create({ name: uniqueName(t), type: 'int32' }),
    SharedArray.create({ name: uniqueName(t), type: 'int32', length: 2 }), Queue.create({ name: uniqueName(t), capacity: 2 }),
    Barrier.create({ name: uniqueName(t), parties: 2 }), Condition.create({ name: uniqueName(t) }), Pipe.create({ name: uniqueName(t) }),
    Lock.create({ name: uniqueName(t) }), ShareableList.create({ name: uniqueName(t), items: [1, 'a'] }),
  ];
  t.after(() => objects.forEach((o) => o.close()));
  const members = ['name', 'size', 'readOnly', 'length', 'capacity', 'maxMessageSize', 'codec', 'type', 'lock', 'parties', 'duplex', 'shm', 'words'];
  for (const o of objects) {
    for (const m of members) {
      if (!(m in o)) continue;
      const before = o[m];
      assert.throws(() => { o[m] = 'other'; }, TypeError, `${o.constructor.name}.${m} is not writable`);
      assert.equal(o[m], before);
    }
  }
  // What the defect was: unlink() after `name` was changed unlinked another object.
  const [shm] = objects;
  assert.throws(() => { shm.name = 'victim'; }, TypeError);
  assert.equal(SharedMemory.exists(shm.name), true);
  const list = objects.at(-1);
  assert.throws(() => { list.length = 5; }, TypeError);
  assert.deepEqual([...list], [1, 'a']);
});
