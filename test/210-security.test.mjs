// Security with the defaults: another uid can neither open nor signal anything a user
// creates (segments, named semaphores, every typed object); names cannot leave the
// namespace; the umask never widens a mode; a read-only attach cannot change a byte.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import {
  Barrier, BoundedSemaphore, Condition, Event, Lock, NamedSemaphore, Pipe, Queue, RLock, Semaphore,
  ShareableList, SharedArray, SharedMemory, Value,
} from 'shmkit';
import { CHILD, asNobody, assertOk, cannotSwitchUid, isWindows, runNode, uniqueName } from './helpers.mjs';


/** One object of every kind, made with the defaults, by name. */
function everyKind(t) {
  const made = {
    SharedMemory: SharedMemory.create({ name: uniqueName(t), size: 64 }),
    Value: Value.create({ name: uniqueName(t), type: 'int32' }),
    SharedArray: SharedArray.create({ name: uniqueName(t), type: 'uint8', length: 4 }),
    Lock: Lock.create({ name: uniqueName(t) }),
    RLock: RLock.create({ name: uniqueName(t) }),
    Semaphore: Semaphore.create({ name: uniqueName(t) }),
    BoundedSemaphore: BoundedSemaphore.create({ name: uniqueName(t) }),
    Event: Event.create({ name: uniqueName(t) }),
    Condition: Condition.create({ name: uniqueName(t) }),
    Barrier: Barrier.create({ name: uniqueName(t), parties: 2 }),
    Queue: Queue.create({ name: uniqueName(t), capacity: 2, maxMessageSize: 16 }),
    Pipe: Pipe.create({ name: uniqueName(t), capacity: 2, maxMessageSize: 16 }),
    ShareableList: ShareableList.create({ name: uniqueName(t), items: [1] }),
    NamedSemaphore: NamedSemaphore.create({ name: uniqueName(t), value: 0 }),
  };
  t.after(() => {
    for (const o of Object.values(made)) o.close();
    try { NamedSemaphore.unlink(made.NamedSemaphore.name); } catch {}
  });
  return made;
}

test('another uid can neither open nor signal any object made with the defaults', { skip: cannotSwitchUid }, async (t) => {
  const made = everyKind(t);
  const names = Object.fromEntries(Object.entries(made).map(([k, o]) => [k, o.name]));
  const result = await runNode(`${CHILD}
    import * as shmkit from 'shmkit';
    const out = {};
    for (const [kind, name] of Object.entries(args.names)) {
      try { shmkit[kind].open(name); out[kind] = 'opened'; } catch (e) { out[kind] = e.code; }
    }
    // Signalling needs the memory (or the semaphore): try the read-only way in, too.
    try { SharedMemory.open(args.names.Event, { readOnly: true }); out.readOnly = 'opened'; } catch (e) { out.readOnly = e.code; }
    console.log(JSON.stringify(out));`, { args: { names }, wrap: asNobody });
  assertOk(result);
  const out = JSON.parse(result.stdout);
  for (const kind of [...Object.keys(names), 'readOnly']) assert.equal(out[kind], 'EACCES', `${kind}: ${out[kind]}`);
  made.Semaphore.release();
  assert.equal(made.Event.isSet(), false, 'nothing was signalled');
  assert.equal(made.NamedSemaphore.value, 0);
});

test('the umask never widens a mode: the defaults stay 0o600 under umask 0', { skip: isWindows && 'POSIX permission bits' }, (t) => {
  const old = process.umask(0);
  let made;
  try {
    made = everyKind(t);
    const wide = SharedMemory.create({ name: uniqueName(t), size: 8, mode: 0o640 });
    t.after(() => wide.close());
    const narrowed = (() => { process.umask(0o077); try { return SharedMemory.create({ name: uniqueName(t), size: 8, mode: 0o666 }); } finally { process.umask(0); } })();
    t.after(() => narrowed.close());
    assert.equal(statSync(`/dev/shm/${wide.name}`).mode & 0o777, 0o640, 'an explicit mode is kept as given');
    assert.equal(statSync(`/dev/shm/${narrowed.name}`).mode & 0o777, 0o600, 'the umask narrows');
  } finally {
    process.umask(old);
  }
  for (const [kind, o] of Object.entries(made)) {
    const file = kind === 'NamedSemaphore' ? `/dev/shm/sem.${o.name}` : `/dev/shm/${o.name}`;
    assert.equal(statSync(file).mode & 0o777, 0o600, `${kind} under umask 0`);
  }
});

test('names cannot leave the namespace, for any kind', (t) => {
  const escapes = ['../x', '../../etc/passwd', 'a/../b', '/dev/shm/x', '..', '.', 'a/b', '//x', 'x\0y', '\\..\\x'.replace(/\\/g, '/')];
  const kinds = [SharedMemory, Value, SharedArray, Lock, RLock, Semaphore, Event, Condition, Barrier, Queue, Pipe, ShareableList, NamedSemaphore];
  for (const name of escapes) {
    for (const Kind of kinds) {
      assert.throws(() => Kind.open(name), (e) => e.code === 'ERR_INVALID_ARG_VALUE', `${Kind.name}.open(${JSON.stringify(name)})`);
    }
    assert.throws(() => SharedMemory.create({ name, size: 1 }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
    assert.throws(() => NamedSemaphore.create({ name }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
    assert.throws(() => Value.create({ name, type: 'int8' }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
  }
  if (isWindows) assert.throws(() => SharedMemory.create({ name: 'Global\\x', size: 1 }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
});

test('a read-only attach cannot change a byte of any object, whatever it writes', (t) => {
  const made = everyKind(t);
  for (const [kind, o] of Object.entries(made)) {
    if (kind === 'NamedSemaphore') continue;
    const rw = SharedMemory.open(o.name);
    const before = Buffer.from(rw.read());
    const ro = SharedMemory.open(o.name, { readOnly: true });
    new Uint8Array(ro.buffer).fill(0xff);
    assert.throws(() => ro.write(0, new Uint8Array([1])), (e) => e.code === 'ERR_SHMKIT_READ_ONLY');
    assert.deepEqual(Buffer.from(rw.read()), before, `${kind} is unchanged`);
    ro.close();
    rw.close();
  }
  assert.equal(made.Value.value, 0);
  assert.equal(made.Lock.locked, false);
});
