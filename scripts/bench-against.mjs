#!/usr/bin/env node
// The fast paths of this checkout against another build of shmkit, in the same run:
//   node scripts/bench-against.mjs /path/to/other/checkout [--rounds 15] [--case TEXT]
// The other checkout must be built (dist/ and its native addon). Each round runs every
// case once per build, each in a fresh process, alternating which build goes first, so
// that a machine that drifts (these are shared VMs) drifts for both, and pinned to one
// CPU (taskset) where there is one to pin to. A process lands in a fast or a slow mode
// for its life (seen here: 10 or 18 ns, for either build), so both the median and the
// best of the rounds are given, each with its ratio. Uncontended, in one process: what validation of the
// shared words costs the calls that do not wait.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const self = fileURLToPath(import.meta.url);
const here = resolve(self, '../..');

const CASES = {
  'Lock acquire + release': ({ Lock }) => {
    const lock = Lock.create();
    return [(n) => { for (let i = 0; i < n; i++) { lock.acquire(); lock.release(); } }, () => { lock.close(); lock.unlink(); }];
  },
  'Value.add (int32)': ({ Value }) => {
    const v = Value.create({ type: 'int32' });
    return [(n) => { for (let i = 0; i < n; i++) v.add(1); }, () => { v.close(); v.unlink(); }];
  },
  'Queue tryPut + tryGet, 64 B': ({ Queue }) => {
    const q = Queue.create({ capacity: 1024, maxMessageSize: 64 });
    const m = new Uint8Array(64).fill(120);
    return [(n) => { for (let i = 0; i < n; i++) { q.tryPut(m); q.tryGet(); } }, () => { q.close(); q.unlink(); }];
  },
  'ShareableList get (number)': ({ ShareableList }) => {
    const list = ShareableList.create({ items: [12345, 2.5, 'short', true] });
    return [(n) => { let x = 0; for (let i = 0; i < n; i++) x += list.get(0); return x; }, () => { list.close(); list.unlink(); }];
  },
  'ShareableList set (number)': ({ ShareableList }) => {
    const list = ShareableList.create({ items: [12345, 2.5, 'short', true] });
    return [(n) => { for (let i = 0; i < n; i++) list.set(0, i); }, () => { list.close(); list.unlink(); }];
  },
};

if (process.argv[2] === '--child') {
  // --child <checkout> <case> <n>: ns per operation, best of 5 timed loops after a warm-up.
  const [dir, name, n] = [process.argv[3], process.argv[4], Number(process.argv[5])];
  const shmkit = await import(pathToFileURL(resolve(dir, 'dist/index.mjs')).href);
  const [loop, done] = CASES[name](shmkit);
  try {
    loop(n);
    let best = Infinity;
    for (let k = 0; k < 5; k++) {
      const t0 = process.hrtime.bigint();
      loop(n);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
    }
    console.log(JSON.stringify(best));
  } finally {
    done();
  }
} else {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string', default: '15' }, n: { type: 'string', default: '200000' }, case: { type: 'string' } } });
  if (positionals.length !== 1) {
    console.error('usage: node scripts/bench-against.mjs OTHER_CHECKOUT [--rounds 15] [--n 200000] [--case TEXT]');
    process.exit(2);
  }
  const builds = { this: here, other: resolve(positionals[0]) };
  const pinned = spawnSync('taskset', ['-c', '1', 'true']).status === 0;
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
  console.log(`this: ${builds.this}\nother: ${builds.other}\n${values.rounds} rounds, alternating${pinned ? ', on CPU 1' : ''}; ns per operation`);
  console.log('| case | this, median | other, median | ratio | this, best | other, best | ratio |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const name of Object.keys(CASES).filter((c) => values.case === undefined || c.includes(values.case))) {
    const times = { this: [], other: [] };
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const which of r % 2 ? ['other', 'this'] : ['this', 'other']) {
        const argv = [process.execPath, self, '--child', builds[which], name, values.n];
        const c = spawnSync(pinned ? 'taskset' : argv[0], pinned ? ['-c', '1', ...argv] : argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
        if (c.status !== 0) throw new Error(`${which} ${name}: ${c.stderr || c.signal}`);
        times[which].push(JSON.parse(c.stdout));
      }
    }
    const [a, b] = [median(times.this), median(times.other)];
    const [x, y] = [Math.min(...times.this), Math.min(...times.other)];
    console.log(`| ${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)} | ${x.toFixed(1)} | ${y.toFixed(1)} | ${(x / y).toFixed(2)} |`);
  }
}
