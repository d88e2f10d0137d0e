// The shmkit command: ls, inspect, rm, gc, watch; JSON output and exit codes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lock, NamedSemaphore, Queue, ShareableList, SharedMap, SharedMemory, Value } from 'shmkit';
import { readdirSync } from 'node:fs';
import { CHILD, asNobody, assertKilled, assertOk, cannotSwitchUid, isWindows, prefix, root, runCli, runNode, uniqueName, unlinkQuietly } from './helpers.mjs';

const json = async (args) => JSON.parse(assertOk(await runCli([...args, '--json'])).stdout);
const linuxOnly = isWindows && 'ls and gc read /dev/shm and /proc';

test('ls lists every object with its kind, size, creator and mappers; raw segments too', { skip: linuxOnly }, async (t) => {
  const v = Value.create({ name: uniqueName(t), type: 'int32', value: 3 });
  const q = Queue.create({ name: uniqueName(t), capacity: 4, maxMessageSize: 32 });
  const raw = SharedMemory.create({ name: uniqueName(t), size: 100 });
  t.after(() => [v, q, raw].forEach((o) => o.close()));
  const entries = Object.fromEntries((await json(['ls'])).map((e) => [e.name, e]));
  assert.deepEqual({ ...entries[v.name], ageSeconds: 0 },
    { name: v.name, kind: 'Value', size: 80, creatorPid: process.pid, creatorAlive: true, ageSeconds: 0, mappedBy: 1 });
  assert.equal(entries[q.name].kind, 'Queue');
  assert.deepEqual([entries[raw.name].kind, entries[raw.name].size, entries[raw.name].creatorPid], ['SharedMemory', 100, null]);
  const text = assertOk(await runCli(['ls'])).stdout;
  assert.match(text, new RegExp(`^${v.name}\\s+Value\\s+80\\s+${process.pid}\\s`, 'm'), 'the human table');
});

test('inspect decodes Values, Queues, ShareableLists and a Lock whose owner was killed', async (t) => {
  const v = Value.create({ name: uniqueName(t), type: 'float64', value: 2.5 });
  const q = Queue.create({ name: uniqueName(t), capacity: 8, maxMessageSize: 32 });
  const list = ShareableList.create({ name: uniqueName(t), items: [1, 'two', null] });
  const lock = Lock.create({ name: uniqueName(t) });
  t.after(() => [v, q, list, lock].forEach((o) => o.close()));
  q.put('a');
  q.put('b');
  assert.deepEqual(await json(['inspect', v.name]), {
    name: v.name, kind: 'Value', size: isWindows ? 4096 : 80, creatorPid: process.pid, creatorAlive: true,
    type: 'float64', value: 2.5, lockLocked: false,
  });
  const qi = await json(['inspect', q.name]);
  assert.deepEqual([qi.kind, qi.size, qi.capacity, qi.ended], ['Queue', 2, 8, false]);
  assert.deepEqual((await json(['inspect', list.name])).shareableList, [1, 'two', null]);
  assertKilled(await runNode(`${CHILD} Lock.open(args.name).acquire(); process.kill(process.pid, 'SIGKILL');`, { args: { name: lock.name } }));
  const li = await json(['inspect', lock.name]);
  assert.deepEqual([li.locked, li.ownerAlive], [true, false], 'a dead owner is reported as such');
  assert.equal(lock.locked, true, 'inspect changed nothing');
  const sem = NamedSemaphore.create({ name: uniqueName(t), value: 3 });
  t.after(() => { sem.close(); try { NamedSemaphore.unlink(sem.name); } catch {} });
  assert.deepEqual(await json(['inspect', sem.name]), { name: sem.name, kind: 'NamedSemaphore', value: 3 });
  assert.equal(sem.value, 3, 'inspect gave back the unit it counted with');
});

test('inspect and watch show a SharedMap\'s size, load, bytes in use and first entries', async (t) => {
  const m = SharedMap.create({ name: uniqueName(t), maxEntries: 64, maxBytes: 65536, eviction: 'lru' });
  t.after(() => m.close());
  m.set('hits', 42);
  m.set('user:1', { name: 'ada' });
  m.set('bytes', new Uint8Array([1, 2]));
  for (let i = 0; i < 20; i++) m.set(`k${i}`, `v${i}`);
  const mi = await json(['inspect', m.name]);
  assert.deepEqual([mi.kind, mi.size, mi.maxEntries, mi.maxBytes, mi.eviction, mi.writer, mi.bytesUsed], ['SharedMap', 23, 64, 65536, 'lru', 'idle', m.bytesUsed]);
  assert.equal(mi.load, Number((23 / 128).toFixed(3)));
  const first = Object.entries(mi.firstEntries);
  assert.equal(first.length, 10, 'the first ten entries');
  const { inspect } = await import('node:util');
  const all = new Map([...m].map(([k, v]) => [k, typeof v === 'object' ? inspect(v, { depth: 3, breakLength: Infinity }) : v]));
  for (const [k, v] of first) assert.deepEqual(v, all.get(k), k);
  const watched = assertOk(await runCli(['watch', m.name, '--count', '1'])).stdout;
  assert.match(watched, /size=23 .*firstEntries=/);
  // Values JSON cannot show (a cycle, a Map, undefined, bytes) are shown as util.inspect writes them.
  const odd = SharedMap.create({ name: uniqueName(t), maxEntries: 8 });
  t.after(() => odd.close());
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  odd.set('cyclic', cyclic);
  odd.set('map', new Map([[1, 2]]));
  odd.set('nothing', undefined);
  odd.set('bytes', new Uint8Array([7]));
  odd.set('n', 1);
  const oi = (await json(['inspect', odd.name])).firstEntries;
  assert.deepEqual(oi, { cyclic: '<ref *1> { a: 1, self: [Circular *1] }', map: 'Map(1) { 1 => 2 }', nothing: 'undefined', bytes: 'Uint8Array(1) [ 7 ]', n: 1 });
});

test('gc removes shmkit objects nobody has open, and nothing else; --dry-run removes nothing', { skip: linuxOnly }, async (t) => {
  const [orphan, mapped, alive, raw, odd] = [uniqueName(t), uniqueName(t), uniqueName(t), uniqueName(t), `${uniqueName(t)} with a space\nand a newline`];
  t.after(() => unlinkQuietly(odd));
  // Made by a process that then exits without unlinking.
  assertOk(await runNode(`${CHILD}
    Value.create({ name: args.orphan, type: 'int32' });
    Value.create({ name: args.mapped, type: 'int32' });
    SharedMemory.create({ name: args.raw, size: 8 });`, { args: { orphan, mapped, raw } }));
  const held = Value.open(mapped); // its creator is gone, but this process has it open
  const mine = Value.create({ name: alive, type: 'int32' });
  const oddOne = Value.create({ name: odd, type: 'int32' }); // in use, under a name /proc/*/maps would escape
  t.after(() => { held.close(); mine.close(); oddOne.close(); });
  // --prefix: only this file's names, so that a test file running alongside keeps its own.
  const dry = await json(['gc', '--dry-run', '--prefix', prefix]);
  assert.equal(dry.dryRun, true);
  assert.ok(dry.removed.includes(orphan), JSON.stringify(dry));
  for (const name of [mapped, alive, raw, odd]) assert.ok(!dry.removed.includes(name), `${name} is not collectable`);
  assert.equal(SharedMemory.exists(orphan), true, '--dry-run removed nothing');
  const done = await json(['gc', '--prefix', prefix]);
  assert.ok(done.removed.includes(orphan));
  assert.equal(SharedMemory.exists(orphan), false);
  for (const name of [mapped, alive, raw, odd]) assert.equal(SharedMemory.exists(name), true, `${name} stays`);
  oddOne.close();
  assert.ok((await json(['gc', '--prefix', prefix])).removed.includes(odd), 'once closed, an odd name is collected like any other');
});

const asRoot = cannotSwitchUid;
test('gc from another PID namespace, and with a user of another uid, removes nothing in use; EACCES is reported and gc carries on', { skip: linuxOnly || asRoot }, async (t) => {
  const [held, heldByNobody, othersLeftover, nobodysLeftover] = [uniqueName(t), uniqueName(t), uniqueName(t), uniqueName(t)];
  // A live process in the root namespace holds `held`; gc runs in a PID namespace of its own.
  const holder = Value.create({ name: held, type: 'int32' });
  t.after(() => holder.close());
  const pidns = ['unshare', '--pid', '--fork', '--mount-proc'];
  const r1 = assertOk(await runNode(`import { spawnSync } from 'node:child_process';
    const r = spawnSync(process.execPath, [${JSON.stringify(`${root}dist/cli/main.js`)}, 'gc', '--json', '--prefix', ${JSON.stringify(prefix)}], { encoding: 'utf8' });
    console.log(r.stdout);`, { wrap: pidns }));
  assert.equal(JSON.parse(r1.stdout).removed.includes(held), false, 'a Value a live process holds survives gc from another PID namespace');
  assert.equal(SharedMemory.exists(held), true);
  // nobody maps `heldByNobody` (mode 0o666) and lives; root's gc must leave it.
  const old = process.umask(0);
  Value.create({ name: heldByNobody, type: 'int32', mode: 0o666 }).close();
  process.umask(old);
  const nobody = runNode(`${CHILD} const v = Value.open(args.name); console.log('held'); setTimeout(() => v.close(), 20000);`,
    { args: { name: heldByNobody }, wrap: asNobody, onStdout: (d, c) => { if (d.includes('held')) ready(c); } });
  let ready;
  const child = await new Promise((r) => (ready = r));
  const r2 = await json(['gc', '--prefix', prefix]);
  child.kill('SIGKILL');
  await nobody;
  assert.equal(r2.removed.includes(heldByNobody), false, 'in use by another uid');
  // Another user's world-readable leftover (root's, mode 0o644) cannot be locked by nobody:
  // reported as skipped (not nobody's to collect), and nobody's own leftover is still collected.
  const o2 = process.umask(0);
  Value.create({ name: othersLeftover, type: 'int32', mode: 0o644 }).close();
  process.umask(o2);
  assertOk(await runNode(`${CHILD} Value.create({ name: args.name, type: 'int32' }).close();`, { args: { name: nobodysLeftover }, wrap: asNobody }));
  const r3 = await runNode(`import { spawnSync } from 'node:child_process';
    const r = spawnSync(process.execPath, [${JSON.stringify(`${root}dist/cli/main.js`)}, 'gc', '--json', '--prefix', ${JSON.stringify(prefix)}], { encoding: 'utf8' });
    console.log(r.stdout); process.exitCode = r.status;`, { wrap: asNobody });
  assert.equal(r3.code, 0, `another user's files are no failure: ${r3.stdout}`);
  const report = JSON.parse(r3.stdout);
  assert.ok(report.skipped.some((f) => f.name === othersLeftover && f.error.startsWith('EACCES')), r3.stdout);
  assert.ok(report.removed.includes(nobodysLeftover), `gc carried on past EACCES: ${r3.stdout}`);
  assert.equal(SharedMemory.exists(othersLeftover), true);
});

test('after 100 creates killed at random moments, every name is a complete object or is removed by gc', { skip: linuxOnly }, async (t) => {
  const names = [];
  for (let i = 0; i < 100; i++) {
    const name = uniqueName(t);
    names.push(name);
    // A Queue whose ring takes a while to set up, killed a random moment after it started.
    const delay = Math.floor(Math.random() * 40);
    const r = await runNode(`${CHILD} import { Queue } from 'shmkit';
      console.log('go');
      for (let j = 0; ; j++) { Queue.create({ name: args.name + '-' + j, capacity: 1024, maxMessageSize: 2048 }).close(); }`,
    { args: { name }, onStdout: (d, child) => { if (d.includes('go')) setTimeout(() => child.kill('SIGKILL'), delay); } });
    assertKilled(r);
  }
  const ours = () => readdirSync('/dev/shm').filter((f) => f.startsWith(prefix));
  const before = ours().length;
  const gc = await json(['gc', '--prefix', `${prefix}__none__`]); // only what was never given a name
  for (const file of ours()) {
    const q = Queue.open(file); // every name is a complete Queue (ERR_SHMKIT_KIND otherwise)
    q.close();
    SharedMemory.unlink(file);
  }
  const left = (await json(['ls'])).filter((e) => e.kind === 'unpublished' && e.mappedBy === 0);
  assert.deepEqual(left, [], 'no segment never given its name is left unused');
  t.diagnostic(`${before} complete queues; gc removed ${gc.removed.length} unpublished segments`);
});

test('rm unlinks, and exit codes tell scripts what happened', async (t) => {
  const a = SharedMemory.create({ name: uniqueName(t), size: 8 });
  t.after(() => a.close());
  assert.equal((await runCli(['rm', a.name])).code, 0);
  if (!isWindows) assert.equal(SharedMemory.exists(a.name), false);
  const missing = await runCli(['rm', uniqueName(t)]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such segment or named semaphore/);
  assert.equal((await runCli(['inspect', uniqueName(t)])).code, 1, 'inspect of a missing name');
  for (const args of [[], ['frob'], ['inspect'], ['rm'], ['watch', 'x', '--count', '0'], ['ls', '--bogus']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: shmkit/);
  }
  assert.equal((await runCli(['--help'])).code, 0);
});

test('watch prints the state --count times, following changes', async (t) => {
  const v = Value.create({ name: uniqueName(t), type: 'int32', value: 1 });
  t.after(() => v.close());
  // The value changes once the first line is out; the last line, 600 ms on, shows it.
  const r = assertOk(await runCli(['watch', v.name, '--count', '3', '--interval', '300', '--json'],
    { onStdout: () => { v.value = 2; } }));
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => l.kind === 'Value' && typeof l.time === 'string'));
  assert.deepEqual([lines[0].value, lines[2].value], [1, 2]);
});
