// The shmkit command: ls, inspect, rm, gc, watch; JSON output and exit codes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lock, NamedSemaphore, Queue, ShareableList, SharedMemory, Value } from 'shmkit';
import { CHILD, assertKilled, assertOk, isWindows, prefix, runCli, runNode, uniqueName } from './helpers.mjs';

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

test('gc removes objects whose creator died and nobody maps, and nothing else; --dry-run removes nothing', { skip: linuxOnly }, async (t) => {
  const [orphan, mapped, alive, raw, halfMade] = [uniqueName(t), uniqueName(t), uniqueName(t), uniqueName(t), uniqueName(t)];
  // Made by a process that then exits without unlinking; `halfMade` as a creator killed
  // before publishing the magic leaves it (every header field written, magic still 0).
  const child = assertOk(await runNode(`${CHILD}
    Value.create({ name: args.orphan, type: 'int32' });
    Value.create({ name: args.mapped, type: 'int32' });
    SharedMemory.create({ name: args.raw, size: 8 });
    const half = SharedMemory.create({ name: args.halfMade, size: 80 });
    const h = new DataView(half.buffer);
    h.setUint16(4, 1, true); h.setUint16(6, 2, true); h.setUint32(8, 64, true); h.setUint32(32, process.pid, true);
    console.log(process.pid);`, { args: { orphan, mapped, raw, halfMade } }));
  const entries = Object.fromEntries((await json(['ls'])).map((e) => [e.name, e]));
  assert.deepEqual([entries[halfMade].kind, entries[halfMade].creatorPid, entries[halfMade].creatorAlive],
    ['Value (incomplete)', Number(child.stdout.trim()), false]);
  const held = Value.open(mapped); // its creator is dead, but this process maps it
  const mine = Value.create({ name: alive, type: 'int32' });
  t.after(() => { held.close(); mine.close(); });
  // --prefix: only this file's names, so that a test file running alongside keeps its own.
  const dry = await json(['gc', '--dry-run', '--prefix', prefix]);
  assert.equal(dry.dryRun, true);
  assert.ok(dry.removed.includes(orphan) && dry.removed.includes(halfMade), JSON.stringify(dry));
  for (const name of [mapped, alive, raw]) assert.ok(!dry.removed.includes(name), `${name} is not collectable`);
  assert.equal(SharedMemory.exists(orphan), true, '--dry-run removed nothing');
  const done = await json(['gc', '--prefix', prefix]);
  assert.ok(done.removed.includes(orphan) && done.removed.includes(halfMade));
  assert.equal(SharedMemory.exists(orphan), false);
  assert.equal(SharedMemory.exists(halfMade), false, 'a never-completed object of a dead creator is collected');
  for (const name of [mapped, alive, raw]) assert.equal(SharedMemory.exists(name), true, `${name} stays`);
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
