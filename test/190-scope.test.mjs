// Scope (the counterpart of Python's SharedMemoryManager): what it creates it unlinks, on
// dispose and when the process ends; what it merely opens it only closes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NamedSemaphore, Queue, Scope, SharedMemory, Value } from 'shmkit';
import { CHILD, assertOk, isWindows, runNode, uniqueName } from './helpers.mjs';

const code = (c) => (e) => e.code === c;

test('dispose closes and unlinks what the scope created, and only closes what it opened', (t) => {
  const [a, b, c, d] = [uniqueName(t), uniqueName(t), uniqueName(t), uniqueName(t)];
  const theirs = Value.create({ name: d, type: 'int32', value: 7 }); // someone else's
  t.after(() => theirs.close());
  const scope = new Scope();
  const shm = scope.create(SharedMemory, { name: a, size: 64 });
  const q = scope.create(Queue, { name: b, capacity: 4 });
  const sem = scope.create(NamedSemaphore, { name: c, value: 0 });
  t.after(() => { try { NamedSemaphore.unlink(c); } catch {} });
  const opened = scope.open(Value, d);
  assert.equal(opened.value, 7);
  assert.deepEqual(scope.owned, [a, b, c]);
  q.put('x');
  scope.dispose();
  assert.equal(scope.disposed, true);
  assert.throws(() => shm.buffer, code('ERR_SHMKIT_CLOSED'));
  assert.throws(() => sem.release(), code('ERR_SHMKIT_CLOSED'));
  assert.throws(() => q.put('y'), code('ERR_SHMKIT_CLOSED'));
  assert.throws(() => opened.value, code('ERR_SHMKIT_CLOSED'));
  assert.equal(SharedMemory.exists(a), false);
  assert.equal(SharedMemory.exists(b), false);
  assert.throws(() => NamedSemaphore.open(c), code('ENOENT'));
  assert.equal(SharedMemory.exists(d), true, 'an object the scope only opened keeps its name');
  assert.equal(theirs.value, 7);
  scope.dispose(); // idempotent
});

test('a name already unlinked by someone else is skipped; misuse gets clear errors', (t) => {
  const scope = new Scope();
  const v = scope.create(Value, { name: uniqueName(t), type: 'float64' });
  Value.unlink(v.name);
  assert.doesNotThrow(() => scope.dispose());
  assert.throws(() => scope.create(Value, { type: 'int8' }), code('ERR_SHMKIT_CLOSED'));
  const other = new Scope();
  t.after(() => other.dispose());
  for (const kind of [undefined, null, 42, {}, () => {}]) {
    assert.throws(() => other.create(kind, {}), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => other.open(kind, 'x'), code('ERR_INVALID_ARG_TYPE'));
  }
  assert.throws(() => other.create(Value, { type: 'nope' }), code('ERR_INVALID_ARG_VALUE'));
  assert.deepEqual(other.owned, [], 'a failed create leaves nothing in the scope');
});

const endings = {
  'normal exit': '',
  'process.exit(2)': 'process.exit(2);',
  'an uncaught exception': 'setTimeout(() => { throw new Error("boom"); }, 10);',
  SIGINT: 'process.kill(process.pid, "SIGINT"); setTimeout(() => {}, 5000);',
  SIGTERM: 'process.kill(process.pid, "SIGTERM"); setTimeout(() => {}, 5000);',
};

for (const [label, ending] of Object.entries(endings)) {
  test(`the end of the process (${label}) unlinks what a live scope created, and nothing else`,
    { skip: isWindows && 'Windows: every name goes with its process anyway' }, async (t) => {
    const [owned, sem, opened, plain] = [uniqueName(t), uniqueName(t), uniqueName(t), uniqueName(t)];
    const theirs = SharedMemory.create({ name: opened, size: 8 });
    t.after(() => theirs.close());
    t.after(() => { try { NamedSemaphore.unlink(sem); } catch {} });
    const result = await runNode(`${CHILD}
      import { Scope, NamedSemaphore } from 'shmkit';
      const scope = new Scope();
      scope.create(Value, { name: args.owned, type: 'int32' });
      scope.create(NamedSemaphore, { name: args.sem });
      scope.open(SharedMemory, args.opened);
      SharedMemory.create({ name: args.plain, size: 8 });
      console.log('ready');
      ${ending}`, { args: { owned, sem, opened, plain } });
    assert.match(result.stdout, /ready/, result.stderr);
    assert.equal(SharedMemory.exists(owned), false, 'the scope\'s object is gone');
    assert.throws(() => NamedSemaphore.open(sem), code('ENOENT'));
    assert.equal(SharedMemory.exists(opened), true, 'an object it only opened stays');
    assert.equal(SharedMemory.exists(plain), true, 'an object made outside the scope stays');
  });
}

test('a scope disposed before exit leaves nothing registered for exit', { skip: isWindows && 'Windows: names go with their process' }, async (t) => {
  const name = uniqueName(t);
  // Disposed, then the name is created again outside the scope: exit must not remove it.
  assertOk(await runNode(`${CHILD}
    import { Scope } from 'shmkit';
    const scope = new Scope();
    scope.create(Value, { name: args.name, type: 'int32' });
    scope.dispose();
    Value.create({ name: args.name, type: 'int32', value: 5 });`, { args: { name } }));
  assert.equal(SharedMemory.exists(name), true);
});

test('unlinkOnExit and Scope never remove a successor: one that someone else made after unlinking the name', { skip: isWindows && 'Windows: names go with their process' }, async (t) => {
  const [x, y, s] = [uniqueName(t), uniqueName(t), uniqueName(t)];
  // A makes x (unlinkOnExit), y and the named semaphore s (in a Scope), then waits until
  // all three have been replaced, and exits normally, which runs its exit cleanup.
  const a = runNode(`${CHILD} import { Scope, NamedSemaphore } from 'shmkit';
    SharedMemory.create({ name: args.x, size: 64, unlinkOnExit: true });
    const scope = new Scope(); scope.create(Value, { name: args.y, type: 'int32' }); scope.create(NamedSemaphore, { name: args.s, value: 0 });
    console.log('made');
    const replaced = () => { try { return new Uint8Array(SharedMemory.open(args.x).buffer)[0] === 1 && Value.open(args.y).value === 7 && NamedSemaphore.open(args.s).value === 5; } catch { return false; } };
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; !replaced(); i++) { if (i > 10000) process.exit(3); Atomics.wait(nap, 0, 0, 1); }`, {
    args: { x, y, s }, onStdout: (d) => { if (d.includes('made')) replace(); },
  });
  let successors;
  const replace = () => {
    SharedMemory.unlink(x);
    SharedMemory.unlink(y);
    NamedSemaphore.unlink(s);
    const shm = SharedMemory.create({ name: x, size: 64 });
    new Uint8Array(shm.buffer)[0] = 1;
    successors = [shm, Value.create({ name: y, type: 'int32', value: 7 }), NamedSemaphore.create({ name: s, value: 5 })];
  };
  t.after(() => { successors?.forEach((o) => o.close()); try { NamedSemaphore.unlink(s); } catch {} });
  assertOk(await a);
  assert.equal(SharedMemory.exists(x), true, 'unlinkOnExit left the successor alone');
  const v = Value.open(y);
  const sem = NamedSemaphore.open(s);
  t.after(() => { v.close(); sem.close(); });
  assert.equal(v.value, 7, 'the Scope left the successor Value alone');
  assert.equal(sem.value, 5, 'the Scope left the successor semaphore alone');
});
