// ShareableList: a fixed-length list of mixed values, byte for byte the format of
// CPython's multiprocessing.shared_memory.ShareableList (3.9 to 3.13), so a list made
// here opens in Python and the reverse. docs/memory-layout.md has it byte by byte; in
// short, with N items, native (little-endian) byte order:
//
//   0              int64      N
//   8              int64×N+1  offsets of the items' slots from the data area's start;
//                             the last is the data area's length
//   8(N+2)         …          the data area: each item in its slot, 8-byte aligned
//                             int "q" (int64), float "d" (float64), bool "xxxxxxx?"
//                             (byte 7), None "xxxxxx?x" (byte 6, 0), str/bytes "<n>s"
//                             (n bytes, NUL-padded; n = 8 × (byte length ÷ 8 + 1))
//   8(N+2)+data    8 bytes×N  each item's struct format, NUL-padded
//   … + 8N         int8×N     each item's back-transform: 0 as is, 1 str, 2 bytes, 3 None
//
// There is no shmkit header (Python would not read one), so `open` checks the structure
// itself and keeps its own copy of N and the offsets, which Python never changes after
// creation: every later read is bounded by those checked numbers, whatever another
// process writes into the segment. Formats and codes change with the values, so they
// are read on every access.
import { closedError, invalidArgType, invalidArgValue, kindError, outOfRange, type CodedError } from '../core/errors.js';
import { SharedMemory } from '../core/shared-memory.js';
import { decodeUtf8, encoder } from '../core/utf8.js';
import { validateOptions } from '../core/validate.js';
import { checkConstruct, CONSTRUCT } from '../core/construct.js';
import { HEADER_SIZE, MAGIC } from '../core/header.js';
import { kindOfCode } from '../core/kinds.js';

/** What a ShareableList item is in JavaScript. */
export type ShareableValue = number | bigint | boolean | string | Uint8Array | null;

/** A number tagged to be stored as a Python int or float: see {@link ShareableList.int}, {@link ShareableList.float}. */
export interface TaggedNumber {
  readonly kind: 'int' | 'float';
  readonly value: number | bigint;
}

/** What to do with a str or bytes item that ends in NUL, which the format cannot keep. */
export type TrailingNulPolicy = 'strip' | 'throw';

/** Options of {@link ShareableList.create}. */
export interface ShareableListOptions {
  name?: string | undefined;
  /** The items. Their number and each str/bytes slot's capacity are fixed from here on. */
  items: Iterable<ShareableValue | TaggedNumber>;
  mode?: number | undefined;
  unlinkOnExit?: boolean | undefined;
  /** Default `'strip'`, as CPython does silently; `'throw'` refuses such values. */
  trailingNul?: TrailingNulPolicy | undefined;
}

/** Options of {@link ShareableList.open}. */
export interface ShareableListOpenOptions {
  trailingNul?: TrailingNulPolicy | undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TWO32 = 4294967296;
/** The longest str/bytes slot whose format ("9999992s") still fits in 8 characters. */
const MAX_SLOT = 9999992;

// The first and second 4 bytes of the fixed formats, as little-endian uint32s.
const Q = 0x71; // "q"
const D = 0x64; // "d"
const XXXX = 0x78787878; // "xxxx"
const BOOL_HI = 0x3f787878; // "xxx?"
const NONE_HI = 0x783f7878; // "xx?x"

// int64 items are read and written as one 8-byte access, so that a reader never sees
// half of an old value and half of a new one: through a Float64Array (a single load or
// store of the 8 bytes, 3-4 times cheaper than a BigInt), and a scratch buffer splits or
// joins the halves. That keeps the bits only where the engine copies a float's bits as
// they are, NaN payloads included (the standard lets it pick any NaN's bits), which is
// checked once here; an engine that does not gets Atomics on a BigInt64Array instead.
const scratch = new Float64Array(1);
const scratchU32 = new Uint32Array(scratch.buffer);
const scratchI32 = new Int32Array(scratch.buffer);
const scratchI64 = new BigInt64Array(scratch.buffer);
const FLOAT_COPY_KEEPS_BITS = (() => {
  const probe = new Float64Array(1);
  const probe64 = new BigInt64Array(probe.buffer);
  for (const bits of [0x7ff0000000000001n, -0x000fffffffffffffn, 0x7ff4000000000000n, -1n]) {
    probe64[0] = bits;
    scratch[0] = probe[0]!;
    probe[0] = scratch[0]!;
    if (probe64[0] !== bits || scratchI64[0] !== bits) return false;
  }
  return true;
})();

/**
 * Whether this machine may reorder plain loads and stores around `Atomics` ones (arm64 and
 * the like; x86's loads are ordered, and V8 emits its seq-cst stores as xchg). There every
 * read takes the bracket that loads the change count with `Atomics.load` and puts a fence
 * (an `Atomics.add` of 0 on a word of its own: a full barrier on arm64) between the value
 * and the closing loads; on x86 the inline fast path does it with plain loads.
 */
const WEAK_ORDER = process.arch !== 'x64' && process.arch !== 'ia32';
/** A word of this thread's own for that fence. */
const fence = new Int32Array(new SharedArrayBuffer(4));

/** A read that met an item in flux (a writer mid-change) looks again this often, then for up to FLUX_MS. */
const FLUX_RETRIES = 64;
const FLUX_MS = 20;

/**
 * Not one of CPython's back-transform codes: written (with Atomics) over an item's code
 * while a shmkit writer changes anything but a number's value, then replaced by the new
 * code. A CPython reader that meets it mid-change gets a KeyError.
 */
const CODE_BUSY = 0xff;

/**
 * "SLCC" (little-endian): the start of the change counts a list made here keeps after its
 * codes (docs/memory-layout.md). CPython sizes its lists exactly and never reads past the
 * codes, so the extra bytes are invisible to it; a list without them (made by CPython)
 * is read with the code and format checks alone.
 */
const COUNTS_MAGIC = 0x43434c53;

/** Where a list of n items with data area `dataBytes` keeps its change counts (8-aligned). */
function countsAt(n: number, dataBytes: number): number {
  return Math.ceil(((n + 2) * 8 + dataBytes + 9 * n) / 8) * 8;
}
const CODE_AS_IS = 0;
const CODE_STR = 1;
const CODE_BYTES = 2;
const CODE_NONE = 3;

type Kind = 'int' | 'float' | 'bool' | 'none' | 'str' | 'bytes';

const tagged = new WeakSet<object>();

function tag(kind: 'int' | 'float', value: number | bigint): TaggedNumber {
  const t = Object.freeze({ kind, value });
  tagged.add(t);
  return t;
}

function listError(message: string, caller: Function): CodedError {
  return kindError(message, caller);
}

/** An item, classified and checked, ready to be written. */
interface Prepared {
  kind: Kind;
  num: number; // int (safe), float, bool as 0/1
  big: bigint | undefined; // int outside the safe range
  bytes: Uint8Array | undefined; // str (UTF-8) and bytes
}

function slotFor(byteLength: number): number {
  return 8 * (Math.floor(byteLength / 8) + 1);
}

/**
 * A fixed-length list of numbers, bigints, booleans, strings, byte arrays and nulls in
 * shared memory, readable and writable by CPython's `ShareableList` of the same name.
 */
export class ShareableList implements Disposable, Iterable<ShareableValue> {
  readonly #shm: SharedMemory;
  readonly #length: number;
  readonly #policy: TrailingNulPolicy;
  readonly #u8: Uint8Array;
  readonly #u32: Uint32Array;
  readonly #f64: Float64Array;
  readonly #i64: BigInt64Array;
  /** Byte offset of each slot (N + 1 entries, the last being the data area's end). */
  readonly #slot: Float64Array;
  readonly #formats: number;
  readonly #codes: number;
  /**
   * Each item's change count: odd while a shmkit writer changes anything but a number's
   * value, one more (even) after, so that a reader can tell a change overlapped its read
   * even when the item's code and format came back to what they were (ABA). A list
   * without counts (CPython's) gets private zeros.
   */
  readonly #changes: Int32Array;
  /** Each slot's "<n>s" format as two uint32s, made on first use. */
  readonly #stringFormatLo: Uint32Array;
  readonly #stringFormatHi: Uint32Array;
  #closed = false;

  /** The SharedMemory holding the list. */
  get shm(): SharedMemory {
    return this.#shm;
  }

  /** The number of items (fixed). */
  /** @internal Which file the list's segment is (SharedMemory.identity). */
  get identity(): string {
    return this.#shm.identity;
  }

  get length(): number {
    return this.#length;
  }

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, length: number, offsets: number[], policy: TrailingNulPolicy) {
    checkConstruct(token, new.target);
    this.#shm = shm;
    this.#length = length;
    this.#policy = policy;
    const buffer = shm.buffer;
    this.#u8 = new Uint8Array(buffer);
    const words = Math.floor(buffer.byteLength / 8) * 2;
    this.#u32 = new Uint32Array(buffer, 0, words);
    this.#f64 = new Float64Array(buffer, 0, words / 2);
    this.#i64 = new BigInt64Array(buffer, 0, words / 2);
    const dataStart = (length + 2) * 8;
    this.#slot = Float64Array.from(offsets, (o) => dataStart + o);
    this.#formats = dataStart + offsets[length]!;
    this.#codes = this.#formats + 8 * length;
    const counts = countsAt(length, offsets[length]!);
    const hasCounts = buffer.byteLength >= counts + 8 + 4 * length &&
      this.#u32[counts / 4] === COUNTS_MAGIC && this.#u32[counts / 4 + 1] === length;
    this.#changes = hasCounts ? new Int32Array(buffer, counts + 8, length) : new Int32Array(length);
    this.#stringFormatLo = new Uint32Array(length);
    this.#stringFormatHi = new Uint32Array(length);
  }

  /** Stores `value` as a Python int, even if it is a number JavaScript would write as a float (not an integer: refused). */
  static int(value: number | bigint): TaggedNumber {
    return tag('int', value);
  }

  /** Stores `value` as a Python float, even if it is an integer such as 2. */
  static float(value: number): TaggedNumber {
    return tag('float', value);
  }

  /** Creates a new list in a new segment. `EEXIST` if the name is taken. */
  static create(options: ShareableListOptions): ShareableList {
    if (options === undefined) throw invalidArgType('options', 'of type object', options, ShareableList.create);
    const opts = validateOptions(options, 'options', ShareableList.create);
    const policy = validatePolicy(opts.trailingNul, ShareableList.create);
    const items = opts.items as Iterable<unknown>;
    if (items === null || typeof items !== 'object' || typeof (items as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw invalidArgType('options.items', 'an iterable', items, ShareableList.create);
    }
    const prepared = Array.from(items, (v, i) => prepare(v, undefined, policy, `options.items[${i}]`, ShareableList.create));
    const n = prepared.length;
    const offsets = [0];
    for (const p of prepared) {
      const size = p.kind === 'str' || p.kind === 'bytes' ? slotFor(p.bytes!.length) : 8;
      if (size > MAX_SLOT) {
        throw outOfRange(`options.items[${offsets.length - 1}]`, `at most ${MAX_SLOT - 1} bytes of UTF-8 (a longer slot's format would not fit CPython's 8 characters)`, p.bytes!.length, ShareableList.create);
      }
      offsets.push(offsets[offsets.length - 1]! + size);
    }
    const counts = countsAt(n, offsets[n]!);
    const size = counts + 8 + 4 * n;
    const shm = SharedMemory.create({ name: opts.name as string | undefined, size, mode: opts.mode as number | undefined,
      unlinkOnExit: opts.unlinkOnExit as boolean | undefined });
    try {
      const view = new DataView(shm.buffer);
      view.setBigInt64(0, BigInt(n), true);
      offsets.forEach((o, i) => view.setBigInt64(8 + 8 * i, BigInt(o), true));
      view.setUint32(counts, COUNTS_MAGIC, true);
      view.setUint32(counts + 4, n, true);
      const list = new ShareableList(CONSTRUCT, shm, n, offsets, policy);
      prepared.forEach((p, i) => list.#write(i, p));
      return list;
    } catch (error) {
      shm.close();
      shm.unlink();
      throw error;
    }
  }

  /**
   * Attaches to a list by name (made here or by CPython). `ENOENT` if absent;
   * `ERR_SHMKIT_KIND` if the segment does not hold a well-formed list.
   */
  static open(name: string, options?: ShareableListOpenOptions): ShareableList {
    const opts = validateOptions(options, 'options', ShareableList.open);
    const policy = validatePolicy(opts.trailingNul, ShareableList.open);
    const shm = SharedMemory.open(name);
    try {
      const { n, offsets } = checkStructure(shm, ShareableList.open);
      return new ShareableList(CONSTRUCT, shm, n, offsets, policy);
    } catch (error) {
      shm.close();
      throw error;
    }
  }

  /** Removes a list's name (its segment). */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /** The name of the segment the list lives in (`shm.name`). */
  get name(): string {
    return this.shm.name;
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The item at `index`; negative indices count from the end, as in Python. A reader
   * racing a shmkit writer gets the old value or the new one, whole: a number replaced by
   * a number of its type is one 8-byte store; any other change is bracketed by the
   * item's change count (odd during the change) and code (CODE_BUSY, then the new code),
   * and a read that saw the count, the code or the format change under it looks again
   * (docs/api.md, "Readers and a writer at once").
   */
  get(index: number): ShareableValue {
    const i = this.#position(index, this.get);
    const f = this.#formats / 4 + 2 * i;
    const c = this.#codes + i;
    // The common case inline: a number, its value one 8-byte load between two looks at
    // its change count, code and format (the count catches a shmkit writer's change even
    // if the type came back; the code and format a CPython writer's, and a format torn
    // between its halves cannot pass both looks).
    // (Where loads may be reordered, every read takes #getAny, whose bracket is fenced.)
    if (WEAK_ORDER) return this.#getAny(i, f, c);
    const u8 = this.#u8, u32 = this.#u32;
    const changes = this.#changes[i]!;
    const code = Atomics.load(u8, c);
    const lo = u32[f]!;
    if ((changes & 1) === 0 && code === CODE_AS_IS && (lo === Q || lo === D) && u32[f + 1] === 0 && FLOAT_COPY_KEEPS_BITS) {
      const x = this.#f64[this.#slot[i]! / 8]!;
      if (Atomics.load(u8, c) === CODE_AS_IS && this.#changes[i] === changes && u32[f] === lo && u32[f + 1] === 0) {
        if (lo === D) return x;
        scratch[0] = x;
        const h = scratchI32[1]!;
        // Within ±2^53 an int64 is exactly h × 2^32 + l; beyond, only a bigint holds it.
        return h >= -0x200000 && h < 0x200000 ? h * TWO32 + scratchU32[0]! : scratchI64[0]!;
      }
    }
    return this.#getAny(i, f, c);
  }

  /** get() of any item, retrying while it is in flux. */
  #getAny(i: number, f: number, c: number): ShareableValue {
    for (let tries = 0, since = 0; ; tries++) {
      if (tries >= FLUX_RETRIES) {
        // A writer paused (or killed) mid-change keeps the item in flux: give it a while.
        if (since === 0) since = performance.now();
        else if (performance.now() - since > FLUX_MS) {
          throw listError(`item ${i} has been in the middle of a change for over ${FLUX_MS} ms (its writer paused or died there; a set() repairs it)`, this.get);
        }
      }
      const changes = Atomics.load(this.#changes, i);
      const code = Atomics.load(this.#u8, c);
      if (code === CODE_BUSY || (changes & 1) !== 0) continue;
      this.#load8(f * 4); // the format's 8 bytes in one access
      const lo = scratchU32[0]!;
      const hi = scratchU32[1]!;
      let value: ShareableValue;
      try {
        value = this.#decode(i, lo, hi, code);
      } catch (error) {
        if (this.#unchanged(i, changes, f, c, lo, hi, code)) throw error; // not a change in flux: the bytes are bad
        continue;
      }
      if (this.#unchanged(i, changes, f, c, lo, hi, code)) return value;
    }
  }

  /** Whether item i (format at f, code at c) still has change count `changes`, format (lo, hi) and `code`. */
  #unchanged(i: number, changes: number, f: number, c: number, lo: number, hi: number, code: number): boolean {
    if (WEAK_ORDER) Atomics.add(fence, 0, 0); // the value's loads before the closing ones
    if (Atomics.load(this.#changes, i) !== changes) return false;
    if (Atomics.load(this.#u8, c) !== code) return false;
    this.#load8(f * 4);
    return lo === scratchU32[0] && hi === scratchU32[1];
  }

  /** Item i read as format (lo, hi) and back-transform `code` say. */
  #decode(i: number, lo: number, hi: number, code: number): ShareableValue {
    if (code === CODE_NONE) return null;
    const at = this.#slot[i]!;
    // A number's or a flag's format decides alone: its code is always "as is", and one
    // that is not was caught mid-change by a writer without shmkit's bracket (CPython
    // stores the format, then the code).
    if (hi === 0 && lo === Q) {
      this.#load8(at);
      const h = scratchI32[1]!;
      // Within ±2^53 an int64 is exactly h × 2^32 + l; beyond, only a bigint holds it.
      if (h >= -0x200000 && h < 0x200000) return h * TWO32 + scratchU32[0]!;
      return scratchI64[0]!;
    }
    if (hi === 0 && lo === D) return this.#f64[at / 8]!;
    if (lo === XXXX && hi === BOOL_HI) return this.#u8[at + 7] !== 0;
    if (lo === XXXX && hi === NONE_HI) return this.#u8[at + 6] !== 0;
    const n = this.#stringSize(i, lo, hi, this.get);
    let end = at + n;
    if (code === CODE_AS_IS) return this.#u8.slice(at, end); // raw "<n>s", as CPython returns it
    while (end > at && this.#u8[end - 1] === 0) end--;
    if (code === CODE_BYTES) return this.#u8.slice(at, end);
    if (code !== CODE_STR) throw listError(`item ${i} has an unknown back-transform code ${code}`, this.get);
    return decodeUtf8(this.#u8, at, end);
  }

  /** The 8 bytes at `at` (8-aligned) into the scratch buffer, in one access. */
  #load8(at: number): void {
    if (FLOAT_COPY_KEEPS_BITS) scratch[0] = this.#f64[at / 8]!;
    else scratchI64[0] = Atomics.load(this.#i64, at / 8);
  }

  /** Writes the format (lo, hi) at int32 index f in one 8-byte access. */
  #storeFormat(f: number, lo: number, hi: number): void {
    scratchU32[0] = lo;
    scratchU32[1] = hi;
    this.#store8(f * 4);
  }

  /** The scratch buffer's 8 bytes to `at` (8-aligned), in one access. */
  #store8(at: number): void {
    if (FLOAT_COPY_KEEPS_BITS) this.#f64[at / 8] = scratch[0]!;
    else Atomics.store(this.#i64, at / 8, scratchI64[0]!);
  }

  /**
   * Stores `value` at `index`. Its type may change (the slot's format follows, as in
   * Python), but a str or bytes must fit the slot's capacity, fixed at creation: if not,
   * `ERR_OUT_OF_RANGE` and the old value stays. Numbers keep the slot's Python type
   * where they can: an integer written over a float stays a float.
   */
  set(index: number, value: ShareableValue | TaggedNumber): void {
    const i = this.#position(index, this.set);
    // The common cases written directly, without building a Prepared item. First a
    // number over a number of the slot's type: the value alone changes, in one 8-byte
    // store (an integer over a float stays a float, as in Python).
    if (typeof value === 'number' && FLOAT_COPY_KEEPS_BITS) {
      const f = this.#formats / 4 + 2 * i;
      const lo = this.#u32[f];
      if (this.#u32[f + 1] === 0 && this.#u8[this.#codes + i] === CODE_AS_IS && (this.#changes[i]! & 1) === 0) {
        if (lo === D) {
          this.#f64[this.#slot[i]! / 8] = value;
          return;
        }
        if (lo === Q && Number.isSafeInteger(value) && !Object.is(value, -0)) {
          const h = Math.floor(value / TWO32);
          scratchU32[0] = value - h * TWO32;
          scratchI32[1] = h;
          this.#f64[this.#slot[i]! / 8] = scratch[0]!;
          return;
        }
      }
    }
    if (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0) && this.#slotKind(i) !== 'float') {
      this.#writeInt(i, value);
      return;
    }
    if (typeof value === 'string' && this.#writeShortAscii(i, value)) return;
    const p = prepare(value, this.#slotKind(i), this.#policy, 'value', this.set);
    if (p.bytes !== undefined && p.bytes.length > this.#slot[i + 1]! - this.#slot[i]!) {
      throw outOfRange('value', `at most ${this.#slot[i + 1]! - this.#slot[i]!} bytes (this slot's capacity)`, p.bytes.length, this.set);
    }
    this.#write(i, p);
  }

  /** The struct formats of all items, concatenated (CPython's `format`). */
  get format(): string {
    this.#check(formatGetter);
    let out = '';
    for (let i = 0; i < this.length; i++) {
      const start = this.#formats + 8 * i;
      let end = start + 8;
      while (end > start && this.#u8[end - 1] === 0) end--;
      out += String.fromCharCode(...this.#u8.subarray(start, end));
    }
    return out;
  }

  /** Every item, in order. */
  *[Symbol.iterator](): IterableIterator<ShareableValue> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  /** The items as a plain array. */
  toArray(): ShareableValue[] {
    return Array.from(this);
  }

  /** The first index holding `value` (see {@link count} for equality), or -1. */
  indexOf(value: ShareableValue): number {
    for (let i = 0; i < this.length; i++) if (same(this.get(i), value)) return i;
    return -1;
  }

  /**
   * How many items equal `value`: numbers and bigints by numeric value (1 equals 1n),
   * byte arrays by content, everything else with `===`.
   */
  count(value: ShareableValue): number {
    let n = 0;
    for (let i = 0; i < this.length; i++) if (same(this.get(i), value)) n++;
    return n;
  }

  /** Unmaps the list; the name stays until {@link unlink}. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.shm.close();
  }

  /** Removes the name. */
  unlink(): void {
    this.shm.unlink();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(caller: Function): void {
    if (this.#closed) throw closedError(`ShareableList '${this.shm.name}'`, caller);
  }

  #position(index: unknown, caller: Function): number {
    if (this.#closed) throw closedError(`ShareableList '${this.shm.name}'`, caller);
    if (typeof index !== 'number') throw invalidArgType('index', 'of type number', index, caller);
    const i = index < 0 ? index + this.length : index;
    if (!(i >= 0 && i < this.length) || !Number.isInteger(i)) {
      throw outOfRange('index', `an integer >= ${-this.length} and < ${this.length}`, index, caller);
    }
    return i;
  }

  /** The byte count of a "<n>s" format, checked against the slot. */
  #stringSize(i: number, lo: number, hi: number, caller: Function): number {
    // Parsed from the format as it was read (lo, hi), not from memory a writer may be changing.
    const byte = (k: number): number => ((k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4))) & 0xff);
    let n = 0;
    let k = 0;
    for (; k < 8; k++) {
      const c = byte(k);
      if (c < 0x30 || c > 0x39) break;
      n = n * 10 + (c - 0x30);
    }
    const capacity = this.#slot[i + 1]! - this.#slot[i]!;
    if (k === 0 || k === 8 || byte(k) !== 0x73 /* s */ || n > capacity) {
      const f = String.fromCharCode(...Array.from({ length: 8 }, (_, j) => byte(j))).replace(/\0+$/, '');
      throw listError(`item ${i} has format '${f}' (${lo.toString(16)} ${hi.toString(16)}), which this ${capacity}-byte slot cannot hold`, caller);
    }
    return n;
  }

  /** The Python type now in slot i, for numbers that could be either int or float. */
  #slotKind(i: number): Kind | undefined {
    const at = this.#formats / 4 + 2 * i;
    if (this.#u32[at + 1] !== 0) return undefined;
    const lo = this.#u32[at];
    return lo === D ? 'float' : lo === Q ? 'int' : undefined;
  }

  #writeInt(i: number, v: number): void {
    const at = this.#slot[i]!;
    const f = this.#formats / 4 + 2 * i;
    const h = Math.floor(v / TWO32);
    const same = this.#holdsNumber(i, Q);
    if (!same) this.#begin(i);
    scratchU32[0] = v - h * TWO32;
    scratchI32[1] = h;
    this.#store8(at);
    if (same) return;
    this.#storeFormat(f, Q, 0);
    this.#end(i, CODE_AS_IS);
  }

  /**
   * Whether item i holds a number of format `lo` ("q" or "d") now, at rest: then a new value
   * is one 8-byte store. An odd change count (a writer killed mid-change) is not at rest:
   * the write then goes through #begin/#end, which repairs it.
   */
  #holdsNumber(i: number, lo: number): boolean {
    const f = this.#formats / 4 + 2 * i;
    return this.#u32[f] === lo && this.#u32[f + 1] === 0 && this.#u8[this.#codes + i] === CODE_AS_IS && (this.#changes[i]! & 1) === 0;
  }

  /**
   * Marks item i as mid-change for readers (get looks again until #end): its change count
   * odd (it stays odd if a writer killed mid-change left it so), then the busy code.
   */
  #begin(i: number): void {
    // An RMW, not a store: on arm64 a release store lets the stores after it (the value)
    // be seen first; an RMW's acquire half keeps them after it.
    Atomics.or(this.#changes, i, 1);
    Atomics.store(this.#u8, this.#codes + i, CODE_BUSY);
  }

  /** Ends #begin: the new code, then the change count even again, one past what it was. */
  #end(i: number, code: number): void {
    Atomics.store(this.#u8, this.#codes + i, code);
    Atomics.store(this.#changes, i, (Atomics.load(this.#changes, i) | 1) + 1);
  }

  /** Writes a short ASCII string that fits the slot; false (nothing written) otherwise. */
  #writeShortAscii(i: number, v: string): boolean {
    const at = this.#slot[i]!;
    const capacity = this.#slot[i + 1]! - at;
    const n = v.length;
    if (n > capacity || n > 64 || (n > 0 && v.charCodeAt(n - 1) === 0)) return false;
    for (let k = 0; k < n; k++) if (v.charCodeAt(k) > 0x7f) return false;
    this.#begin(i);
    const u8 = this.#u8;
    for (let k = 0; k < n; k++) u8[at + k] = v.charCodeAt(k);
    u8.fill(0, at + n, at + capacity);
    this.#writeStringFormat(i, capacity);
    this.#end(i, CODE_STR);
    return true;
  }

  /** The "<capacity>s" format of a str/bytes slot (CPython always uses the full capacity). */
  #writeStringFormat(i: number, capacity: number): void {
    const f = this.#formats / 4 + 2 * i;
    let lo = this.#stringFormatLo[i]!;
    let hi = this.#stringFormatHi[i]!;
    if (lo === 0) {
      const bytes = new Uint8Array(8);
      encoder.encodeInto(`${capacity}s`, bytes);
      const words = new Uint32Array(bytes.buffer);
      lo = this.#stringFormatLo[i] = words[0]!;
      hi = this.#stringFormatHi[i] = words[1]!;
    }
    this.#storeFormat(f, lo, hi);
  }

  #write(i: number, p: Prepared): void {
    const at = this.#slot[i]!;
    const u8 = this.#u8;
    const f = this.#formats / 4 + 2 * i;
    let code = CODE_AS_IS;
    if (p.kind === 'int' && p.big === undefined) return this.#writeInt(i, p.num);
    if (p.kind === 'float' && this.#holdsNumber(i, D)) {
      this.#f64[at / 8] = p.num; // a float over a float: one 8-byte store
      return;
    }
    if (p.kind === 'int' && this.#holdsNumber(i, Q)) {
      scratchI64[0] = p.big!;
      this.#store8(at);
      return;
    }
    this.#begin(i);
    switch (p.kind) {
      case 'int':
        scratchI64[0] = p.big!;
        this.#store8(at);
        this.#storeFormat(f, Q, 0);
        break;
      case 'float':
        this.#f64[at / 8] = p.num;
        this.#storeFormat(f, D, 0);
        break;
      case 'bool':
        this.#u32[at / 4] = 0;
        this.#u32[at / 4 + 1] = p.num << 24;
        this.#storeFormat(f, XXXX, BOOL_HI);
        break;
      case 'none':
        this.#u32[at / 4] = 0;
        this.#u32[at / 4 + 1] = 0;
        this.#storeFormat(f, XXXX, NONE_HI);
        code = CODE_NONE;
        break;
      default: {
        // A str or bytes slot keeps its full capacity as its format, as CPython does.
        const bytes = p.bytes!;
        const capacity = this.#slot[i + 1]! - at;
        u8.set(bytes, at);
        u8.fill(0, at + bytes.length, at + capacity);
        this.#writeStringFormat(i, capacity);
        code = p.kind === 'str' ? CODE_STR : CODE_BYTES;
      }
    }
    this.#end(i, code);
  }
}

const formatGetter = Object.getOwnPropertyDescriptor(ShareableList.prototype, 'format')!.get!;

function validatePolicy(value: unknown, caller: Function): TrailingNulPolicy {
  if (value === undefined) return 'strip';
  if (value !== 'strip' && value !== 'throw') throw invalidArgValue('options.trailingNul', value, "must be 'strip' or 'throw'", caller);
  return value;
}

/** Classifies and checks a value. `slot` is the slot's current numeric type, if any. */
function prepare(value: unknown, slot: Kind | undefined, policy: TrailingNulPolicy, argName: string, caller: Function): Prepared {
  if (value === null) return { kind: 'none', num: 0, big: undefined, bytes: undefined };
  switch (typeof value) {
    case 'boolean':
      return { kind: 'bool', num: value ? 1 : 0, big: undefined, bytes: undefined };
    case 'number':
      // -0 exists only as a float, so it stays one.
      if (slot === 'float' || !Number.isInteger(value) || Object.is(value, -0)) return { kind: 'float', num: value, big: undefined, bytes: undefined };
      return int(value, argName, caller);
    case 'bigint':
      return int(value, argName, caller);
    case 'string': {
      if (!value.isWellFormed()) throw invalidArgValue(argName, value, 'must be well-formed Unicode (no lone surrogates)', caller);
      if (policy === 'throw' && value.endsWith('\0')) throw invalidArgValue(argName, value, 'ends in NUL, which the format cannot keep (trailingNul: \'throw\')', caller);
      return { kind: 'str', num: 0, big: undefined, bytes: encoder.encode(value) };
    }
    case 'object':
      if (value instanceof Uint8Array) {
        if (policy === 'throw' && value.length > 0 && value[value.length - 1] === 0) {
          throw invalidArgValue(argName, value, 'ends in a zero byte, which the format cannot keep (trailingNul: \'throw\')', caller);
        }
        return { kind: 'bytes', num: 0, big: undefined, bytes: value };
      }
      if (tagged.has(value)) {
        const t = value as TaggedNumber;
        if (t.kind === 'int') return int(t.value, argName, caller);
        if (typeof t.value !== 'number') throw invalidArgType(argName, 'a number for ShareableList.float()', t.value, caller);
        return { kind: 'float', num: t.value, big: undefined, bytes: undefined };
      }
  }
  throw invalidArgType(argName, 'a number, bigint, boolean, string, Uint8Array or null', value, caller);
}

function int(value: unknown, argName: string, caller: Function): Prepared {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw outOfRange(argName, 'an integer', value, caller);
    if (Number.isSafeInteger(value)) return { kind: 'int', num: value, big: undefined, bytes: undefined };
    value = BigInt(value);
  }
  if (typeof value !== 'bigint') throw invalidArgType(argName, 'a number or bigint', value, caller);
  if (value < INT64_MIN || value > INT64_MAX) throw outOfRange(argName, 'within int64 (-2^63 to 2^63 - 1)', value, caller);
  return { kind: 'int', num: 0, big: value, bytes: undefined };
}

function same(a: ShareableValue, b: ShareableValue): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if ((typeof a === 'bigint' || typeof a === 'number') && (typeof b === 'bigint' || typeof b === 'number')) {
    // eslint-disable-next-line eqeqeq -- numeric comparison across number and bigint is the point
    return a == b;
  }
  return a === b;
}

/** Checks that a segment holds a well-formed list and returns N and the offsets. */
function checkStructure(shm: SharedMemory, caller: Function): { n: number; offsets: number[] } {
  const bad = (why: string): never => {
    throw listError(`'${shm.name}' is not a ShareableList: ${why}`, caller);
  };
  if (shm.size < 16) bad(`${shm.size} bytes is too small`);
  const view = new DataView(shm.buffer);
  if (shm.size >= HEADER_SIZE && view.getUint32(0, true) === MAGIC && view.getUint16(4, true) !== 0) { // (a list of N < 2^32 items has 0 there)
    bad(`it holds a shmkit ${kindOfCode(view.getUint16(6, true))?.name ?? 'object'}`); // a typed header (header.ts)
  }
  const n64 = view.getBigInt64(0, true);
  // Each item takes at least 8 (offset) + 8 (slot) + 8 (format) + 1 (code) bytes.
  if (n64 < 0n || n64 > BigInt(Math.floor((shm.size - 16) / 25))) bad(`its length ${n64} does not fit ${shm.size} bytes`);
  const n = Number(n64);
  const offsets: number[] = [];
  for (let i = 0; i <= n; i++) {
    const o = view.getBigInt64(8 + 8 * i, true);
    const previous = i === 0 ? 0n : BigInt(offsets[i - 1]!);
    if (i === 0 ? o !== 0n : o < previous + 8n || o % 8n !== 0n) bad(`offset ${i} is ${o}`);
    if (o > BigInt(shm.size)) bad(`offset ${i} (${o}) points past the end`);
    offsets.push(Number(o));
  }
  if ((n + 2) * 8 + offsets[n]! + 9 * n > shm.size) bad(`its ${n} items need more than ${shm.size} bytes`);
  return { n, offsets };
}
