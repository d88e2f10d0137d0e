// Event: Python's multiprocessing.Event, by name: a flag that processes wait for.
//
// Layout (8 bytes, 8-aligned; zero is a cleared event): int32 flag (0 or 1), int32 reserved.
import { native } from '../core/native.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, validatePlacement, type CreateTyped, payloadView } from '../core/header.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateOptions } from '../core/validate.js';
import { parkAsync, parkSync, spinWhile, type Sleep } from '../core/park.js';
import { CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';


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
    return Atomics.load(this.openWords(this.isSet), 0) === 1;
  }

  /** Sets the flag and wakes every waiter, in every process. */
  set(): void {
    const w = this.openWords(this.set);
    if (Atomics.exchange(w, 0, 1) === 0) native.notify(w, 0, Infinity);
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
      yield { words: w, index: 0, value: 0, ms: left };
    }
  }
}

registerKind(Event, { code: 7, inspect: ({ words }) => ({ set: words[0] !== 0 }) });
