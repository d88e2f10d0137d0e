// npm run demo: unrelated processes cooperating on one segment that they find by name.
//
// The coordinator creates a segment, fills its data area with pseudo-random bytes and
// starts four fresh `node` processes (plain spawns: they inherit no handle, only the
// segment's name on their command line). Each attaches by name, builds a histogram of
// its quarter of the data, writes it into its own slot and raises its done flag. A
// read-only observer process watches the flags; python3, if present, reads the result
// with CPython's own SharedMemory. The coordinator checks the merged histogram against
// one it computes itself.
//
// Part three: a pipeline. Two producers and two consumers, all started together by a
// Barrier, pass jobs (structured-clone objects) through a Queue; the coordinator raises
// an Event to stop the consumers once the producers are done and the queue is drained.
//
// Part four: a SharedMap cache that three workers read and count in, filled from an
// object the coordinator serves with Manager (called only on a miss).
//
// Part two: a Value counter that every worker increments, a record of two numbers that
// must always sum to zero, updated only under its lock, and a worker that the coordinator
// SIGKILLs while it holds that lock. The others get the lock within a second, are told
// its owner died, repair the record, and finish.
//
// Layout of the part-one segment (all little-endian):
//   0      4 × int32    done flags, one per worker (0 = working, 1 = done)
//   64     4 × 256 × float64   each worker's histogram of byte values
//   8256   DATA bytes   the input
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Manager, SharedMap, Barrier, Event, Queue, SharedArray, SharedMemory, Value } from 'shmkit';

const WORKERS = 4;
const DATA = 32 * 2 ** 20;
const FLAGS = 0;
const HIST = 64;
const INPUT = HIST + WORKERS * 256 * 8;
const worker = fileURLToPath(new URL('./demo-worker.mjs', import.meta.url));

function run(command, args, { onLine } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      onLine?.(String(d), child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 || signal === 'SIGKILL' ? resolve(out) : reject(new Error(`${command} exited with ${code}`))));
  });
}

const shm = SharedMemory.create({ size: INPUT + DATA, unlinkOnExit: true });
console.log(`coordinator (pid ${process.pid}): created '${shm.name}', ${(shm.size / 2 ** 20).toFixed(1)} MiB`);
try {
  const input = new Uint8Array(shm.buffer, INPUT, DATA);
  let x = 0x9e3779b9;
  for (let i = 0; i < DATA; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5; // xorshift32
    input[i] = (x >>> 24) % 200; // a skewed distribution, so the histogram says something
  }
  console.log(`coordinator: wrote ${DATA / 2 ** 20} MiB of input; starting ${WORKERS} workers and an observer\n`);

  const chunk = DATA / WORKERS;
  const jobs = [];
  for (let w = 0; w < WORKERS; w++) {
    jobs.push(run(process.execPath, [worker, 'count', shm.name, String(w), String(INPUT + w * chunk), String(chunk)]));
  }
  jobs.push(run(process.execPath, [worker, 'observe', shm.name, String(WORKERS)]));
  for (const out of await Promise.all(jobs)) process.stdout.write(out);

  const hist = new Float64Array(256);
  for (let w = 0; w < WORKERS; w++) {
    const part = new Float64Array(shm.buffer, HIST + w * 2048, 256);
    for (let b = 0; b < 256; b++) hist[b] += part[b];
  }
  const check = new Float64Array(256);
  for (let i = 0; i < DATA; i++) check[input[i]]++;
  const same = hist.every((v, i) => v === check[i]);
  const top = [...hist].map((n, b) => [b, n]).sort((a, b) => b[1] - a[1]).slice(0, 3);
  console.log(`\ncoordinator: merged ${WORKERS} histograms: ${hist.reduce((a, b) => a + b)} bytes counted;` +
    ` most common values ${top.map(([b, n]) => `${b} (${n})`).join(', ')}`);
  console.log(`coordinator: matches a single-process count: ${same ? 'yes' : 'NO'}`);

  try {
    const py = await run('python3', ['-c', `
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(shm._name, 'shared_memory')  # attach only; never unlink
flags = shm.buf[0:16].cast('i')
print(f"python3 (pid {__import__('os').getpid()}): attached '{sys.argv[1]}' with CPython's SharedMemory; done flags = {list(flags)}")
flags.release(); shm.close()`, shm.name]);
    process.stdout.write(py);
  } catch {
    console.log('(python3 not available: skipped the CPython reader)');
  }
  if (!same) process.exitCode = 1;
} finally {
  shm.close();
  shm.unlink();
}

console.log('\n--- part two: a shared counter, a locked record, and a worker killed holding the lock\n');
const hits = Value.create({ type: 'uint32', unlinkOnExit: true });
const record = SharedArray.create({ type: 'int32', length: 2, unlinkOnExit: true });
try {
  // The victim goes first and is killed mid-update; then three workers start on a record
  // whose lock is held by a dead process.
  await run(process.execPath, [worker, 'victim', hits.name, record.name], {
    onLine: (line, child) => {
      if (!line.includes('holding the record lock')) return;
      process.stdout.write(line);
      console.log(`coordinator: SIGKILL to the victim (pid ${child.pid}) while it holds the lock; starting 3 workers`);
      child.kill('SIGKILL');
    },
  });
  const jobs = [0, 1, 2].map((w) => run(process.execPath, [worker, 'update', hits.name, record.name, String(w)]));
  for (const out of await Promise.all(jobs)) process.stdout.write(out);
  const [a, b] = record.array;
  console.log(`\ncoordinator: counter = ${hits.value} (expected ${3 * 100_000 + 1000}), record = [${a}, ${b}], sum ${a + b} (must be 0)`);
  if (hits.value !== 3 * 100_000 + 1000 || a + b !== 0) process.exitCode = 1;
} finally {
  for (const o of [hits, record]) { o.close(); o.unlink(); }
}

console.log('\n--- part three: a pipeline through a Queue, started by a Barrier, stopped by an Event\n');
const JOBS = 20_000;
const queue = Queue.create({ capacity: 256, maxMessageSize: 256, unlinkOnExit: true });
const start = Barrier.create({ parties: 5, unlinkOnExit: true });
const stop = Event.create({ unlinkOnExit: true });
const done = Value.create({ type: 'uint32', unlinkOnExit: true });
try {
  const names = [queue.name, start.name, stop.name, done.name];
  const producers = [0, 1].map((p) => run(process.execPath, [worker, 'produce', ...names, String(p), String(JOBS / 2)]));
  const consumers = [0, 1].map((c) => run(process.execPath, [worker, 'consume', ...names, String(c)]));
  const index = await start.waitAsync({ timeout: 30_000 });
  console.log(`coordinator: all five parties at the barrier (the coordinator's arrival index: ${index}); go`);
  for (const out of await Promise.all(producers)) process.stdout.write(out);
  while (!queue.empty) await new Promise((r) => setTimeout(r, 5));
  stop.set();
  console.log('coordinator: producers done and queue drained: stop event set');
  for (const out of await Promise.all(consumers)) process.stdout.write(out);
  console.log(`coordinator: ${done.value} of ${JOBS} jobs processed exactly once: ${done.value === JOBS ? 'yes' : 'NO'}`);
  if (done.value !== JOBS) process.exitCode = 1;
} finally {
  for (const o of [queue, start, stop, done]) { o.close(); o.unlink(); }
}

console.log('\n--- part four: a cluster-style cache: a SharedMap every worker reads and counts in, and a served object\n');
const cache = SharedMap.create({ maxEntries: 1024, unlinkOnExit: true });
const rates = Manager.serve(`shmkit-demo-rates-${process.pid}`, {
  // A "slow backend" that the workers call only on a cache miss.
  async lookup(user) { await new Promise((r) => setTimeout(r, 5)); return { user, plan: user % 3 === 0 ? 'pro' : 'free' }; },
});
try {
  const workers = [0, 1, 2].map((w) => run(process.execPath, [worker, 'cache', cache.name, rates.name, String(w)]));
  for (const out of await Promise.all(workers)) process.stdout.write(out);
  const requests = cache.get('requests'), misses = cache.get('misses');
  console.log(`coordinator: ${requests} requests, ${misses} user records stored from the backend (once per user: ${misses === 30 ? "yes" : "NO"}), ${cache.size} entries in the cache`);
  if (requests !== 3 * 200 || misses !== 30) process.exitCode = 1;
} finally {
  rates.close();
  cache.close();
  cache.unlink();
}
