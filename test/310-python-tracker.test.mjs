// Python beside Node: a CPython that only attaches to a Node-made segment or list
// registers it with its resource tracker, which unlinks it when that Python exits
// (python/cpython#82300). With the recipe the README shows (track=False on 3.13+,
// resource_tracker.unregister before), the segment and the list survive the reader's
// exit; without it, for the record, they do not. Real CPythons: every 3.9+ found.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { SharedMemory, ShareableList } from 'shmkit';
import { isWindows, noPython, pythons, runPython, uniqueName } from './helpers.mjs';

const READER = (recipe) => `
import json, os, sys
from multiprocessing import shared_memory, resource_tracker
a = json.loads(os.environ['SHMKIT_TEST_ARGS'])
if ${recipe ? 'True' : 'False'} and sys.version_info >= (3, 13):
    shm = shared_memory.SharedMemory(a['segment'], track=False)
else:
    shm = shared_memory.SharedMemory(a['segment'])
    if ${recipe ? 'True' : 'False'}:
        resource_tracker.unregister(shm._name, 'shared_memory')
sl = shared_memory.ShareableList(name=a['list'])
if ${recipe ? 'True' : 'False'}:
    resource_tracker.unregister(sl.shm._name, 'shared_memory')
print(json.dumps([shm.buf[0], list(sl)]))
shm.close()
sl.shm.close()
`;

const found = isWindows ? [] : pythons();
for (const [version, python] of found.length > 0 ? found : [['none', undefined]]) {
  for (const recipe of [true, false]) {
    test(`CPython ${version} attaching ${recipe ? 'with' : 'without'} the recipe: the Node-made segment and list ${recipe ? 'survive' : 'are unlinked at'} its exit`, { skip: noPython || (python === undefined && 'no CPython 3.9+ found') }, async (t) => {
      const shm = SharedMemory.create({ name: uniqueName(t), size: 64 });
      const list = ShareableList.create({ name: uniqueName(t), items: [7, 'hi'] });
      t.after(() => { shm.close(); list.close(); });
      new Uint8Array(shm.buffer)[0] = 42;
      const r = await runPython(READER(recipe), { python, args: { segment: shm.name, list: list.name } });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), [42, [7, 'hi']]);
      // The tracker runs in a process of its own that ends with the reader: by the time
      // the reader's exit is reported, it has unlinked (or not) and warned (or not).
      const survived = existsSync(`/dev/shm/${shm.name}`) && existsSync(`/dev/shm/${list.name}`);
      if (recipe) {
        assert.equal(survived, true, `unlinked although the recipe was used: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /leaked shared_memory/);
        SharedMemory.open(shm.name).close(); // still opens by name
      } else {
        assert.equal(existsSync(`/dev/shm/${shm.name}`) || existsSync(`/dev/shm/${list.name}`), false, 'CPython no longer unlinks what it attached to: the README can say so');
      }
    });
  }
}
