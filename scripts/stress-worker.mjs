// A worker of scripts/chaos-kill.mjs and scripts/soak.mjs: hammers one primitive until
// told to stop (or killed), acknowledging each completed operation in its own progress
// word, so that the parent knows what certainly happened and what may have been in flight.
import { Condition, Event, Lock, Queue, SharedArray, Value } from '../dist/index.js';

const [role, index, prefix, slot] = [process.argv[2], Number(process.argv[3]), process.argv[4], Number(process.argv[5])];
const progress = SharedArray.open(`${prefix}progress`).array; // int32 per worker
const seen = SharedArray.open(`${prefix}seen`).array; // uint8 per message id: producer slot × 2^24 + sequence
const stop = Event.open(`${prefix}stop`);
const PER_PRODUCER = 2 ** 24;

if (role === 'value') {
  const v = Value.open(`${prefix}value`);
  while (!stop.isSet()) {
    v.add(1);
    Atomics.add(progress, index, 1);
  }
} else if (role === 'lock') {
  const lock = Lock.open(`${prefix}lock`);
  const counter = SharedArray.open(`${prefix}counter`).array; // [0]: guarded by the lock; [1], [2]: recoveries, slowest in ms
  while (!stop.isSet()) {
    const t0 = performance.now();
    if (!lock.acquire({ timeout: 5000 })) throw new Error('lock not acquired in 5 s');
    if (lock.ownerDied) {
      Atomics.add(counter, 1, 1);
      Atomics.store(counter, 2, Math.max(Atomics.load(counter, 2), Math.ceil(performance.now() - t0)));
    }
    // A read-modify-write stretched over ~100 µs: a kill often lands inside it, and two
    // holders at once would lose an update.
    const read = counter[0];
    for (const t = performance.now() + 0.1; performance.now() < t;);
    counter[0] = read + 1;
    lock.release();
    Atomics.add(progress, index, 1);
  }
} else if (role === 'produce') {
  const q = Queue.open(`${prefix}queue`);
  for (let i = 0; !stop.isSet() && i < PER_PRODUCER; i++) {
    while (!q.put(slot * PER_PRODUCER + i, { timeout: 50 })) if (stop.isSet()) process.exit(0);
    Atomics.store(progress, index, i + 1); // ids slot × 2^24 + [0, i] are in the queue
  }
  stop.wait(); // all ids used: stay (a soak samples this process) until told to stop
} else if (role === 'consume') {
  const q = Queue.open(`${prefix}queue`);
  while (!stop.isSet()) {
    const id = q.get({ timeout: 50 });
    if (id === undefined) continue;
    Atomics.add(seen, id, 1);
    Atomics.add(progress, index, 1);
  }
} else if (role === 'condition') {
  // Two (or more) processes take turns through a Condition: worker i moves the turn
  // counter only when it is its turn (turn % 2 === i % 2), then wakes the others.
  const cond = Condition.open(`${prefix}condition`);
  const turn = SharedArray.open(`${prefix}turn`).array;
  while (!stop.isSet()) {
    if (!cond.acquire({ timeout: 5000 })) throw new Error('condition lock not acquired in 5 s');
    if (cond.waitFor(() => turn[0] % 2 === index % 2 || stop.isSet(), { timeout: 100 }) && !stop.isSet()) {
      turn[0] = turn[0] + 1;
      cond.notifyAll();
      Atomics.add(progress, index, 1);
    }
    cond.release();
  }
}
process.exit(0);
