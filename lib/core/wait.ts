// wait / waitAsync / notify: the Atomics.wait / Atomics.waitAsync / Atomics.notify
// contract, across processes, on any Int32Array over shared memory. (V8's own Atomics
// versions only see waiters inside one process and refuse non-shared buffers.)
//
// The blocking form sleeps in the kernel (Linux: a shared futex). The async form never
// blocks the event loop and holds no libuv threadpool thread: on Linux 6.7+ each pending
// wait is an io_uring futex request, armed in the kernel before waitAsync returns; see
// native/unix/async-wait-io_uring.cc and docs/design.md.
import { availableParallelism } from 'node:os';
import { invalidArgType, outOfRange } from './errors.js';
import { native, type NativeWaitResult } from './native.js';

/** How a wait ended, as `Atomics.wait` reports it. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Options of {@link waitAsync}. */
export interface WaitAsyncOptions {
  /** Aborting it ends the wait: the promise rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

const RESULTS: readonly WaitResult[] = ['ok', 'not-equal', 'timed-out', 'timed-out'];

export function validateSlot(array: unknown, index: unknown, caller: Function): asserts array is Int32Array {
  if (!(array instanceof Int32Array)) throw invalidArgType('int32Array', 'an instance of Int32Array', array, caller);
  if (typeof index !== 'number') throw invalidArgType('index', 'of type number', index, caller);
  if (!Number.isInteger(index) || index < 0 || index >= array.length) {
    throw outOfRange('index', `an integer >= 0 and < ${array.length}`, index, caller);
  }
}

/** The expected value as the int32 the word holds; uint32 spellings are accepted. */
function validateExpected(value: unknown, caller: Function): number {
  if (typeof value !== 'number') throw invalidArgType('expected', 'of type number', value, caller);
  if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 32) {
    throw outOfRange('expected', 'an integer >= -2^31 and < 2^32', value, caller);
  }
  return value | 0;
}

/** Milliseconds as Atomics.wait takes them: undefined, NaN or Infinity wait forever. */
function atomicsTimeout(value: unknown, caller: Function): number {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number') throw invalidArgType('timeout', 'of type number', value, caller);
  return Number.isNaN(value) ? Infinity : Math.max(0, value);
}

/**
 * Sleeps while `int32Array[index]` is `expected`, until {@link notify} from any process
 * wakes it or `timeout` ms pass. Blocks the calling thread.
 */
export function wait(int32Array: Int32Array, index: number, expected: number, timeout?: number): WaitResult {
  validateSlot(int32Array, index, wait);
  const value = validateExpected(expected, wait);
  return RESULTS[native.wait(int32Array, index, value, atomicsTimeout(timeout, wait))]!;
}

interface Pending {
  resolve(result: WaitResult): void;
  detach(): void;
}

const pending = new Map<number, Pending>();
let nextId = 1;

native.setWaitCallback((id: number, result: NativeWaitResult) => {
  const waiter = pending.get(id);
  if (waiter === undefined) return; // aborted: already settled
  pending.delete(id);
  waiter.detach();
  waiter.resolve(RESULTS[result]!);
});

/**
 * The async form of {@link wait}: never blocks the event loop. Resolves `'not-equal'`
 * at once if the word is not `expected`. While it is pending, the process stays alive.
 */
export function waitAsync(int32Array: Int32Array, index: number, expected: number, timeout?: number,
  options?: WaitAsyncOptions): Promise<WaitResult> {
  try {
    validateSlot(int32Array, index, waitAsync);
    const value = validateExpected(expected, waitAsync);
    const ms = atomicsTimeout(timeout, waitAsync);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal, waitAsync);
    }
    signal?.throwIfAborted();
    if (Atomics.load(int32Array, index) !== value) return Promise.resolve('not-equal');
    if (ms === 0) return Promise.resolve('timed-out');
    return startWait(int32Array, index, value, ms, signal);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** @internal Starts an async wait on a slot already validated. */
export function startWait(array: Int32Array, index: number, value: number, ms: number,
  signal: AbortSignal | undefined): Promise<WaitResult> {
  return startNative((id) => native.waitAsyncStart(array, index, value, ms, id), native.waitAsyncCancel, signal);
}

/**
 * @internal Starts any asynchronous native operation that reports through the addon's
 * completion channel: `start(id)` begins it, `cancel(id)` asks it to stop on abort.
 */
export function startNative(start: (id: number) => void, cancel: (id: number) => void,
  signal: AbortSignal | undefined): Promise<WaitResult> {
  const id = nextId++;
  return new Promise<WaitResult>((resolve, reject) => {
    start(id);
    const onAbort = (): void => {
      pending.delete(id);
      cancel(id);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    pending.set(id, { resolve, detach: () => signal?.removeEventListener('abort', onAbort) });
  });
}

/**
 * Wakes up to `count` (default: all) waiters on `int32Array[index]`, in every process,
 * blocking and async alike. Returns how many were woken.
 */
export function notify(int32Array: Int32Array, index: number, count?: number): number {
  validateSlot(int32Array, index, notify);
  let n = Infinity;
  if (count !== undefined) {
    if (typeof count !== 'number') throw invalidArgType('count', 'of type number', count, notify);
    if (Number.isNaN(count) || count < 0) throw outOfRange('count', '>= 0', count, notify);
    n = Math.floor(count);
  }
  return native.notify(int32Array, index, n);
}

/**
 * @internal How many times shmkit's primitives look at their word before sleeping on it.
 * A hand-off between processes on two CPUs often comes back within microseconds, while
 * a sleep costs a wake-up system call on one side and, on a VM, tens of microseconds of
 * waking an idle virtual CPU on the other. Only primitives whose wake-ups are changes of
 * the word may spin: the raw wait() may not, since a bare notify changes nothing.
 */
export const SPINS = availableParallelism() > 1 ? 2000 : 0; // on one CPU, spinning only delays the other side

/** @internal Looks at array[index] up to SPINS times; true as soon as it is not `value`. */
export function spinWhile(array: Int32Array, index: number, value: number): boolean {
  for (let i = 0; i < SPINS; i++) if (Atomics.load(array, index) !== value) return true;
  return false;
}

/** @internal One sleep that a waiting loop asks for: on words[index] while it is `value`. */
export interface Sleep {
  words: Int32Array;
  index: number;
  value: number;
  ms: number;
}

/**
 * @internal Runs a waiting loop written once as a generator of the sleeps it needs,
 * blocking. The generator is told after each sleep whether it timed out.
 */
export function sleepSync<T>(steps: Generator<Sleep, T, boolean>): T {
  let r = steps.next(false);
  while (!r.done) {
    const s = r.value;
    r = steps.next(native.wait(s.words, s.index, s.value, s.ms) === 2);
  }
  return r.value;
}

/** @internal The same loop without blocking the event loop; `signal` aborts a sleep. */
export async function sleepAsync<T>(steps: Generator<Sleep, T, boolean>, signal: AbortSignal | undefined): Promise<T> {
  let r = steps.next(false);
  while (!r.done) {
    const s = r.value;
    let timedOut: boolean;
    try {
      timedOut = (await startWait(s.words, s.index, s.value, s.ms, signal)) === 'timed-out';
    } catch (error) {
      r = steps.throw(error); // runs the loop's clean-up, then rethrows unless it catches
      continue;
    }
    r = steps.next(timedOut);
  }
  return r.value;
}

/** Which mechanism async waits use in this process: `'io_uring'` or `'threads'`. */
export function waitBackend(): string {
  return native.waitBackend();
}
