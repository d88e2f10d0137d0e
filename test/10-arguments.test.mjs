// Bad input gets Node's error codes, before any system call, and never a crash.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { SharedMemory } from 'shmkit';
import { errnoOf, isWindows, longestName, root, uniqueName } from './helpers.mjs';

const code = (c) => (error) => {
  assert.equal(error.code, c, `expected ${c}, got ${error.code}: ${error.message}`);
  return true;
};

test('invalid names are rejected with ERR_INVALID_ARG_VALUE', () => {
  const longest = longestName;
  const bad = ['', '/', 'a/b', '//a', 'a\0b', '.', '..', '/..', 'x'.repeat(longest + 1), 'é'.repeat(Math.ceil((longest + 1) / 2)), 'a\uD800b', '.shmkit-owners-00', '/.shmkit-tmp-0123456789abcdef'];
  for (const name of bad) {
    for (const call of [
      () => SharedMemory.create({ name, size: 1 }),
      () => SharedMemory.open(name),
      () => SharedMemory.unlink(name),
      () => SharedMemory.exists(name),
    ]) {
      assert.throws(call, code('ERR_INVALID_ARG_VALUE'), `name ${JSON.stringify(name)}`);
    }
  }
});

test('names of the wrong type are rejected with ERR_INVALID_ARG_TYPE', () => {
  for (const name of [42, null, {}, Symbol('x'), ['a'], Buffer.from('a')]) {
    assert.throws(() => SharedMemory.open(name), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => SharedMemory.create({ name, size: 1 }), code('ERR_INVALID_ARG_TYPE'));
  }
});

test('the longest valid name works, and one leading slash is the same name', (t) => {
  const longest = longestName;
  const base = uniqueName(t);
  const name = base + 'n'.repeat(longest - base.length);
  t.after(() => SharedMemory.exists(name) && SharedMemory.unlink(name));
  const shm = SharedMemory.create({ name: `/${name}`, size: 8 });
  assert.equal(shm.name, name);
  const again = SharedMemory.open(name);
  assert.equal(again.size, isWindows ? 4096 : 8, 'Windows reports whole pages');
  again.close();
  shm.close();
});

test('sizes are validated before any system call', (t) => {
  const name = uniqueName(t);
  for (const size of [0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, Number.MAX_VALUE]) {
    assert.throws(() => SharedMemory.create({ name, size }), code('ERR_OUT_OF_RANGE'), `size ${size}`);
  }
  for (const size of ['10', 10n, null, undefined, {}]) {
    assert.throws(() => SharedMemory.create({ name, size }), code('ERR_INVALID_ARG_TYPE'), `size ${String(size)}`);
  }
  assert.equal(SharedMemory.exists(name), false, 'a rejected create must not make the name');
});

test('a size the OS cannot map fails with its error and leaves no name behind', (t) => {
  const name = uniqueName(t);
  // 1 PiB: ftruncate on tmpfs accepts it, mmap cannot fit it in the address space.
  assert.throws(() => SharedMemory.create({ name, size: 2 ** 50 }), (error) => {
    assert.ok(['ENOMEM', 'EFBIG', 'ENOSPC', 'EINVAL'].includes(error.code), error.message);
    assert.equal(typeof error.errno, 'number');
    assert.equal(typeof error.syscall, 'string');
    return true;
  });
  assert.equal(SharedMemory.exists(name), false);
});

test('options of the wrong shape are rejected', (t) => {
  const name = uniqueName(t);
  assert.throws(() => SharedMemory.create(), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedMemory.create(4096), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedMemory.create(null), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedMemory.create({ name, size: 1, mode: '600' }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedMemory.create({ name, size: 1, mode: 0o1000 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => SharedMemory.create({ name, size: 1, mode: -1 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => SharedMemory.create({ name, size: 1, unlinkOnExit: 'yes' }), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedMemory.open(name, 'r'), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => SharedMemory.open(name, { readOnly: 1 }), code('ERR_INVALID_ARG_TYPE'));
  assert.equal(SharedMemory.exists(name), false);
});

test('EEXIST for a taken name, ENOENT for a missing one, as node:fs reports them', (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 16 });
  t.after(() => shm.close());
  assert.throws(() => SharedMemory.create({ name, size: 16 }), (error) => {
    assert.equal(error.code, 'EEXIST');
    assert.equal(error.errno, errnoOf('EEXIST'));
    // Linux makes a segment under a temporary name and links it into place (so that a
    // name appears only once the segment is whole): the taken name is link's EEXIST.
    const syscall = isWindows ? 'CreateFileMappingW' : process.platform === 'linux' ? 'link' : 'shm_open';
    assert.equal(error.syscall, syscall);
    assert.equal(error.path, isWindows ? name : `/${name}`);
    assert.match(error.message, new RegExp(`^EEXIST: file already exists, ${syscall} '${isWindows ? '' : '\\/'}shmkit-test-`));
    assert.ok(error instanceof Error);
    return true;
  });
  // On Windows a name lives as long as a handle to it: close it instead of unlinking.
  if (isWindows) shm.close();
  else SharedMemory.unlink(name);
  const calls = [() => SharedMemory.open(name), () => SharedMemory.unlink(name)];
  if (!isWindows) calls.push(() => shm.unlink());
  for (const call of calls) {
    assert.throws(call, (error) => error.code === 'ENOENT' && error.errno === errnoOf('ENOENT') &&
      error.path === (isWindows ? name : `/${name}`));
  }
});

test('byte ranges outside the segment are ERR_OUT_OF_RANGE and touch nothing', (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 64 });
  t.after(() => shm.close());
  const cases = [[-1, 1], [0, 65], [64, 1], [65, 0], [1.5, 1], [0, -1], [NaN, 1], [0, Infinity], [2 ** 53, 0]];
  for (const [offset, length] of cases) {
    assert.throws(() => shm.view(offset, length), code('ERR_OUT_OF_RANGE'), `view(${offset}, ${length})`);
    assert.throws(() => shm.read(offset, length), code('ERR_OUT_OF_RANGE'), `read(${offset}, ${length})`);
  }
  assert.throws(() => shm.view('0', 1), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => shm.write(60, new Uint8Array(5)), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => shm.write(0, 'text'), code('ERR_INVALID_ARG_TYPE'));
  assert.throws(() => shm.write(0, [1, 2]), code('ERR_INVALID_ARG_TYPE'));
  assert.deepEqual([...shm.read()], new Array(64).fill(0), 'no rejected call wrote anything');
  assert.equal(shm.view(64, 0).byteLength, 0);
  assert.equal(shm.view(10).byteLength, 54);
});

test('the addon checks again whatever the OS will see, even when called directly', () => {
  const require = createRequire(import.meta.url);
  const path = process.env.SHMKIT_NATIVE ?? require('node-gyp-build').path(root);
  assert.ok(existsSync(path), `the addon is at ${path}`);
  const native = require(path);
  for (const name of ['', 'a/b', 'a\0b', '..', 'x'.repeat(300), 7]) {
    assert.throws(() => native.open(name, false), /name/);
    assert.throws(() => native.create(name, 1, 0o600), /name/);
    assert.throws(() => native.unlink(name), /name/);
  }
  for (const size of [0, -1, 0.5, NaN, 2 ** 64, '1']) {
    assert.throws(() => native.create('shmkit-test-never', size, 0o600), (e) => /ERR_/.test(e.code));
  }
  assert.throws(() => native.create('shmkit-test-never', 1, 0o10000), (e) => e.code === 'ERR_OUT_OF_RANGE');
  assert.equal(native.exists('shmkit-test-never'), false);
});
