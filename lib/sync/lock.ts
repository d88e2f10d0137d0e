// Lock: a crash-safe mutex in shared memory whose uncontended acquire and release are one
// compare-and-swap each, with no call into C++.
//
// The lock word (int32) is 0 when free; otherwise the owner's id (30 bits: ownership.ts)
// with bit 31 set when some thread may be asleep waiting for it. This is the classic futex mutex ("Futexes Are
// Tricky", mutex 3) with the owner recorded, which buys two things:
//   - release() can tell a thread that does not hold the lock (an error, as in Python);
//   - a waiter that has slept a while with the same owner in the word asks the kernel
//     (ownership.ts) whether that owner still lives; if not, it takes the lock over and
//     `ownerDied` tells it so, the way EOWNERDEAD tells a robust-mutex user. A SIGKILLed
//     holder costs the next acquirer at most about LIVENESS_MS.
// Layout (8 bytes, all zero when unlocked): int32 state, int32 recursion count (RLock;
// written only by the owner; 0 in a Lock).
import { lockError, invalidArgType } from '../core/errors.js';
import { native } from '../core/native.js';
import { LIVENESS_MS, ME, OWNER_MASK, ownerAlive, takeOver } from '../core/ownership.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, validatePlacement, type CreateTyped, type KindName, payloadView } from '../core/header.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateOptions } from '../core/validate.js';
import { parkAsync, parkSync, spinWhile, type Sleep } from '../core/park.js';
import { CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

export const WAITERS = 1 << 31;
/** RLock: the word after the state holds the recursion level. */
export const LEVEL = 1;

/** Options of {@link Lock.create}. */
export type LockOptions = CreateTyped;



/**
 * A mutual-exclusion lock shared by every thread of every process that opens it, with
 * the semantics of Python's `multiprocessing.Lock`, owned by the thread that acquired it,
 * and safe against owners that die holding it.
 */
export class Lock extends SharedObject {
  /** Bytes a Lock occupies when placed with {@link Lock.at}. */
  static readonly byteLength = 8;

  #ownerDied = false;

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, owns: boolean, word: Int32Array) {
    super(token, shm, owns, word);
  }

  /** The kind recorded in the segment header (RLock has its own). */
  protected static readonly kind: KindName = 'Lock';

  /** Creates a new named lock, unlocked. `EEXIST` if the name is taken. */
  static create<T extends typeof Lock>(this: T, options?: LockOptions): InstanceType<T> {
    const opts = validateOptions(options, 'options', this.create) as LockOptions;
    const shm = createTyped(opts, { kind: this.kind, payloadLength: Lock.byteLength, elementType: 0, elementCount: 0 }, () => {});
    return built(shm, () => new this(CONSTRUCT, shm, true, new Int32Array(payloadView(shm, Lock.byteLength))) as InstanceType<T>);
  }

  /** Opens a named lock. `ENOENT` if absent, `ERR_SHMKIT_KIND` if the name is another kind of object. */
  static open<T extends typeof Lock>(this: T, name: string): InstanceType<T> {
    const { shm } = openTyped(name, this.kind, this.open);
    return new this(CONSTRUCT, shm, true, new Int32Array(payloadView(shm, Lock.byteLength))) as InstanceType<T>;
  }

  /**
   * A Lock at `byteOffset` (a multiple of 8) in memory the caller owns: the way to keep
   * thousands of locks in one segment. Eight zero bytes are an unlocked Lock.
   */
  static at<T extends typeof Lock>(this: T, sharedMemory: SharedMemory, byteOffset: number): InstanceType<T> {
    validatePlacement(sharedMemory, byteOffset, Lock.byteLength, this.at);
    return new this(CONSTRUCT, sharedMemory, false, new Int32Array(sharedMemory.view(byteOffset, Lock.byteLength))) as InstanceType<T>;
  }

  /** @internal A lock over a word pair inside another object (Value, SharedArray, Condition…). */
  static within<T extends typeof Lock>(this: T, shm: SharedMemory, word: Int32Array): InstanceType<T> {
    return new this(CONSTRUCT, shm, false, word) as InstanceType<T>;
  }

  /** Whether some thread, anywhere, holds the lock. */
  get locked(): boolean {
    return Atomics.load(this.openWords(lockedGetter), 0) !== 0;
  }

  /** Whether this thread holds the lock. */
  get owned(): boolean {
    return (Atomics.load(this.openWords(ownedGetter), 0) & OWNER_MASK) === ME;
  }

  /**
   * True while this thread holds the lock by having taken it over from an owner that
   * died holding it: whatever the lock protects may be half-updated. Reset by release().
   */
  get ownerDied(): boolean {
    return this.#ownerDied;
  }

  /** Takes the lock if it is free; never waits. */
  tryAcquire(): boolean {
    const word = this.openWords(this.tryAcquire);
    if (Atomics.compareExchange(word, 0, 0, ME) === 0) return this.#took();
    const v = Atomics.load(word, 0);
    if (v !== 0 && (v & OWNER_MASK) === 0) return Atomics.compareExchange(word, 0, v, ME | WAITERS) === v && this.#took(); // held by nobody (#contend)
    return v !== 0 && this.#takeOverIfDead(word, v);
  }

  /**
   * Takes the lock, waiting (blocking this thread) up to `timeout` ms. Returns whether it
   * got it; never throws on time-out. Waiting for a lock this thread already holds would
   * never end, so that throws `ERR_SHMKIT_DEADLOCK`.
   */
  acquire(options?: AcquireOptions): boolean {
    const word = this.words;
    if (word !== undefined && options === undefined && Atomics.compareExchange(word, 0, 0, ME) === 0) return this.#took();
    return this.#acquireSlow(options);
  }

  #acquireSlow(options: AcquireOptions | undefined): boolean {
    const word = this.openWords(this.acquire);
    const timeout = timeoutOption(options, this.acquire);
    if (Atomics.compareExchange(word, 0, 0, ME) === 0 || this.#spin(word)) return this.#took();
    return parkSync(this.acquiring(timeout, true, this.acquire));
  }

  /**
   * The async form of {@link acquire}: resolves `true` once held, `false` on time-out;
   * never blocks the event loop. Async tasks of one thread may wait for each other here.
   */
  async acquireAsync(options?: AcquireAsyncOptions): Promise<boolean> {
    const word = this.openWords(this.acquireAsync);
    const { timeout, signal } = validateAsyncOptions(options, this.acquireAsync);
    if (Atomics.compareExchange(word, 0, 0, ME) === 0 || this.#spin(word)) return this.#took();
    return parkAsync(this.acquiring(timeout, false, this.acquireAsync), signal, this);
  }

  /**
   * A contended acquire, written once for the blocking and the async form (park.ts drives
   * it): mark the word as having waiters, sleep on it in spells of at most LIVENESS_MS,
   * and after a quiet spell with the same owner, take the lock over if that owner died.
   * Blocking, a wait for this very thread's lock could never end: ERR_SHMKIT_DEADLOCK.
   * @internal Also part of Condition's waiting loop (it takes its lock back).
   */
  *acquiring(timeout: number, blocking: boolean, caller: Function): Generator<Sleep, boolean, boolean> {
    const deadline = performance.now() + timeout;
    for (;;) {
      const word = this.openWords(caller); // closed while asleep: ERR_SHMKIT_CLOSED
      const v = this.#contend(word);
      if (v === 0) return this.#took();
      if (blocking && (v & OWNER_MASK) === ME) {
        throw lockError(`${this.constructor.name}.acquire(): this thread already holds the lock (use RLock to re-enter, or acquireAsync between async tasks)`, 'ERR_SHMKIT_DEADLOCK', caller);
      }
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const timedOut = yield { words: word, index: 0, value: v, ms: Math.min(left, LIVENESS_MS) };
      if (timedOut && this.#takeOverIfDead(word, v)) return true;
    }
  }

  /**
   * Releases the lock. `ERR_SHMKIT_NOT_OWNER` if this thread does not hold it (including
   * a second release).
   */
  release(): void {
    const word = this.words;
    if (word !== undefined && Atomics.compareExchange(word, 0, ME, 0) === ME) {
      this.#ownerDied = false;
      return;
    }
    this.#releaseSlow();
  }

  /** Release with waiters to wake, or a misuse to report. */
  #releaseSlow(): void {
    const word = this.openWords(this.release);
    // A compare-and-swap from the value this thread holds (a waiter may set the waiters
    // bit meanwhile): never a store over a word that names someone else.
    for (;;) {
      const v = Atomics.load(word, 0);
      if ((v & OWNER_MASK) !== ME) {
        throw lockError(`${this.constructor.name}.release(): this thread does not hold the lock`, 'ERR_SHMKIT_NOT_OWNER', this.release);
      }
      if (Atomics.compareExchange(word, 0, v, 0) === v) break;
    }
    this.#ownerDied = false;
    native.notify(word, 0, 1);
  }

  /** Runs `fn` holding the lock (acquired blocking), and releases it however fn ends. */
  withLock<T>(fn: () => T): T {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn, this.withLock);
    this.acquire();
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  /** Awaits the lock, runs `fn` (which may be async) holding it, and releases it. */
  async runExclusive<T>(fn: () => T | Promise<T>, options?: AcquireAsyncOptions): Promise<T> {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn, this.runExclusive);
    if (!(await this.acquireAsync(options))) {
      throw lockError('Lock.runExclusive(): timed out waiting for the lock', 'ERR_SHMKIT_TIMEOUT', this.runExclusive);
    }
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Acquires (blocking) and returns a handle whose disposal releases: `using _ = lock.hold()`. */
  hold(): Disposable {
    this.acquire();
    let held = true;
    return {
      [Symbol.dispose]: () => {
        if (!held) return;
        held = false;
        this.release();
      },
    };
  }

  /**
   * One round of contention: takes the lock if it is free (returning 0), else makes
   * sure the waiters bit is set and returns the word to sleep on.
   */
  #contend(word: Int32Array): number {
    for (;;) {
      const v = Atomics.load(word, 0);
      if (v === 0) {
        // Taken with the waiters bit: others may still be asleep; release will wake one.
        if (Atomics.compareExchange(word, 0, 0, ME | WAITERS) === 0) return 0;
        continue;
      }
      if ((v & OWNER_MASK) === 0) {
        // Held by nobody (only a peer's write leaves a word with flags and no owner; it
        // would never be released or taken over): taken as a free lock.
        if (Atomics.compareExchange(word, 0, v, ME | WAITERS) === v) return 0;
        continue;
      }
      if (v & WAITERS) return v;
      if (Atomics.compareExchange(word, 0, v, v | WAITERS) === v) return v | WAITERS;
    }
  }

  /** If the word still holds `v` and its owner is dead (ownership.ts), takes the lock over. */
  #takeOverIfDead(word: Int32Array, v: number): boolean {
    if (!takeOver(word, 0, v, ME | (v & WAITERS))) return false;
    this.#ownerDied = true;
    return true;
  }

  /**
   * Before sleeping: while another thread holds the lock, watch for its release a little
   * while and take it if it comes (the holder of a short critical section on another CPU
   * is usually done within microseconds). Not while this thread holds it.
   */
  #spin(word: Int32Array): boolean {
    for (let i = 0; i < 8; i++) {
      const v = Atomics.load(word, 0);
      if ((v & OWNER_MASK) === ME) return false;
      if (v !== 0 && !spinWhile(word, 0, v)) return false;
      if (Atomics.compareExchange(word, 0, 0, ME) === 0) return true;
    }
    return false;
  }

  /** Records a normal (not taken-over) acquisition. */
  #took(): true {
    this.#ownerDied = false;
    return true;
  }


}

const lockedGetter = Object.getOwnPropertyDescriptor(Lock.prototype, 'locked')!.get!;
const ownedGetter = Object.getOwnPropertyDescriptor(Lock.prototype, 'owned')!.get!;

/**
 * A re-entrant lock: the thread that holds it may acquire it again, and must release it
 * as many times. Python's `multiprocessing.RLock`, by name, crash-safe like {@link Lock}
 * (a take-over from a dead owner starts at one level). Async tasks of one thread count
 * as that thread, as asyncio tasks do with Python's RLock.
 */
export class RLock extends Lock {
  protected static override readonly kind: KindName = 'RLock';

  /** How many times this thread holds the lock (0 if it does not hold it). */
  get level(): number {
    return this.#mine() ? this.words![LEVEL]! : 0;
  }

  override tryAcquire(): boolean {
    if (this.#mine()) return this.#again();
    return super.tryAcquire() && this.#first();
  }

  override acquire(options?: AcquireOptions): boolean {
    if (this.#mine()) return this.#again();
    return super.acquire(options) && this.#first();
  }

  override acquireAsync(options?: AcquireAsyncOptions): Promise<boolean> {
    if (this.#mine()) return Promise.resolve(this.#again());
    // The level is set the moment the lock is taken, never after an await: another task
    // of this thread may re-enter in between. Taken at once (the compare-and-swap before
    // Lock.acquireAsync's first await): here; taken after a wait: in `acquiring` below.
    const got = super.acquireAsync(options);
    if (this.#mine()) this.#first();
    return got;
  }

  /** @internal The contended acquire, which leaves the level at 1 when it gets the lock. */
  override *acquiring(timeout: number, blocking: boolean, caller: Function): Generator<Sleep, boolean, boolean> {
    if (this.#mine()) return this.#again();
    return (yield* super.acquiring(timeout, blocking, caller)) && this.#first();
  }

  /** Releases one level; the lock is free again when the last level goes. */
  override release(): void {
    if (!this.#mine()) return super.release(); // throws ERR_SHMKIT_CLOSED or ERR_SHMKIT_NOT_OWNER
    const w = this.words!;
    if (--w[1]! > 0) return;
    w[1] = 0;
    super.release();
  }

  #mine(): boolean {
    const w = this.words;
    return w !== undefined && (Atomics.load(w, 0) & OWNER_MASK) === ME;
  }

  #again(): true {
    this.words![LEVEL]!++;
    return true;
  }

  #first(): true {
    this.words![LEVEL] = 1;
    return true;
  }
}

/**
 * What `shmkit inspect` shows of a lock word (Lock, RLock, Condition, a Value's lock),
 * each field's name after `prefix` if one is given (`lockLocked`).
 */
export function lockState(word: number, prefix = ''): Record<string, unknown> {
  const fields = word === 0 ? { locked: false }
    : { locked: true, ownerId: word & OWNER_MASK, ownerAlive: ownerAlive(word), waiters: (word & WAITERS) !== 0 };
  if (prefix === '') return fields;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v]));
}

registerKind(Lock, { code: 1, inspect: ({ words }) => lockState(words[0]!) });
registerKind(RLock, { code: 4, inspect: ({ words }) => ({ ...lockState(words[0]!), level: words[LEVEL] }) });
