// Barrier: Python's multiprocessing.Barrier, by name: `parties` processes (or threads)
// wait until all have arrived, then all go on.
//
// Layout (32 + 4 × parties bytes, 8-aligned):
//   0   8 bytes  internal Lock (lock.ts), held only for short bookkeeping
//   8   int32    how many have arrived in this generation
//   12  int32    generation: incremented when the barrier trips or is reset; waiters sleep on it
//   16  int32    broken: 1 after abort(), a time-out, a failed action or a dead party
//   20  int32    parties
//   24  int32    the last generation that tripped (a generation that ended otherwise was reset)
//   28  int32    the owner id of the party running the action (the tripping party), else 0
//   32  int32 × parties  the owner ids (ownership.ts) of those that have arrived, in order
// Waiters sleep at most LIVENESS_MS at a time and then check that every party that has
// arrived, and the one running the action, is still alive: a party killed inside wait()
// or inside the action breaks the barrier, as Python's abort() does, so the others get
// ERR_SHMKIT_BROKEN_BARRIER instead of waiting forever.
import { corruptError, invalidArgType, outOfRange, shmkitError, type CodedError } from '../core/errors.js';
import { Lock } from './lock.js';
import { LIVENESS_MS, ME, ownerDead } from '../core/ownership.js';
import { native } from '../core/native.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, validatePlacement, type CreateTyped, payloadView } from '../core/header.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateInteger, validateOptions, validateTimeout } from '../core/validate.js';
import { parkAsync, parkSync, spinWhile, type Sleep } from '../core/park.js';
import { checkConstruct, CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

export const COUNT = 2;
export const GEN = 3;
export const BROKEN = 4;
export const PARTIES = 5;
const TRIPPED = 6;
const TRIPPER = 7;
const ARRIVED = 8;
const MAX_PARTIES = 65536;

/** Per-process options of a Barrier: what this process runs when it trips it, and its default time-out. */
export interface BarrierLocalOptions {
  /** Run by the party whose arrival trips the barrier, before the others are released. */
  action?: (() => void) | undefined;
  /** Default time-out of wait() in ms (default: none). */
  timeout?: number | undefined;
}

/** Options of {@link Barrier.create}. */
export interface BarrierOptions extends CreateTyped, BarrierLocalOptions {
  /** How many parties must arrive (1 to 65536). */
  parties: number;
}


function brokenError(caller: Function): CodedError {
  return shmkitError('The barrier is broken (aborted, reset, timed out, its action failed, or a party died)', 'ERR_SHMKIT_BROKEN_BARRIER', caller);
}

/** A barrier shared by every process that opens it. */
export class Barrier extends SharedObject {
  readonly #parties: number;
  readonly #lock: Lock;
  readonly #action: (() => void) | undefined;
  readonly #timeout: number;

  /** How many parties must arrive. */
  get parties(): number {
    return this.#parties;
  }

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, owns: boolean, area: ArrayBuffer, local: BarrierLocalOptions, caller: Function) {
    checkConstruct(token, new.target); // before the arguments are used
    const words = new Int32Array(area);
    super(token, shm, owns, words);
    const parties = words[PARTIES]!;
    // Read once: a peer's later write to the word cannot move this handle's bounds.
    if (!(parties >= 1 && parties <= MAX_PARTIES && Barrier.byteLength(parties) <= area.byteLength)) {
      throw corruptError(`Barrier '${shm.name}'`, `parties is ${parties} in ${area.byteLength} bytes`, caller);
    }
    this.#parties = parties;
    this.#lock = Lock.within(shm, new Int32Array(area, 0, 2));
    if (local.action !== undefined && typeof local.action !== 'function') throw invalidArgType('options.action', 'of type function', local.action, caller);
    this.#action = local.action;
    this.#timeout = validateTimeout(local.timeout, caller);
  }

  /** Bytes a Barrier for `parties` occupies when placed with {@link Barrier.at}. */
  static byteLength(parties: number): number {
    return 32 + 8 * Math.ceil(validateInteger(parties, 'parties', 1, MAX_PARTIES, Barrier.byteLength) / 2);
  }

  /** Creates a named Barrier. `EEXIST` if the name is taken. */
  static create(options: BarrierOptions): Barrier {
    if (options === undefined) throw invalidArgType('options', 'of type object', options, Barrier.create);
    const opts = validateOptions(options, 'options', Barrier.create) as unknown as BarrierOptions;
    const parties = validateInteger(opts.parties, 'options.parties', 1, MAX_PARTIES, Barrier.create);
    const size = Barrier.byteLength(parties);
    const shm = createTyped(opts, { kind: 'Barrier', payloadLength: size, elementType: 0, elementCount: parties }, (payload) => {
      const w = new Int32Array(payload);
      w[PARTIES] = parties;
      w[TRIPPED] = -1;
    });
    return built(shm, () => new Barrier(CONSTRUCT, shm, true, payloadView(shm, size), opts, Barrier.create));
  }

  /** Opens a named Barrier; `action` and `timeout` are this process's own. */
  static open(name: string, options?: BarrierLocalOptions): Barrier {
    const opts = validateOptions(options, 'options', Barrier.open) as BarrierLocalOptions;
    const { shm, header } = openTyped(name, 'Barrier', Barrier.open);
    try {
      if (header.payloadLength % 8 !== 0 || header.payloadLength < Barrier.byteLength(1)) {
        throw corruptError(`Barrier '${shm.name}'`, `its payload is ${header.payloadLength} bytes`, Barrier.open);
      }
      return new Barrier(CONSTRUCT, shm, true, payloadView(shm, header.payloadLength), opts, Barrier.open);
    } catch (error) {
      shm.close();
      throw error;
    }
  }

  /**
   * A Barrier at `byteOffset` (a multiple of 8) in memory the caller owns, occupying
   * {@link Barrier.byteLength}(parties) bytes. Zero bytes become a barrier for `parties`
   * on first use; a different `parties` there is an error.
   */
  static at(sharedMemory: SharedMemory, byteOffset: number, options: BarrierOptions): Barrier {
    const opts = validateOptions(options, 'options', Barrier.at) as unknown as BarrierOptions;
    const parties = validateInteger(opts.parties, 'options.parties', 1, MAX_PARTIES, Barrier.at);
    const size = Barrier.byteLength(parties);
    validatePlacement(sharedMemory, byteOffset, size, Barrier.at);
    const area = sharedMemory.view(byteOffset, size);
    const w = new Int32Array(area);
    if (Atomics.compareExchange(w, PARTIES, 0, parties) === 0) Atomics.store(w, TRIPPED, -1);
    if (w[PARTIES] !== parties) throw outOfRange('options.parties', `${w[PARTIES]} (the barrier there)`, parties, Barrier.at);
    return new Barrier(CONSTRUCT, sharedMemory, false, area, opts, Barrier.at);
  }

  /** How many parties are waiting now. */
  get nWaiting(): number {
    return Atomics.load(this.openWords(nWaitingGetter), COUNT);
  }

  /** Whether the barrier is broken. */
  get broken(): boolean {
    return Atomics.load(this.openWords(brokenGetter), BROKEN) !== 0;
  }

  /**
   * Waits (blocking) until all parties have arrived; returns this party's arrival index
   * (0 to parties - 1; the last to arrive runs the action). Throws
   * `ERR_SHMKIT_BROKEN_BARRIER` if the barrier is or becomes broken, including when
   * `timeout` passes (which breaks it for everyone, as in Python).
   */
  wait(options?: AcquireOptions): number {
    const timeout = timeoutOption(options, this.wait, this.#timeout);
    return parkSync(this.#arriving(timeout, true, this.wait));
  }

  /** The async form of {@link wait}: never blocks the event loop. */
  waitAsync(options?: AcquireAsyncOptions): Promise<number> {
    try {
      const { timeout, signal } = validateAsyncOptions(options, this.waitAsync, this.#timeout);
      return parkAsync(this.#arriving(timeout, false, this.waitAsync), signal, this);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A wait from the start, written once for the blocking and the async form: the
   * bookkeeping lock is taken inside the loop (so that an abort or a close while waiting
   * for it ends the wait with nothing arrived, and a tripping party running a long action
   * never blocks an event loop), then arrival, then waiting for the generation to end.
   */
  *#arriving(timeout: number, blocking: boolean, caller: Function): Generator<Sleep, number, boolean> {
    this.openWords(caller);
    // Bounded by the wait's own time limit: a party that cannot even arrive (a live
    // process holds the bookkeeping lock for the whole time-out: a long action, or a word
    // a peer wrote) times out as any wait does, breaking the barrier, so that the parties
    // already waiting are not left waiting for it. The flag is stored without the lock it
    // could not have: arrivals and waiters read it on their own.
    const deadline = performance.now() + timeout;
    if (!this.#lock.tryAcquire() && !(yield* this.#lock.acquiring(timeout, blocking, caller))) {
      const w = this.openWords(caller);
      Atomics.store(w, BROKEN, 1);
      native.notify(w, GEN, Infinity);
      throw brokenError(caller);
    }
    const { index, gen, done } = this.#arriveLocked(caller);
    if (done) return index;
    return yield* this.#waiting(index, gen, Math.max(0, deadline - performance.now()), blocking, caller);
  }

  /** Takes the bookkeeping lock, sleeping through park.ts if it is held (by a tripping party in its action, say). */
  *#locking(blocking: boolean, caller: Function): Generator<Sleep, void, boolean> {
    if (!this.#lock.tryAcquire()) yield* this.#lock.acquiring(Infinity, blocking, caller);
  }

  /**
   * Waiting for generation `gen` to end, written once for the blocking and the async form
   * (park.ts drives it): passed if it tripped, broken otherwise; a time-out breaks it for
   * everyone, and after each quiet spell the parties that arrived are checked for life.
   */
  *#waiting(index: number, gen: number, timeout: number, blocking: boolean, caller: Function): Generator<Sleep, number, boolean> {
    spinWhile(this.openWords(caller), GEN, gen);
    const deadline = performance.now() + timeout;
    for (;;) {
      const outcome = this.#outcome(gen, caller);
      if (outcome === 'passed') return index;
      if (outcome === 'broken') throw brokenError(caller);
      const left = deadline - performance.now();
      if (left <= 0) {
        // Tripped while this party waited for the lock (the action was running): passed.
        if (!(yield* this.#breaking(gen, blocking, caller)) && this.#outcome(gen, caller) === 'passed') return index;
        throw brokenError(caller);
      }
      let quiet: boolean;
      try {
        quiet = yield { words: this.words!, index: GEN, value: gen, ms: Math.min(left, LIVENESS_MS) };
      } catch (error) {
        // An aborted wait breaks the barrier, as any exception out of Python's wait()
        // does: this party counts as arrived, and it is leaving. (A close leaves it as it
        // is: the party arrived and may still be tripped over by the others.)
        if ((error as CodedError).code !== 'ERR_SHMKIT_CLOSED') yield* this.#breaking(gen, blocking, caller);
        throw error;
      }
      if (quiet && this.#partyDied()) yield* this.#breaking(gen, blocking, caller);
    }
  }

  /** Breaks the barrier: every waiter, now and later, gets `ERR_SHMKIT_BROKEN_BARRIER` until {@link reset}. */
  abort(): void {
    const w = this.openWords(this.abort);
    this.#lock.acquire();
    try {
      Atomics.store(w, BROKEN, 1);
    } finally {
      this.#lock.release();
    }
    native.notify(w, GEN, Infinity);
  }

  /** Returns the barrier to its empty, unbroken state; current waiters get `ERR_SHMKIT_BROKEN_BARRIER`. */
  reset(): void {
    const w = this.openWords(this.reset);
    this.#lock.acquire();
    try {
      Atomics.store(w, COUNT, 0);
      Atomics.store(w, BROKEN, 0);
      Atomics.store(w, TRIPPER, 0);
      Atomics.add(w, GEN, 1); // a generation that ends without tripping: its waiters see "broken"
    } finally {
      this.#lock.release();
    }
    native.notify(w, GEN, Infinity);
  }

  override close(): void {
    this.#lock.close();
    super.close();
  }

  /** With the internal lock held: registers this party; trips the barrier if it is the last. */
  #arriveLocked(caller: Function): { index: number; gen: number; done: boolean } {
    const w = this.words!;
    try {
      if (Atomics.load(w, BROKEN) !== 0) throw brokenError(caller);
      const gen = Atomics.load(w, GEN);
      const index = Atomics.load(w, COUNT);
      if (!(index >= 0 && index < this.parties)) {
        throw corruptError(`Barrier '${this.name}'`, `${index} parties have arrived of ${this.parties}`, caller);
      }
      if (index + 1 < this.parties) {
        Atomics.store(w, ARRIVED + index, ME);
        Atomics.store(w, COUNT, index + 1);
        return { index, gen, done: false };
      }
      // Recorded until the generation has moved on, so that waiters notice if this party
      // dies anywhere between here and there (in the action, say).
      Atomics.store(w, TRIPPER, ME);
      try {
        this.#action?.();
      } catch (error) {
        Atomics.store(w, BROKEN, 1);
        Atomics.compareExchange(w, TRIPPER, ME, 0);
        native.notify(w, GEN, Infinity);
        throw error;
      }
      Atomics.store(w, COUNT, 0);
      Atomics.store(w, TRIPPED, gen);
      Atomics.store(w, GEN, gen + 1);
      Atomics.compareExchange(w, TRIPPER, ME, 0);
      native.notify(w, GEN, Infinity);
      return { index, gen, done: true };
    } finally {
      this.#lock.release();
    }
  }

  #outcome(gen: number, caller: Function): 'passed' | 'broken' | 'waiting' {
    const w = this.openWords(caller);
    if (Atomics.load(w, GEN) !== gen) return Atomics.load(w, TRIPPED) === gen ? 'passed' : 'broken';
    return Atomics.load(w, BROKEN) !== 0 ? 'broken' : 'waiting';
  }

  /**
   * Breaks the barrier if generation `gen` is still filling; returns whether it was. The lock is taken through
   * park.ts: a dead holder is taken over, a live one (a tripping party in its action) is
   * waited for without blocking an event loop; a trip meanwhile means nothing to break.
   */
  *#breaking(gen: number, blocking: boolean, caller: Function): Generator<Sleep, boolean, boolean> {
    yield* this.#locking(blocking, caller);
    const w = this.openWords(caller);
    const filling = Atomics.load(w, GEN) === gen;
    try {
      if (filling) Atomics.store(w, BROKEN, 1);
    } finally {
      this.#lock.release();
    }
    native.notify(w, GEN, Infinity);
    return filling;
  }

  /** After a quiet spell: whether a party that arrived, or the one running the action, has died since. */
  #partyDied(): boolean {
    const w = this.words!;
    if (ownerDead(Atomics.load(w, TRIPPER))) return true;
    const count = Math.min(Atomics.load(w, COUNT), this.parties);
    for (let i = 0; i < count; i++) {
      if (ownerDead(Atomics.load(w, ARRIVED + i))) return true;
    }
    return false;
  }
}

const nWaitingGetter = Object.getOwnPropertyDescriptor(Barrier.prototype, 'nWaiting')!.get!;
const brokenGetter = Object.getOwnPropertyDescriptor(Barrier.prototype, 'broken')!.get!;

registerKind(Barrier, {
  code: 9,
  inspect: ({ words }) => ({ parties: words[PARTIES], waiting: words[COUNT], broken: words[BROKEN] !== 0, generation: words[GEN] }),
});
