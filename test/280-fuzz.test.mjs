// The fuzz campaign of issue 13: whatever bytes a peer with write access puts in a
// segment, every operation of every kind returns or throws a coded error within its time
// limit, and the process never dies, hangs or spins (test/fixtures/fuzz-kind.mjs, one child
// per kind, seeded: SHMKIT_FUZZ_SEED=<n> explores other cases, SHMKIT_FUZZ_ROUNDS=<n> runs
// longer). Then, in a 16 MiB /dev/shm filled to the last page, no kind ever meets SIGBUS.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHILD, cannotSwitchUid, isWindows, runCli, runNode, runScript, uniqueName } from './helpers.mjs';

const SEED = Number(process.env.SHMKIT_FUZZ_SEED ?? 20261203);
const ROUNDS = Number(process.env.SHMKIT_FUZZ_ROUNDS ?? 60);
const KINDS = ['Value', 'SharedArray', 'ShareableList', 'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Event',
  'Condition', 'Barrier', 'Queue', 'Pipe', 'SharedMap'];

test(`fuzz: ${ROUNDS} rounds of crafted words and random bytes per kind (seed ${SEED}): every operation ends in time, with a value or a coded error`, async (t) => {
  const reports = [];
  // Three children at a time: the machine has two CPUs, and each child mostly sleeps in
  // its operations' small time-outs.
  const queue = [...KINDS];
  const worker = async () => {
    for (let kind; (kind = queue.shift()) !== undefined;) {
      const r = await runScript('test/fixtures/fuzz-kind.mjs', [kind, uniqueName(t), String(SEED + KINDS.indexOf(kind)), String(ROUNDS)],
        { timeout: 60_000 + ROUNDS * 1000 });
      assert.equal(r.code, 0, `${kind}: the process died (${r.signal ?? r.code}): ${r.stderr}`);
      reports.push(JSON.parse(r.stdout.trim().split('\n').pop()));
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  for (const report of reports) {
    assert.equal(report.rounds > 0, true, report.kind);
    assert.deepEqual(report.failures, [], `${report.kind} (replay one with SHMKIT_FUZZ_REPLAY='<its writes>'): ${JSON.stringify(report.failures)}`);
  }
});

test('fuzz: shmkit inspect of every kind with crafted words prints a report or a coded error, never a stack', async (t) => {
  const made = [];
  const r = await runNode(`${CHILD}
    import { Queue, Pipe } from 'shmkit';
    const makers = {
      Value: (name) => Value.create({ name, type: 'float64' }), SharedArray: (name) => SharedArray.create({ name, type: 'int32', length: 4 }),
      Lock: (name) => Lock.create({ name }), RLock: (name) => RLock.create({ name }), Semaphore: (name) => Semaphore.create({ name }),
      Event: (name) => Event.create({ name }), Condition: (name) => Condition.create({ name }), Barrier: (name) => Barrier.create({ name, parties: 3 }),
      Queue: (name) => Queue.create({ name, capacity: 4, maxMessageSize: 32 }), Pipe: (name) => Pipe.create({ name, capacity: 2, maxMessageSize: 8 }),
      ShareableList: (name) => ShareableList.create({ name, items: [1, 'two', 3.5] }),
    };
    let i = 0;
    for (const [kind, make] of Object.entries(makers)) {
      for (const value of [-1, 0x7fffffff, -0x80000000]) {
        const o = make(args.names[i++]);
        const raw = SharedMemory.open(o.name);
        const w = new Int32Array(raw.buffer, 0, raw.buffer.byteLength >> 2);
        for (let k = 16; k < Math.min(w.length, 64); k += 3) w[k] = value; // the payload's first words
        if (kind === 'ShareableList') w[0] = value; // its count and offsets
        raw.close();
        o.close();
      }
    }`, { args: { names: Array.from({ length: 33 }, () => { const n = uniqueName(t); made.push(n); return n; }) } });
  assert.equal(r.code, 0, r.stderr);
  for (const name of made) {
    const out = await runCli(['inspect', name]);
    assert.ok(out.code === 0 || out.code === 1, `inspect ${name}: exit ${out.code} ${out.signal ?? ''}`);
    assert.doesNotMatch(out.stderr, /^\s+at /m, `inspect ${name} printed a stack: ${out.stderr}`);
    assert.doesNotMatch(out.stdout + out.stderr, /RangeError|TypeError: (?!.*ERR_SHMKIT)/, `inspect ${name}: ${out.stdout}${out.stderr}`);
  }
});

const why = isWindows ? 'Linux mount namespaces' : process.platform !== 'linux' ? 'Linux tmpfs' : cannotSwitchUid ? 'needs root (unshare, mount)' : false;
const small = ['unshare', '--mount', 'sh', '-c', 'mount -t tmpfs -o size=16m tmpfs /dev/shm && exec "$@"', 'sh'];

test('a 16 MiB /dev/shm filled to its last page: every kind made before works all through, every create after is ENOSPC, never SIGBUS', { skip: why }, async () => {
  const r = await runNode(`${CHILD}
    import { Queue, Pipe, SharedMap, Manager } from 'shmkit';
    const MiB = 2 ** 20;
    const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code ?? e.message; } };
    const makers = {
      Value: (name) => Value.create({ name, type: 'int64' }), SharedArray: (name) => SharedArray.create({ name, type: 'float64', length: MiB / 4 }),
      ShareableList: (name) => ShareableList.create({ name, items: ['x'.repeat(MiB), 1, 2.5] }),
      Lock: (name) => Lock.create({ name }), RLock: (name) => RLock.create({ name }), Semaphore: (name) => Semaphore.create({ name }),
      BoundedSemaphore: (name) => BoundedSemaphore.create({ name }), Event: (name) => Event.create({ name }),
      Condition: (name) => Condition.create({ name }), Barrier: (name) => Barrier.create({ name, parties: 1 }),
      Queue: (name) => Queue.create({ name, capacity: 32, maxMessageSize: 65536 }), Pipe: (name) => Pipe.create({ name, capacity: 16, maxMessageSize: 65536 }),
      SharedMap: (name) => SharedMap.create({ name, maxEntries: 8192, maxBytes: 8 * MiB }), Manager: (name) => Manager.serve(name, { f: () => 1 }),
    };
    const objects = Object.fromEntries(Object.entries(makers).map(([kind, make]) => [kind, make('before-' + kind)]));
    objects.SharedMap.set('warm', 1); // its arena's first step reserved
    const emptyMap = SharedMap.create({ name: 'empty-map', maxEntries: 4096 }); // its index: zero pages
    // Fill what is left: 1 MiB segments, then single pages, until there is no room.
    const fillers = [];
    for (const size of [MiB, 4096]) {
      for (;;) {
        try { fillers.push(SharedMemory.create({ name: 'fill-' + fillers.length, size })); } catch (e) { if (e.code !== 'ENOSPC') throw e; break; }
      }
    }
    const after = Object.fromEntries(Object.entries(makers).map(([kind, make]) => [kind, code(() => make('after-' + kind))]));
    // Now use everything made before, all through.
    const o = objects;
    o.Value.value = 5n; o.Value.add(1n);
    o.SharedArray.array.fill(1.5);
    for (let i = 0; i < o.ShareableList.length; i++) o.ShareableList.set(i, o.ShareableList.get(i));
    for (const l of [o.Lock, o.RLock]) { l.acquire(); l.release(); }
    o.Semaphore.release(); o.Semaphore.acquire(); o.BoundedSemaphore.acquire(); o.BoundedSemaphore.release();
    o.Event.set(); o.Event.wait({ timeout: 10 });
    o.Condition.acquire(); o.Condition.notify(); o.Condition.release();
    o.Barrier.wait({ timeout: 100 });
    const big = new Uint8Array(65536).fill(3);
    let puts = 0; while (o.Queue.tryPut(big)) puts++;
    let gets = 0; while (o.Queue.tryGet() !== undefined) gets++;
    let sends = 0;
    const other = Pipe.open('before-Pipe');
    for (; sends < 16; sends++) await other.sendAsync(big);
    let recvs = 0; while (o.Pipe.poll()) { o.Pipe.recv(); recvs++; }
    other.close();
    // The map's arena is reserved as it grows: in a full /dev/shm a set that needs more
    // room is ENOSPC, the map stays whole, and room that deletes free is used again.
    const m = o.SharedMap, v = 'v'.repeat(1000);
    let sets = 0, mapFull;
    try { for (; sets < 8192; sets++) m.set('k' + sets, v); } catch (e) { mapFull = e.code; }
    const mapWhole = m.check().length === 0 && m.get('k0') === v && m.size === sets + 1;
    m.delete('k0');
    m.set('again', v);
    const mapReused = m.get('again') === v;
    // shmkit inspect copies a map to read its entries: with no room for the copy it shows
    // the rest, and never dies of SIGBUS (eight pages free: room for a copy's first pages,
    // not for the pages a decoder would fault in).
    for (const f of fillers.splice(-8)) { f.close(); f.unlink(); }
    const { spawnSync } = await import('node:child_process');
    const inspected = ['before-SharedMap', 'empty-map'].map((name) => {
      const cli = spawnSync(process.execPath, [${JSON.stringify(new URL('../dist/cli/main.js', import.meta.url).pathname)}, 'inspect', name, '--json'], { encoding: 'utf8' });
      return { status: cli.status, signal: cli.signal, kind: cli.status === 0 ? JSON.parse(cli.stdout).kind : cli.stderr };
    });
    emptyMap.close();
    // A client's connection is a pipe of its own: ENOSPC while there is no room, then fine.
    const connectFull = await Manager.connect('before-Manager').then(() => 'ok', (e) => e.code);
    for (const f of fillers.splice(0, 4)) { f.close(); f.unlink(); }
    const client = await Manager.connect('before-Manager');
    const called = await client.f();
    client.close();
    for (const x of [...Object.values(o), ...fillers]) { x.close(); }
    console.log(JSON.stringify({ after, puts, gets, sends, recvs, fillers: fillers.length, sets, mapFull, mapWhole, mapReused, connectFull, called, inspected }));`, { wrap: small, timeout: 60_000 });
  assert.equal(r.code, 0, `the process died (${r.signal ?? r.code}) instead of an error: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  for (const [kind, result] of Object.entries(out.after)) assert.equal(result, 'ENOSPC', `${kind} made in a full /dev/shm`);
  assert.deepEqual([out.puts, out.gets, out.sends, out.recvs], [32, 32, 16, 16], 'the Queue and the Pipe took and gave every message');
  assert.deepEqual([out.mapFull, out.mapWhole, out.mapReused], ['ENOSPC', true, true], `the SharedMap (${out.sets} sets before it was full)`);
  assert.ok(out.sets > 10, `the map took entries in what it had reserved (${out.sets})`);
  assert.deepEqual([out.connectFull, out.called], ['ENOSPC', 1], 'Manager: a connection needs room for its pipe');
  for (const r of out.inspected) assert.deepEqual(r, { status: 0, signal: null, kind: 'SharedMap' }, 'shmkit inspect in a full /dev/shm');
  assert.ok(out.fillers > 0);
});
