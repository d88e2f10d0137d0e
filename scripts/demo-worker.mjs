// One process of `npm run demo` (see demo.mjs for the segment's layout). It is started
// with nothing but the segment's name and finds the segment by that name.
import { Barrier, Event, Manager, Queue, SharedArray, SharedMap, SharedMemory, Value } from 'shmkit';

const [role, name, ...rest] = process.argv.slice(2);
const HIST = 64;

if (role === 'count') {
  const [index, offset, length] = rest.map(Number);
  const started = performance.now();
  const shm = SharedMemory.open(name);
  const input = new Uint8Array(shm.buffer, offset, length);
  const hist = new Float64Array(shm.buffer, HIST + index * 2048, 256);
  for (let i = 0; i < input.length; i++) hist[input[i]]++;
  Atomics.store(new Int32Array(shm.buffer, 0, 4), index, 1); // publish after the histogram
  console.log(`worker ${index} (pid ${process.pid}): opened '${name}', counted bytes ${offset}..${offset + length} ` +
    `in ${(performance.now() - started).toFixed(0)} ms, wrote histogram slot ${index}`);
  shm.close();
} else if (role === 'update' || role === 'victim') {
  // Part two. The record's invariant: record[0] + record[1] === 0, restored under its lock.
  const hits = Value.open(name);
  const record = SharedArray.open(rest[0]);
  const [r, lock] = [record.array, record.lock];
  if (role === 'victim') {
    for (let i = 0; i < 1000; i++) hits.add(1);
    lock.acquire();
    r[0] += 1000; // half an update: the other half never comes
    console.log(`victim (pid ${process.pid}): 1000 increments done; holding the record lock mid-update`);
    setInterval(() => {}, 1000);
  } else {
    const started = performance.now();
    let recovered = false;
    for (let i = 0; i < 100_000; i++) {
      hits.add(1);
      if (i % 50 !== 0) continue;
      lock.acquire();
      if (lock.ownerDied) {
        r[1] = -r[0]; // repair what the dead owner left half-done
        recovered = true;
        console.log(`worker ${rest[1]} (pid ${process.pid}): took the lock over from a dead owner after ` +
          `${(performance.now() - started).toFixed(0)} ms of work; repaired the record`);
      }
      const k = (i % 7) + 1;
      r[0] += k;
      r[1] -= k;
      lock.release();
    }
    console.log(`worker ${rest[1]} (pid ${process.pid}): 100000 increments and 2000 locked updates done`);
  }
} else if (role === 'produce' || role === 'consume') {
  // Part three: the pipeline.
  const [startName, stopName, doneName, id, count] = rest;
  const queue = Queue.open(name);
  const start = Barrier.open(startName);
  const stop = Event.open(stopName);
  const done = Value.open(doneName);
  await start.waitAsync({ timeout: 30_000 });
  const t0 = performance.now();
  if (role === 'produce') {
    for (let i = 0; i < Number(count); i++) await queue.putAsync({ producer: Number(id), job: i, payload: `job ${i}` });
    console.log(`producer ${id} (pid ${process.pid}): put ${count} jobs in ${(performance.now() - t0).toFixed(0)} ms`);
  } else {
    let n = 0;
    let checksum = 0;
    while (!(stop.isSet() && queue.empty)) {
      const job = await queue.getAsync({ timeout: 20 });
      if (job === undefined) continue;
      checksum += job.job;
      done.add(1);
      n++;
    }
    console.log(`consumer ${id} (pid ${process.pid}): processed ${n} jobs (checksum ${checksum}) until the stop event`);
  }
} else if (role === 'cache') {
  // Part four: 200 requests for 30 users; a user's record comes from the shared cache, or
  // from the served backend once (setIfAbsent: whichever worker fetched first wins).
  const [rates, id] = rest;
  const cache = SharedMap.open(name);
  const backend = await Manager.connect(rates, { timeout: 5000 });
  let hits = 0;
  for (let i = 0; i < 200; i++) {
    const user = (i * 7 + Number(id) * 13) % 30;
    cache.add('requests', 1);
    if (cache.get(`user:${user}`) !== undefined) { hits++; continue; }
    if (cache.setIfAbsent(`user:${user}`, await backend.lookup(user))) cache.add('misses', 1);
  }
  console.log(`cache worker ${id} (pid ${process.pid}): 200 requests, ${hits} served from the shared cache`);
  backend.close();
  cache.close();
} else if (role === 'observe') {
  const workers = Number(rest[0]);
  const shm = SharedMemory.open(name, { readOnly: true });
  const flags = new Int32Array(shm.buffer, 0, workers);
  const seen = [];
  const deadline = Date.now() + 30_000;
  while (seen.length < workers && Date.now() < deadline) {
    for (let w = 0; w < workers; w++) if (Atomics.load(flags, w) === 1 && !seen.includes(w)) seen.push(w);
    await new Promise((r) => setTimeout(r, 2));
  }
  console.log(`observer (pid ${process.pid}): attached '${name}' read-only; saw workers finish in the order ${seen.join(', ')}`);
  shm.close();
  if (seen.length < workers) process.exit(1);
}
