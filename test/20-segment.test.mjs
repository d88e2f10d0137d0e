// One process, two attachments: the bytes are shared, not copied.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { SharedMemory } from 'shmkit';
import { isWindows, uniqueName } from './helpers.mjs';

test('a new segment is zero-filled and its members describe it', (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 10_000 });
  t.after(() => shm.close());
  assert.equal(shm.name, name);
  assert.equal(shm.size, 10_000);
  assert.equal(shm.readOnly, false);
  assert.equal(shm.closed, false);
  assert.equal(shm.buffer.byteLength, 10_000);
  assert.equal(shm.buffer, shm.buffer, 'buffer is one ArrayBuffer, not a new one per access');
  assert.ok(new Uint8Array(shm.buffer).every((b) => b === 0));
  assert.equal(SharedMemory.exists(name), true);
});

test('without a name, create picks a fresh random one', (t) => {
  const a = SharedMemory.create({ size: 1 });
  const b = SharedMemory.create({ size: 1 });
  t.after(() => {
    for (const s of [a, b]) s.unlink();
  });
  assert.notEqual(a.name, b.name);
  assert.match(a.name, /^shmkit_[0-9a-f]{16}$/);
  assert.ok(Buffer.byteLength(a.name) + 1 <= 31, 'fits the macOS limit of 31 bytes with the slash');
});

test('two attachments see each other\'s writes through buffer, view, read and write', (t) => {
  const name = uniqueName(t);
  const a = SharedMemory.create({ name, size: 4096 });
  const b = SharedMemory.open(name);
  t.after(() => {
    a.close();
    b.close();
  });
  assert.equal(b.size, 4096);
  new Uint32Array(a.buffer)[100] = 0xdeadbeef;
  assert.equal(new DataView(b.view(400, 4)).getUint32(0, true), 0xdeadbeef);
  assert.equal(b.read(400, 4).readUInt32LE(0), 0xdeadbeef);
  assert.equal(b.write(1000, Buffer.from('hello')), 5);
  assert.equal(Buffer.from(a.buffer, 1000, 5).toString(), 'hello');
  b.write(2000, new Uint16Array([0x0102, 0x0304]));
  b.write(2004, new Uint8Array([9, 9, 9]).buffer);
  b.write(2007, new DataView(new Uint8Array([7, 8]).buffer, 1, 1));
  assert.deepEqual([...a.read(2000, 8)], [2, 1, 4, 3, 9, 9, 9, 8]);
});

test('write copies correctly when the source is a view of the same segment', (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 32 });
  t.after(() => shm.close());
  const u8 = new Uint8Array(shm.buffer);
  u8.set([1, 2, 3, 4, 5, 6, 7, 8]);
  shm.write(2, u8.subarray(0, 8)); // overlapping ranges: must behave as memmove
  assert.deepEqual([...u8.subarray(0, 10)], [1, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
});

test('mode sets the permission bits (0o600 by default), subject to the umask',
  { skip: isWindows && 'Windows has no permission bits: mode 0o600 is a DACL, which Wine does not enforce' }, (t) => {
  const a = uniqueName(t);
  const b = uniqueName(t);
  const old = process.umask(0o022);
  try {
    SharedMemory.create({ name: a, size: 1 }).close();
    SharedMemory.create({ name: b, size: 1, mode: 0o666 }).close();
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(`/dev/shm/${a}`).mode & 0o777, 0o600);
  assert.equal(statSync(`/dev/shm/${b}`).mode & 0o777, 0o644, 'the umask removed group and other write');
});

test('read-only attach: stray writes never reach the segment and never crash', (t) => {
  const name = uniqueName(t);
  const rw = SharedMemory.create({ name, size: 8192 });
  const ro = SharedMemory.open(name, { readOnly: true });
  t.after(() => {
    rw.close();
    ro.close();
  });
  assert.equal(ro.readOnly, true);
  const writer = new Uint8Array(rw.buffer);
  const reader = new Uint8Array(ro.buffer);
  writer[10] = 42;
  writer[5000] = 7;
  assert.equal(reader[10], 42, 'a read-only attach sees the writer');
  reader[10] = 99; // lands in a private copy of page 0
  assert.equal(writer[10], 42, 'the write did not reach the segment');
  assert.equal(reader[10], 99, 'the read-only attach sees its own private copy');
  new Uint8Array(ro.view(4096, 4096)).fill(1);
  assert.equal(writer[5000], 7);
  assert.throws(() => ro.write(0, new Uint8Array([1])), (e) => e.code === 'ERR_SHMKIT_READ_ONLY');
  assert.equal(writer[0], 0);
});

test('exists and unlink follow the name; close leaves the name',
  { skip: isWindows && 'Windows: a name goes with its last handle; the next test covers that' }, (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 1 });
  shm.close();
  assert.equal(SharedMemory.exists(name), true, 'close does not unlink');
  assert.equal(SharedMemory.exists(`/${name}`), true);
  shm.unlink();
  assert.equal(SharedMemory.exists(name), false);
});

test('Windows: a name lives while a handle to it is open, and unlink() cannot end it sooner',
  { skip: !isWindows && 'Windows only' }, (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 1 });
  const other = SharedMemory.open(name);
  shm.close();
  assert.equal(SharedMemory.exists(name), true, 'another handle keeps it');
  SharedMemory.unlink(name);
  assert.equal(SharedMemory.exists(name), true, 'unlink() cannot remove a name in use');
  other.close();
  assert.equal(SharedMemory.exists(name), false, 'it goes with the last handle');
  assert.throws(() => SharedMemory.unlink(name), (e) => e.code === 'ENOENT');
});
