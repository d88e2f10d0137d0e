// Compiled (not run) by 80-packaging.test.mjs: the published types describe the API.
import { SharedMemory, type CreateOptions, type SystemError } from 'shmkit';

const options: CreateOptions = { size: 4096, mode: 0o600, unlinkOnExit: true };
const shm: SharedMemory = SharedMemory.create(options);
const bytes: Uint8Array = new Uint8Array(shm.buffer);
const part: ArrayBuffer = shm.view(0, 16);
const copy: Buffer = shm.read(0, 4);
const written: number = shm.write(0, bytes.subarray(0, 4));
const flags: [string, number, boolean, boolean] = [shm.name, shm.size, shm.readOnly, shm.closed];
shm[Symbol.dispose]();
try {
  SharedMemory.open('missing', { readOnly: true });
} catch (error) {
  const e = error as SystemError;
  const fields: [string, number, string, string] = [e.code, e.errno, e.syscall, e.path];
  void fields;
}
// @ts-expect-error size is required
SharedMemory.create({ name: 'x' });
// @ts-expect-error readOnly is a boolean
SharedMemory.open('x', { readOnly: 'yes' });
void [part, copy, written, flags, SharedMemory.exists('x')];

// Typed objects: the value type follows the element type.
import { Lock, SharedArray, Value, wait, waitAsync, notify, type WaitResult } from 'shmkit';
const counter = Value.create({ type: 'int32', value: 1 });
const n: number = counter.add(1);
const big = Value.create({ type: 'q' });
const b: bigint = big.add(1n);
const flag = Value.create({ type: 'bool' });
const f: boolean = flag.value;
// @ts-expect-error an int64 Value takes bigints
big.value = 'x';
const arr = SharedArray.create({ type: 'float64', length: 4 });
const fa: Float64Array = arr.array;
const lock: Lock = Lock.create();
const got: boolean = lock.acquire({ timeout: 10 });
const later: Promise<boolean> = lock.acquireAsync({ signal: AbortSignal.timeout(10) });
const r: WaitResult = wait(new Int32Array(arr.array.buffer, 0, 2), 0, 0, 0);
const ra: Promise<WaitResult> = waitAsync(new Int32Array(4), 0, 0);
const woken: number = notify(new Int32Array(4), 0);
void [n, b, f, fa, got, later, r, ra, woken];

import { ShareableList, type ShareableValue } from 'shmkit';
const sl = ShareableList.create({ items: [1, 2.5, 'x', null, true, new Uint8Array(1), ShareableList.float(2), 3n] });
const item: ShareableValue = sl.get(-1);
sl.set(0, ShareableList.int(5));
const all: ShareableValue[] = sl.toArray();
// @ts-expect-error objects are not list items
sl.set(0, {});
void [item, all, sl.format, sl.indexOf('x'), sl.count(1)];

import { Barrier, Condition, Event, NamedSemaphore, Pipe, Queue, RLock, Semaphore } from 'shmkit';
const rl: RLock = RLock.create();
const level: number = rl.level;
const sem: Semaphore = Semaphore.create({ value: 3 });
const ev: Event = Event.create();
const cv: Condition = Condition.create({ lock: 'lock' });
const br: Barrier = Barrier.create({ parties: 2, action: () => {} });
const idx: Promise<number> = br.waitAsync({ timeout: 10 });
const q: Queue = Queue.create({ capacity: 8 });
const message: unknown = q.get({ timeout: 1 });
const pipe: Pipe = Pipe.create({ duplex: false });
const ns: NamedSemaphore = NamedSemaphore.create({ value: 0 });
// @ts-expect-error parties is required
Barrier.create({});
void [level, sem.value, ev.isSet(), cv.notifyAll, idx, message, pipe.duplex, ns.value];
