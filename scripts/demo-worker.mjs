// One process of `npm run demo` (see demo.mjs for the segment's layout). It is started
// with nothing but the segment's name and finds the segment by that name.
import { SharedMemory } from 'shmkit';

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
