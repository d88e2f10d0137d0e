// The short versions of the reliability campaign (docs/reliability.md): kill -9 at random
// moments inside every primitive, and a soak, each checking its invariants exactly.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertOk, isWindows, runScript } from './helpers.mjs';

/** Runs a script of scripts/ with --json; its report, parsed, comes back as `report`. */
async function script(name, args, timeout) {
  const r = assertOk(await runScript(join('scripts', name), [...args, '--json'], { timeout }));
  return { ...r, report: JSON.parse(r.stdout) };
}

const posixOnly = isWindows && 'spawns and kills workers with POSIX signals, reads /proc';

test('kill -9 at random moments in Value, Lock, Queue and Condition workers breaks no invariant', { skip: posixOnly }, async () => {
  const r = await script('chaos-kill.mjs', ['--iterations', '4'], 120_000);
  const { summary, rows } = r.report;
  assert.equal(summary.violations, 0, JSON.stringify(rows.flatMap((x) => x.problems)));
  assert.equal(rows.length, 4);
  assert.ok(rows.every((x) => x.killed.length >= 1), 'every iteration killed someone');
  assert.ok(summary.messages > 0 && rows.every((x) => x.value > 0 && x.turns > 0), 'every primitive was exercised');
});

test('a short soak: exact totals, and no growth of descriptors, memory or /dev/shm entries', { skip: posixOnly }, async () => {
  const r = await script('soak.mjs', ['--seconds', '4'], 60_000);
  const report = r.report;
  assert.deepEqual(report.problems, []);
  assert.equal(report.lost, 0);
  assert.deepEqual(report.fds.after, report.fds.before);
  assert.ok(report.messages > 0 && report.value > 0 && report.counter > 0 && report.turns > 0);
});
