// What every typed object (Lock, Value, SharedArray, …) shares: it lives either in a
// named segment of its own, which it owns, or at an offset inside a SharedMemory the
// caller owns (`X.at(shm, byteOffset)`), and it has close/unlink/dispose.
import { checkConstruct } from './construct.js';
import { closedError } from './errors.js';
import { settleParked } from './park.js';
import { mustBeOwner } from './ownership.js';
import { SharedMemory } from './shared-memory.js';

export abstract class SharedObject implements Disposable {
  readonly #name: string;
  readonly #shm: SharedMemory;
  readonly #owns: boolean;
  #closed = false;
  #words: Int32Array | undefined;

  /**
   * The object's int32 words in shared memory while it is open; undefined once closed.
   * A getter over a private field (V8 inlines it), so that nobody outside can replace it.
   */
  protected get words(): Int32Array | undefined {
    // A placed object follows its SharedMemory: its close() detached these words (length 0).
    const w = this.#words;
    return w !== undefined && w.length !== 0 ? w : undefined;
  }

  /** The name of the segment the object lives in. */
  get name(): string {
    return this.#name;
  }

  /** `token` is CONSTRUCT (construct.ts): only the subclasses' factories can build one. */
  protected constructor(token: symbol, shm: SharedMemory, owns: boolean, words?: Int32Array) {
    checkConstruct(token, new.target);
    mustBeOwner(new.target); // every claim these objects make records this thread's id
    this.#name = shm.name;
    this.#shm = shm;
    this.#owns = owns;
    this.#words = words;
  }

  /** Removes a named object (its segment). Others that have it open keep using it. */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /** Whether {@link close} has been called (for an object placed with `at`, or its SharedMemory's). */
  get closed(): boolean {
    return this.#closed || this.#shm.closed;
  }

  /**
   * Lets go of the object: its own segment is unmapped, and every pending async operation
   * on it rejects with `ERR_SHMKIT_CLOSED` (SharedMemory.close); an object placed in a
   * caller's SharedMemory leaves that alone, and is closed with it when it is closed.
   * Idempotent; later use throws `ERR_SHMKIT_CLOSED`.
   */
  close(): void {
    if (this.#closed) return;
    // First, while the memory is there: pending operations end (all of the segment's if it
    // is the object's own; this object's alone if it was placed in someone else's).
    if (this.#owns) this.#shm.close();
    else settleParked(this.#shm, `${this.constructor.name} '${this.name}'`, this.close, this);
    this.#closed = true;
    this.#words = undefined;
  }

  /**
   * Removes the name of the segment the object lives in (for an object placed with
   * `at`, that is the caller's segment). Works after close too.
   */
  unlink(): void {
    this.#shm.unlink();
  }

  /** @internal Which file the object's segment is (SharedMemory.identity). */
  get identity(): string {
    return this.#shm.identity;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Throws ERR_SHMKIT_CLOSED after close(); `caller` is the public method to blame. */
  protected checkOpen(caller: Function): void {
    if (this.closed) throw closedError(`${this.constructor.name} '${this.name}'`, caller);
  }

  /** The object's words, or ERR_SHMKIT_CLOSED on behalf of `caller`. */
  protected openWords(caller: Function): Int32Array {
    this.checkOpen(caller);
    return this.words!;
  }
}
