// Event: Python's multiprocessing.Event, by name: a flag that processes wait for.
//
// Layout (8 bytes, 8-aligned; zero is a cleared event): int32 flag (0 or 1), int32 how
// many threads may be asleep waiting for it (set skips the wake-up system call when 0).
import { native } from '../core/native.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, validatePlacement, type CreateTyped, payloadView } from '../core/header.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateOptions } from '../core/validate.js';
import { parkAsync, parkSync, spinWhile, type Sleep } from '../core/park.js';
import { CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

/** The second word: how many may be asleep on the flag. */
const WAITERS = 1;
/** The longest a waiter sleeps before it looks at the flag again. */
const RECHECK_MS = 1000;


/** Options of {@link Event.wait}. */
export type EventWaitOptions = AcquireOptions;
/** Options of {@link Event.waitAsync}. */
export type EventWaitAsyncOptions = AcquireAsyncOptions;

/** A flag shared by every process that opens it: `set()` wakes everyone waiting for it. */
export class Event extends SharedObject {
  static readonly byteLength = 8;

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, owns: boolean, word: Int32Array) {
    super(token, shm, owns, word);
  }

  /** Creates a named Event, cleared. `EEXIST` if the name is taken. */
  static create(options?: CreateTyped): Event {
    const opts = validateOptions(options, 'options', Event.create) as CreateTyped;
    const shm = createTyped(opts, { kind: 'Event', payloadLength: Event.byteLength, elementType: 0, elementCount: 0 }, () => {});
    return built(shm, () => new Event(CONSTRUCT, shm, true, new Int32Array(payloadView(shm, Event.byteLength))));
  }

  /** Opens a named Event. */
  static open(name: string): Event {
    const { shm } = openTyped(name, 'Event', Event.open);
    return new Event(CONSTRUCT, shm, true, new Int32Array(payloadView(shm, Event.byteLength)));
  }

  /** An Event at `byteOffset` (a multiple of 8) in memory the caller owns; zero is cleared. */
  static at(sharedMemory: SharedMemory, byteOffset: number): Event {
    validatePlacement(sharedMemory, byteOffset, Event.byteLength, Event.at);
    return new Event(CONSTRUCT, sharedMemory, false, new Int32Array(sharedMemory.view(byteOffset, Event.byteLength)));
  }

  /** Whether the flag is set. */
  isSet(): boolean {
    // Any value but 0 is set, as wait() reads it (a peer may have written 2).
    return Atomics.load(this.openWords(this.isSet), 0) !== 0;
  }

  /** Sets the flag and wakes every waiter, in every process. */
  set(): void {
    const w = this.openWords(this.set);
    // A waiter counts itself before it looks at the flag and sleeps; this stores the flag
    // before it looks at the count: one of the two sees the other (both sequentially
    // consistent), so a waiter is never left asleep, and nobody pays a system call for none.
    if (Atomics.exchange(w, 0, 1) === 0 && Atomics.load(w, WAITERS) !== 0) native.notify(w, 0, Infinity);
  }

  /** Clears the flag. */
  clear(): void {
    Atomics.store(this.openWords(this.clear), 0, 0);
  }

  /** Waits (blocking) until the flag is set or `timeout` ms pass; returns the flag. */
  wait(options?: EventWaitOptions): boolean {
    const w = this.openWords(this.wait);
    const timeout = timeoutOption(options, this.wait);
    return Atomics.load(w, 0) !== 0 || parkSync(this.#waiting(timeout, this.wait));
  }

  /** The async form of {@link wait}: never blocks the event loop. */
  async waitAsync(options?: EventWaitAsyncOptions): Promise<boolean> {
    const w = this.openWords(this.waitAsync);
    const { timeout, signal } = validateAsyncOptions(options, this.waitAsync);
    return Atomics.load(w, 0) !== 0 || parkAsync(this.#waiting(timeout, this.waitAsync), signal, this);
  }

  /** Waiting for the flag, for both forms (park.ts drives it). */
  *#waiting(timeout: number, caller: Function): Generator<Sleep, boolean, boolean> {
    if (spinWhile(this.openWords(caller), 0, 0)) return true;
    const deadline = performance.now() + timeout;
    for (;;) {
      const w = this.openWords(caller);
      if (Atomics.load(w, 0) !== 0) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.add(w, WAITERS, 1);
      try {
        // At most RECHECK_MS at a time: a count some peer wrote wrong (0 while we sleep)
        // costs that much delay, never a wait without end.
        if (Atomics.load(w, 0) === 0) yield { words: w, index: 0, value: 0, ms: Math.min(left, RECHECK_MS) };
      } finally {
        Atomics.sub(w, WAITERS, 1);
      }
    }
  }
}

registerKind(Event, { code: 7, inspect: ({ words }) => ({ set: words[0] !== 0 }) });
