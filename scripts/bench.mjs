// npm run bench: shmkit side by side with its peers, measured in the same run.
//
// Absolute times drift on a shared 2-core VM; the ratios between rows measured in the
// same run are the figures that count. Prints a markdown table of medians and ratios and
// writes the raw figures as JSON to bench-results/latest.json.
//
//   node scripts/bench.mjs [--quick] [--only open|gib]
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SharedMemory } from 'shmkit';

const role = process.argv[2]?.startsWith('child-') ? process.argv[2] : undefined;
const { values: opts } = role ? { values: {} } :
  parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const self = fileURLToPath(import.meta.url);
const results = [];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Median nanoseconds per call of fn over `batches` batches of `n` calls. */
function perOp(fn, { batches = 9, n = 2000 } = {}) {
  for (let i = 0; i < n; i++) fn(); // warm up
  const times = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    times.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return median(times);
}

function record(group, name, value, unit, note = '') {
  results.push({ group, name, value, unit, note });
}

function python(code, args = []) {
  const r = spawnSync('python3', ['-c', code, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return undefined;
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

// ---------------------------------------------------------------- open by name
function benchOpen() {
  const shm = SharedMemory.create({ size: 4096 });
  try {
    const n = opts.quick ? 500 : 2000;
    record('open by name (4 KiB segment), open + close', 'shmkit SharedMemory.open', perOp(() => SharedMemory.open(shm.name).close(), { n }), 'ns/op');
    const py = python(`
import json, statistics, sys, time
from multiprocessing import shared_memory, resource_tracker
name, n = sys.argv[1], int(sys.argv[2])
def once():
    s = shared_memory.SharedMemory(name=name)
    s.close()
    resource_tracker.unregister(s._name, 'shared_memory')  # keep the tracker from unlinking it
for _ in range(n): once()
times = []
for _ in range(9):
    t0 = time.perf_counter_ns()
    for _ in range(n): once()
    times.append((time.perf_counter_ns() - t0) / n)
print(json.dumps(statistics.median(times)))`, [shm.name, String(n)]);
    if (py !== undefined) record('open by name (4 KiB segment), open + close', 'CPython SharedMemory(name)', py, 'ns/op', 'includes resource-tracker register/unregister, as every CPython < 3.13 attach does');
  } finally {
    shm.close();
    shm.unlink();
  }
}

// ------------------------------------------------- 1 GiB written by one, read by another
const GIB = 2 ** 30;

function waitExit(child) {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited with ${code}`))));
  });
}

async function benchGiB() {
  const size = opts.quick ? GIB / 4 : GIB;
  const runs = opts.quick ? 3 : 5;
  const label = `${size / 2 ** 20} MiB written by one process, read by another`;
  // The destination. Every spawn forks this process, which leaves each of its pages
  // write-protected until touched again; refilling it before each timed run keeps those
  // copy-on-write faults (this process's cost, not the transfer's) out of the figures.
  const local = Buffer.allocUnsafe(size);

  // shmkit: the writer fills a named segment and exits; the reader opens it and copies
  // every byte into its own memory.
  const shmTimes = [];
  for (let r = 0; r < runs; r++) {
    const name = `shmkit-bench-${process.pid}-${r}`;
    await waitExit(spawn(process.execPath, [self, 'child-writer', name, String(size)], { stdio: 'inherit' }));
    local.fill(0);
    try {
      const t0 = process.hrtime.bigint();
      const shm = SharedMemory.open(name);
      Buffer.from(shm.buffer).copy(local);
      shm.close();
      shmTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
    } finally {
      SharedMemory.unlink(name);
    }
  }
  record(label, 'shmkit: open by name + copy out', median(shmTimes), 'ms');

  // child_process IPC: the child already holds the bytes and sends them over Node's
  // IPC channel (advanced serialization, 16 MiB messages); the parent copies them in.
  const ipcTimes = [];
  for (let r = 0; r < runs; r++) {
    const child = fork(self, ['child-ipc', String(size)], { serialization: 'advanced', stdio: 'inherit' });
    await new Promise((resolve) => child.once('message', resolve)); // ready
    local.fill(0);
    const t0 = process.hrtime.bigint();
    let received = 0;
    await new Promise((resolve) => {
      child.on('message', (chunk) => {
        const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        bytes.copy(local, received);
        received += bytes.length;
        if (received >= size) resolve();
      });
      child.send('go');
    });
    ipcTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
    child.disconnect();
    await waitExit(child);
  }
  record(label, 'child_process IPC (advanced serialization)', median(ipcTimes), 'ms');

  // The ceiling: one memcpy inside one process.
  const source = Buffer.allocUnsafe(size);
  source.fill(2);
  const copyTimes = [];
  local.fill(0);
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    source.copy(local);
    copyTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  record(label, 'in-process memcpy (ceiling)', median(copyTimes), 'ms');
}

// ---------------------------------------------------------------- child roles
if (role === 'child-writer') {
  const shm = SharedMemory.create({ name: process.argv[3], size: Number(process.argv[4]) });
  new Uint8Array(shm.buffer).fill(0x5a);
  shm.close();
} else if (role === 'child-ipc') {
  const size = Number(process.argv[3]);
  const chunk = 16 * 2 ** 20;
  const data = Buffer.alloc(size, 0x5a);
  process.send('ready');
  process.once('message', () => {
    for (let off = 0; off < size; off += chunk) process.send(data.subarray(off, Math.min(size, off + chunk)));
  });
} else {
  await main();
}

async function main() {
  console.error(`shmkit benchmarks: node ${process.version}, ${process.platform}-${process.arch}${opts.quick ? ', --quick' : ''}`);
  if (!opts.only || opts.only === 'open') benchOpen();
  if (!opts.only || opts.only === 'gib') await benchGiB();

  const lines = ['| case | implementation | median | vs shmkit |', '| --- | --- | ---: | ---: |'];
  for (const group of new Set(results.map((r) => r.group))) {
    const rows = results.filter((r) => r.group === group);
    const base = rows.find((r) => r.name.startsWith('shmkit'))?.value;
    for (const r of rows) {
      const shown = r.unit === 'ns/op' ? `${r.value >= 1000 ? (r.value / 1000).toFixed(2) + ' µs' : r.value.toFixed(0) + ' ns'}/op` : `${r.value.toFixed(1)} ${r.unit}`;
      const ratio = base ? `${(r.value / base).toFixed(2)}×` : '';
      lines.push(`| ${group} | ${r.name}${r.note ? ` ¹` : ''} | ${shown} | ${ratio} |`);
    }
  }
  const notes = [...new Set(results.filter((r) => r.note).map((r) => r.note))];
  console.log(lines.join('\n'));
  for (const n of notes) console.log(`\n¹ ${n}`);
  console.log('\n"vs shmkit" is the row\'s time divided by shmkit\'s: above 1× means shmkit is faster.');
  mkdirSync('bench-results', { recursive: true });
  writeFileSync('bench-results/latest.json', JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2));
}
