// wait / waitAsync / notify: the Atomics.wait / Atomics.waitAsync / Atomics.notify
// contract, across processes, on any Int32Array over shared memory. (V8's own Atomics
// versions only see waiters inside one process and refuse non-shared buffers.)
//
// The blocking form sleeps in the kernel (Linux: a shared futex). The async form never
// blocks the event loop and holds no libuv threadpool thread: on Linux 6.7+ each pending
// wait is an io_uring futex request, armed in the kernel before waitAsync returns; see
// native/unix/async-wait-io_uring.cc and docs/design.md.
import { invalidArgType, outOfRange, shmkitError } from './errors.js';
import { native } from './native.js';
import { ownerOf, parkAsync, RESULTS, type Sleep, type SleepResult } from './park.js';

/** How a wait ended, as `Atomics.wait` reports it. */
export type WaitResult = SleepResult;

/** Options of {@link waitAsync}. */
export interface WaitAsyncOptions {
  /** Aborting it ends the wait: the promise rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
}


/**
 * Checks (int32Array, index). A view of a read-only attach is refused: its pages are the
 * process's private copy to the kernel, so a wait there would never see another
 * process's notify, nor a notify reach another process's waiters.
 */
export function validateSlot(array: unknown, index: unknown, caller: Function): asserts array is Int32Array {
  if (!(array instanceof Int32Array)) throw invalidArgType('int32Array', 'an instance of Int32Array', array, caller);
  if (typeof index !== 'number') throw invalidArgType('index', 'of type number', index, caller);
  if (!Number.isInteger(index) || index < 0 || index >= array.length) {
    throw outOfRange('index', `an integer >= 0 and < ${array.length}`, index, caller);
  }
  const owner = ownerOf(array);
  if (owner?.readOnly === true) {
    throw shmkitError(`'${owner.name}' is attached read-only: waits and notifications there cannot reach other processes (open it read-write)`,
      'ERR_SHMKIT_READ_ONLY', caller, TypeError);
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
  // Looked at here, not only by the kernel: macOS's wait calls report a differing value as
  // a wake-up, and the addon never reads the word itself (it may be unmapped under an
  // async wait's thread).
  if (Atomics.load(int32Array, index) !== value) return 'not-equal';
  return RESULTS[native.wait(int32Array, index, value, atomicsTimeout(timeout, wait))]!;
}

/**
 * The async form of {@link wait}: never blocks the event loop. Resolves `'not-equal'`
 * at once if the word is not `expected`. While it is pending, the process stays alive;
 * closing the SharedMemory it is on rejects it with `ERR_SHMKIT_CLOSED`.
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
    return parkAsync(once({ words: int32Array, index, value, ms }), signal);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** A waiting loop of one sleep, whose outcome is the sleep's own. */
function* once(sleep: Sleep): Generator<Sleep, WaitResult, boolean> {
  yield sleep;
  return sleep.result!;
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

/** Which mechanism async waits use in this process: `'io_uring'` or `'threads'`. */
export function waitBackend(): string {
  return native.waitBackend();
}
