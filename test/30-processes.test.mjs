// Unrelated processes: each child is a fresh `node` that finds the segment by name.
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { test } from 'node:test';
import { SharedMemory } from 'shmkit';
import { CHILD, asNobody, assertOk, cannotSwitchUid, isWindows, runNode, uniqueName } from './helpers.mjs';

test('a child opens by name and writes; the creator sees the bytes', async (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 1 << 20 });
  t.after(() => shm.close());
  assertOk(await runNode(`${CHILD}
    const shm = SharedMemory.open(args.name);
    if (shm.size !== 1 << 20) throw new Error('size ' + shm.size);
    const u32 = new Uint32Array(shm.buffer);
    for (let i = 0; i < u32.length; i++) u32[i] = i * 2654435761 >>> 0;
    shm.close();`, { args: { name } }));
  const u32 = new Uint32Array(shm.buffer);
  for (let i = 0; i < u32.length; i += 997) assert.equal(u32[i], (i * 2654435761) >>> 0);
  assert.equal(u32[u32.length - 1], ((u32.length - 1) * 2654435761) >>> 0);
});

test('a child creates; the parent opens by name, writes, and the child sees it', async (t) => {
  const name = uniqueName(t);
  // The child creates, reports, then waits for the parent's byte with a deadline.
  const result = await runNode(`${CHILD}
    const shm = SharedMemory.create({ name: args.name, size: 4096 });
    new Uint8Array(shm.buffer)[0] = 1;
    console.log('created');
    const u8 = new Uint8Array(shm.buffer);
    const deadline = Date.now() + 10_000;
    while (u8[4095] !== 0xab) {
      if (Date.now() > deadline) throw new Error('parent never wrote');
      await new Promise((r) => setTimeout(r, 5));
    }
    console.log('seen', Buffer.from(shm.buffer, 1, 5).toString());`, {
    args: { name },
    onStdout: (chunk) => {
      if (!chunk.includes('created')) return;
      const shm = SharedMemory.open(name);
      assert.equal(new Uint8Array(shm.buffer)[0], 1);
      shm.write(1, Buffer.from('world'));
      new Uint8Array(shm.buffer)[4095] = 0xab;
      shm.close();
    },
  });
  assertOk(result);
  assert.match(result.stdout, /seen world/);
});

test('unlink while another process has it mapped: its mapping keeps working, new opens fail', async (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 4096 });
  t.after(() => shm.close());
  const result = await runNode(`${CHILD}
    const shm = SharedMemory.open(args.name);
    const u8 = new Uint8Array(shm.buffer);
    console.log('attached');
    const deadline = Date.now() + 10_000;
    while (u8[0] !== 1) {
      if (Date.now() > deadline) throw new Error('never saw the write after unlink');
      await new Promise((r) => setTimeout(r, 5));
    }
    u8[1] = 2;
    let code = 'none';
    try { SharedMemory.open(args.name); } catch (e) { code = e.code; }
    console.log('reopen', code);`, {
    args: { name },
    onStdout: (chunk) => {
      if (!chunk.includes('attached')) return;
      SharedMemory.unlink(name);
      new Uint8Array(shm.buffer)[0] = 1;
    },
  });
  assertOk(result);
  // Windows has no unlink: the name lives while any handle is open (docs/api.md, Windows).
  assert.match(result.stdout, isWindows ? /reopen none/ : /reopen ENOENT/);
  assert.equal(new Uint8Array(shm.buffer)[1], 2, 'the child still wrote into the unlinked segment');
  assert.equal(SharedMemory.exists(name), isWindows);
});

test('attaching never unlinks: the segment outlives a process that opened it and exited', async (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 8 });
  // On Windows a name goes with its last handle, so this process keeps one.
  if (!isWindows) shm.close();
  t.after(() => shm.close());
  assertOk(await runNode(`${CHILD} SharedMemory.open(args.name); process.exit(0);`, { args: { name } }));
  assertOk(await runNode(`${CHILD} const s = SharedMemory.open(args.name); s.close();`, { args: { name } }));
  assert.equal(SharedMemory.exists(name), true);
});


test('another uid cannot open a segment made with the default mode: EACCES', { skip: cannotSwitchUid }, async (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 64 });
  t.after(() => shm.close());
  const result = await runNode(`${CHILD}
    const out = {};
    for (const readOnly of [false, true]) {
      try { SharedMemory.open(args.name, { readOnly }); out[readOnly] = 'opened'; }
      catch (e) { out[readOnly] = [e.code, e.errno, e.syscall, e.path]; }
    }
    out.exists = SharedMemory.exists(args.name);
    console.log(JSON.stringify(out));`, { args: { name }, wrap: asNobody });
  assertOk(result);
  const out = JSON.parse(result.stdout);
  assert.deepEqual(out.false, ['EACCES', -13, 'shm_open', `/${name}`]);
  assert.deepEqual(out.true, ['EACCES', -13, 'shm_open', `/${name}`]);
  assert.equal(out.exists, true, 'exists() is true even for a segment this user may not open');
});

test('a user with only read permission attaches read-only, and cannot change a byte', { skip: cannotSwitchUid }, async (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 64 });
  t.after(() => shm.close());
  chmodSync(`/dev/shm/${name}`, 0o644);
  shm.write(0, Buffer.from('original'));
  const result = await runNode(`${CHILD}
    let rw = 'opened';
    try { SharedMemory.open(args.name); } catch (e) { rw = e.code; }
    const ro = SharedMemory.open(args.name, { readOnly: true });
    const seen = ro.read(0, 8).toString();
    new Uint8Array(ro.buffer).fill(0x41);
    let w = 'wrote';
    try { ro.write(0, Buffer.from('x')); } catch (e) { w = e.code; }
    console.log(JSON.stringify({ rw, seen, w }));`, { args: { name }, wrap: asNobody });
  assertOk(result);
  assert.deepEqual(JSON.parse(result.stdout), { rw: 'EACCES', seen: 'original', w: 'ERR_SHMKIT_READ_ONLY' });
  assert.equal(shm.read(0, 8).toString(), 'original');
  assert.ok(shm.read(8).every((b) => b === 0));
});
