// Condition: Python's multiprocessing.Condition, by name, with its own Lock or RLock.
//
// Layout (16 bytes, 8-aligned; all zero is a condition whose lock is free):
//   0   8 bytes  the condition's lock (a Lock or an RLock: lock.ts)
//   8   int32    sequence: incremented by every notify; waiters sleep on it
//   12  int32    reserved, 0
// wait() reads the sequence while holding the lock, releases the lock, and sleeps while
// the sequence is unchanged; notify(n) increments it and wakes n sleepers. A waiter
// holds nothing while asleep, so a process killed there costs the others nothing; one
// killed while it holds the lock is handled by the lock's own recovery.
import { invalidArgType, invalidArgValue, lockError, type CodedError } from '../core/errors.js';
import { Lock, lockState, RLock } from './lock.js';
import { native } from '../core/native.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, validatePlacement, type CreateTyped, payloadView } from '../core/header.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateOptions } from '../core/validate.js';
import { parkAsync, parkSync, type Sleep } from '../core/park.js';
import { CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

export const SEQ = 2;
const TYPE_RLOCK = 0; // the element-type field of the header says which lock
const TYPE_LOCK = 1;

/** Options of {@link Condition.create}. */
export interface ConditionOptions extends CreateTyped {
  /** The kind of lock the condition uses: `'rlock'` (default, as in Python) or `'lock'`. */
  lock?: 'rlock' | 'lock' | undefined;
}


/** A condition variable shared by every process that opens it. */
export class Condition extends SharedObject {
  static readonly byteLength = 16;
  readonly #lock: Lock;

  /** The condition's lock; acquire/release it directly or through the condition. */
  get lock(): Lock {
    return this.#lock;
  }

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, owns: boolean, area: ArrayBuffer, recursive: boolean) {
    super(token, shm, owns, new Int32Array(area, 0, 4));
    const lockWords = new Int32Array(area, 0, 2);
    this.#lock = recursive ? RLock.within(shm, lockWords) : Lock.within(shm, lockWords);
  }

  /** Creates a named Condition. `EEXIST` if the name is taken. */
  static create(options?: ConditionOptions): Condition {
    const opts = validateOptions(options, 'options', Condition.create) as ConditionOptions;
    const recursive = validateLockKind(opts.lock, Condition.create);
    const shm = createTyped(opts, { kind: 'Condition', payloadLength: Condition.byteLength, elementType: recursive ? TYPE_RLOCK : TYPE_LOCK, elementCount: 0 }, () => {});
    return built(shm, () => new Condition(CONSTRUCT, shm, true, payloadView(shm, Condition.byteLength), recursive));
  }

  /** Opens a named Condition; its kind of lock comes from the segment. */
  static open(name: string): Condition {
    const { shm, header } = openTyped(name, 'Condition', Condition.open);
    return new Condition(CONSTRUCT, shm, true, payloadView(shm, Condition.byteLength), header.elementType !== TYPE_LOCK);
  }

  /** A Condition at `byteOffset` (a multiple of 8) in memory the caller owns. */
  static at(sharedMemory: SharedMemory, byteOffset: number, options?: { lock?: 'rlock' | 'lock' }): Condition {
    validatePlacement(sharedMemory, byteOffset, Condition.byteLength, Condition.at);
    const recursive = validateLockKind(validateOptions(options, 'options', Condition.at).lock, Condition.at);
    return new Condition(CONSTRUCT, sharedMemory, false, sharedMemory.view(byteOffset, Condition.byteLength), recursive);
  }

  /** Acquires the condition's lock (see {@link Lock.acquire}). */
  acquire(options?: AcquireOptions): boolean {
    return this.lock.acquire(options);
  }

  /** Acquires the condition's lock without blocking the event loop. */
  acquireAsync(options?: AcquireAsyncOptions): Promise<boolean> {
    return this.lock.acquireAsync(options);
  }

  /** Releases the condition's lock. */
  release(): void {
    this.lock.release();
  }

  /**
   * Releases the lock (all levels of an RLock), sleeps until notified or `timeout` ms
   * pass, and takes the lock back (restoring its level). Returns false if it timed out.
   * The caller must hold the lock (`ERR_SHMKIT_NOT_OWNER`). As in Python, wake-ups may
   * be spurious: check the condition in a loop, or use {@link waitFor}.
   */
  wait(options?: AcquireOptions): boolean {
    const w = this.openWords(this.wait);
    return parkSync(this.#waiting(w, timeoutOption(options, this.wait), true, this.wait));
  }

  /** The async form of {@link wait}: never blocks the event loop. */
  waitAsync(options?: AcquireAsyncOptions): Promise<boolean> {
    try {
      const w = this.openWords(this.waitAsync);
      const { timeout, signal } = validateAsyncOptions(options, this.waitAsync);
      return parkAsync(this.#waiting(w, timeout, false, this.waitAsync), signal, this);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * wait's loop, written once for both forms: release every level, sleep on the sequence
   * word, take the lock back (through the lock's own waiting loop) and restore the level.
   * An abort takes the lock back too before it is thrown, as a time-out does; a close
   * does not (there is no lock left to hold).
   */
  *#waiting(w: Int32Array, timeout: number, blocking: boolean, caller: Function): Generator<Sleep, boolean, boolean> {
    const seq = Atomics.load(w, SEQ);
    const level = this.#releaseAll(caller);
    let timedOut: boolean;
    try {
      timedOut = yield { words: w, index: SEQ, value: seq, ms: timeout };
    } catch (error) {
      if ((error as CodedError).code !== 'ERR_SHMKIT_CLOSED') yield* this.#reacquiring(level, blocking, caller);
      throw error;
    }
    yield* this.#reacquiring(level, blocking, caller);
    return !timedOut;
  }

  *#reacquiring(level: number, blocking: boolean, caller: Function): Generator<Sleep, void, boolean> {
    for (let i = 0; i < level; i++) {
      if (!this.lock.tryAcquire()) yield* this.lock.acquiring(Infinity, blocking, caller);
    }
  }

  /**
   * Waits until `predicate()` is truthy (checked with the lock held) or `timeout` ms
   * pass; returns the predicate's last value, as Python's `wait_for`.
   */
  waitFor<T>(predicate: () => T, options?: AcquireOptions): T {
    if (typeof predicate !== 'function') throw invalidArgType('predicate', 'of type function', predicate, this.waitFor);
    const timeout = timeoutOption(options, this.waitFor);
    const deadline = performance.now() + timeout;
    let result = predicate();
    while (!result) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      this.wait({ timeout: left });
      result = predicate();
    }
    return result;
  }

  /** The async form of {@link waitFor}. */
  async waitForAsync<T>(predicate: () => T, options?: AcquireAsyncOptions): Promise<T> {
    if (typeof predicate !== 'function') throw invalidArgType('predicate', 'of type function', predicate, this.waitForAsync);
    const { timeout, signal } = validateAsyncOptions(options, this.waitForAsync);
    const deadline = performance.now() + timeout;
    let result = predicate();
    while (!result) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await this.waitAsync({ timeout: left, signal });
      result = predicate();
    }
    return result;
  }

  /** Wakes up to `n` (default 1) waiters, in any process. The caller must hold the lock. */
  notify(n = 1): void {
    const w = this.openWords(this.notify);
    this.#mustHold(this.notify);
    if (typeof n !== 'number' || !(n >= 0)) throw invalidArgType('n', 'a number >= 0', n, this.notify);
    Atomics.add(w, SEQ, 1);
    if (n > 0) native.notify(w, SEQ, n);
  }

  /** Wakes every waiter. The caller must hold the lock. */
  notifyAll(): void {
    const w = this.openWords(this.notifyAll);
    this.#mustHold(this.notifyAll);
    Atomics.add(w, SEQ, 1);
    native.notify(w, SEQ, Infinity);
  }

  override close(): void {
    this.lock.close();
    super.close();
  }

  #mustHold(caller: Function): void {
    if (!this.lock.owned) throw lockError(`Condition.${caller.name}() needs the condition's lock held by this thread`, 'ERR_SHMKIT_NOT_OWNER', caller);
  }


  /** Releases every level this thread holds; returns how many there were. */
  #releaseAll(caller: Function): number {
    this.#mustHold(caller);
    if (!(this.lock instanceof RLock)) {
      this.lock.release();
      return 1;
    }
    const level = this.lock.level;
    for (let i = 0; i < level; i++) this.lock.release();
    return level;
  }
}

function validateLockKind(value: unknown, caller: Function): boolean {
  if (value === undefined || value === 'rlock') return true;
  if (value === 'lock') return false;
  throw invalidArgValue('options.lock', value, "must be 'rlock' or 'lock'", caller);
}

registerKind(Condition, { code: 8, inspect: ({ words }) => ({ ...lockState(words[0]!), notifications: words[SEQ] }) });
