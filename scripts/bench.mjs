// npm run bench: shmkit side by side with its peers, measured in the same run.
//
// Absolute times drift on a shared 2-core VM; the ratios between rows measured in the
// same run are the figures that count. Prints a markdown table of medians and ratios and
// writes the raw figures as JSON to bench-results/latest.json and a chart of the ratios
// to bench-results/latest.svg (docs/benchmark.svg is a copy of the last full run's).
//
//   node scripts/bench.mjs [--quick] [--only open|create|gib|counter|lock|ownership|pingpong|list|queue|sync|map|manager]
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderChart } from './bench-chart.mjs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Barrier, Event, Lock, Manager, Queue, ShareableList, SharedMap, SharedMemory, Value, notify, wait } from 'shmkit';

const role = process.argv[2]?.startsWith('child-') ? process.argv[2] : undefined;
const { values: opts } = role ? { values: {} } :
  parseArgs({ options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    // Internal: print the results as JSON for a parent run (used to rerun a group pinned to one CPU).
    'emit-json': { type: 'boolean', default: false },
    'group-suffix': { type: 'string', default: '' },
  } });
const self = fileURLToPath(import.meta.url);
const results = [];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Median nanoseconds per operation over `batches` batches. `loop(n)` performs the
 * operation n times in a loop of its own, so that every case is compiled on its own
 * and no shared call site's overhead is measured instead of the operation.
 */
function perOp(loop, { batches = 9, n = 2000 } = {}) {
  for (let w = 0; w < 3; w++) loop(n); // warm up: let the JIT settle on this loop
  const times = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    loop(n);
    times.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return median(times);
}

function record(group, name, value, unit, note = '') {
  results.push({ group, name, value, unit, note });
}

function python(code, args = [], [command, prefix] = ['python3', []]) {
  const r = spawnSync(command, [...prefix, '-c', code, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return undefined;
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

// ---------------------------------------------------------------- open by name
function benchOpen() {
  const shm = SharedMemory.create({ size: 4096 });
  try {
    const n = opts.quick ? 500 : 2000;
    record('open by name (4 KiB segment), open + close', 'shmkit SharedMemory.open', perOp((k) => { for (let i = 0; i < k; i++) SharedMemory.open(shm.name).close(); }, { n }), 'ns/op');
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

// ---------------------------------------------------------------- create: reserved, sparse, CPython
// Reservation (fallocate at create: issue 13) zeroes every page once, so it costs time
// that a sparse create defers to first touch (and risks SIGBUS for). CPython's create is
// sparse (ftruncate only). Each figure: create + close + unlink, median of several runs.
function benchCreate() {
  const MiB = 2 ** 20;
  for (const size of opts.quick ? [MiB, 64 * MiB] : [MiB, 64 * MiB, 1024 * MiB]) {
    const runs = size >= 1024 * MiB ? 3 : 9;
    const group = `create a ${size / MiB} MiB segment (create + close + unlink)`;
    for (const [name, sparse] of [['shmkit SharedMemory.create (reserved)', false], ['shmkit SharedMemory.create({ sparse: true })', true]]) {
      const times = [];
      for (let r = 0; r < runs + 1; r++) {
        const t0 = process.hrtime.bigint();
        const shm = SharedMemory.create({ size, sparse });
        shm.close();
        shm.unlink();
        if (r > 0) times.push(Number(process.hrtime.bigint() - t0) / 1e3); // the first run warms up
      }
      record(group, name, median(times), 'µs');
    }
    const py = python(`
import json, statistics, sys, time
from multiprocessing import shared_memory
size, runs = int(sys.argv[1]), int(sys.argv[2])
times = []
for r in range(runs + 1):
    t0 = time.perf_counter_ns()
    s = shared_memory.SharedMemory(create=True, size=size)
    s.close()
    s.unlink()
    if r > 0: times.append((time.perf_counter_ns() - t0) / 1e3)
print(json.dumps(statistics.median(times)))`, [String(size), String(runs)]);
    if (py !== undefined) record(group, 'CPython SharedMemory(create=True)', py, 'µs', 'sparse: ftruncate only');
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

// ---------------------------------------------------------------- counters
/** Runs `count` child roles that each do `n` operations after a common start; ns per op overall. */
async function together(roleName, count, n, extra = []) {
  const shm = SharedMemory.create({ size: 4096 });
  try {
    const start = new Int32Array(shm.buffer, 0, 2);
    const children = Array.from({ length: count }, () => spawn(process.execPath, [self, roleName, shm.name, String(n), String(count), ...extra], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const outputs = children.map((c) => new Promise((resolve) => { let o = ''; c.stdout.on('data', (d) => (o += d)); c.on('close', () => resolve(o)); }));
    while (Atomics.load(start, 0) < count) await new Promise((r) => setTimeout(r, 1));
    const t0 = process.hrtime.bigint();
    Atomics.store(start, 1, 1);
    notify(start, 1);
    await Promise.all(outputs.map(async (o) => { if ((await o).trim() !== 'done') throw new Error(`child ${roleName} failed`); }));
    const elapsed = Number(process.hrtime.bigint() - t0);
    return { elapsed, perOp: elapsed / (count * n), total: Atomics.load(new Int32Array(shm.buffer, 64, 1), 0) };
  } finally {
    shm.close();
    shm.unlink();
  }
}

async function benchCounter() {
  const n = opts.quick ? 200_000 : 2_000_000;
  const one = 'counter increment, 1 process';
  const v = Value.create({ type: 'int32' });
  const sab = new Int32Array(new SharedArrayBuffer(8));
  try {
    const raw = new Int32Array(SharedMemory.open(v.name).view(64, 8));
    record(one, 'shmkit Value.add(1)', perOp((k) => { for (let i = 0; i < k; i++) v.add(1); }, { n: n / 10 }), 'ns/op');
    record(one, 'raw Atomics.add on the same mapping (ceiling)', perOp((k) => { for (let i = 0; i < k; i++) Atomics.add(raw, 0, 1); }, { n: n / 10 }), 'ns/op');
    record(one, 'Atomics.add on a SharedArrayBuffer', perOp((k) => { for (let i = 0; i < k; i++) Atomics.add(sab, 0, 1); }, { n: n / 10 }), 'ns/op');
  } finally {
    v.close();
    v.unlink();
  }
  const pyN = opts.quick ? 20_000 : 200_000;
  const py1 = python(`
import json, statistics, sys, time
from multiprocessing import Value
v = Value('i', 0)
n = int(sys.argv[1])
times = []
for _ in range(5):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    times.append((time.perf_counter_ns() - t0) / n)
print(json.dumps(statistics.median(times)))`, [String(pyN / 10)]);
  if (py1 !== undefined) record(one, 'CPython Value += 1 under get_lock()', py1, 'ns/op');

  const two = 'counter increment, 2 processes at once (time per increment, all processes together)';
  const shmkit2 = await together('child-count-value', 2, n);
  record(two, 'shmkit Value.add(1)', shmkit2.perOp, 'ns/op');
  if (shmkit2.total !== 2 * n) throw new Error(`Value.add lost increments: ${shmkit2.total}`);
  record(two, 'raw Atomics.add on the same mapping (ceiling)', (await together('child-count-raw', 2, n)).perOp, 'ns/op');
  record(two, 'SharedArrayBuffer + 2 worker_threads', await workersCount(n), 'ns/op', 'threads of one process: Node\'s in-process limit');
  const py2 = python(`
import json, sys, time
from multiprocessing import Process, Value, Event
def work(v, n, go):
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
if __name__ == '__main__':
    n = int(sys.argv[1])
    v, go = Value('i', 0), Event()
    ps = [Process(target=work, args=(v, n, go)) for _ in range(2)]
    for p in ps: p.start()
    time.sleep(0.2)
    t0 = time.perf_counter_ns(); go.set()
    for p in ps: p.join()
    assert v.value == 2 * n
    print(json.dumps((time.perf_counter_ns() - t0) / (2 * n)))`, [String(pyN)]);
  if (py2 !== undefined) record(two, 'CPython Value += 1 under get_lock(), 2 processes', py2, 'ns/op', 'CPython\'s Value cannot be opened by name: its processes are forked children');
}

async function workersCount(n) {
  const sab = new SharedArrayBuffer(8);
  const code = `const { workerData: { sab, n }, parentPort } = require('node:worker_threads');
    const a = new Int32Array(sab); Atomics.add(a, 1, 1); while (Atomics.load(a, 1) < 3) Atomics.wait(a, 1, Atomics.load(a, 1), 5);
    for (let i = 0; i < n; i++) Atomics.add(a, 0, 1); parentPort.postMessage('done');`;
  const a = new Int32Array(sab);
  const workers = [0, 1].map(() => new Worker(code, { eval: true, workerData: { sab, n } }));
  const done = workers.map((w) => new Promise((r) => w.once('message', r)));
  while (Atomics.load(a, 1) < 2) await new Promise((r) => setTimeout(r, 1));
  const t0 = process.hrtime.bigint();
  Atomics.add(a, 1, 1);
  Atomics.notify(a, 1);
  await Promise.all(done);
  const elapsed = Number(process.hrtime.bigint() - t0);
  await Promise.all(workers.map((w) => w.terminate()));
  return elapsed / (2 * n);
}

// ---------------------------------------------------------------- locks
function benchLock() {
  const n = opts.quick ? 100_000 : 1_000_000;
  const group = 'uncontended lock: acquire + release';
  const lock = Lock.create();
  const rawShm = SharedMemory.create({ size: 8 });
  try {
    const w = new Int32Array(rawShm.buffer);
    record(group, 'shmkit Lock acquire() + release()', perOp((k) => { for (let i = 0; i < k; i++) { lock.acquire(); lock.release(); } }, { n: n / 10 }), 'ns/op');
    record(group, 'raw compareExchange lock on a mapping (ceiling)', perOp((k) => {
      for (let i = 0; i < k; i++) {
        while (Atomics.compareExchange(w, 0, 0, 1) !== 0);
        Atomics.store(w, 0, 0);
      }
    }, { n: n / 10 }), 'ns/op');
  } finally {
    for (const x of [lock, rawShm]) { x.close(); x.unlink(); }
  }
  const py = python(`
import json, statistics, sys, time
from multiprocessing import Lock
lock, n, times = Lock(), int(sys.argv[1]), []
for _ in range(5):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        lock.acquire(); lock.release()
    times.append((time.perf_counter_ns() - t0) / n)
print(json.dumps(statistics.median(times)))`, [String(n / 10)]);
  if (py !== undefined) record(group, 'CPython multiprocessing.Lock', py, 'ns/op');
}

// ---------------------------------------------------------------- ping-pong
async function benchPingPong() {
  const rounds = opts.quick ? 2_000 : 20_000;
  const group = `two-process ping-pong: one round trip (wake the other, be woken back)${opts['group-suffix']}`;
  const shm = SharedMemory.create({ size: 64 });
  try {
    const w = new Int32Array(shm.buffer, 0, 1);
    const child = spawn(process.execPath, [self, 'child-pong', shm.name, String(rounds)], { stdio: 'inherit' });
    const exited = waitExit(child);
    // Round i: this process writes 2i+1 and wakes the child; the child answers 2i+2.
    while (Atomics.load(w, 0) !== -1) wait(w, 0, 0, 5);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) {
      Atomics.store(w, 0, 2 * i + 1);
      notify(w, 0, 1);
      let v;
      while ((v = Atomics.load(w, 0)) !== 2 * i + 2) wait(w, 0, v);
    }
    record(group, 'shmkit wait/notify', Number(process.hrtime.bigint() - t0) / rounds, 'ns/op');
    await exited;
    const c = cPeer(['futex', rounds]);
    if (c !== undefined) record(group, 'C shared futex wait/wake (cc -O2, scripts/bench-peers.c)', c, 'ns/op');
  } finally {
    shm.close();
    shm.unlink();
  }
  // The same hand-off through shmkit's Event, which looks at its flag briefly before it
  // sleeps (raw wait() may not: a bare notify changes nothing it could look at).
  const a = Event.create();
  const b = Event.create();
  try {
    const out = await Promise.all([child('child-event', [a.name, b.name, rounds, 'ping']), child('child-event', [a.name, b.name, rounds, 'pong'])]);
    record(group, 'shmkit Event set/wait', Number(out[0]), 'ns/op');
    if (!opts['group-suffix'] && availableParallelism() > 1) {
      // Each process pinned to a CPU of its own: its affinity mask says one CPU, yet the
      // peer runs elsewhere, so looking before sleeping still pays.
      a.clear();
      b.clear();
      const two = await Promise.all([child('child-event', [a.name, b.name, rounds, 'ping'], { cpu: 0 }), child('child-event', [a.name, b.name, rounds, 'pong'], { cpu: 1 })]);
      record(`${group}, each process pinned to a CPU of its own (taskset -c 0 / -c 1)`, 'shmkit Event set/wait', Number(two[0]), 'ns/op');
      const c = cPeer(['futex', rounds, 0, 1]);
      if (c !== undefined) record(`${group}, each process pinned to a CPU of its own (taskset -c 0 / -c 1)`, 'C shared futex wait/wake (cc -O2, scripts/bench-peers.c)', c, 'ns/op');
    }
  } finally {
    for (const e of [a, b]) { e.close(); e.unlink(); }
  }
  const py = python(`
import json, sys, time
from multiprocessing import Pipe, Process
def pong(conn, n):
    for _ in range(n): conn.send(conn.recv())
if __name__ == '__main__':
    n = int(sys.argv[1])
    a, b = Pipe()
    p = Process(target=pong, args=(b, n)); p.start()
    a.send(0); a.recv()
    t0 = time.perf_counter_ns()
    for i in range(n - 1):
        a.send(i); a.recv()
    print(json.dumps((time.perf_counter_ns() - t0) / (n - 1)))
    p.join()`, [String(rounds)]);
  if (py !== undefined) record(group, 'CPython multiprocessing.Pipe send/recv', py, 'ns/op');
  const ipc = fork(self, ['child-ipc-pong'], { stdio: 'inherit' });
  await new Promise((r) => ipc.once('message', r));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => { ipc.once('message', r); ipc.send(i); });
  }
  record(group, 'child_process IPC send/message', Number(process.hrtime.bigint() - t0) / rounds, 'ns/op');
  ipc.disconnect();
  await waitExit(ipc);
  await benchLockContended();
}

// Two processes each take and release one lock in a loop around a counter increment: the
// lock changes hands whenever the other is waiting, so this is hand-off under contention.
// The same placements as the ping-pong (the one-CPU one comes from the pinned rerun).
async function benchLockContended() {
  const n = opts.quick ? 20_000 : 200_000;
  const group = `two processes contending for one lock: per acquire + release${opts['group-suffix']}`;
  const placements = [['', [undefined, undefined]]];
  if (!opts['group-suffix'] && availableParallelism() > 1) placements.push([', each process pinned to a CPU of its own (taskset -c 0 / -c 1)', [0, 1]]);
  for (const [where, cpus] of placements) {
    const lock = Lock.create();
    const start = Barrier.create({ parties: 2 });
    const counter = SharedMemory.create({ size: 8 });
    try {
      const out = await Promise.all(cpus.map((cpu) => child('child-lock', [lock.name, start.name, counter.name, n], { cpu })));
      const count = new Int32Array(counter.buffer)[0];
      if (count !== 2 * n) throw new Error(`contended lock: counter ${count}, expected ${2 * n}`);
      record(group + where, 'shmkit Lock acquire() + release()', Math.max(...out.map(Number)) / (2 * n), 'ns/op');
    } finally {
      for (const x of [lock, start, counter]) { x.close(); x.unlink(); }
    }
    const c = cPeer(['mutex', n, ...(cpus[0] === undefined ? [] : cpus)]);
    if (c !== undefined) record(group + where, 'C robust process-shared pthread_mutex (cc -O2)', c, 'ns/op');
  }
  const py = python(`
import json, sys, time
from multiprocessing import Barrier, Lock, Process, Value
def party(lock, start, counter, n, out):
    start.wait()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        lock.acquire(); counter.value += 1; lock.release()
    out.value = time.perf_counter_ns() - t0
if __name__ == '__main__':
    n = int(sys.argv[1]) // 10
    lock, start, counter = Lock(), Barrier(2), Value('q', 0, lock=False)
    outs = [Value('d', 0.0) for _ in range(2)]
    ps = [Process(target=party, args=(lock, start, counter, n, o)) for o in outs]
    for p in ps: p.start()
    for p in ps: p.join()
    assert counter.value == 2 * n
    print(json.dumps(max(o.value for o in outs) / (2 * n)))`, [String(n)]);
  if (py !== undefined) record(group, 'CPython multiprocessing.Lock (a tenth of the rounds)', py, 'ns/op');
}

// ---------------------------------------------------------------- ShareableList
function benchList() {
  const n = opts.quick ? 20_000 : 200_000;
  const items = [12345, 2.5, 'short', true];
  const list = ShareableList.create({ items });
  try {
    const cases = [
      ['get of a number', (k) => { let x = 0; for (let i = 0; i < k; i++) x += list.get(0); return x; }],
      ['set of a number', (k) => { for (let i = 0; i < k; i++) list.set(0, i); }],
      ['get of a short string', (k) => { let x = 0; for (let i = 0; i < k; i++) x += list.get(2).length; return x; }],
      ['set of a short string', (k) => { for (let i = 0; i < k; i++) list.set(2, i & 1 ? 'short' : 'other'); }],
    ];
    for (const [label, loop] of cases) record(`ShareableList ${label}`, 'shmkit ShareableList', perOp(loop, { n: n / 10 }), 'ns/op');
  } finally {
    list.close();
    list.unlink();
  }
  const py = python(`
import json, statistics, sys, time
from multiprocessing import shared_memory
sl = shared_memory.ShareableList([12345, 2.5, 'short', True])
n = int(sys.argv[1])
def med(f):
    f(n)
    times = []
    for _ in range(5):
        t0 = time.perf_counter_ns(); f(n); times.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(times)
def get_num(k):
    for _ in range(k): sl[0]
def set_num(k):
    for i in range(k): sl[0] = i
def get_str(k):
    for _ in range(k): sl[2]
def set_str(k):
    for i in range(k): sl[2] = 'short' if i & 1 else 'other'
out = [med(get_num), med(set_num), med(get_str), med(set_str)]
sl.shm.close(); sl.shm.unlink()
print(json.dumps(out))`, [String(n / 10)]);
  if (py !== undefined) {
    ['get of a number', 'set of a number', 'get of a short string', 'set of a short string']
      .forEach((label, i) => record(`ShareableList ${label}`, 'CPython ShareableList', py[i], 'ns/op'));
  }
}

/**
 * The C baselines (scripts/bench-peers.c), compiled once per run with cc -O2; undefined
 * where there is no C compiler or no futex (not Linux).
 */
let peersBinary;
function cPeer(args) {
  if (process.platform !== 'linux') return undefined;
  if (peersBinary === undefined) {
    const out = join(tmpdir(), `shmkit-bench-peers-${process.pid}`);
    const cc = spawnSync('cc', ['-O2', '-o', out, fileURLToPath(new URL('bench-peers.c', import.meta.url)), '-lpthread'], { stdio: 'inherit' });
    peersBinary = cc.status === 0 && existsSync(out) ? out : null;
  }
  if (peersBinary === null) return undefined;
  const r = spawnSync(peersBinary, args.map(String), { encoding: 'utf8', timeout: 300_000 });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

// ---------------------------------------------------------------- SharedMap
// get and set in one process beside an in-process Map (the ceiling), lmdb-js on /dev/shm
// (noSync) and CPython's Manager().dict() where they are installed; then set throughput
// from 1, 2 and 4 writer processes on one map.
async function benchMap() {
  const n = opts.quick ? 20_000 : 200_000;
  const keys = Array.from({ length: 1000 }, (_, i) => `user:${i}`);
  const text = 'x'.repeat(100);
  const map = SharedMap.create({ maxEntries: 4096, maxBytes: 8 << 20 });
  const js = new Map();
  for (const k of keys) { map.set(k, 1); js.set(k, 1); }
  map.set('text', text); js.set('text', text);
  const cases = (m) => [
    ['get of a number', (k) => { let x = 0; for (let i = 0; i < k; i++) x += m.get(keys[i % 1000]); return x; }],
    ['get of a 100 B string', (k) => { let x = 0; for (let i = 0; i < k; i++) x += m.get('text').length; return x; }],
    ['set of a number', (k) => { for (let i = 0; i < k; i++) m.set(keys[i % 1000], i); }],
    ['set of a 100 B string', (k) => { for (let i = 0; i < k; i++) m.set('text', i & 1 ? text : text.toUpperCase()); }],
  ];
  try {
    for (const [label, loop] of cases(map)) record(`SharedMap ${label}`, 'shmkit SharedMap', perOp(loop, { n: n / 10 }), 'ns/op');
    for (const [label, loop] of cases(js)) record(`SharedMap ${label}`, 'JavaScript Map (one process: the ceiling)', perOp(loop, { n: n / 10 }), 'ns/op');
    record('SharedMap add (a counter)', 'shmkit SharedMap', perOp((k) => { for (let i = 0; i < k; i++) map.add(keys[i % 1000], 1); }, { n: n / 10 }), 'ns/op');
  } finally {
    map.close();
    map.unlink();
  }
  let lmdb;
  try {
    lmdb = await import('lmdb');
  } catch {
    record('SharedMap get of a number', 'lmdb-js', NaN, 'ns/op', 'lmdb not installed (npm install --no-save lmdb): skipped');
  }
  if (lmdb) {
    const path = `/dev/shm/shmkit-bench-lmdb-${process.pid}`;
    const db = lmdb.open({ path, noSync: true });
    try {
      for (const k of keys) db.putSync(k, 1);
      db.putSync('text', text);
      record('SharedMap get of a number', 'lmdb-js on /dev/shm (noSync)', perOp((k) => { let x = 0; for (let i = 0; i < k; i++) x += db.get(keys[i % 1000]); return x; }, { n: n / 100 }), 'ns/op');
      record('SharedMap get of a 100 B string', 'lmdb-js on /dev/shm (noSync)', perOp((k) => { let x = 0; for (let i = 0; i < k; i++) x += db.get('text').length; return x; }, { n: n / 100 }), 'ns/op');
      record('SharedMap set of a number', 'lmdb-js putSync (noSync)', perOp((k) => { for (let i = 0; i < k; i++) db.putSync(keys[i % 1000], i); }, { n: n / 1000 }), 'ns/op');
      record('SharedMap set of a number', 'lmdb-js puts batched in one transaction', perOp((k) => { db.transactionSync(() => { for (let i = 0; i < k; i++) db.put(keys[i % 1000], i); }); }, { n: n / 100 }), 'ns/op');
    } finally {
      await db.close();
      spawnSync('rm', ['-rf', path, `${path}-lock`]);
    }
  }
  await benchRedis(keys, n / 100);
  const py = python(`
import json, sys, time
from multiprocessing import Manager
n = int(sys.argv[1])
with Manager() as mgr:
    d = mgr.dict()
    for i in range(1000): d['user:%d' % i] = 1
    t = time.perf_counter_ns()
    for i in range(n): d['user:%d' % (i % 1000)]
    g = (time.perf_counter_ns() - t) / n
    t = time.perf_counter_ns()
    for i in range(n): d['user:%d' % (i % 1000)] = i
    s = (time.perf_counter_ns() - t) / n
print(json.dumps([g, s]))`, [String(opts.quick ? 2000 : 20_000)]);
  if (py !== undefined) {
    record('SharedMap get of a number', "CPython Manager().dict() (a server process)", py[0], 'ns/op');
    record('SharedMap set of a number', "CPython Manager().dict() (a server process)", py[1], 'ns/op');
  }
  // Writers in separate processes, each setting its own 100 keys (1,000 in all): the time per set over all of them.
  for (const writers of [1, 2, 4]) {
    const shared = SharedMap.create({ maxEntries: 4096 });
    const go = SharedMemory.create({ size: 64 });
    try {
      const each = (opts.quick ? 100_000 : 1_000_000) / writers;
      const flags = new Int32Array(go.buffer, 0, 2);
      const done = Promise.all(Array.from({ length: writers }, (_, w) => child('child-map-set', [shared.name, go.name, w, each])));
      while (Atomics.load(flags, 0) < writers) await new Promise((r) => setTimeout(r, 1));
      const t0 = process.hrtime.bigint();
      Atomics.store(flags, 1, 1);
      notify(flags, 1);
      await done;
      record('SharedMap set from N writer processes (time per set, all writers together)', `shmkit SharedMap, ${writers} writer${writers > 1 ? 's' : ''}`, Number(process.hrtime.bigint() - t0) / (each * writers), 'ns/op');
    } finally {
      for (const o of [shared, go]) { o.close(); o.unlink(); }
    }
  }
}

/** Redis through ioredis on loopback, with a redis-server started and stopped here; a note when either is absent. */
async function benchRedis(keys, n) {
  let Redis;
  try {
    Redis = (await import('ioredis')).default;
  } catch {
    record('SharedMap get of a number', 'Redis (ioredis)', NaN, 'ns/op', 'ioredis not installed: skipped');
    return;
  }
  const port = 20000 + (process.pid % 20000);
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const failed = await new Promise((resolve) => { server.once('error', () => resolve(true)); setTimeout(() => resolve(false), 300); });
  if (failed) {
    record('SharedMap get of a number', 'Redis (ioredis)', NaN, 'ns/op', 'redis-server not installed (Debian: apt-get install redis-server): skipped');
    return;
  }
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (k) => (k > 20 ? null : 50) });
  try {
    await redis.connect();
    for (const k of keys) await redis.set(k, 1);
    const time = async (f) => {
      for (let i = 0; i < n / 10; i++) await f(i);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await f(i);
      return Number(process.hrtime.bigint() - t0) / n;
    };
    record('SharedMap get of a number', 'Redis on loopback (ioredis, one await per get)', await time((i) => redis.get(keys[i % 1000])), 'ns/op');
    record('SharedMap set of a number', 'Redis on loopback (ioredis, one await per set)', await time((i) => redis.set(keys[i % 1000], i)), 'ns/op');
  } finally {
    redis.disconnect();
    server.kill();
  }
}

// ---------------------------------------------------------------- Manager
// One call's round trip to an object served by another process, beside CPython's
// BaseManager proxy call and a child_process IPC request/response.
async function benchManager() {
  // Steady state: each side's JIT warm, before n calls are timed (a few hundred calls in,
  // compiler threads still take CPU from the two processes that look for each other).
  const n = opts.quick ? 2000 : 20000;
  const warm = 2000;
  const name = `shmkit-bench-mgr-${process.pid}`;
  const server = child('child-manager', [name]);
  let maths;
  for (const end = Date.now() + 10_000; maths === undefined;) {
    try {
      maths = await Manager.connect(name);
    } catch (error) {
      if (Date.now() > end) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    for (let i = 0; i < warm; i++) await maths.add(i, 1);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await maths.add(i, 1);
    record('Manager call round trip (another process)', 'shmkit Manager', Number(process.hrtime.bigint() - t0) / n, 'ns/op');
    await maths.stop();
  } catch (error) {
    if (error.code !== 'ERR_SHMKIT_PEER_DIED' && error.code !== 'ERR_SHMKIT_CLOSED') throw error;
  } finally {
    maths.close();
    await server.catch(() => {});
  }
  const ipc = fork(self, ['child-ipc-echo'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  await new Promise((r) => ipc.once('message', r));
  const ask = () => new Promise((r) => { ipc.once('message', r); ipc.send({ m: 'add', a: [1, 2] }); });
  for (let i = 0; i < warm; i++) await ask();
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await ask();
  record('Manager call round trip (another process)', 'Node child_process IPC request/response', Number(process.hrtime.bigint() - t1) / n, 'ns/op');
  ipc.kill();
  const py = python(`
import json, sys, time
from multiprocessing.managers import BaseManager
class Maths:
    def add(self, a, b): return a + b
class M(BaseManager): pass
M.register('Maths', Maths)
n, warm = int(sys.argv[1]), int(sys.argv[2])
with M() as m:
    maths = m.Maths()
    for i in range(warm): maths.add(i, 1)
    t = time.perf_counter_ns()
    for i in range(n): maths.add(i, 1)
    print(json.dumps((time.perf_counter_ns() - t) / n))`, [String(n), String(warm)]);
  if (py !== undefined) record('Manager call round trip (another process)', 'CPython BaseManager proxy call', py, 'ns/op');
}

// ---------------------------------------------------------------- Queue
/** Spawns this script in `role` with arguments; resolves with its stdout (rejects on failure). */
/** A child process of this script in `role`; `pinned` puts it on CPU 0, `cpu` on that CPU. */
function child(role, args, { pinned = false, cpu } = {}) {
  const argv = [self, role, ...args.map(String)];
  const on = cpu ?? (pinned ? 0 : undefined);
  const c = on !== undefined ? spawn('taskset', ['-c', String(on), process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${role} exited with ${code}`))));
  });
}

async function benchQueue() {
  for (const [size, n, pyN, ipcN] of opts.quick ? [[64, 200_000, 20_000, 20_000], [65536, 5000, 1000, 1000]] : [[64, 2_000_000, 200_000, 100_000], [65536, 50_000, 10_000, 10_000]]) {
    const group = `queue, ${size === 64 ? '64 B' : '64 KiB'} messages, 1 producer and 1 consumer process (time per message)`;
    const q = Queue.create({ capacity: 1024, maxMessageSize: size });
    const go = SharedMemory.create({ size: 64 });
    try {
      // Both processes attach, then wait for "go"; timing runs from go until both are done.
      const flags = new Int32Array(go.buffer, 0, 2);
      const done = Promise.all([child('child-queue-put', [q.name, go.name, size, n]), child('child-queue-get', [q.name, go.name, n])]);
      while (Atomics.load(flags, 0) < 2) await new Promise((r) => setTimeout(r, 1));
      const t0 = process.hrtime.bigint();
      Atomics.store(flags, 1, 1);
      notify(flags, 1);
      await done;
      record(group, 'shmkit Queue put/get', Number(process.hrtime.bigint() - t0) / n, 'ns/op');
    } finally {
      for (const o of [q, go]) { o.close(); o.unlink(); }
    }
    const py = python(`
import json, sys, time
from multiprocessing import Event, Process, Queue
def produce(q, n, size, go):
    m = b'x' * size
    go.wait()
    for _ in range(n): q.put(m)
if __name__ == '__main__':
    n, size = int(sys.argv[1]), int(sys.argv[2])
    q, go = Queue(1024), Event()
    p = Process(target=produce, args=(q, n, size, go)); p.start()
    time.sleep(0.3)
    t0 = time.perf_counter_ns()
    go.set()
    for _ in range(n): q.get()
    print(json.dumps((time.perf_counter_ns() - t0) / n))
    p.join()`, [String(pyN), String(size)]);
    if (py !== undefined) record(group, 'CPython multiprocessing.Queue', py, 'ns/op');
    const ipc = fork(self, ['child-ipc-producer', String(size), String(ipcN)], { serialization: 'advanced', stdio: 'inherit' });
    await new Promise((r) => ipc.once('message', r)); // ready
    const t0 = process.hrtime.bigint();
    let got = 0;
    await new Promise((resolve) => {
      ipc.on('message', () => { if (++got === ipcN) resolve(); });
      ipc.send('go');
    });
    record(group, 'child_process IPC (advanced serialization)', Number(process.hrtime.bigint() - t0) / ipcN, 'ns/op');
    ipc.disconnect();
    await waitExit(ipc);
  }
}

// ---------------------------------------------------------------- Event and Barrier
async function benchSync() {
  const rounds = opts.quick ? 2000 : 10_000;
  // Event.set() with nobody asleep: the sleeper count (docs/memory-layout.md) says so, and no
  // wake system call is made.
  const setGroup = 'Event.set() with nobody waiting';
  const ev = Event.create();
  try {
    record(setGroup, 'shmkit Event.set() on a set event', perOp((k) => { for (let i = 0; i < k; i++) ev.set(); }, { n: 100_000 }), 'ns/op');
    record(setGroup, 'shmkit Event.set() + clear()', perOp((k) => { for (let i = 0; i < k; i++) { ev.set(); ev.clear(); } }, { n: 100_000 }), 'ns/op');
    const w = new Int32Array(new SharedArrayBuffer(4));
    record(setGroup, 'Atomics.store + Atomics.notify on a SharedArrayBuffer', perOp((k) => { for (let i = 0; i < k; i++) { Atomics.store(w, 0, 1); Atomics.notify(w, 0); } }, { n: 100_000 }), 'ns/op');
  } finally {
    ev.close();
    ev.unlink();
  }
  const pySet = python(`
import json, statistics, time
from multiprocessing import Event
e, n, times = Event(), 20000, []
for _ in range(5):
    t0 = time.perf_counter_ns()
    for _ in range(n): e.set()
    times.append((time.perf_counter_ns() - t0) / n)
print(json.dumps(statistics.median(times)))`);
  if (pySet !== undefined) record(setGroup, 'CPython multiprocessing.Event.set()', pySet, 'ns/op');
  for (const pinned of [false, true]) {
    const where = pinned ? ', every process on one CPU (taskset -c 0)' : '';
    const evGroup = `Event ping-pong: set, and be woken by the other's set (round trip)${where}`;
    const a = Event.create();
    const b = Event.create();
    try {
      const out = await Promise.all([child('child-event', [a.name, b.name, rounds, 'ping'], { pinned }), child('child-event', [a.name, b.name, rounds, 'pong'], { pinned })]);
      record(evGroup, 'shmkit Event', Number(out[0]), 'ns/op');
    } finally {
      for (const e of [a, b]) { e.close(); e.unlink(); }
    }
    const pyArgs = pinned ? ['taskset', ['-c', '0', 'python3']] : undefined;
    const py = python(`
import json, sys, time
from multiprocessing import Process, Event
def pong(a, b, n):
    for _ in range(n):
        a.wait(); a.clear(); b.set()
if __name__ == '__main__':
    n = int(sys.argv[1])
    a, b = Event(), Event()
    p = Process(target=pong, args=(a, b, n)); p.start()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        a.set(); b.wait(); b.clear()
    print(json.dumps((time.perf_counter_ns() - t0) / n))
    p.join()`, [String(rounds)], pyArgs);
    if (py !== undefined) record(evGroup, 'CPython multiprocessing.Event', py, 'ns/op');

    const brGroup = `Barrier, 2 processes: one round (both arrive, both released)${where}`;
    const barrier = Barrier.create({ parties: 2 });
    try {
      const out = await Promise.all([child('child-barrier', [barrier.name, rounds], { pinned }), child('child-barrier', [barrier.name, rounds], { pinned })]);
      record(brGroup, 'shmkit Barrier', Math.max(Number(out[0]), Number(out[1])), 'ns/op');
    } finally {
      barrier.close();
      barrier.unlink();
    }
    const pyB = python(`
import json, sys, time
from multiprocessing import Process, Barrier
def party(b, n):
    for _ in range(n): b.wait()
if __name__ == '__main__':
    n = int(sys.argv[1])
    b = Barrier(2)
    p = Process(target=party, args=(b, n)); p.start()
    b.wait()
    t0 = time.perf_counter_ns()
    for _ in range(n - 1): b.wait()
    print(json.dumps((time.perf_counter_ns() - t0) / (n - 1)))
    p.join()`, [String(rounds)], pyArgs);
    if (pyB !== undefined) record(brGroup, 'CPython multiprocessing.Barrier', pyB, 'ns/op');
  }
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
} else if (role === 'child-count-value' || role === 'child-count-raw') {
  const [name, n] = [process.argv[3], Number(process.argv[4])];
  const shm = SharedMemory.open(name);
  const start = new Int32Array(shm.buffer, 0, 2);
  const value = Value.at(shm, 64, { type: 'int32' });
  const raw = new Int32Array(shm.buffer, 64, 1);
  Atomics.add(start, 0, 1);
  while (Atomics.load(start, 1) === 0) wait(start, 1, 0, 5);
  if (role === 'child-count-value') for (let i = 0; i < n; i++) value.add(1);
  else for (let i = 0; i < n; i++) Atomics.add(raw, 0, 1);
  console.log('done');
} else if (role === 'child-pong') {
  const shm = SharedMemory.open(process.argv[3]);
  const w = new Int32Array(shm.buffer, 0, 1);
  const rounds = Number(process.argv[4]);
  Atomics.store(w, 0, -1);
  notify(w, 0);
  for (let i = 0; i < rounds; i++) {
    let v;
    while ((v = Atomics.load(w, 0)) !== 2 * i + 1) wait(w, 0, v);
    Atomics.store(w, 0, 2 * i + 2);
    notify(w, 0, 1);
  }
  shm.close();
} else if (role === 'child-manager') {
  let server;
  server = Manager.serve(process.argv[3], { add: (a, b) => a + b, stop: () => { setImmediate(() => server.close()); } });
} else if (role === 'child-ipc-echo') {
  process.on('message', (m) => process.send(m.a[0] + m.a[1]));
  process.send('ready');
} else if (role === 'child-map-set') {
  const map = SharedMap.open(process.argv[3]);
  const go = SharedMemory.open(process.argv[4]);
  const flags = new Int32Array(go.buffer, 0, 2);
  const [w, n] = [Number(process.argv[5]), Number(process.argv[6])];
  const keys = Array.from({ length: 100 }, (_, i) => `w${w}:${i}`);
  Atomics.add(flags, 0, 1);
  while (Atomics.load(flags, 1) === 0) wait(flags, 1, 0, 5);
  for (let i = 0; i < n; i++) map.set(keys[i % 100], i);
  map.close();
  go.close();
} else if (role === 'child-queue-put' || role === 'child-queue-get') {
  const q = Queue.open(process.argv[3]);
  const go = SharedMemory.open(process.argv[4]);
  const flags = new Int32Array(go.buffer, 0, 2);
  const put = role === 'child-queue-put';
  const n = Number(process.argv[put ? 6 : 5]);
  const m = put ? new Uint8Array(Number(process.argv[5])).fill(120) : undefined;
  Atomics.add(flags, 0, 1);
  while (Atomics.load(flags, 1) === 0) wait(flags, 1, 0, 5);
  let bytes = 0;
  if (put) for (let i = 0; i < n; i++) q.put(m);
  else for (let i = 0; i < n; i++) bytes += q.get().length;
  q.close();
  go.close();
  if (!put && bytes <= 0) process.exit(1);
} else if (role === 'child-ipc-producer') {
  const [size, n] = [Number(process.argv[3]), Number(process.argv[4])];
  const m = Buffer.alloc(size, 120);
  let i = 0;
  const pump = () => { while (i < n) { i++; if (!process.send(m)) { setImmediate(pump); return; } } };
  process.once('message', pump);
  process.send('ready');
} else if (role === 'child-event') {
  const [a, b] = [Event.open(process.argv[3]), Event.open(process.argv[4])];
  const rounds = Number(process.argv[5]);
  const t0 = process.hrtime.bigint();
  if (process.argv[6] === 'ping') {
    for (let i = 0; i < rounds; i++) { a.set(); b.wait(); b.clear(); }
    console.log(Number(process.hrtime.bigint() - t0) / rounds);
  } else {
    for (let i = 0; i < rounds; i++) { a.wait(); a.clear(); b.set(); }
  }
} else if (role === 'child-lock') {
  const [lock, start, counter] = [Lock.open(process.argv[3]), Barrier.open(process.argv[4]), SharedMemory.open(process.argv[5])];
  const n = Number(process.argv[6]);
  const count = new Int32Array(counter.buffer);
  start.wait();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) { lock.acquire(); count[0]++; lock.release(); }
  console.log(Number(process.hrtime.bigint() - t0));
} else if (role === 'child-barrier') {
  const barrier = Barrier.open(process.argv[3]);
  const rounds = Number(process.argv[4]);
  barrier.wait();
  const t0 = process.hrtime.bigint();
  for (let i = 1; i < rounds; i++) barrier.wait();
  console.log(Number(process.hrtime.bigint() - t0) / (rounds - 1));
} else if (role === 'child-ipc-pong') {
  process.on('message', (m) => process.send(m));
  process.send('ready');
} else {
  await main();
}

// ---------------------------------------------------------------- ownership
// What the ownership core costs where it is consulted (never on a fast path): one
// liveness question (Linux: one F_OFD_GETLK), a dead owner's question, and an owner's
// registration (a new thread's first id) with the descriptors it keeps.
async function benchOwnership() {
  const { native } = await import(new URL('../dist/core/native.js', import.meta.url).href);
  const me = native.ownerId();
  const n = opts.quick ? 20_000 : 200_000;
  const group = 'ownership: one liveness question (µs are 1000 ns)';
  record(group, 'shmkit ownerAlive(a live owner of another thread)', await (async () => {
    const w = new Worker('const { parentPort } = require("node:worker_threads"); const n = require(process.env.SHMKIT_ADDON); parentPort.postMessage(n.ownerId()); setTimeout(() => {}, 60000);',
      { eval: true, env: { ...process.env, SHMKIT_ADDON: requireAddonPath() } });
    const id = await new Promise((r) => w.once('message', r));
    const t = perOp((k) => { for (let i = 0; i < k; i++) native.ownerAlive(id); }, { n: n / 10 });
    await w.terminate();
    return t;
  })(), 'ns/op');
  record(group, 'shmkit ownerAlive(an owner that died)', perOp((k) => { for (let i = 0; i < k; i++) native.ownerAlive(me + 1_000_000); }, { n: n / 10 }), 'ns/op', 'a byte nobody holds: the file the name names now is asked too');
  record(group, 'process.kill(pid, 0) (what a PID check costs, for scale)', perOp((k) => { for (let i = 0; i < k; i++) process.kill(process.pid, 0); }, { n: n / 10 }), 'ns/op');
  const fds = () => { try { return readdirSync('/proc/self/fd').length; } catch { return NaN; } };
  const before = fds();
  const t0 = process.hrtime.bigint();
  const workers = 8;
  const ws = [];
  for (let i = 0; i < workers; i++) {
    const w = new Worker('const { parentPort } = require("node:worker_threads"); const n = require(process.env.SHMKIT_ADDON); parentPort.postMessage(n.ownerId()); setTimeout(() => {}, 60000);',
      { eval: true, env: { ...process.env, SHMKIT_ADDON: requireAddonPath() } });
    await new Promise((r) => w.once('message', r));
    ws.push(w);
  }
  const perWorker = Number(process.hrtime.bigint() - t0) / workers;
  const extra = (fds() - before) / workers;
  await Promise.all(ws.map((w) => w.terminate()));
  record('ownership: a Worker started, registered, reporting its id', 'shmkit (Worker start included)', perWorker, 'ns/op', `descriptors per Worker: ${extra} (an owner keeps 1; a Worker's own event loop and pipes the rest)`);
}

function requireAddonPath() {
  return createRequire(import.meta.url)('node-gyp-build').path(fileURLToPath(new URL('..', import.meta.url)));
}

async function main() {
  if (!opts['emit-json']) console.error(`shmkit benchmarks: node ${process.version}, ${process.platform}-${process.arch}${opts.quick ? ', --quick' : ''}`);
  if (!opts.only || opts.only === 'open') benchOpen();
  if (!opts.only || opts.only === 'create') benchCreate();
  if (!opts.only || opts.only === 'gib') await benchGiB();
  if (!opts.only || opts.only === 'counter') await benchCounter();
  if (!opts.only || opts.only === 'lock') benchLock();
  if ((!opts.only || opts.only === 'ownership') && process.platform === 'linux') await benchOwnership();
  if (!opts.only || opts.only === 'list') benchList();
  if (!opts.only || opts.only === 'queue') await benchQueue();
  if (!opts.only || opts.only === 'map') await benchMap();
  if (!opts.only || opts.only === 'manager') await benchManager();
  if (!opts.only || opts.only === 'sync') await benchSync();
  if (!opts.only || opts.only === 'pingpong') {
    await benchPingPong();
    // On a VM, waking a process on another, idle vCPU costs tens of microseconds of
    // hypervisor latency that has nothing to do with the mechanism; the same case with
    // every process on one CPU shows the mechanism's own cost.
    const pinned = opts['emit-json'] ? undefined : spawnSync('taskset', ['-c', '0', process.execPath, self, '--only', 'pingpong',
      '--emit-json', '--group-suffix', ', every process on one CPU (taskset -c 0)', ...(opts.quick ? ['--quick'] : [])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
    if (pinned?.status === 0) results.push(...JSON.parse(pinned.stdout));
  }
  if (opts['emit-json']) {
    console.log(JSON.stringify(results));
    return;
  }

  const lines = ['| case | implementation | median | vs shmkit |', '| --- | --- | ---: | ---: |'];
  const notes = [...new Set(results.filter((r) => r.note).map((r) => r.note))];
  const marks = ['¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
  for (const group of new Set(results.map((r) => r.group))) {
    const rows = results.filter((r) => r.group === group);
    const base = rows.find((r) => r.name.startsWith('shmkit'))?.value;
    for (const r of rows) {
      const shown = r.unit === 'ns/op' ? `${r.value >= 1000 ? (r.value / 1000).toFixed(2) + ' µs' : r.value.toFixed(0) + ' ns'}/op` : `${r.value.toFixed(1)} ${r.unit}`;
      const ratio = base ? `${(r.value / base).toFixed(2)}×` : '';
      const mark = r.note ? ` ${marks[notes.indexOf(r.note)]}` : '';
      lines.push(`| ${group} | ${r.name}${mark} | ${shown} | ${ratio} |`);
    }
  }
  console.log(lines.join('\n'));
  if (notes.length) console.log('\n' + notes.map((n, i) => `${marks[i]} ${n}`).join('\n'));
  console.log('\n"vs shmkit" is the row\'s time divided by shmkit\'s: above 1× means shmkit is faster.');
  mkdirSync('bench-results', { recursive: true });
  writeFileSync('bench-results/latest.json', JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2));
  writeFileSync('bench-results/latest.svg', renderChart(results, { title: `shmkit against its peers, measured in the same run (Node ${process.version}, ${availableParallelism()} CPUs)` }));
  console.error('wrote bench-results/latest.json (raw figures) and bench-results/latest.svg (chart)');
}
