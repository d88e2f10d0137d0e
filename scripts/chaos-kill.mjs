// Kill -9 at random moments inside every primitive, and check what must still hold.
//
// Each iteration makes a Value, a Lock guarding a plain counter, a Queue and a Condition
// (scripts/stress-rig.mjs), starts workers in fresh node processes
// (scripts/stress-worker.mjs: two adding to the Value, two incrementing the counter under
// the Lock, two producers and two consumers on the Queue, two taking turns through the
// Condition), SIGKILLs one or two of them at random moments, stops the rest, and checks:
//   - Value: every acknowledged add is there; at most one more per killed adder;
//   - Lock: it can be taken within 1 s (ownerDied set if a killed worker held it), and
//     the counter it guards lost no acknowledged increment and gained at most one per
//     killed incrementer (a torn critical section would show as a lost update);
//   - Queue: no message delivered twice; at most one lost per killed producer or
//     consumer (the one in flight); the rest are delivered or still queued;
//   - Condition: the turns taken are those acknowledged, give or take a killed taker;
//   - headers: every object still opens by name as its kind.
// --pause also stops a live worker (SIGSTOP) at a random moment for up to 400 ms and
// lets it go on (SIGCONT): a paused owner is alive, and nothing may be taken from it.
// --pidns runs every other worker in a PID namespace of its own (unshare, as root), so
// that owners, waiters and recoverers are in different namespaces.
// Usage: node scripts/chaos-kill.mjs [--iterations N] [--seed S] [--pause] [--pidns] [--json]
// Exit code 1 if any invariant broke.
import { parseArgs } from 'node:util';
import { check, createRig, killWorkers, startWorkers, stopWorkers } from './stress-rig.mjs';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '20' }, seed: { type: 'string' }, json: { type: 'boolean', default: false },
  pause: { type: 'boolean', default: false }, pidns: { type: 'boolean', default: false } } });
// --kill-child: the namespace's first process dies with unshare, so a SIGKILL of the wrapper is one of the worker.
const wrap = (i) => (values.pidns && i % 2 === 1 ? ['unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc'] : []);
const iterations = Number(values.iterations);
let seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const initialSeed = seed;
const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32); // reproducible with --seed
const ROLES = ['value', 'value', 'lock', 'lock', 'produce', 'produce', 'consume', 'consume', 'condition', 'condition'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function iteration(n) {
  const rig = createRig(`shmkit-chaos-${process.pid}-${n}-`, ROLES);
  let workers;
  try {
    workers = await startWorkers(rig, wrap);
    // One or two victims, killed at random moments while everyone is busy.
    const victims = new Set();
    const kills = 1 + Math.floor(random() * 2);
    while (victims.size < kills) victims.add(Math.floor(random() * ROLES.length));
    let paused;
    if (values.pause) {
      // A live worker (not a victim, not behind a wrapper that SIGSTOP would not reach).
      const candidates = workers.map((w, i) => i).filter((i) => !victims.has(i) && !workers[i].wrapped);
      paused = candidates[Math.floor(random() * candidates.length)];
    }
    let resumed = Promise.resolve();
    if (paused !== undefined) {
      resumed = (async () => {
        await sleep(random() * 60);
        workers[paused].child.kill('SIGSTOP');
        await sleep(random() * 400);
        workers[paused].child.kill('SIGCONT');
      })();
    }
    for (const v of victims) {
      await sleep(random() * 60);
      workers[v].child.kill('SIGKILL');
    }
    await resumed;
    await sleep(50 + random() * 100);
    const results = await stopWorkers(rig, workers);
    return { iteration: n, killed: [...victims].map((i) => ROLES[i]), paused: paused === undefined ? undefined : ROLES[paused], ...check(rig, results, victims) };
  } finally {
    killWorkers(workers);
    rig.close();
  }
}

const rows = [];
for (let n = 0; n < iterations; n++) {
  const r = await iteration(n);
  rows.push(r);
  if (!values.json) {
    console.log(`#${n}: killed ${r.killed.join('+')}${r.paused ? `, paused ${r.paused}` : ''}; Value ${r.value}; counter ${r.counter}; ${r.turns} Condition turns` +
      `${r.recovered ? `; Lock taken over from a killed holder in ${r.lockMs} ms` : ''}; ${r.messages} messages, ${r.lost} lost, ${r.duplicated} twice` +
      `${r.problems.length ? `\n   VIOLATED: ${r.problems.join('; ')}` : ''}`);
  }
}
const violations = rows.reduce((n, r) => n + r.problems.length, 0);
const summary = {
  seed: initialSeed, iterations, violations,
  lockTakeovers: rows.reduce((n, r) => n + r.recovered, 0),
  maxLockRecoveryMs: Math.max(0, ...rows.filter((r) => r.recovered).map((r) => r.lockMs)),
  messages: rows.reduce((n, r) => n + r.messages, 0),
  lost: rows.reduce((n, r) => n + r.lost, 0),
};
console.log(values.json ? JSON.stringify({ summary, rows }) : `\nseed ${summary.seed}: ${iterations} iterations, ${violations} violations; ` +
  `${summary.lockTakeovers} Lock takeovers from killed holders (slowest ${summary.maxLockRecoveryMs} ms); ` +
  `${summary.messages} messages, ${summary.lost} lost in flight`);
process.exit(violations === 0 ? 0 : 1);
