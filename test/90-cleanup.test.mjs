// The suite leaves nothing in /dev/shm, even when a test fails or forgets to clean up.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { isWindows, root } from './helpers.mjs';

test('a failing test file still removes every segment it made, and reports a leak',
  { skip: isWindows && 'lists /dev/shm; on Windows no name outlives its processes' }, async () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // a test run of its own, not a subprocess of this one
  const child = spawn(process.execPath, ['--test', '--test-reporter=tap', 'test/fixtures/failing-test.mjs'],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  assert.equal(code, 1, output);
  assert.match(output, /deliberate failure/);
  assert.match(output, /segments left in \/dev\/shm by this test file/);
  const prefix = output.match(/PREFIX=(\S+)/)?.[1];
  assert.ok(prefix, output);
  assert.deepEqual(readdirSync('/dev/shm').filter((f) => f.startsWith(prefix)), []);
});
