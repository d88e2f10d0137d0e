// NamedSemaphore: a real POSIX named semaphore, shared with a program that is not shmkit
// (python3 calling libc's sem_open through ctypes).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NamedSemaphore } from 'shmkit';
import { CHILD, asleep, assertOk, isWindows, noPython, runNode, runPython, uniqueName, until } from './helpers.mjs';

const code = (c) => (e) => {
  assert.equal(e.code, c, e.message);
  return true;
};

function semName(t) {
  const name = uniqueName();
  t.after(() => {
    try {
      NamedSemaphore.unlink(name);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
  });
  return name;
}

// libc's semaphore calls, from Python, with no shmkit involved.
const PY = `
import ctypes, json, os, sys
args = json.loads(os.environ['SHMKIT_TEST_ARGS'])
libc = ctypes.CDLL(None, use_errno=True)
libc.sem_open.restype = ctypes.c_void_p
libc.sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
for f in ('sem_wait', 'sem_trywait', 'sem_post', 'sem_close'):
    getattr(libc, f).argtypes = [ctypes.c_void_p]
libc.sem_getvalue.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
def sem_open(name, create=False, value=0):
    s = libc.sem_open(('/' + name).encode(), (os.O_CREAT | os.O_EXCL) if create else 0, 0o600, value)
    if s is None or s == ctypes.c_void_p(-1).value:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return s
def value(s):
    v = ctypes.c_int()
    libc.sem_getvalue(s, ctypes.byref(v))
    return v.value
`;

test('a semaphore made here is the one a C program (python3 + ctypes) opens by name, and the reverse', { skip: noPython }, async (t) => {
  const name = semName(t);
  const sem = NamedSemaphore.create({ name, value: 2 });
  t.after(() => sem.close());
  assert.equal(sem.value, 2);
  assert.equal(sem.tryAcquire(), true);
  const out = assertOk(await runPython(`${PY}
s = sem_open(args['name'])
before = value(s)
assert libc.sem_trywait(s) == 0
libc.sem_post(s); libc.sem_post(s); libc.sem_post(s)
print(json.dumps([before, value(s)]))
libc.sem_close(s)`, { args: { name } }));
  assert.deepEqual(JSON.parse(out.stdout), [1, 3]);
  assert.equal(sem.value, 3);
  // python3 creates one; Node opens it, waits for python3's post in another process.
  const other = semName(t);
  assertOk(await runPython(`${PY}
s = sem_open(args['name'], create=True, value=0)
libc.sem_close(s)`, { args: { name: other } }));
  const opened = NamedSemaphore.open(other);
  t.after(() => opened.close());
  assert.equal(opened.value, 0);
  assert.equal(opened.acquire({ timeout: 20 }), false);
  const waiting = opened.acquireAsync({ timeout: 5_000 });
  assertOk(await runPython(`${PY}
s = sem_open(args['name'])
libc.sem_post(s)
libc.sem_close(s)`, { args: { name: other } }));
  assert.equal(await waiting, true);
  assert.equal(opened.value, 0);
});

test('blocking and async acquire across Node processes; abort gives the unit back', async (t) => {
  const name = semName(t);
  const sem = NamedSemaphore.create({ name, value: 0 });
  t.after(() => sem.close());
  const spawned = [];
  const child = runNode(`${CHILD}
    import { NamedSemaphore } from 'shmkit';
    const s = NamedSemaphore.open(args.name);
    console.log(s.acquire({ timeout: 5_000 }), await s.acquireAsync({ timeout: 5_000 }));`, { args: { name }, onSpawn: (c) => spawned.push(c) });
  await asleep(spawned); // in its blocking acquire
  sem.release();
  sem.release();
  assert.equal(assertOk(await child).stdout.trim(), 'true true');
  const ac = new AbortController();
  const pending = sem.acquireAsync({ signal: ac.signal });
  ac.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  sem.release();
  // The aborted acquire's thread may still take the unit in passing; it hands it back.
  await until(() => sem.value === 1, 2000, 'the unit to be there (the aborted acquire did not keep it)');
});

test('errors: EEXIST, ENOENT, names, values, use after close', (t) => {
  const name = semName(t);
  const sem = NamedSemaphore.create({ name });
  assert.throws(() => NamedSemaphore.create({ name }), (e) => e.code === 'EEXIST' &&
    e.syscall === (isWindows ? 'CreateSemaphoreW' : 'sem_open') && e.path === (isWindows ? name : `/${name}`));
  assert.throws(() => NamedSemaphore.open(`${name}-missing`), code('ENOENT'));
  assert.throws(() => NamedSemaphore.create({ name: 'a/b' }), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => NamedSemaphore.create({ name: 'x'.repeat(isWindows ? 261 : 252) }), code('ERR_INVALID_ARG_VALUE'));
  assert.throws(() => NamedSemaphore.create({ name: uniqueName(), value: -1 }), code('ERR_OUT_OF_RANGE'));
  sem.close();
  sem.close();
  assert.throws(() => sem.release(), code('ERR_SHMKIT_CLOSED'));
  assert.throws(() => sem.value, code('ERR_SHMKIT_CLOSED'));
  if (!isWindows) sem.unlink(); // on Windows the name went with the last handle
  assert.throws(() => NamedSemaphore.unlink(name), code('ENOENT'));
});

test('a Worker that ends with an acquire pending neither crashes the process nor keeps a unit', async (t) => {
  const name = semName(t);
  const sem = NamedSemaphore.create({ name, value: 0 });
  t.after(() => sem.close());
  const out = assertOk(await runNode(`${CHILD}
    import { Worker } from 'node:worker_threads';
    import { NamedSemaphore } from 'shmkit';
    const w = new Worker(\`
      const { NamedSemaphore } = require(process.cwd());
      const s = NamedSemaphore.open(require('node:worker_threads').workerData);
      s.acquireAsync();
      require('node:worker_threads').parentPort.postMessage('waiting');\`, { eval: true, execArgv: [], workerData: args.name });
    await new Promise((r) => w.once('message', r));
    await w.terminate();
    const s = NamedSemaphore.open(args.name);
    s.release();
    // The terminated Worker's waiting thread may take the unit before it sees it is
    // cancelled; it gives it back. Bounded: a unit kept would show as 0 here.
    for (const deadline = Date.now() + 2000; s.value !== 1 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
    console.log(s.value);`, { args: { name } }));
  assert.equal(out.stdout.trim(), '1');
});
