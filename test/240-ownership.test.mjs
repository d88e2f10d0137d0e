// Ownership in the places production Node runs: holder and waiter in plain processes
// (on every platform: Windows's kill is TerminateProcess), in different PID namespaces
// (both directions), a waiter of another uid under /proc mounted hidepid=2, a waiter
// with an empty /proc, and a dead owner whose TID a new process gets. For each
// primitive with owners: a live owner is never taken over while it holds for 2 s under
// contention, and one SIGKILLed is taken over within 1 s, the taker being told.
//
// Synchronization is through the objects' own words (a holder dies or lets go only once
// it sees the waiter contending), never through sleeps.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Barrier, Condition, Lock, Pipe, Queue, RLock, SharedMap, SharedMemory } from 'shmkit';
import { CHILD, assertKilled, cannotSwitchUid, emulated, isWindows, runNode, uniqueName } from './helpers.mjs';

const why = isWindows ? 'Linux namespaces' : cannotSwitchUid ? 'needs root (unshare, mount, setpriv)' : false;

// sh is pid 1 of the namespace and node a child well away from the first pids, so that a
// pid number that happens to match in both namespaces cannot hide a bug.
const farPid = 'echo 4321 > /proc/sys/kernel/ns_last_pid && "$@"';
const pidns = ['unshare', '--pid', '--fork', '--mount-proc', 'sh', '-c', farPid, 'sh'];
const hidepidNobody = ['unshare', '--mount', 'sh', '-c', 'mount -t proc -o hidepid=2 proc /proc && exec "$@"', 'sh',
  'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const emptyProc = ['unshare', '--mount', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /proc && exec "$@"', 'sh'];

// qemu-user (what runs arm64 Node on x64 hosts) fakes /proc/self/stat and translates
// every system call, the OFD locks owners hold included.
const qemu = ['/usr/bin/qemu-x86_64-static'].find((q) => process.platform === 'linux' && process.arch === 'x64' && existsSync(q));
const asan = /asan/.test(process.env.LD_PRELOAD ?? '');
const noQemu = asan ? 'node with the ASan runtime is killed under qemu-user (seen: SIGKILL before any output)' : !qemu && 'needs qemu-user-static, on Linux x64';

const PLACES = [
  { place: 'holder and waiter in plain processes', holder: [], waiter: [], skip: false },
  { place: 'holder in another PID namespace', holder: pidns, waiter: [] },
  { place: 'waiter in another PID namespace', holder: [], waiter: pidns },
  // (Emulated, the suite runs in a user namespace of its own, for its binfmt_misc; a /proc
  // can be mounted only from a PID namespace that namespace owns, which the host's is not.)
  { place: 'waiter of another uid under hidepid=2', holder: [], waiter: hidepidNobody, mode: 0o666,
    skip: why || (emulated && 'mounting a /proc needs a PID namespace of the emulated run\'s own user namespace') },
  // The ASan runtime (scripts/sanitize.sh preloads it) reads /proc itself, and its
  // processes do not exit cleanly without it: that placement is for uninstrumented runs.
  { place: 'waiter with an empty /proc', holder: [], waiter: emptyProc,
    skip: why || (asan && 'the ASan runtime itself needs /proc') },
].map((p) => ({ skip: why, ...p }));

// Emulated processes start in seconds and run several times slower, the more so with the
// other placements running beside them: two at a time, with room for it.
const QEMU_PLACES = [
  { place: 'holder under qemu-user', holder: [qemu], waiter: [], skip: noQemu },
  { place: 'waiter under qemu-user', holder: [], waiter: [qemu], skip: noQemu },
];

const PRELUDE = `${CHILD}
import { SharedMemory as SM, Pipe, Queue, SharedMap, Manager } from 'shmkit';
const nap = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => Atomics.wait(nap, 0, 0, ms);
const word = (i) => new Int32Array(SM.open(args.name).view(64 + 4 * i, 4));
// Spins (1 ms naps) until the other side's word shows it contending; bounded.
const until = (f) => { for (let i = 0; !f(); i++) { if (i > 60_000) throw new Error('peer never came'); sleep(1); } };
const die = () => process.kill(process.pid, 'SIGKILL');
const out = (o) => console.log(JSON.stringify(o));
`;

// Per primitive: how to make one, a holder (which holds, then dies or lets go after 2 s
// of contention) and a waiter (which reports what it got and how long it took).
const KINDS = {
  Lock: {
    make: (name, mode) => Lock.create({ name, mode }),
    holder: `const l = Lock.open(args.name); l.acquire(); const w = word(0);
      until(() => Atomics.load(w, 0) & 0x80000000); if (args.kill) die();
      sleep(2000); l.release(); out({ released: true });`,
    waiter: `const l = Lock.open(args.name); until(() => l.locked); const t0 = performance.now();
      const got = l.acquire({ timeout: 5000 }); out({ got, told: l.ownerDied, ms: performance.now() - t0 });`,
  },
  RLock: {
    make: (name, mode) => RLock.create({ name, mode }),
    holder: `const l = RLock.open(args.name); l.acquire(); l.acquire(); const w = word(0);
      until(() => Atomics.load(w, 0) & 0x80000000); if (args.kill) die();
      sleep(2000); l.release(); l.release(); out({ released: true });`,
    waiter: `const l = RLock.open(args.name); until(() => l.locked); const t0 = performance.now();
      const got = l.acquire({ timeout: 5000 }); out({ got, told: l.ownerDied && l.level === 1, ms: performance.now() - t0 });`,
  },
  Condition: {
    make: (name, mode) => Condition.create({ name, mode }),
    holder: `const c = Condition.open(args.name); c.acquire(); const w = word(0);
      until(() => Atomics.load(w, 0) & 0x80000000); if (args.kill) die();
      sleep(2000); c.notify(); c.release(); out({ released: true });`,
    waiter: `const c = Condition.open(args.name); until(() => c.lock.locked); const t0 = performance.now();
      const got = c.acquire({ timeout: 5000 }); out({ got, told: c.lock.ownerDied, ms: performance.now() - t0 });`,
  },
  Barrier: {
    // Three parties: holder and waiter wait; the test arrives third once the live holder
    // has waited 2 s. A dead party breaks the barrier for the waiter.
    make: (name, mode) => Barrier.create({ name, mode, parties: 3 }),
    holder: `const b = Barrier.open(args.name); const w = word(2); const p = b.waitAsync({ timeout: 20000 });
      await new Promise((r) => { const t = setInterval(() => { if (Atomics.load(w, 0) >= 2) { clearInterval(t); r(); } }, 1); });
      if (args.kill) die(); await p; out({ released: true });`,
    waiter: `const b = Barrier.open(args.name); const w = word(2); until(() => Atomics.load(w, 0) >= 1);
      const t0 = performance.now(); let got = true, told = false;
      try { b.wait({ timeout: 10000 }); } catch (e) { got = false; told = e.code === 'ERR_SHMKIT_BROKEN_BARRIER'; }
      out({ got: args.kill ? told : got, told: args.kill ? told : false, ms: performance.now() - t0 });`,
    third: async (barrier, waitedMs) => {
      while (barrier.nWaiting < 2) await new Promise((r) => setTimeout(r, 1)); // both are in wait()
      await new Promise((r) => setTimeout(r, waitedMs)); // the live case's 2 s of contention
      await barrier.waitAsync({ timeout: 10_000 });
    },
  },
  Queue: {
    // The holder claims position 0 as a writer (the claim word of the documented layout,
    // with its own owner id), moves the tail past it, and puts 'second' behind it. A live
    // holder publishes a tombstone after 2 s (its compare-and-swap must still succeed); a
    // dead one's claim is buried by the waiting reader, which then gets 'second'.
    make: (name, mode) => Queue.create({ name, mode, capacity: 4, maxMessageSize: 64 }),
    holder: `const { ME } = await import(${JSON.stringify(new URL('../dist/core/ownership.js', import.meta.url).href)});
      const q = Queue.open(args.name); const shm = SM.open(args.name);
      const claimWord = new BigInt64Array(shm.view(64 + 192, 8)); const mine = (BigInt(ME) << 32n) | 1n;
      if (Atomics.compareExchange(claimWord, 0, 0n, mine) !== 0n) throw new Error('slot 0 not free');
      Atomics.store(new Int32Array(shm.view(64 + 64, 4)), 0, 1); q.put('second');
      const waiting = word(33); until(() => Atomics.load(waiting, 0) > 0); if (args.kill) die();
      sleep(2000); new Int32Array(shm.view(64 + 192 + 12, 4))[0] = -1;
      out({ released: Atomics.compareExchange(claimWord, 0, mine, 2n) === mine });`,
    waiter: `const q = Queue.open(args.name); until(() => q.size >= 2); const t0 = performance.now();
      const m = q.get({ timeout: 5000 }); out({ got: m === 'second', ms: performance.now() - t0 });`,
  },
  SharedMap: {
    // The holder is a writer inside update(), holding the map's Lock (payload words 0-1,
    // as a Lock's); a dead one's change never lands and the map checks sound for the next.
    make: (name, mode) => SharedMap.create({ name, mode, maxEntries: 16 }),
    holder: `const m = SharedMap.open(args.name); const w = word(0);
      m.update('k', () => { until(() => Atomics.load(w, 0) & 0x80000000); if (args.kill) die(); sleep(2000); return 'live'; });
      out({ released: true });`,
    waiter: `const m = SharedMap.open(args.name); const w = word(0); until(() => Atomics.load(w, 0) !== 0); const t0 = performance.now();
      m.set('w', 1); const ms = performance.now() - t0;
      out({ got: m.get('w') === 1 && m.get('k') === (args.kill ? undefined : 'live') && m.check().length === 0, ms });`,
  },
};

// The peer of a Pipe (the opening end): says it is there, reads 'go', then dies or answers after 2 s.
const PIPE_PEER = `const p = Pipe.open(args.name); p.send('here'); p.recv(); if (args.kill) die(); sleep(2000); p.send('done'); out({ released: true });`;

describe('ownership across processes, namespaces and hidden /proc', { concurrency: 4 }, () => placements(PLACES, 30_000));
describe('ownership under emulation', { concurrency: 2 }, () => placements(QEMU_PLACES, 90_000));

/** For each place, each primitive: a live owner is kept, a killed one taken over. */
function placements(places, timeout) {
  for (const { place, holder, waiter, mode, skip } of places) {
    for (const [kind, k] of Object.entries(KINDS)) {
      test(`${kind}: ${place}`, { skip }, async (t) => {
        await Promise.all([false, true].map(async (kill) => {
          const name = uniqueName(t);
          const object = withUmask0(() => k.make(name, mode ?? 0o600));
          t.after(() => object.close());
          const args = { name, kill };
          const h = runNode(`${PRELUDE}${k.holder}`, { args, wrap: holder, timeout });
          const w = runNode(`${PRELUDE}${k.waiter}`, { args, wrap: waiter, timeout });
          if (k.third && !kill) await k.third(object, 2000);
          const [hr, wr] = await Promise.all([h, w]);
          const report = JSON.parse(wr.stdout.trim().split('\n').pop() || '{}');
          const what = `${kill ? 'killed' : 'live'} holder; waiter said ${wr.stdout.trim()} ${wr.stderr}; holder ${hr.code}/${hr.signal} ${hr.stderr}`;
          assert.equal(wr.code, 0, what);
          assert.equal(report.got, true, what);
          if (kill) {
            assertKilled(hr);
            if ('told' in report) assert.equal(report.told, true, `the taker is told: ${what}`);
            assert.ok(report.ms < 1500, `taken over within 1 s of the kill: ${what}`);
          } else {
            assert.equal(hr.code, 0, what);
            assert.match(hr.stdout, /"released":true/, `the live holder let go normally: ${what}`);
            if ('told' in report) assert.equal(report.told, false, `nobody said the owner died: ${what}`);
            assert.ok(report.ms >= 1900, `the live holder kept it for 2 s: ${what}`);
          }
        }));
      });
    }
    test(`Manager: ${place.replace('holder', 'server').replace('waiter', 'client')}`, { skip }, async (t) => {
      await Promise.all([false, true].map(async (kill) => {
        const name = uniqueName(t);
        // The server lives in holder's place, the client in waiter's; the server dies (or
        // answers after 2 s) once the client's slow call has reached it.
        const s = runNode(`${PRELUDE}
          process.umask(0);
          const server = Manager.serve(args.name, {
            ping: () => 'pong',
            async slow() { if (args.kill) die(); await new Promise((r) => setTimeout(r, 2000)); setTimeout(() => { server.close(); out({ released: true }); }, 100); return 'done'; },
          }, { mode: args.mode });`, { args: { name, kill, mode: mode ?? 0o600 }, wrap: holder, timeout });
        const c = runNode(`${PRELUDE}
          process.umask(0);
          const m = await Manager.connect(args.name, { timeout: 20000, mode: args.mode });
          const pong = await m.ping();
          const t0 = performance.now();
          let got, told = false;
          try { got = await m.slow(); } catch (e) { told = e.code === 'ERR_SHMKIT_PEER_DIED'; }
          out({ pong, got, told, ms: performance.now() - t0 }); m.close();`, { args: { name, kill, mode: mode ?? 0o600 }, wrap: waiter, timeout });
        t.after(() => { try { SharedMemory.unlink(name); } catch {} });
        const [sr, cr] = await Promise.all([s, c]);
        const report = JSON.parse(cr.stdout.trim().split('\n').pop() || '{}');
        const what = `${kill ? 'killed' : 'live'} server; client said ${cr.stdout.trim()} ${cr.stderr}; server ${sr.code}/${sr.signal} ${sr.stderr}`;
        assert.equal(cr.code, 0, what);
        assert.equal(report.pong, 'pong', what);
        if (kill) {
          assertKilled(sr);
          assert.equal(report.told, true, `ERR_SHMKIT_PEER_DIED: ${what}`);
          assert.ok(report.ms < 1500, `within about a second of the kill: ${what}`);
        } else {
          assert.equal(report.got, 'done', what);
          assert.ok(report.ms >= 1900, `a live server is waited for: ${what}`);
          assert.equal(sr.code, 0, what);
        }
      }));
    });
    test(`Pipe: the other end ${place.replace('waiter', 'this end')}`, { skip }, async (t) => {
      await Promise.all([false, true].map(async (kill) => {
        const name = uniqueName(t);
        // The creating end is the one that waits: it lives in `waiter`'s place.
        const w = runNode(`${PRELUDE}
          const p = Pipe.create({ name: args.name, mode: ${mode ?? 0o600} });
          out({ created: true });
          p.recv(); // the peer is there
          p.send('go');
          const t0 = performance.now();
          const early = p.poll({ timeout: 1500 }); // the peer answers only after 2 s
          let got, told = false;
          try { got = p.poll({ timeout: 5000 }) && p.recv(); } catch (e) { told = e.code === 'ERR_SHMKIT_PIPE_CLOSED'; }
          SM.unlink(args.name); p.close();
          out({ early, got, told, ms: performance.now() - t0 });`, {
          args: { name, kill }, wrap: waiter, timeout,
          onStdout: (d) => { if (d.includes('created') && !started) started = start(); },
        });
        let started;
        const start = () => runNode(`${PRELUDE}${PIPE_PEER}`, { args: { name, kill }, wrap: holder, timeout });
        const wr = await w;
        const hr = await started;
        const report = JSON.parse(wr.stdout.trim().split('\n').pop() || '{}');
        const what = `${kill ? 'killed' : 'live'} peer; this end said ${wr.stdout.trim()} ${wr.stderr}; peer ${hr?.code}/${hr?.signal} ${hr?.stderr}`;
        assert.equal(wr.code, 0, what);
        if (kill) {
          assert.equal(report.told, true, `ERR_SHMKIT_PIPE_CLOSED once the peer is dead: ${what}`);
          assert.ok(report.ms < 1500, what);
        } else {
          assert.equal(report.early, false, `no end-of-pipe while the peer lives: ${what}`);
          assert.equal(report.got, 'done', what);
          assert.equal(hr.code, 0, what);
        }
      }));
    });
  }
}

/** Runs `f` with the umask at 0, so that a mode of 0o666 means what it says. */
function withUmask0(f) {
  const old = process.umask(0);
  try {
    return f();
  } finally {
    process.umask(old);
  }
}

test('a dead owner whose TID a new process gets (ns_last_pid) is still taken over', { skip: why }, async (t) => {
  const lock = Lock.create({ name: uniqueName(t) });
  t.after(() => lock.close());
  // Inside a PID namespace of its own: the holder takes the lock and is SIGKILLed; then
  // `sleep` processes are started at the holder's pid until one also matches the low 8
  // bits of its start time (what owner ids used to keep), and the lock is asked for.
  const r = await runNode(`${PRELUDE}
    import { spawn, execFileSync } from 'node:child_process';
    import { readFileSync, writeFileSync } from 'node:fs';
    const startOf = (pid) => Number(readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ')[19]);
    const holder = spawn(process.execPath, ['--input-type=module', '-e',
      "import { Lock } from 'shmkit'; Lock.open(process.argv[1]).acquire(); console.log('held'); setInterval(() => {}, 1000);", args.name],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => holder.stdout.once('data', r));
    const pid = holder.pid, bits = startOf(pid) & 0xff;
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    let squatter, tries = 0;
    for (; tries < 5000; tries++) {
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
      squatter = spawn('sleep', ['60'], { stdio: 'ignore' });
      if (squatter.pid === pid && (startOf(pid) & 0xff) === bits) break;
      squatter.kill('SIGKILL');
      await new Promise((r) => squatter.once('exit', r));
    }
    const l = Lock.open(args.name);
    const t0 = performance.now();
    const got = l.acquire({ timeout: 3000 });
    out({ got, told: l.ownerDied, ms: performance.now() - t0, tries, reused: squatter.pid === pid });
    squatter.kill('SIGKILL');
    process.exit(0);`, { args: { name: lock.name }, wrap: pidns, timeout: 60_000 });
  const report = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(report.reused, true, `the dead owner's pid was handed out again: ${r.stdout}`);
  assert.equal(report.got, true, `taken over: ${r.stdout}`);
  assert.equal(report.told, true);
  assert.ok(report.ms < 1000, r.stdout);
});

test('Barrier: the tripping party SIGKILLed in its action breaks the barrier for the others within about 1 s', async (t) => {
  const barrier = Barrier.create({ name: uniqueName(t), parties: 2 });
  t.after(() => barrier.close());
  const waiting = barrier.waitAsync({ timeout: 20_000 });
  const outcome = waiting.then(() => 'passed', (e) => e.code);
  let diedAt = 0;
  const r = await runNode(`${PRELUDE}
    const b = Barrier.open(args.name, { action: () => process.kill(process.pid, 'SIGKILL') });
    until(() => b.nWaiting >= 1);
    b.wait();`, { args: { name: barrier.name } }).then((x) => ((diedAt = performance.now()), x));
  assertKilled(r);
  assert.equal(await outcome, 'ERR_SHMKIT_BROKEN_BARRIER');
  const ms = performance.now() - diedAt;
  assert.ok(ms < 1000, `broken ${ms} ms after the kill`);
  assert.equal(barrier.broken, true);
  barrier.reset();
  assert.equal(barrier.broken, false, 'and reset() makes it usable again');
  const first = barrier.waitAsync({ timeout: 10_000 });
  assert.equal(barrier.wait({ timeout: 10_000 }), 1, 'two parties pass it');
  assert.equal(await first, 0);
});
