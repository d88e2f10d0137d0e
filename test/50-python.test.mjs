// CPython's multiprocessing.shared_memory.SharedMemory and shmkit see one segment by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedMemory } from 'shmkit';
import { assertOk, noPython, runPython, uniqueName } from './helpers.mjs';

// Attach or create without handing the segment to CPython's resource tracker, which
// would otherwise unlink it when the Python process exits (python/cpython#82300).
const PY = `
import json, os, sys
from multiprocessing import shared_memory, resource_tracker
args = json.loads(os.environ['SHMKIT_TEST_ARGS'])
def attach(name, create=False, size=0):
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, create=create, size=size, track=False)
    shm = shared_memory.SharedMemory(name=name, create=create, size=size)
    resource_tracker.unregister(shm._name, 'shared_memory')
    return shm
`;

test('python3 attaches by name to a shmkit segment, reads it and writes to it', { skip: noPython }, async (t) => {
  const name = uniqueName(t);
  const shm = SharedMemory.create({ name, size: 100_000 });
  t.after(() => shm.close());
  const u8 = new Uint8Array(shm.buffer);
  for (let i = 0; i < u8.length; i++) u8[i] = (i * 7) & 0xff;
  const result = assertOk(await runPython(`${PY}
shm = attach(args['name'])
data = bytes(shm.buf[:100000])
assert all(data[i] == (i * 7) & 0xff for i in range(len(data))), 'pattern differs'
shm.buf[0:6] = b'python'
print(shm.size, shm.name)
shm.close()
`, { args: { name } }));
  const [size, pyName] = result.stdout.trim().split(' ');
  assert.ok(Number(size) >= 100_000, 'Python sees the whole segment');
  assert.equal(pyName.replace(/^\//, ''), name, 'the same name');
  assert.equal(Buffer.from(shm.buffer, 0, 6).toString(), 'python');
  assert.equal(u8[6], (6 * 7) & 0xff);
  assert.equal(SharedMemory.exists(name), true);
});

test('shmkit attaches to a segment python3 created, and python3 sees shmkit\'s writes', { skip: noPython }, async (t) => {
  const name = uniqueName(t);
  assertOk(await runPython(`${PY}
shm = attach(args['name'], create=True, size=5000)
shm.buf[:5000] = bytes(i % 251 for i in range(5000))
shm.close()
`, { args: { name } }));
  const shm = SharedMemory.open(`/${name}`);
  t.after(() => shm.close());
  assert.equal(shm.size, 5000);
  const bytes = shm.read();
  for (let i = 0; i < 5000; i++) assert.equal(bytes[i], i % 251);
  shm.write(4990, Buffer.from('from node!'));
  const result = assertOk(await runPython(`${PY}
shm = attach(args['name'])
print(bytes(shm.buf[4990:5000]).decode())
shm.close()
`, { args: { name } }));
  assert.equal(result.stdout.trim(), 'from node!');
});

test('python3 sees shmkit\'s EEXIST and ENOENT the same way', { skip: noPython }, async (t) => {
  const name = uniqueName(t);
  SharedMemory.create({ name, size: 16 }).close();
  const result = assertOk(await runPython(`${PY}
try:
    attach(args['name'], create=True, size=16)
    print('created')
except FileExistsError:
    print('exists')
try:
    attach(args['name'] + '-missing')
    print('opened')
except FileNotFoundError:
    print('missing')
`, { args: { name } }));
  assert.deepEqual(result.stdout.trim().split('\n'), ['exists', 'missing']);
});
