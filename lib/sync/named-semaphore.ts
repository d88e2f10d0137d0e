// NamedSemaphore: a real OS named semaphore (POSIX sem_open), so that programs that are
// not shmkit — C code, Python through ctypes or posix_ipc — share it by name. Slower than
// shmkit's Semaphore (every operation is a system call) and without crash recovery; use
// it for that interoperability.
import { closedError, fromNative } from '../core/errors.js';
import { forget, semaphoreKey } from '../core/exit-cleanup.js';
import { canonicalName, identityOf, osName, randomName } from '../core/names.js';
import { native, type NativeSemaphore } from '../core/native.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateInteger, validateOptions } from '../core/validate.js';
import { parkAsync, settleParked, type NativeCall } from '../core/park.js';
import { checkConstruct, CONSTRUCT } from '../core/construct.js';

/** Options of {@link NamedSemaphore.create}. */
export interface NamedSemaphoreOptions {
  /** The name (default: a fresh random one). The OS object is `/name`. */
  name?: string | undefined;
  /** The initial value (default 1). */
  value?: number | undefined;
  /** Permission bits (default 0o600), subject to the umask. */
  mode?: number | undefined;
}

const MAX_VALUE = 2 ** 31 - 1; // SEM_VALUE_MAX on Linux

/** A POSIX named semaphore. */
export class NamedSemaphore implements Disposable {
  readonly #name: string;
  #sem: NativeSemaphore | undefined;
  /** Async acquires started and not yet reported by the addon. */
  #reporting = 0;
  readonly #identity: string;

  /** The name, without the leading slash. */
  get name(): string {
    return this.#name;
  }

  /** @internal */
  constructor(token: symbol, name: string, sem: NativeSemaphore) {
    checkConstruct(token, new.target);
    this.#name = name;
    this.#sem = sem;
    this.#identity = identityOf(name, true) ?? '';
  }

  /** @internal Which file the semaphore is ('' where unknown): names.ts stillNames. */
  get identity(): string {
    return this.#identity;
  }

  /** Creates a new semaphore (`EEXIST` if the name is taken). */
  static create(options?: NamedSemaphoreOptions): NamedSemaphore {
    const opts = validateOptions(options, 'options', NamedSemaphore.create);
    const value = opts.value === undefined ? 1 : validateInteger(opts.value, 'options.value', 0, MAX_VALUE, NamedSemaphore.create);
    const mode = opts.mode === undefined ? 0o600 : validateInteger(opts.mode, 'options.mode', 0, 0o777, NamedSemaphore.create);
    const name = opts.name === undefined ? randomName()
      : canonicalName(opts.name, NamedSemaphore.create, 'options.name', native.maxSemaphoreNameBytes);
    try {
      return new NamedSemaphore(CONSTRUCT, name, native.openSemaphore(name, true, mode, value));
    } catch (error) {
      throw fromNative(error, osName(name), NamedSemaphore.create);
    }
  }

  /** Opens an existing semaphore (`ENOENT` if there is none). */
  static open(name: string): NamedSemaphore {
    const bare = canonicalName(name, NamedSemaphore.open, 'name', native.maxSemaphoreNameBytes);
    try {
      return new NamedSemaphore(CONSTRUCT, bare, native.openSemaphore(bare, false, 0, 0));
    } catch (error) {
      throw fromNative(error, osName(bare), NamedSemaphore.open);
    }
  }

  /** Removes the name (`sem_unlink`); those that have it open keep using it. */
  static unlink(name: string): void {
    const bare = canonicalName(name, NamedSemaphore.unlink, 'name', native.maxSemaphoreNameBytes);
    try {
      native.unlinkSemaphore(bare);
    } catch (error) {
      throw fromNative(error, osName(bare), NamedSemaphore.unlink);
    }
    forget(semaphoreKey(bare));
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#sem === undefined;
  }

  /** The current value (`sem_getvalue`). */
  get value(): number {
    return this.#call(valueGetter, (s) => s.value());
  }

  /** Takes one unit if the value is above 0; never waits. */
  tryAcquire(): boolean {
    return this.#call(this.tryAcquire, (s) => s.tryWait());
  }

  /** Takes one unit, waiting (blocking) up to `timeout` ms. Returns whether it did. */
  acquire(options?: AcquireOptions): boolean {
    const timeout = timeoutOption(options, this.acquire);
    return this.#call(this.acquire, (s) => s.wait(timeout) === 0);
  }

  /**
   * The async form of {@link acquire}: never blocks the event loop (the OS wait runs on a
   * thread of its own, not a libuv threadpool thread).
   */
  async acquireAsync(options?: AcquireAsyncOptions): Promise<boolean> {
    const { timeout, signal } = validateAsyncOptions(options, this.acquireAsync);
    if (this.tryAcquire()) return true;
    return parkAsync(this.#acquiring(this.#open(this.acquireAsync), timeout), signal, this);
  }

  /**
   * The async acquire as the parking layer runs it: one OS wait on a thread of its own.
   * A unit the OS hands over after the wait was given up (an abort racing a release) is
   * posted back, so none is lost.
   */
  *#acquiring(sem: NativeSemaphore, timeout: number): Generator<NativeCall, boolean, boolean> {
    const call: NativeCall = {
      owner: this,
      start: (id) => {
        try {
          sem.waitAsync(timeout, id);
        } catch (error) {
          throw fromNative(error, osName(this.name), this.acquireAsync); // EAGAIN: no thread to be had
        }
        this.#reporting++;
      },
      cancel: (id) => native.cancelSemaphoreWait(id),
      undo: () => sem.post(), // the handle stays open until every wait has reported (close)
      reported: () => {
        if (--this.#reporting === 0 && this.#sem === undefined) sem.close();
      },
    };
    yield call;
    return call.result === 'ok';
  }

  /** Adds one unit (`sem_post`). */
  release(): void {
    this.#call(this.release, (s) => s.post());
  }

  /** Closes this process's handle (`sem_close`); pending async acquires reject with `ERR_SHMKIT_CLOSED`. Idempotent. */
  close(): void {
    const sem = this.#sem;
    if (sem === undefined) return;
    settleParked(this, `NamedSemaphore '${this.name}'`, this.close); // pending acquires: ERR_SHMKIT_CLOSED
    this.#sem = undefined;
    // A given-up acquire may still report a unit it took: the handle stays open for it to
    // be posted back, and closes when the last such report is in.
    if (this.#reporting === 0) sem.close();
  }

  /** Removes the name. */
  unlink(): void {
    NamedSemaphore.unlink(this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #open(caller: Function): NativeSemaphore {
    if (this.#sem === undefined) throw closedError(`NamedSemaphore '${this.name}'`, caller);
    return this.#sem;
  }

  #call<T>(caller: Function, fn: (s: NativeSemaphore) => T): T {
    const sem = this.#open(caller);
    try {
      return fn(sem);
    } catch (error) {
      throw fromNative(error, osName(this.name), caller);
    }
  }
}

const valueGetter = Object.getOwnPropertyDescriptor(NamedSemaphore.prototype, 'value')!.get!;
