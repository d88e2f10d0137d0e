// Semaphore and BoundedSemaphore: Python's multiprocessing namesakes, by name.
//
// Layout (16 bytes, 8-aligned):
//   0  int32  the value (never negative)
//   4  int32  how many threads may be asleep waiting for it (release skips the wake-up
//             system call when it is 0)
//   8  int32  the bound (BoundedSemaphore: the initial value; 0: none)
//   12 int32  reserved, 0
// A semaphore has no owner, so a process that dies after acquiring leaves the value
// one lower, as with POSIX and Python semaphores; waiters are not stuck on a dead
// process, only on the count.
import { invalidArgType, outOfRange, shmkitError } from '../core/errors.js';
import { native } from '../core/native.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, validatePlacement, type CreateTyped, type KindName, payloadView } from '../core/header.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateInteger, validateOptions } from '../core/validate.js';
import { parkAsync, parkSync, spinWhile, type Sleep } from '../core/park.js';
import { CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

export const VALUE = 0;
const WAITERS = 1;
const BOUND = 2;
const MAX_VALUE = 2 ** 31 - 1;

/** Options of {@link Semaphore.create}. */
export interface SemaphoreOptions extends CreateTyped {
  /** The initial value (default 1). A BoundedSemaphore may never be released above it. */
  value?: number | undefined;
}


/** A counting semaphore shared by every process that opens it. */
export class Semaphore extends SharedObject {
  /** Bytes a semaphore occupies when placed with `at`. */
  static readonly byteLength = 16;
  protected static readonly kind: KindName = 'Semaphore';

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, owns: boolean, word: Int32Array) {
    super(token, shm, owns, word);
  }

  /** Creates a named semaphore. `EEXIST` if the name is taken. */
  static create<T extends typeof Semaphore>(this: T, options?: SemaphoreOptions): InstanceType<T> {
    const opts = validateOptions(options, 'options', this.create) as SemaphoreOptions;
    const value = opts.value === undefined ? 1 : validateInteger(opts.value, 'options.value', 0, MAX_VALUE, this.create);
    const bounded = this.kind === 'BoundedSemaphore';
    const shm = createTyped(opts, { kind: this.kind, payloadLength: Semaphore.byteLength, elementType: 0, elementCount: 0 }, (payload) => {
      const w = new Int32Array(payload, 0, 4);
      w[VALUE] = value;
      if (bounded) w[BOUND] = value;
    });
    return built(shm, () => new this(CONSTRUCT, shm, true, new Int32Array(payloadView(shm, Semaphore.byteLength))) as InstanceType<T>);
  }

  /** Opens a named semaphore. */
  static open<T extends typeof Semaphore>(this: T, name: string): InstanceType<T> {
    const { shm } = openTyped(name, this.kind, this.open);
    return new this(CONSTRUCT, shm, true, new Int32Array(payloadView(shm, Semaphore.byteLength))) as InstanceType<T>;
  }

  /**
   * A semaphore at `byteOffset` (a multiple of 8) in memory the caller owns. Zero bytes
   * are a semaphore of value 0; set the value with {@link release}. A BoundedSemaphore
   * placed this way is bounded by the `bound` given here on first use (0: unbounded).
   */
  static at<T extends typeof Semaphore>(this: T, sharedMemory: SharedMemory, byteOffset: number, options?: { bound?: number }): InstanceType<T> {
    validatePlacement(sharedMemory, byteOffset, Semaphore.byteLength, this.at);
    const bound = validateOptions(options, 'options', this.at).bound;
    const w = new Int32Array(sharedMemory.view(byteOffset, Semaphore.byteLength));
    if (bound !== undefined) {
      Atomics.compareExchange(w, BOUND, 0, validateInteger(bound, 'options.bound', 1, MAX_VALUE, this.at));
    }
    return new this(CONSTRUCT, sharedMemory, false, w) as InstanceType<T>;
  }

  /** The current value. */
  get value(): number {
    return Atomics.load(this.openWords(valueGetter), VALUE);
  }

  /** Takes one unit if the value is above 0; never waits. */
  tryAcquire(): boolean {
    const w = this.openWords(this.tryAcquire);
    for (let v = Atomics.load(w, VALUE); v > 0; v = Atomics.load(w, VALUE)) {
      if (Atomics.compareExchange(w, VALUE, v, v - 1) === v) return true;
    }
    return false;
  }

  /** Takes one unit, waiting (blocking) up to `timeout` ms for one. Returns whether it did. */
  acquire(options?: AcquireOptions): boolean {
    const timeout = timeoutOption(options, this.acquire);
    return this.tryAcquire() || parkSync(this.#acquiring(timeout, this.acquire));
  }

  /** The async form of {@link acquire}: never blocks the event loop. */
  async acquireAsync(options?: AcquireAsyncOptions): Promise<boolean> {
    const { timeout, signal } = validateAsyncOptions(options, this.acquireAsync);
    return this.tryAcquire() || parkAsync(this.#acquiring(timeout, this.acquireAsync), signal, this);
  }

  /**
   * Waiting for a unit, for both forms (park.ts drives it): registered, asleep while the
   * value is 0 or below. (Below 0 only a peer that wrote the word can make it: that is no
   * unit to take, and a sleep on the value seen, never a spin.)
   */
  *#acquiring(timeout: number, caller: Function): Generator<Sleep, boolean, boolean> {
    if (spinWhile(this.openWords(caller), VALUE, 0) && this.tryAcquire()) return true;
    const deadline = performance.now() + timeout;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const w = this.openWords(caller);
      Atomics.add(w, WAITERS, 1);
      try {
        const v = Atomics.load(w, VALUE);
        if (v <= 0) yield { words: w, index: VALUE, value: v, ms: left };
      } finally {
        Atomics.sub(w, WAITERS, 1);
      }
      if (this.tryAcquire()) return true;
    }
  }

  /**
   * Adds `n` (default 1) units and wakes as many waiters. A BoundedSemaphore refuses to
   * go above its initial value (`ERR_SHMKIT_SEMAPHORE_OVERFLOW`, Python's ValueError).
   */
  release(n = 1): void {
    const w = this.openWords(this.release);
    if (typeof n !== 'number') throw invalidArgType('n', 'of type number', n, this.release);
    if (!Number.isInteger(n) || n < 1 || n > MAX_VALUE) throw outOfRange('n', `an integer from 1 to ${MAX_VALUE}`, n, this.release);
    const bound = Atomics.load(w, BOUND);
    for (;;) {
      const v = Atomics.load(w, VALUE);
      const limit = bound > 0 ? bound : MAX_VALUE;
      if (v > limit - n) {
        throw shmkitError(bound > 0 ? `${this.constructor.name} released too many times (its bound is ${bound})` : 'Semaphore value would overflow',
          'ERR_SHMKIT_SEMAPHORE_OVERFLOW', this.release, RangeError);
      }
      if (Atomics.compareExchange(w, VALUE, v, v + n) === v) break;
    }
    if (Atomics.load(w, WAITERS) > 0) native.notify(w, VALUE, n);
  }

  /** Acquires (blocking), runs `fn`, releases however it ends. */
  withAcquired<T>(fn: () => T): T {
    this.acquire();
    try {
      return fn();
    } finally {
      this.release();
    }
  }

}

/** A Semaphore that may not be released above its initial value. */
export class BoundedSemaphore extends Semaphore {
  protected static override readonly kind: KindName = 'BoundedSemaphore';
}

const valueGetter = Object.getOwnPropertyDescriptor(Semaphore.prototype, 'value')!.get!;

registerKind(Semaphore, { code: 5, inspect: ({ words }) => ({ value: words[VALUE] }) });
registerKind(BoundedSemaphore, { code: 6, inspect: ({ words }) => ({ value: words[VALUE] }) });
