// What scripts/chaos-kill.mjs and scripts/soak.mjs share: the objects the workers
// (scripts/stress-worker.mjs) hammer, starting those workers, and checking afterwards
// what must hold given which of them were killed.
import { spawn } from 'node:child_process';
import { Condition, Event, Lock, Queue, SharedArray, SharedMemory, Value } from '../dist/index.js';

const worker = new URL('./stress-worker.mjs', import.meta.url).pathname;
const CAP = 2 ** 24; // message ids: producer slot × 2^24 + sequence (as in stress-worker.mjs)
/** The producer slot of each role (its rank among the producers), -1 for the others. */
const slots = (roles) => roles.map((r, i) => (r === 'produce' ? roles.slice(0, i).filter((x) => x === 'produce').length : -1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Makes the objects for workers with these roles, under names that start with `prefix`. */
export function createRig(prefix, roles) {
  const o = {
    progress: SharedArray.create({ name: `${prefix}progress`, type: 'int32', length: roles.length }),
    seen: SharedArray.create({ name: `${prefix}seen`, type: 'uint8', length: Math.max(1, roles.filter((r) => r === 'produce').length) * CAP }),
    counter: SharedArray.create({ name: `${prefix}counter`, type: 'int32', length: 3 }),
    turn: SharedArray.create({ name: `${prefix}turn`, type: 'int32', length: 1 }),
    stop: Event.create({ name: `${prefix}stop` }),
    value: Value.create({ name: `${prefix}value`, type: 'int32' }),
    lock: Lock.create({ name: `${prefix}lock` }),
    queue: Queue.create({ name: `${prefix}queue`, capacity: 64, maxMessageSize: 16 }),
    condition: Condition.create({ name: `${prefix}condition` }),
  };
  return {
    prefix, roles, ...o,
    close() {
      for (const x of Object.values(o)) {
        x.close();
        SharedMemory.unlink(x.name);
      }
    },
  };
}

/**
 * Starts one fresh node process per role; each has `child` and `exited` (a promise).
 * `wrap(i)` is a command to run worker i under (e.g. unshare, for a PID namespace of its own).
 */
export async function startWorkers(rig, wrap = () => []) {
  const slot = slots(rig.roles);
  const workers = rig.roles.map((role, i) => {
    const argv = [...wrap(i), process.execPath, worker, role, String(i), rig.prefix, String(slot[i])];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
    return { role, child, exited, wrapped: argv[0] !== process.execPath };
  });
  const progress = rig.progress.array;
  for (const t0 = Date.now(); rig.roles.some((_, i) => Atomics.load(progress, i) === 0); await sleep(5)) {
    if (Date.now() - t0 > 20_000) throw new Error('workers did not start within 20 s');
  }
  return workers;
}

/** Kills whatever workers still run: for a run that ends early, so that none is left behind. */
export function killWorkers(workers) {
  for (const w of workers ?? []) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
}

/** Tells the workers to stop and waits for all of them (30 s at most). */
export async function stopWorkers(rig, workers) {
  rig.stop.set();
  return Promise.race([
    Promise.all(workers.map((w) => w.exited)),
    sleep(30_000).then(() => { throw new Error('workers did not stop within 30 s'); }),
  ]);
}

/**
 * Checks every invariant after the workers have stopped; `victims` are the indices of
 * workers that were killed. Returns the figures and the list of what broke.
 */
export function check(rig, results, victims) {
  const { roles } = rig;
  const progress = rig.progress.array;
  const seen = rig.seen.array;
  const counter = rig.counter.array;
  const killed = (role) => [...victims].filter((v) => roles[v] === role).length;
  const acked = (role) => roles.reduce((sum, r, i) => sum + (r === role ? Atomics.load(progress, i) : 0), 0);
  const problems = [];
  results.forEach((r, i) => {
    if (!victims.has(i) && r.code !== 0) problems.push(`worker ${i} (${roles[i]}) failed: ${r.code} ${r.signal} ${r.stderr.trim()}`);
  });

  // Value: every acknowledged add is there, and at most one more per killed adder.
  const value = rig.value.value;
  if (value < acked('value') || value > acked('value') + killed('value')) {
    problems.push(`Value ${value}, acknowledged ${acked('value')}, killed adders ${killed('value')}`);
  }

  // Lock: takeable within 1 s; the counter it guards lost and invented nothing.
  const t0 = Date.now();
  const got = rig.lock.acquire({ timeout: 1000 });
  const lockMs = Math.max(Date.now() - t0, counter[2]); // the slowest takeover, here or in a worker
  const recovered = counter[1] + (got && rig.lock.ownerDied ? 1 : 0);
  if (!got) problems.push('the Lock could not be taken within 1 s');
  else rig.lock.release();
  if (recovered > 0 && lockMs > 1000) problems.push(`a Lock held by a killed worker took ${lockMs} ms to recover`);
  if (counter[0] < acked('lock') || counter[0] > acked('lock') + killed('lock')) {
    problems.push(`counter ${counter[0]}, acknowledged ${acked('lock')}, killed incrementers ${killed('lock')}`);
  }

  // Condition: the turns taken are the turns acknowledged (one more per killed taker).
  const turns = rig.turn.array[0];
  if (turns < acked('condition') || turns > acked('condition') + killed('condition')) {
    problems.push(`${turns} Condition turns, acknowledged ${acked('condition')}`);
  }

  // Queue: drain, then account for every acknowledged message.
  for (let id = rig.queue.tryGet(); id !== undefined; id = rig.queue.tryGet()) Atomics.add(seen, id, 1);
  let lost = 0;
  let duplicated = 0;
  let messages = 0;
  const slot = slots(roles);
  roles.forEach((role, i) => {
    if (role !== 'produce') return;
    const count = Atomics.load(progress, i);
    messages += count;
    for (let s = 0; s < count; s++) {
      if (seen[slot[i] * CAP + s] === 0) lost++;
      if (seen[slot[i] * CAP + s] > 1) duplicated++;
    }
  });
  const queueKills = killed('produce') + killed('consume');
  if (duplicated > 0) problems.push(`${duplicated} messages delivered twice`);
  if (lost > queueKills) problems.push(`${lost} messages lost with ${queueKills} queue workers killed`);

  // Headers: every object still opens by name as its kind.
  for (const [Kind, name] of [[Value, 'value'], [Lock, 'lock'], [Queue, 'queue'], [Event, 'stop'], [Condition, 'condition']]) {
    try {
      Kind.open(`${rig.prefix}${name}`).close();
    } catch (error) {
      problems.push(`${name} does not open as a ${Kind.name}: ${error.code}`);
    }
  }
  return { value, counter: counter[0], turns, lockMs, recovered, messages, lost, duplicated, problems };
}
