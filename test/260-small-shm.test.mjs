// A /dev/shm smaller than what is asked (Docker's 64 MB default, a Kubernetes pod's):
// memory is reserved when a segment is made (posix_fallocate, as PostgreSQL does), so what
// does not fit is ENOSPC at create, naming the room there was and what to do, instead of
// SIGBUS on first touch. Each case runs in a private mount namespace over a 16 MiB tmpfs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHILD, cannotSwitchUid, isWindows, runNode } from './helpers.mjs';

const why = isWindows ? 'Linux mount namespaces' : process.platform !== 'linux' ? 'Linux tmpfs' : cannotSwitchUid ? 'needs root (unshare, mount)' : false;
const small = ['unshare', '--mount', 'sh', '-c', 'mount -t tmpfs -o size=16m tmpfs /dev/shm && exec "$@"', 'sh'];
const MiB = 2 ** 20;

const inSmallShm = (code) => runNode(`${CHILD}
  import { readdirSync } from 'node:fs';
  import { Queue } from 'shmkit';
  const MiB = 2 ** 20;
  const out = {};
  const attempt = (f) => { try { return { ok: f() }; } catch (e) { return { code: e.code, message: e.message, syscall: e.syscall }; } };
  ${code}
  out.left = readdirSync('/dev/shm').filter((n) => !n.startsWith('.shmkit-owners-')); // the owner registry (ownership.ts) is not a segment
  console.log(JSON.stringify(out));`, { wrap: small, timeout: 30_000 });

test('a segment that does not fit in /dev/shm is ENOSPC at create, with the room and a hint, and leaves no name behind', { skip: why }, async () => {
  const r = await inSmallShm(`
    out.big = attempt(() => SharedMemory.create({ name: 'big', size: 64 * MiB }).size);
    const eight = SharedMemory.create({ name: 'eight', size: 8 * MiB });
    new Uint8Array(eight.buffer).fill(1); // fits: touched all through
    out.twelve = attempt(() => SharedMemory.create({ name: 'twelve', size: 12 * MiB }).size);
    eight.close(); SharedMemory.unlink('eight');
    out.array = attempt(() => SharedArray.create({ name: 'array', type: 'float64', length: 4 * MiB }).length);
    out.queue = attempt(() => Queue.create({ name: 'queue', capacity: 512, maxMessageSize: 65536 }).capacity);
    out.list = attempt(() => ShareableList.create({ name: 'list', items: ['x'.repeat(9 * MiB), 'y'.repeat(9 * MiB)] }).length);`);
  assert.equal(r.code, 0, `the process died (${r.signal ?? r.code}) instead of an error: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  for (const kind of ['big', 'twelve', 'array', 'queue', 'list']) {
    assert.equal(out[kind].code, 'ENOSPC', `${kind}: ${JSON.stringify(out[kind])}`);
  }
  assert.match(out.big.message, /67108864 bytes/, 'how much was asked');
  assert.match(out.big.message, /\/dev\/shm has 16777216 bytes|of 16777216/, `how much room there was: ${out.big.message}`);
  assert.match(out.big.message, /--shm-size/, 'the Docker hint');
  assert.match(out.big.message, /emptyDir/, 'the Kubernetes hint');
  assert.deepEqual(out.left, [], 'nothing stays under a name after a failed create');
});

test('sparse: true opts out (a huge segment is made at once); reserve() then reserves a range, ENOSPC if it does not fit', { skip: why }, async () => {
  const r = await inSmallShm(`
    const shm = SharedMemory.create({ name: 'sparse', size: 64 * MiB, sparse: true });
    out.size = shm.size;
    out.reserveSmall = attempt(() => (shm.reserve(0, 4 * MiB), 'reserved'));
    new Uint8Array(shm.buffer, 0, 4 * MiB).fill(7); // reserved: safe to touch
    out.reserveAll = attempt(() => shm.reserve());
    out.check = new Uint8Array(shm.buffer)[4 * MiB - 1];
    out.badRange = attempt(() => shm.reserve(60 * MiB, 8 * MiB));
    // Touching more of it than /dev/shm holds through write(): ENOSPC, not SIGBUS, and
    // not mistaken for a truncation (the file is still 64 MiB long).
    out.overfill = attempt(() => shm.write(8 * MiB, new Uint8Array(32 * MiB)));
    shm.close(); shm.unlink();`);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(out.size, 64 * MiB);
  assert.deepEqual(out.reserveSmall, { ok: 'reserved' }, JSON.stringify(out.reserveSmall));
  assert.equal(out.reserveAll.code, 'ENOSPC', JSON.stringify(out.reserveAll));
  assert.equal(out.check, 7);
  assert.equal(out.badRange.code, 'ERR_OUT_OF_RANGE', JSON.stringify(out.badRange));
  assert.equal(out.overfill.code, 'ENOSPC', JSON.stringify(out.overfill));
  assert.match(out.overfill.message, /--shm-size/);
  assert.deepEqual(out.left, []);
});

test('Windows: a section beyond the commit limit is ENOSPC at create, with how much was asked and what to do', { skip: !isWindows && 'Windows sections (the Linux cases are above)' }, async (t) => {
  const { SharedMemory } = await import('shmkit');
  const name = `shmkit-test-${process.pid}-commit`;
  // 2^46 bytes (64 TiB): more than any machine's memory and page files together.
  assert.throws(() => SharedMemory.create({ name, size: 2 ** 46 }), (e) => {
    assert.equal(e.code, 'ENOSPC', e.message);
    assert.match(e.message, /70368744177664 bytes asked/);
    assert.match(e.message, /commit limit/);
    return true;
  });
  assert.equal(SharedMemory.exists(name), false, 'nothing stays under the name');
});
