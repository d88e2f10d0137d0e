// Scope: the counterpart of Python's SharedMemoryManager. Objects created through a
// scope belong to it: disposing the scope closes and unlinks them, and so does the end of
// the process (normal exit, an uncaught exception, SIGINT, SIGTERM, SIGHUP; see
// exit-cleanup.ts), whichever comes first. Objects merely opened through it are closed
// at dispose and never unlinked: they belong to whoever created them.
import { invalidArgType, shmkitError } from './core/errors.js';
import { forget, segmentKey, semaphoreKey, unlinkOnExit } from './core/exit-cleanup.js';
import { NamedSemaphore } from './sync/named-semaphore.js';
import { stillNames } from './core/names.js';

/** What a scope manages: any shmkit object (SharedMemory, Value, Queue, NamedSemaphore, …). */
export interface ScopedObject {
  readonly name: string;
  close(): void;
  unlink(): void;
}

interface Entry {
  object: ScopedObject;
  /** The exit-cleanup key of an owned object; undefined for one merely opened. */
  key: string | undefined;
  /** Whether the name still names the object this scope made (owned objects only). */
  mine: (() => boolean) | undefined;
}

/**
 * Owns the shmkit objects created through it.
 *
 * ```js
 * using scope = new Scope();
 * const jobs = scope.create(Queue, { name: 'jobs', capacity: 1024 });
 * const done = scope.create(Value, { type: 'int32' });
 * const config = scope.open(ShareableList, 'config');   // closed, never unlinked
 * // …at the end of the block (or on exit, SIGINT, SIGTERM): jobs and done are unlinked
 * ```
 */
export class Scope implements Disposable {
  #entries: Entry[] = [];
  #disposed = false;

  /**
   * Creates an object with `kind.create(...args)` (e.g. `scope.create(Value, { type:
   * 'int32' })`); it is unlinked when the scope is disposed or the process ends.
   */
  create<T extends ScopedObject, A extends unknown[]>(kind: { create(...args: A): T }, ...args: A): T {
    this.#check(kind, 'create', this.create);
    const object = kind.create(...args);
    const semaphore = object instanceof NamedSemaphore;
    const key = semaphore ? semaphoreKey(object.name) : segmentKey(object.name);
    // Only the very object made here is ever removed: a name someone else unlinked and
    // made again is theirs (names.ts stillNames).
    const identity = (object as { identity?: string }).identity ?? '';
    const mine = () => stillNames(object.name, identity, semaphore);
    this.#entries.push({ object, key, mine });
    unlinkOnExit(key, () => mine() && object.unlink());
    return object;
  }

  /** Opens an existing object with `kind.open(...args)`; the scope closes it, never unlinks it. */
  open<T extends ScopedObject, A extends unknown[]>(kind: { open(...args: A): T }, ...args: A): T {
    this.#check(kind, 'open', this.open);
    const object = kind.open(...args);
    this.#entries.push({ object, key: undefined, mine: undefined });
    return object;
  }

  /** The names of the objects this scope will unlink. */
  get owned(): string[] {
    return this.#entries.filter((e) => e.key !== undefined).map((e) => e.object.name);
  }

  /** Whether {@link dispose} has run. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Closes every object, newest first, and unlinks those it created. A name someone
   * else already unlinked is skipped; any other failure is thrown, after the rest have
   * been dealt with, as an AggregateError. Idempotent.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const errors: unknown[] = [];
    for (const { object, key, mine } of this.#entries.reverse()) {
      try {
        object.close();
        if (key !== undefined) {
          forget(key);
          if (mine!()) object.unlink();
        }
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'ENOENT') errors.push(error);
      }
    }
    this.#entries = [];
    if (errors.length > 0) throw new AggregateError(errors, 'Scope.dispose: some objects could not be released');
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #check(kind: unknown, method: 'create' | 'open', caller: Function): void {
    if (this.#disposed) throw shmkitError('This Scope has been disposed', 'ERR_SHMKIT_CLOSED', caller);
    if ((typeof kind !== 'function' && (typeof kind !== 'object' || kind === null)) ||
        typeof (kind as Record<string, unknown>)[method] !== 'function') {
      throw invalidArgType('kind', `a shmkit class (with a static ${method}())`, kind, caller);
    }
  }
}
