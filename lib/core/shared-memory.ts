// SharedMemory: a named segment of raw bytes, the counterpart of CPython's
// multiprocessing.shared_memory.SharedMemory. It carries no header: the user owns every
// byte, as in Python, so a segment made here opens there and the reverse.
import { constants as bufferConstants } from 'node:buffer';
import { inspect } from 'node:util';
import { closedError, fromNative, invalidArgType, noSpaceHint, outOfRange, type CodedError } from './errors.js';
import { forget, segmentKey, unlinkOnExit } from './exit-cleanup.js';
import { canonicalName, osName, randomName, stillNames } from './names.js';
import { native, type NativeSegment } from './native.js';
import { validateBoolean, validateInteger, validateOptions } from './validate.js';
import { checkConstruct, CONSTRUCT } from './construct.js';
import { adopt, settleParked } from './park.js';

/** Options of {@link SharedMemory.create}. */
export interface CreateOptions {
  /** The name other processes open it by. Default: a fresh random name. */
  name?: string | undefined;
  /**
   * Size in bytes: an integer from 1 to 2^53 - 1. The memory is reserved at create (Linux:
   * `fallocate(2)`), so a `/dev/shm` without room for it is `ENOSPC` here, not SIGBUS
   * when a page is first touched; see `sparse`.
   */
  size: number;
  /**
   * Do not reserve the memory: pages are allocated only when touched, so a huge, mostly
   * empty segment costs nothing. The risk is then yours: touching a page when `/dev/shm`
   * is full kills the process with SIGBUS (no JavaScript error can be thrown from a
   * plain memory access). Reserve what you are about to use with {@link SharedMemory.reserve}.
   * Default `false`.
   */
  sparse?: boolean | undefined;
  /** Permission bits, subject to the umask as with open(2). Default `0o600`: this user only. */
  mode?: number | undefined;
  /**
   * Unlink the name when this process exits normally or on SIGINT/SIGTERM/SIGHUP (when
   * the application has no handler of its own for that signal). Default `false`.
   */
  unlinkOnExit?: boolean | undefined;
}

/** Options of {@link SharedMemory.open}. */
export interface OpenOptions {
  /**
   * Attach read-only: only read permission is needed, and nothing written through this
   * object's views ever reaches the segment (such a write lands in a private copy of that
   * page, which from then on no longer shows other processes' writes). Default `false`.
   */
  readOnly?: boolean | undefined;
}

/** The largest size accepted: every integer a JavaScript number holds exactly. */
const MAX_SIZE = Number.MAX_SAFE_INTEGER;
const DEFAULT_MODE = 0o600;

/**
 * A named shared memory segment that unrelated processes attach to by name.
 *
 * ```js
 * const shm = SharedMemory.create({ name: 'jobs', size: 4096 });
 * new Uint8Array(shm.buffer)[0] = 42;       // any process that opens 'jobs' sees it
 * ```
 */
export class SharedMemory implements Disposable {
  readonly #name: string;
  readonly #size: number;
  readonly #readOnly: boolean;
  readonly #identity: string;
  // Views made while the segment was filled, held until close() detaches them: one left to
  // the collector would keep the mapping (and its descriptor) past close() until collected.
  #kept: ArrayBuffer[] = [];
  #segment: NativeSegment | undefined;
  #buffer: ArrayBuffer | undefined;

  /** The name, without the leading slash. */
  get name(): string {
    return this.#name;
  }

  /** Size in bytes, as the OS reports it. */
  get size(): number {
    return this.#size;
  }

  /** Whether this object was attached read-only. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** @internal Use {@link SharedMemory.create} or {@link SharedMemory.open}. */
  constructor(token: symbol, name: string, segment: NativeSegment) {
    checkConstruct(token, new.target);
    this.#name = name;
    this.#segment = segment;
    this.#size = segment.size;
    this.#readOnly = segment.readOnly;
    this.#identity = segment.identity;
  }

  /**
   * Creates a new segment. Fails with `EEXIST` if the name is taken (it never attaches
   * to an existing segment). Its bytes start as zeros.
   */
  static create(options: CreateOptions): SharedMemory {
    return createSegment(options, undefined, SharedMemory.create);
  }

  /**
   * @internal The one way segments are made (createSegment below): `fill` writes the
   * segment before its name appears (typed objects write their header).
   */
  static fromNative(name: string, segment: NativeSegment, views: ArrayBuffer[] = []): SharedMemory {
    const shm = new SharedMemory(CONSTRUCT, name, segment);
    shm.#kept = views;
    for (const view of views) adopt(view, shm);
    return shm;
  }

  /** Attaches to an existing segment. Fails with `ENOENT` if there is none by that name. */
  static open(name: string, options?: OpenOptions): SharedMemory {
    const bare = canonicalName(name, SharedMemory.open);
    const opts = validateOptions(options, 'options', SharedMemory.open);
    const readOnly = validateBoolean(opts.readOnly, 'options.readOnly', SharedMemory.open);
    try {
      return new SharedMemory(CONSTRUCT, bare, native.open(bare, readOnly));
    } catch (error) {
      throw fromNative(error, osName(bare), SharedMemory.open);
    }
  }

  /**
   * Removes the name. Processes that have the segment open keep using it; new opens fail
   * with `ENOENT`; the memory is freed when the last of them closes. Fails with `ENOENT`
   * if there is no such name.
   */
  static unlink(name: string): void {
    const bare = canonicalName(name, SharedMemory.unlink);
    try {
      native.unlink(bare);
    } catch (error) {
      throw fromNative(error, osName(bare), SharedMemory.unlink);
    }
    forget(segmentKey(bare));
  }

  /** Whether a segment of that name exists (even one this user may not open). */
  static exists(name: string): boolean {
    const bare = canonicalName(name, SharedMemory.exists);
    try {
      return native.exists(bare);
    } catch (error) {
      throw fromNative(error, osName(bare), SharedMemory.exists);
    }
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#segment === undefined;
  }

  /**
   * An ArrayBuffer over the whole segment (the same one on every call). Detached by
   * {@link close}. For a segment larger than this runtime's ArrayBuffer limit (4 GiB on
   * Node 20) it throws `ERR_OUT_OF_RANGE`: use {@link view}.
   */
  get buffer(): ArrayBuffer {
    if (this.#buffer === undefined || this.#buffer.detached) {
      const segment = this.#open(bufferGetter);
      if (this.size > bufferConstants.MAX_LENGTH) {
        throw outOfRange('size', `<= ${bufferConstants.MAX_LENGTH} (this runtime's ArrayBuffer limit) for .buffer; use view()`, this.size, bufferGetter);
      }
      this.#buffer = this.size === 0 ? new ArrayBuffer(0) : segment.view(0, this.size);
      adopt(this.#buffer, this);
    }
    return this.#buffer;
  }

  /**
   * A new ArrayBuffer over `byteLength` bytes from `byteOffset` (default: to the end).
   * This is how every byte of a segment larger than the ArrayBuffer limit is reached.
   * Every view is detached by {@link close}.
   */
  view(byteOffset = 0, byteLength?: number): ArrayBuffer {
    const segment = this.#open(this.view);
    const [offset, length] = this.#range(byteOffset, byteLength, this.view);
    if (length > bufferConstants.MAX_LENGTH) {
      throw outOfRange('byteLength', `<= ${bufferConstants.MAX_LENGTH} (this runtime's ArrayBuffer limit)`, length, this.view);
    }
    const view = segment.view(offset, length);
    adopt(view, this); // waits on it are this segment's (park.ts): close() settles them
    return view;
  }

  /**
   * Reserves the memory of `byteLength` bytes from `byteOffset` (default: the whole
   * segment), so that touching them can no longer fail: `ENOSPC` now if `/dev/shm` has no
   * room, instead of SIGBUS later. For a `sparse` segment, or one opened that another
   * program made sparse (CPython's are). Reserving what is reserved already costs a
   * walk of the range and nothing else. Linux only reserves; Windows commits a segment's
   * memory when it is made, and macOS has no such call: there it does nothing.
   */
  reserve(byteOffset = 0, byteLength?: number): void {
    const segment = this.#open(this.reserve);
    const [offset, n] = this.#range(byteOffset, byteLength, this.reserve);
    try {
      segment.reserve(offset, n);
    } catch (error) {
      throw noSpaceHint(fromNative(error, osName(this.#name), this.reserve), n);
    }
  }

  /**
   * Copies `length` bytes from `byteOffset` (default: to the end) out of the segment.
   * Works where zero-copy views cannot (runtimes that forbid external ArrayBuffers).
   */
  read(byteOffset = 0, length?: number): Buffer {
    const segment = this.#open(this.read);
    const [offset, n] = this.#range(byteOffset, length, this.read);
    try {
      return segment.read(offset, n);
    } catch (error) {
      throw noSpaceHint(fromNative(error, osName(this.#name), this.read), n); // a sparse page /dev/shm had no room for
    }
  }

  /**
   * Copies `bytes` into the segment at `byteOffset` and returns the number of bytes
   * written. Throws `ERR_SHMKIT_READ_ONLY` on a read-only attach.
   */
  write(byteOffset: number, bytes: ArrayBufferView | ArrayBufferLike): number {
    const segment = this.#open(this.write);
    const b: unknown = bytes;
    let u8: Uint8Array;
    if (b instanceof Uint8Array) u8 = b;
    else if (ArrayBuffer.isView(b)) u8 = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    else if (b instanceof ArrayBuffer || b instanceof SharedArrayBuffer) u8 = new Uint8Array(b);
    else throw invalidArgType('bytes', 'an instance of ArrayBuffer, Buffer, TypedArray or DataView', bytes, this.write);
    const [offset, n] = this.#range(byteOffset, u8.byteLength, this.write);
    try {
      segment.write(offset, n, u8);
    } catch (error) {
      throw noSpaceHint(fromNative(error, osName(this.#name), this.write), n);
    }
    return n;
  }

  /**
   * Unmaps the segment, at once. First every pending async operation on its memory (of
   * every object in it: its own typed object, or those placed with `at()`) rejects with
   * `ERR_SHMKIT_CLOSED`, its clean-up done while the memory is still there; then every
   * ArrayBuffer this object handed out is detached (byteLength 0), so no view can reach
   * unmapped memory, and objects placed in it are closed with it. Idempotent. The name
   * stays: only {@link unlink} removes it.
   */
  close(): void {
    const segment = this.#segment;
    if (segment === undefined) return;
    settleParked(this, `SharedMemory '${this.name}'`, this.close);
    this.#segment = undefined;
    this.#buffer = undefined;
    segment.close();
    this.#kept = [];
  }

  /** Removes the name (see the static {@link SharedMemory.unlink}). Works after close too. */
  unlink(): void {
    try {
      native.unlink(this.name);
    } catch (error) {
      throw fromNative(error, osName(this.name), this.unlink);
    }
    forget(segmentKey(this.name));
  }

  /** @internal Which file this segment is ("device:inode"; '' where unknown): names.ts stillNames. */
  get identity(): string {
    return this.#identity;
  }

  /** @internal Holds a view made for a moment (reading a header) until close() detaches it (see #kept). */
  keep(view: ArrayBuffer): ArrayBuffer {
    this.#kept.push(view);
    return view;
  }

  /** Same as {@link close}, for `using shm = SharedMemory.open(…)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  [inspect.custom](): string {
    return `SharedMemory { name: '${this.name}', size: ${this.size}, readOnly: ${this.readOnly}, closed: ${this.closed} }`;
  }

  #open(caller: Function): NativeSegment {
    if (this.#segment === undefined) throw closedError(`SharedMemory '${this.name}'`, caller);
    return this.#segment;
  }

  #range(byteOffset: unknown, byteLength: unknown, caller: Function): [number, number] {
    const offset = validateInteger(byteOffset, 'byteOffset', 0, this.size, caller);
    const length = byteLength === undefined
      ? this.size - offset
      : validateInteger(byteLength, 'byteLength', 0, this.size - offset, caller);
    return [offset, length];
  }
}

const bufferGetter = Object.getOwnPropertyDescriptor(SharedMemory.prototype, 'buffer')!.get!;

/**
 * Makes a segment: validates the options, creates it without a name (Linux: under a
 * temporary one, native/shmkit.h SegmentCreate), lets `fill` write it, then gives it its
 * name, so that nobody ever opens a half-made segment and a creator killed half-way
 * leaves nothing under the name. A taken random name is retried with another, as
 * CPython does. `caller` is the public function to blame.
 */
export function createSegment(options: CreateOptions, fill: ((view: (byteOffset: number, byteLength: number) => ArrayBuffer,
  reserve: (byteOffset: number, byteLength: number) => void) => void) | undefined, caller: Function): SharedMemory {
  if (options === undefined) throw invalidArgType('options', 'of type object', options, caller);
  const opts = validateOptions(options, 'options', caller);
  const size = validateInteger(opts.size, 'options.size', 1, MAX_SIZE, caller);
  const mode = opts.mode === undefined ? DEFAULT_MODE : validateInteger(opts.mode, 'options.mode', 0, 0o777, caller);
  const exitUnlink = validateBoolean(opts.unlinkOnExit, 'options.unlinkOnExit', caller);
  const sparse = validateBoolean(opts.sparse, 'options.sparse', caller);
  const given = opts.name === undefined ? undefined : canonicalName(opts.name, caller, 'options.name');

  let name = given ?? randomName();
  let segment: (NativeSegment & { made?: string }) | undefined;
  let views: ArrayBuffer[] = [];
  for (let attempt = 0; ; attempt++) {
    let made: string | undefined;
    segment = undefined;
    try {
      const created = native.create(name, size, mode, false, sparse);
      segment = created;
      made = created.made!;
      views = [];
      fill?.((byteOffset, byteLength) => {
        const view = created.view(byteOffset, byteLength);
        views.push(view);
        return view;
      }, (byteOffset, byteLength) => created.reserve(byteOffset, byteLength));
      native.publish(made, name);
      if (made !== name) native.unlink(made);
      break;
    } catch (error) {
      // Whatever was made goes: nothing half-made keeps a name.
      segment?.close();
      if (made !== undefined && made !== name) {
        try {
          native.unlink(made);
        } catch {
          // already gone
        }
      }
      const err = noSpaceHint(fromNative(error, osName(name), caller), size);
      // A random name that is taken: another random name, as CPython does.
      if (given !== undefined || attempt === 8 || (err as CodedError).code !== 'EEXIST') throw err;
      name = randomName();
    }
  }
  // At exit, only the very segment made here is removed: if someone unlinked it and
  // made another of the same name, that one is theirs.
  const shm = SharedMemory.fromNative(name, segment!, views);
  if (exitUnlink) removeAtExit(shm);
  return shm;
}

/**
 * @internal Removes `shm`'s name when the process ends, as `unlinkOnExit` does: for a
 * segment this process took over rather than made (a Manager's name after a dead server).
 * Only that very segment: if someone unlinked it and made another of the same name, that
 * one is theirs.
 */
export function removeAtExit(shm: SharedMemory): void {
  const name = shm.name, identity = shm.identity;
  unlinkOnExit(segmentKey(name), () => stillNames(name, identity) && native.unlink(name));
}
