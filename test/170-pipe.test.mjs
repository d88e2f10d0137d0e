// Pipe between two unrelated processes: both directions, one-way, async forms, and the
// other end's close or death reported rather than waited on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pipe } from 'shmkit';
import { CHILD, assertKilled, assertOk, runNode, uniqueName } from './helpers.mjs';

const code = (c) => (e) => {
  assert.equal(e.code, c, e.message);
  return true;
};

test('a duplex pipe: messages both ways, in order, then the other end closes', async (t) => {
  const end = Pipe.create({ name: uniqueName(t), capacity: 4 });
  t.after(() => end.close());
  const child = runNode(`${CHILD}
    import { Pipe } from 'shmkit';
    const p = Pipe.open(args.name);
    for await (const m of p) {                 // until the creator closes its end
      if (m === 'stop') break;
      p.send(typeof m === 'object' && !(m instanceof Uint8Array) ? { echo: m } : m);
    }
    await p.sendAsync('bye');
    p.close();`, { args: { name: end.name } });
  const messages = ['text', new Uint8Array([1, 2, 3]), { n: 1, list: [1, 2] }, 42, null];
  // Three at a time through a pipe of four slots, then the echoes, twenty rounds.
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 3; i++) end.send(`m${round}.${i}`);
    for (let i = 0; i < 3; i++) assert.equal(end.recv(), `m${round}.${i}`);
  }
  for (const m of messages) {
    await end.sendAsync(m);
    const back = await end.recvAsync();
    if (m instanceof Uint8Array) assert.deepEqual(back, m);
    else if (typeof m === 'object' && m !== null) assert.deepEqual(back, { echo: m });
    else assert.deepEqual(back, m === null ? { echo: null } : m);
  }
  assert.equal(end.poll(), false);
  end.send('stop');
  assert.equal(end.poll({ timeout: 10_000 }), true);
  assert.equal(end.recv(), 'bye');
  assertOk(await child);
  assert.throws(() => end.recv(), code('ERR_SHMKIT_PIPE_CLOSED'), 'the other end closed after its last message');
  assert.throws(() => end.send('more'), code('ERR_SHMKIT_PIPE_CLOSED'));
  assert.throws(() => Pipe.open(end.name), code('ERR_SHMKIT_PIPE_CLOSED'));
});

test('the other end dying is reported to a waiting receiver, not waited on forever', async (t) => {
  const end = Pipe.create({ name: uniqueName(t) });
  t.after(() => end.close());
  const child = runNode(`${CHILD}
    import { Pipe } from 'shmkit';
    const p = Pipe.open(args.name);
    p.send('last words');
    console.log('sent');
    setInterval(() => {}, 1000);`, { args: { name: end.name }, onStdout: (d, c) => d.includes('sent') && c.kill('SIGKILL') });
  assertKilled(await child);
  assert.equal(await end.recvAsync(), 'last words', 'what it sent before dying still arrives');
  const t0 = performance.now();
  await assert.rejects(end.recvAsync(), code('ERR_SHMKIT_PIPE_CLOSED'));
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(end.poll(), true, 'poll says "look" at the end of the stream, as Python does');
  // A dead opener's end can be taken over by a new process.
  const again = assertOk(await runNode(`${CHILD}
    import { Pipe } from 'shmkit';
    const p = Pipe.open(args.name);
    p.send('new opener');
    p.close();`, { args: { name: end.name } }));
  void again;
  assert.equal(end.recv(), 'new opener');
});

test('one-way pipes, a busy other end, and bad input', async (t) => {
  const reader = Pipe.create({ name: uniqueName(t), duplex: false });
  t.after(() => reader.close());
  assert.equal(reader.duplex, false);
  assert.throws(() => reader.send('x'), code('ERR_SHMKIT_PIPE_DIRECTION'));
  const out = assertOk(await runNode(`${CHILD}
    import { Pipe } from 'shmkit';
    const w = Pipe.open(args.name);
    let e1; try { w.recv(); } catch (e) { e1 = e.code; }
    w.send('one way');
    let e2; try { Pipe.open(args.name); } catch (e) { e2 = e.code; }
    console.log(JSON.stringify([e1, e2]));
    w.close();`, { args: { name: reader.name } }));
  assert.deepEqual(JSON.parse(out.stdout), ['ERR_SHMKIT_PIPE_DIRECTION', 'ERR_SHMKIT_PIPE_BUSY']);
  assert.equal(reader.recv(), 'one way');
  assert.throws(() => Pipe.create({ name: uniqueName(t), capacity: 0 }), code('ERR_OUT_OF_RANGE'));
  assert.throws(() => Pipe.create({ name: uniqueName(t), duplex: 'yes' }), code('ERR_INVALID_ARG_TYPE'));
  const small = Pipe.create({ name: uniqueName(t), maxMessageSize: 8 });
  t.after(() => small.close());
  assert.throws(() => small.send('123456789'), code('ERR_OUT_OF_RANGE'));
});
