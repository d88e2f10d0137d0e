// Soak: worker processes hammer Value, Lock, Condition and Queue for a while; then every
// invariant is checked exactly (nobody was killed), and the workers' open descriptors and
// resident memory, and the entries in /dev/shm, must not have grown after warm-up.
// Usage: node scripts/soak.mjs [--seconds N] [--json]   (Linux: reads /proc and /dev/shm)
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { check, createRig, killWorkers, startWorkers, stopWorkers } from './stress-rig.mjs';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, json: { type: 'boolean', default: false } } });
const seconds = Number(values.seconds);
const ROLES = ['value', 'value', 'lock', 'lock', 'produce', 'produce', 'consume', 'consume', 'condition', 'condition'];
const WARM_UP_MS = Math.min(2000, seconds * 250);
const RSS_SLACK = 32 * 2 ** 20; // V8 may grow its heap a little before it settles
// Under AddressSanitizer (scripts/sanitize.sh) freed memory sits in a quarantine of up
// to 256 MiB, so resident memory says nothing about leaks there: it is not checked.
const checkRss = !(process.env.LD_PRELOAD ?? '').includes('asan');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Open descriptors and resident bytes of each worker, and this run's entries in /dev/shm. */
function sample(workers) {
  return {
    fds: workers.map((w) => readdirSync(`/proc/${w.child.pid}/fd`).length),
    rss: workers.map((w) => Number(readFileSync(`/proc/${w.child.pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)[1]) * 1024),
    // This run's entries only: other programs on the machine may come and go meanwhile.
    shm: readdirSync('/dev/shm').filter((f) => f.includes(rig.prefix)).length,
  };
}

const rig = createRig(`shmkit-soak-${process.pid}-`, ROLES);
let report;
let workers;
try {
  workers = await startWorkers(rig);
  await sleep(WARM_UP_MS);
  const before = sample(workers);
  await sleep(seconds * 1000 - WARM_UP_MS);
  const after = sample(workers);
  const results = await stopWorkers(rig, workers);
  const figures = check(rig, results, new Set());
  const problems = [...figures.problems];
  if (figures.lost > 0) problems.push(`${figures.lost} messages lost with nobody killed`);
  workers.forEach((w, i) => {
    if (after.fds[i] > before.fds[i]) problems.push(`worker ${i} (${w.role}): descriptors ${before.fds[i]} → ${after.fds[i]}`);
    if (checkRss && after.rss[i] > before.rss[i] + RSS_SLACK) problems.push(`worker ${i} (${w.role}): RSS ${before.rss[i]} → ${after.rss[i]} bytes`);
  });
  if (after.shm > before.shm) problems.push(`/dev/shm entries ${before.shm} → ${after.shm}`);
  const mib = (b) => Math.round(b / 2 ** 20);
  report = {
    seconds, workers: ROLES.length, ...figures, problems,
    fds: { before: before.fds, after: after.fds },
    rssMiB: { checked: checkRss, before: before.rss.map(mib), after: after.rss.map(mib), maxGrowth: Math.max(...after.rss.map((r, i) => mib(r - before.rss[i]))) },
    shmEntries: { before: before.shm, after: after.shm },
  };
} finally {
  killWorkers(workers);
  rig.close();
}
if (values.json) console.log(JSON.stringify(report));
else {
  console.log(`soak: ${report.workers} worker processes for ${seconds} s`);
  console.log(`  Value ${report.value}; Lock-guarded counter ${report.counter}; ${report.turns} Condition turns; ${report.messages} messages (${report.lost} lost, ${report.duplicated} twice)`);
  console.log(`  descriptors per worker ${report.fds.before.join(',')} → ${report.fds.after.join(',')}`);
  console.log(`  RSS per worker (MiB) ${report.rssMiB.before.join(',')} → ${report.rssMiB.after.join(',')} (largest growth ${report.rssMiB.maxGrowth} MiB${checkRss ? '' : '; not checked under ASan'})`);
  console.log(`  /dev/shm entries ${report.shmEntries.before} → ${report.shmEntries.after}`);
  console.log(report.problems.length ? `VIOLATED:\n  ${report.problems.join('\n  ')}` : 'every invariant held');
}
process.exit(report.problems.length === 0 ? 0 : 1);
