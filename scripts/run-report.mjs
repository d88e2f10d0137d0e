// What scripts/test-wine.mjs and scripts/test-emulated.mjs print of a run in a foreign
// runtime (node.exe under Wine, the arm64 node under qemu), written once for both: the
// smoke test's result files and the suite's TAP file, skips listed with their reasons and
// failures with the YAML block that holds their error.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const how = (r) => `in ${r.ms} ms (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})`;

/** test/wine/smoke.cjs's result files in `dir` (removed after); whether it said ok. */
export function smokeReport(label, dir, r) {
  const files = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
  rmSync(dir, { recursive: true, force: true });
  const ok = r.status === 0 && files['result.txt'] === 'ok';
  console.log(`${label} smoke test: ${ok ? 'ok' : 'FAILED'} ${how(r)}`);
  for (const [f, text] of Object.entries(files)) {
    if (f !== 'result.txt' && (!ok || f !== 'steps.txt')) console.log(`${f}:\n${text}`);
  }
  return ok;
}

/** The suite's TAP output `text`; whether it passed (something passed, nothing failed or was cancelled). */
export function tapReport(label, text, r) {
  const count = (what) => Number(text.match(new RegExp(`^# ${what} (\\d+)$`, 'm'))?.[1] ?? NaN);
  const [tests, pass, fail, skipped, cancelled] = ['tests', 'pass', 'fail', 'skipped', 'cancelled'].map(count);
  console.log(`${label} suite: ${tests} tests, ${pass} passed, ${fail} failed, ${skipped} skipped, ${cancelled} cancelled ${how(r)}`);
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const skip = line.match(/^\s*ok \d+ - (.*) # SKIP (.*)$/);
    if (skip) console.log(`  skipped: ${skip[1]} (${skip[2]})`);
    if (/^\s*not ok \d+ - /.test(line)) {
      const end = lines.findIndex((l, j) => j > i && /^\s*\.\.\.$/.test(l));
      console.log(lines.slice(i, end < 0 ? i + 30 : Math.min(end, i + 30)).join('\n'));
    }
  });
  return r.status === 0 && fail === 0 && cancelled === 0 && pass > 0;
}
