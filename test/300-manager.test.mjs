// Manager: an object served by one process and called from others by name; errors carried;
// concurrent async methods; a server SIGKILLed with a call pending; a client SIGKILLed
// mid-call; close on both sides. Every server here is a fresh node that attaches by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { Manager, SharedMemory } from 'shmkit';
import { assertKilled, isWindows, runNode, uniqueName } from './helpers.mjs';

const SERVER = `
  import { Manager } from 'shmkit';
  const { name } = JSON.parse(process.env.SHMKIT_TEST_ARGS);
  class Base { hello(who) { return 'hello ' + who; } }
  class Maths extends Base {
    add(a, b) { return a + b; }
    async slow(ms, v) { await new Promise((r) => setTimeout(r, ms)); return v; }
    fail() { throw Object.assign(new RangeError('out of range here'), { code: 'E_MATHS' }); }
    bytes(n) { return new Uint8Array(n).fill(7); }
    forever() { return new Promise(() => {}); }
  }
  const server = Manager.serve(name, new Maths());
  process.on('SIGTERM', () => { server.close(); process.exit(0); });
  console.log('serving');
  setInterval(() => {}, 1000);`;

/** A server process serving Maths under `name`; resolves once it serves. */
async function startServer(t, name) {
  let child, up;
  const ready = new Promise((r) => { up = r; });
  const done = runNode(SERVER, { args: { name }, timeout: 60_000, onSpawn: (c) => { child = c; }, onStdout: (d) => { if (String(d).includes('serving')) up(); } });
  t.after(() => { child.kill('SIGKILL'); try { SharedMemory.unlink(name); } catch {} });
  await Promise.race([ready, done.then((r) => { throw new Error(`server ended: ${r.stderr}`); })]);
  return { child, done };
}

test('calls from this process and a second client process; inherited methods; errors keep name, message and code; 2,000 sequential calls', async (t) => {
  const name = uniqueName(t);
  await startServer(t, name);
  const maths = await Manager.connect(name);
  t.after(() => maths.close());
  assert.equal(await maths.add(4, 3), 7);
  assert.equal(await maths.hello('Ada'), 'hello Ada');
  assert.deepEqual(await maths.bytes(3), new Uint8Array([7, 7, 7]));
  await assert.rejects(maths.fail(), (e) => e.name === 'RangeError' && e.message === 'out of range here' && e.code === 'E_MATHS');
  await assert.rejects(maths.nothing(), { code: 'ERR_SHMKIT_NO_SUCH_METHOD' });
  await assert.rejects(maths.add(() => 1), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(maths.bytes(1 << 20), (e) => typeof e.code === 'string');
  const other = runNode(`
    import { Manager } from 'shmkit';
    const m = await Manager.connect(JSON.parse(process.env.SHMKIT_TEST_ARGS).name, { timeout: 5000 });
    let sum = 0;
    for (let i = 0; i < 200; i++) sum += await m.add(i, 1);
    console.log(sum);
    m.close();`, { args: { name }, timeout: 30_000 });
  let sum = 0;
  for (let i = 0; i < 2000; i++) sum += await maths.add(i, 1);
  assert.equal(sum, 2000 * 1999 / 2 + 2000);
  const r = await other;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Number(r.stdout), 200 * 199 / 2 + 200);
});

test('async methods of one server run concurrently', async (t) => {
  const name = uniqueName(t);
  await startServer(t, name);
  const maths = await Manager.connect(name);
  t.after(() => maths.close());
  // The second call returns first: the first did not hold up the server.
  const order = [];
  await Promise.all([maths.slow(300, 'slow').then((v) => order.push(v)), maths.slow(1, 'quick').then((v) => order.push(v))]);
  assert.deepEqual(order, ['quick', 'slow']);
});

test('the server SIGKILLed with a call pending: it and every later call reject with ERR_SHMKIT_PEER_DIED within about a second', async (t) => {
  const name = uniqueName(t);
  const { child, done } = await startServer(t, name);
  const maths = await Manager.connect(name);
  t.after(() => maths.close());
  assert.equal(await maths.add(1, 1), 2);
  const pending = maths.forever();
  const t0 = performance.now();
  child.kill('SIGKILL');
  await assert.rejects(pending, { code: 'ERR_SHMKIT_PEER_DIED' });
  const ms = performance.now() - t0;
  assert.ok(ms < 1500, `told after ${ms.toFixed(0)} ms`);
  await assert.rejects(maths.add(1, 1), { code: 'ERR_SHMKIT_PEER_DIED' });
  await done;
  // The name of a dead server is taken over by the next one.
  await startServer(t, name);
  const again = await Manager.connect(name);
  assert.equal(await again.add(2, 2), 4);
  again.close();
});

test('a client SIGKILLed mid-call costs the server nothing: others are served, nothing is left in /dev/shm', async (t) => {
  const name = uniqueName(t);
  await startServer(t, name);
  const r = await runNode(`
    import { Manager } from 'shmkit';
    const m = await Manager.connect(JSON.parse(process.env.SHMKIT_TEST_ARGS).name, { timeout: 5000 });
    m.slow(200, 'never read');
    await m.add(1, 1);
    process.kill(process.pid, 'SIGKILL');`, { args: { name }, timeout: 30_000 });
  assertKilled(r);
  const maths = await Manager.connect(name);
  t.after(() => maths.close());
  assert.equal(await maths.add(20, 22), 42);
  if (!isWindows) { // (Windows names go with their last handle: nothing can stay)
    const { readdirSync } = await import('node:fs');
    assert.deepEqual(readdirSync('/dev/shm').filter((f) => f.startsWith('shmkit-mgr-')), [], 'no connection pipe left');
  }
});

test('close on either side settles what is pending with ERR_SHMKIT_CLOSED; a live server cannot be served twice', async (t) => {
  const name = uniqueName(t);
  const server = Manager.serve(name, { wait: () => new Promise(() => {}), echo: (x) => x });
  t.after(() => server.close());
  assert.throws(() => Manager.serve(name, {}), { code: 'EADDRINUSE' });
  const a = await Manager.connect(name);
  const b = await Manager.connect(name);
  assert.equal(await a.echo('x'), 'x');
  const pendingA = a.wait();
  a.close();
  await assert.rejects(pendingA, { code: 'ERR_SHMKIT_CLOSED' });
  await assert.rejects(a.echo(1), { code: 'ERR_SHMKIT_CLOSED' });
  assert.equal(await b.echo('still served'), 'still served');
  const pendingB = b.wait();
  server.close();
  assert.equal(server.closed, true);
  await assert.rejects(pendingB, { code: 'ERR_SHMKIT_CLOSED' });
  await assert.rejects(Manager.connect(name), { code: 'ENOENT' });
  b.close();
});

// Review, second round: each of these failed before its fix.
test('review: close() returns at once even when a client stopped reading and its replies fill the pipe', { skip: isWindows && 'SIGSTOP (POSIX signals)' }, async (t) => {
  const name = uniqueName(t);
  let calls = 0, open;
  const gate = new Promise((r) => { open = r; });
  const server = Manager.serve(name, { async wait() { calls++; await gate; return 1; } });
  t.after(() => server.close());
  let child;
  const client = runNode(`
    import { Manager } from 'shmkit';
    const m = await Manager.connect(JSON.parse(process.env.SHMKIT_TEST_ARGS).name, { timeout: 5000 });
    for (let i = 0; i < 40; i++) m.wait().catch(() => {});
    setInterval(() => {}, 1000);`, { args: { name }, timeout: 30_000, onSpawn: (c) => { child = c; } });
  t.after(() => child.kill('SIGKILL'));
  for (const end = Date.now() + 10_000; calls < 40 && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
  assert.equal(calls, 40, 'every call arrived');
  child.kill('SIGSTOP');
  open(); // 40 replies: 16 fill the pipe toward the stopped client, the rest wait
  await new Promise((r) => setImmediate(r));
  const t0 = performance.now();
  server.close();
  assert.ok(performance.now() - t0 < 500, `close() took ${performance.now() - t0} ms`);
  child.kill('SIGKILL');
  assertKilled(await client);
});

test('review: a server that takes over a dead one\'s name removes it at exit, as the first one would have', { skip: isWindows && 'a name goes with its last handle on Windows' }, async (t) => {
  const name = uniqueName(t);
  t.after(() => { try { SharedMemory.unlink(name); } catch {} });
  const first = await runNode(`
    import { Manager } from 'shmkit';
    Manager.serve(JSON.parse(process.env.SHMKIT_TEST_ARGS).name, { f() {} });
    process.kill(process.pid, 'SIGKILL');`, { args: { name }, timeout: 30_000 });
  assertKilled(first);
  assert.equal(SharedMemory.exists(name), true, 'a killed server leaves its name');
  const second = await runNode(`
    import { Manager } from 'shmkit';
    Manager.serve(JSON.parse(process.env.SHMKIT_TEST_ARGS).name, { f() { return 1; } });
    process.exit(0); // without close()`, { args: { name }, timeout: 30_000 });
  assert.equal(second.code, 0, second.stderr);
  assert.equal(SharedMemory.exists(name), false, 'the takeover server removed the name at exit');
});

test('review: a name being served never shows a client half a server: 200 serve/close cycles against a client connecting flat out', async (t) => {
  const name = uniqueName(t);
  let child, up;
  const ready = new Promise((r) => { up = r; });
  const client = runNode(`
    import { Manager } from 'shmkit';
    const { name } = JSON.parse(process.env.SHMKIT_TEST_ARGS);
    console.log('trying');
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      try { (await Manager.connect(name)).close(); }
      catch (e) { if (e.code === 'ERR_SHMKIT_KIND') { console.error(e); break; } }
    }`, { args: { name }, timeout: 40_000, onSpawn: (c) => { child = c; }, onStdout: (d) => { if (String(d).includes('trying')) up(); } });
  t.after(() => child.kill('SIGKILL'));
  await ready;
  for (let i = 0; i < 200; i++) {
    const server = Manager.serve(name, { f: () => i });
    await new Promise((r) => setImmediate(r));
    server.close();
  }
  child.kill('SIGTERM');
  const r = await client;
  assert.doesNotMatch(r.stderr, /ERR_SHMKIT_KIND/, 'a client saw a name without its Manager magic');
});

test('arguments and results come back exactly, whichever encoding carries them (JSON for plain values, structured clone for the rest)', async (t) => {
  const name = uniqueName(t);
  const server = Manager.serve(name, { echo: (x) => x, many: (...xs) => xs });
  t.after(() => server.close());
  const m = await Manager.connect(name);
  t.after(() => m.close());
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const deep = (n) => (n === 0 ? 1 : [deep(n - 1)]); // deeper than the JSON path goes
  const extra = Object.assign([1, 2], { note: 'kept' });
  const values = [0, 1.5, -0, NaN, Infinity, -Infinity, 'é\ud800', '', true, null, undefined, [1, undefined, 2], sparse, extra,
    { a: 1, b: [2, { c: 'x' }] }, { ['__proto__']: 1 }, JSON.parse('{"__proto__": {"x": 1}}'), 2n ** 70n, new Date(5), new Map([[1, 2]]),
    new Uint8Array([1, 2]), { n: -0 }, { d: new Date(0) }, deep(40)];
  for (const v of values) {
    const got = await m.echo(v);
    assert.deepStrictEqual(got, v, `echo of ${inspect(v)}`);
    if (typeof v === 'number') assert.ok(Object.is(got, v), `${v} exactly`);
  }
  assert.ok(Object.is((await m.echo({ n: -0 })).n, -0));
  assert.equal(1 in (await m.echo(sparse)), false, 'a hole stays a hole');
  assert.equal((await m.echo(extra)).note, 'kept');
  assert.deepStrictEqual(await m.many(1, 'two', [3]), [1, 'two', [3]]);
  const withGetter = { get g() { return 7; } };
  assert.deepStrictEqual(await m.echo(withGetter), { g: 7 }, 'a getter is read, as structured clone reads it');
});

test('review: what cannot be encoded is the call\'s coded error (a getter that throws, either way); shared references and long multibyte strings come back as sent', async (t) => {
  const name = uniqueName(t);
  const bad = () => Object.defineProperty([], 0, { get() { throw new Error('getter threw'); }, enumerable: true });
  const server = Manager.serve(name, { bad, echo: (x) => x, same: (a) => a[0] === a[1] });
  t.after(() => server.close());
  const m = await Manager.connect(name);
  t.after(() => m.close());
  await assert.rejects(m.bad(), { message: /getter threw/ }, 'a result that cannot be sent rejects the call');
  await assert.rejects(m.echo(bad()), { code: 'ERR_INVALID_ARG_VALUE' }, 'arguments that cannot be sent');
  assert.equal(await m.echo(5), 5, 'the connection is still whole');
  const o = { k: 1 };
  assert.equal(await m.same([o, o]), true, 'a shared reference stays shared');
  const echoed = await m.echo([o, o]);
  assert.equal(echoed[0], echoed[1]);
  for (const s of ['é'.repeat(40_000), '\x01'.repeat(20_000), '中'.repeat(25_000)]) assert.equal(await m.echo(s), s, `${s.length} × ${s[0]}`);
});
