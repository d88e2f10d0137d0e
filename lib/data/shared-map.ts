// SharedMap: a hash map in one named segment, read without locks and written under one
// Lock, crash-safe. docs/memory-layout.md has the layout byte by byte; in short:
//
//   control (512 bytes)  the writers' Lock, a seqlock epoch, the dirty flag, counters,
//                        the allocator's top and free lists (one per size class)
//   two index tables     open addressing, linear probing, 8-byte slots (hash, ref); one
//                        is current, the other is where a rebuild writes
//   two access arrays    a byte per slot of each table: read since the CLOCK hand passed
//   the arena            entries: a 32-byte head, the key, the value
//
// Why it holds:
// - An entry that the index points to is never written again except for its 8-byte number
//   field (one store: a reader sees the old number or the new). Any other change writes a
//   new entry and swaps the slot's ref in one store. Readers write nothing but access
//   bytes, which live beside the index, never in the arena: a stale reader's write there
//   can only make an entry look read.
// - A free block's link word (which readers never read) is odd, an entry's 0: a free list
//   that leads to a block in use (a peer's damage) is caught when the block is taken.
// - Memory that a stale reader may still be reading (a freed entry, the other table) is
//   written only inside an odd epoch: a reader that saw the epoch change looks again.
// - A writer marks the map dirty before its first change and clean after its last. The
//   next writer that finds it dirty (its predecessor died, or the lock was taken over)
//   rebuilds the allocator and the index from the live entries, which it checks one by
//   one: the free lists and counters are only ever caches of what the index says.
import { inspect } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import { corruptError, invalidArgType, invalidArgValue, outOfRange, shmkitError, type CodedError } from '../core/errors.js';
import { Lock } from '../sync/lock.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, type CreateTyped, payloadView } from '../core/header.js';
import { validateBoolean, validateInteger, validateOptions } from '../core/validate.js';
import { decodeUtf8, encoder } from '../core/utf8.js';
import { CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

// Control words (int32 indices into the payload).
const LOCK = 0; // 2 words: the writers' Lock
const EPOCH = 2; // odd while memory a stale reader may hold is rewritten
const DIRTY = 3; // 1 from a writer's first change to its last
const COUNT = 4; // entries in the index (expired ones included until removed)
const TOMBS = 5; // tombstones in the current table
const TABLE = 6; // which table is current (0 or 1)
const SLOTS = 7; // slots per table (a power of two)
const MAX_ENTRIES = 8;
const EVICTION = 9; // 0 none, 1 CLOCK
const HAND = 10; // the CLOCK hand: a slot index
const TTLS = 11; // entries with an expiry
const TOP = 12; // bytes of the arena ever handed out (the bump pointer)
const RESERVED = 13; // bytes of the arena reserved (fallocate) so far
const ARENA_BYTES = 14; // maxBytes
const USED = 15; // bytes in live entries' blocks
const FREE = 16; // NCLASS free-list heads: arena offset + 8, 0 for empty
const NCLASS = 108;
const CONTROL = 512;

// An entry's head (bytes from its block's start).
const E_SIZE = 0; // u32 the block's size (a size class)
const E_LINK = 4; // u32 next free block (offset + 8) while free
const E_EXPIRES = 8; // f64 ms since the epoch, 0 for never
const E_META = 16; // u32 key length (bits 0-15), type (16-23), 0 (24-31)
const E_VLEN = 20; // u32 the value's byte length
const E_NUM = 24; // 8 bytes: a number (f64), a bigint (i64) or a boolean (byte 24)
const E_KEY = 32;

const T_UNDEFINED = 0, T_NULL = 1, T_BOOL = 2, T_NUMBER = 3, T_BIGINT = 4, T_STRING = 5, T_BYTES = 6, T_STRUCTURED = 7;
/** Types held whole in the 8-byte field: a new value of the same type is one store. */
const fixed = (t: number): boolean => t <= T_BIGINT;

const EMPTY = 0, TOMB = 1;
/** The longest key, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 65535;
const MAX_ARENA = 2 ** 31 - 64;
const RESERVE_STEP = 1 << 16;

/** The block size for `n` bytes: 8-byte steps to 64, then four sizes per power of two (at most 25% waste). */
function classSize(n: number): number {
  if (n <= 64) return Math.max(32, (n + 7) & ~7);
  const shift = 29 - Math.clz32(n - 1); // e - 2 for n in (2^e, 2^(e+1)]
  return ((n + (1 << shift) - 1) >>> shift) << shift;
}
/** The free list of a class size (classSize's output). */
function classIndex(size: number): number {
  if (size <= 64) return (size - 32) >> 3;
  const e = 31 - Math.clz32(size - 1);
  return 5 + (e - 6) * 4 + ((size >>> (e - 2)) - 5);
}
/** Where the two access arrays start for `slots` slots per table: after the control and the two tables. */
const accessAt = (slots: number): number => CONTROL + 16 * slots;
/** Where the arena starts: after the access arrays, 8-aligned. */
const arenaAt = (slots: number): number => accessAt(slots) + Math.ceil((2 * slots) / 8) * 8;
/** A live entry as a rebuild sees it: [hash, arena offset, access byte]. */
type Live = [number, number, number];
const isClassSize = (n: number): boolean => n >= 32 && n % 8 === 0 && n <= MAX_ARENA && classSize(n) === n;

// The key being looked up, prepared once per call (one thread runs one call at a time).
let kLen = 0;
let kAscii = true;
let kString = ''; // the key itself, when it is ASCII (its bytes are its char codes)
const kBytes = new Uint8Array(MAX_KEY_BYTES + 4);

/** FNV-1a over the key's UTF-8 bytes; sets kLen/kAscii (and kBytes if it is not ASCII). */
function hashKey(key: unknown, caller: Function): number {
  if (typeof key !== 'string') throw invalidArgType('key', 'of type string', key, caller);
  const n = key.length;
  let h = 0x811c9dc5;
  let k = 0;
  if (n <= MAX_KEY_BYTES) {
    for (; k < n; k++) {
      const c = key.charCodeAt(k);
      if (c > 0x7f) break;
      h = Math.imul(h ^ c, 0x01000193);
    }
    if (k === n) {
      kLen = n;
      kAscii = true;
      kString = key;
      return h;
    }
  }
  if (!key.isWellFormed()) throw invalidArgValue('key', key, 'must be well-formed UTF-16 (a lone surrogate has no UTF-8)', caller);
  const { read, written } = encoder.encodeInto(key, kBytes);
  if (read < n || written > MAX_KEY_BYTES) throw outOfRange('key', `at most ${MAX_KEY_BYTES} bytes of UTF-8`, `${Buffer.byteLength(key)} bytes`, caller);
  h = 0x811c9dc5;
  for (let j = 0; j < written; j++) h = Math.imul(h ^ kBytes[j]!, 0x01000193);
  kLen = written;
  kAscii = false;
  return h;
}

// The value being stored, prepared once per call.
let vType = 0;
let vNum = 0;
let vBig = 0n;
const NO_BYTES = new Uint8Array(0);
let vBytes: Uint8Array = NO_BYTES;
/** Where strings are encoded (most fit; a longer one gets a buffer of its own). */
const vScratch = new Uint8Array(1 << 16);

/** Sets vType and the value's fields; throws a coded error for what cannot be stored. */
function prepareValue(value: unknown, caller: Function): void {
  switch (typeof value) {
    case 'undefined': vType = T_UNDEFINED; vBytes = NO_BYTES; return;
    case 'boolean': vType = T_BOOL; vNum = value ? 1 : 0; vBytes = NO_BYTES; return;
    case 'number': vType = T_NUMBER; vNum = value; vBytes = NO_BYTES; return;
    case 'bigint':
      if (BigInt.asIntN(64, value) === value) {
        vType = T_BIGINT;
        vBig = value;
        vBytes = NO_BYTES;
        return;
      }
      break; // beyond 64 bits: structured
    case 'string':
      if (value.isWellFormed()) {
        vType = T_STRING;
        if (value.length * 3 <= vScratch.length) vBytes = vScratch.subarray(0, encoder.encodeInto(value, vScratch).written);
        else vBytes = encoder.encode(value);
        return;
      }
      break; // a lone surrogate survives only v8.serialize
    case 'object':
      if (value === null) {
        vType = T_NULL;
        vBytes = NO_BYTES;
        return;
      }
      if (value instanceof Uint8Array && (value.constructor === Uint8Array || Buffer.isBuffer(value))) {
        vType = T_BYTES;
        vBytes = value;
        return;
      }
      break;
    default:
      break;
  }
  try {
    vBytes = serialize(value);
  } catch (error) {
    throw Object.assign(invalidArgValue('value', value, `cannot be stored: ${(error as Error).message}`, caller), { cause: error });
  }
  vType = T_STRUCTURED;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const ABSENT = Symbol('absent');
const TORN = Symbol('torn'); // bytes a reader cannot take: a writer's change, or a peer's damage
/** A structured value's bytes, copied inside the epoch, decoded after it. */
class Structured {
  constructor(readonly bytes: Uint8Array) {}
}

const nap = new Int32Array(new SharedArrayBuffer(4));
/** How long a reader waits behind a writer that is rewriting memory before ERR_SHMKIT_TIMEOUT. */
const FLUX_MS = 1000;

/** Options of {@link SharedMap.create}. */
export interface SharedMapOptions extends CreateTyped {
  /** The most entries at once (default 4096, at most 2^22). The index is sized for it at create. */
  maxEntries?: number | undefined;
  /** The bytes entries may take at most (default 16 MiB, at most 2^31 − 64), reserved as they are used. */
  maxBytes?: number | undefined;
  /** What a full map does: `'none'` (default) throws `ERR_SHMKIT_FULL`; `'lru'` evicts an entry not read lately (CLOCK). */
  eviction?: 'none' | 'lru' | undefined;
}

/** Options of {@link SharedMap.open}. */
export interface SharedMapOpenOptions {
  /** Map the segment read-only: `get` and the iterators work, every write throws `ERR_SHMKIT_READ_ONLY`. */
  readOnly?: boolean | undefined;
}

/** Options of {@link SharedMap.set}. */
export interface SharedMapSetOptions {
  /** Milliseconds after which the entry is gone (a positive number). */
  ttl?: number | undefined;
}

/** A value a SharedMap holds: primitives, bytes, and anything structured clone takes. */
export type SharedMapValue = unknown;

function fullError(what: string, caller: Function): CodedError {
  return shmkitError(`The map is full: ${what}`, 'ERR_SHMKIT_FULL', caller);
}

/**
 * A hash map in shared memory that every process and thread that opens it reads and
 * writes: `get` never takes a lock and never returns a torn value; writers take the map's
 * Lock, and one killed at any point leaves the map whole for the next (docs/api.md).
 */
export class SharedMap extends SharedObject implements Iterable<[string, SharedMapValue]> {
  readonly #readOnly: boolean;
  readonly #lock: Lock | undefined;
  readonly #u8: Uint8Array;
  readonly #w: Int32Array;
  readonly #f64: Float64Array;
  readonly #i64: BigInt64Array;
  readonly #slots: number;
  readonly #arena: number; // payload byte offset of the arena
  readonly #arenaBytes: number;
  readonly #maxEntries: number;
  readonly #lru: boolean;
  readonly #access: number; // payload byte offset of the two access arrays
  #shm: SharedMemory;
  /** The slot #find stopped at: the key's, or where it would go (-1: nowhere); and in which table. */
  #slot = -1;
  #slotTable = 0;
  #slotWasTomb = false;
  /** Writer calls under way on this handle (update's fn may call close(), which then waits for them). */
  #busy = 0;
  #closePending = false;
  /** Whether this writer call has repaired the map already (a second repair would not help). */
  #recovered = false;

  private constructor(token: symbol, shm: SharedMemory, payload: ArrayBuffer, caller: Function) {
    super(token, shm, true, new Int32Array(payload, 0, CONTROL / 4));
    this.#shm = shm;
    this.#readOnly = shm.readOnly;
    this.#u8 = new Uint8Array(payload);
    this.#w = new Int32Array(payload);
    this.#f64 = new Float64Array(payload);
    this.#i64 = new BigInt64Array(payload);
    const w = this.#w;
    // Fixed at create; checked here once, and what follows trusts only these copies.
    const slots = w[SLOTS]!, arenaBytes = w[ARENA_BYTES]!, maxEntries = w[MAX_ENTRIES]!;
    const arena = arenaAt(slots);
    if (!(slots >= 2 && (slots & (slots - 1)) === 0 && slots <= 2 ** 23) || !(maxEntries >= 1 && maxEntries <= slots / 2)
      || !(arenaBytes >= 0 && arenaBytes % 8 === 0 && arena + arenaBytes === payload.byteLength) || (w[EVICTION]! >>> 0) > 1) {
      throw corruptError(`SharedMap '${shm.name}'`, `its sizes (slots ${slots}, maxEntries ${maxEntries}, maxBytes ${arenaBytes}) do not fit its ${payload.byteLength}-byte payload`, caller);
    }
    this.#slots = slots;
    this.#arena = arena;
    this.#access = accessAt(slots);
    this.#arenaBytes = arenaBytes;
    this.#maxEntries = maxEntries;
    this.#lru = w[EVICTION] === 1;
    this.#lock = this.#readOnly ? undefined : Lock.within(shm, new Int32Array(payload, LOCK * 4, 2));
  }

  /** Creates a named map. `EEXIST` if the name is taken. */
  static create(options?: SharedMapOptions): SharedMap {
    const opts = validateOptions(options ?? {}, 'options', SharedMap.create);
    const maxEntries = opts.maxEntries === undefined ? 4096 : validateInteger(opts.maxEntries, 'options.maxEntries', 1, 2 ** 22, SharedMap.create);
    const asked = opts.maxBytes === undefined ? 16 * 2 ** 20 : validateInteger(opts.maxBytes, 'options.maxBytes', 64, MAX_ARENA, SharedMap.create);
    const maxBytes = asked - (asked % 8);
    if (opts.eviction !== undefined && opts.eviction !== 'none' && opts.eviction !== 'lru') {
      throw invalidArgValue('options.eviction', opts.eviction, "must be 'none' or 'lru'", SharedMap.create);
    }
    const slots = 2 ** Math.ceil(Math.log2(2 * maxEntries));
    const index = arenaAt(slots);
    const payloadLength = index + maxBytes;
    const shm = createTyped(opts, { kind: 'SharedMap', payloadLength, elementType: 0, elementCount: maxEntries }, (payload) => {
      const w = new Int32Array(payload, 0, CONTROL / 4);
      w[SLOTS] = slots;
      w[MAX_ENTRIES] = maxEntries;
      w[ARENA_BYTES] = maxBytes;
      w[EVICTION] = opts.eviction === 'lru' ? 1 : 0;
    }, index); // the control, the index and the access arrays reserved now; the arena as it is used
    return built(shm, () => new SharedMap(CONSTRUCT, shm, payloadView(shm, payloadLength), SharedMap.create));
  }

  /** Opens a named map. `ENOENT` if absent, `ERR_SHMKIT_KIND` if the name is another kind of object. */
  static open(name: string, options?: SharedMapOpenOptions): SharedMap {
    const opts = validateOptions(options ?? {}, 'options', SharedMap.open);
    const readOnly = validateBoolean(opts.readOnly, 'options.readOnly', SharedMap.open);
    const { shm, header } = openTyped(name, 'SharedMap', SharedMap.open, readOnly);
    try {
      if (header.payloadLength < CONTROL || header.payloadLength % 8 !== 0) {
        throw corruptError(`SharedMap '${shm.name}'`, `its payload of ${header.payloadLength} bytes cannot hold its control words`, SharedMap.open);
      }
      return new SharedMap(CONSTRUCT, shm, payloadView(shm, header.payloadLength), SharedMap.open);
    } catch (error) {
      shm.close();
      throw error;
    }
  }

  /** Whether this handle maps the segment read-only. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** The most entries the map holds. */
  get maxEntries(): number {
    return this.#maxEntries;
  }

  /** The bytes its entries may take. */
  get maxBytes(): number {
    return this.#arenaBytes;
  }

  /** Bytes the entries take now (their blocks, heads included). */
  get bytesUsed(): number {
    this.openWords(bytesUsedGetter);
    return Math.max(0, Atomics.load(this.#w, USED));
  }

  /** How many entries there are (those whose `ttl` has passed not counted). */
  get size(): number {
    const w = this.openWords(sizeGetter);
    if (Atomics.load(w, TTLS) === 0) return Math.max(0, Atomics.load(this.#w, COUNT));
    let n = 0;
    this.#scan(sizeGetter, () => { n = 0; }, () => { n++; });
    return n;
  }

  /** Whether {@link close} has been called (one called inside update's fn counts at once). */
  override get closed(): boolean {
    return this.#closePending || super.closed;
  }

  /** Unmaps the map. Inside update's fn, it takes effect when the update ends, after its lock is let go. */
  override close(): void {
    if (this.#busy > 0) {
      this.#closePending = true;
      return;
    }
    this.#lock?.close();
    super.close();
  }

  // ---------------------------------------------------------------- reads

  /** The value of `key`, or undefined if there is none. Never waits for a writer except one rewriting memory, for microseconds. */
  get(key: string): SharedMapValue {
    const h = hashKey(key, this.get);
    return this.#read(h, key, this.get, true);
  }

  /** Whether `key` has a value. */
  has(key: string): boolean {
    const h = hashKey(key, this.has);
    return this.#read(h, key, this.has, false) !== ABSENT;
  }

  /** A reader's look-up: retried until no memory it read was rewritten meanwhile. */
  #read(h: number, key: string, caller: Function, wantValue: boolean): unknown {
    this.checkOpen(caller);
    const w = this.#w;
    let repaired = false;
    for (let tries = 0, since = 0; ; tries++) {
      const e = Atomics.load(w, EPOCH);
      if ((e & 1) === 0) {
        const a = this.#find(h, key);
        let out: unknown = a === -2 ? TORN : ABSENT;
        if (a >= 0) {
          out = this.#value(a, wantValue);
          if (this.#lru && !this.#readOnly && out !== ABSENT) {
            // Beside the index, never in the arena: written only when it was 0.
            const at = this.#accessOf(this.#slotTable) + this.#slot;
            if (this.#u8[at] === 0) this.#u8[at] = 1;
          }
        }
        if (Atomics.load(w, EPOCH) === e) {
          if (out === TORN && !repaired && this.#tryRepair(() => true)) {
            // Damage (a peer's): a handle that can write, and finds the writers' lock free,
            // repairs it as a writer would, and looks again.
            repaired = true;
            continue;
          }
          if (out === TORN) throw this.#corrupt('an entry that the index points to is not one', caller);
          if (out === ABSENT) return wantValue ? undefined : ABSENT;
          return out instanceof Structured ? this.#decode(out.bytes, caller) : out;
        }
      }
      since = this.#flux(tries, since, caller);
    }
  }

  /**
   * A repair now if `needed()`, when this handle can write and the writers' lock is free
   * (a reader never waits for it; tryAcquire takes over a dead owner's); whether it had
   * the lock.
   */
  #tryRepair(needed: () => boolean): boolean {
    const lock = this.#lock;
    if (lock === undefined || this.#busy > 0 || !lock.tryAcquire()) return false;
    try {
      if (needed()) this.#recover();
    } finally {
      lock.release();
    }
    return true;
  }

  /** Between a reader's tries: spin a little, then sleep; repair after a writer that died; give up after FLUX_MS. */
  #flux(tries: number, since: number, caller: Function): number {
    if (tries < 64) return since;
    const now = performance.now();
    if (since === 0) return now;
    // The writer is gone (its lock taken over) or done: repair if it left the map mid-change.
    if (tries % 16 === 0) {
      this.#tryRepair(() => this.#lock!.ownerDied || Atomics.load(this.#w, DIRTY) !== 0 || (Atomics.load(this.#w, EPOCH) & 1) !== 0);
    }
    if (now - since > FLUX_MS) {
      throw shmkitError(`SharedMap '${this.name}': a writer has been rewriting the map for over ${FLUX_MS} ms (paused, or dead on a read-only handle that cannot repair it)`, 'ERR_SHMKIT_TIMEOUT', caller);
    }
    Atomics.wait(nap, 0, 0, 1);
    return since;
  }

  /**
   * The arena offset of the key's entry in the current table (hashKey prepared it), or
   * -1 if absent, or -2 if the index points at something that is not an entry. Sets
   * #slot to the key's slot or where it would go (the first tombstone on the way).
   */
  #find(h: number, key: string): number {
    const w = this.#w, u8 = this.#u8, n = this.#slots, mask = n - 1;
    const table = w[TABLE]! & 1;
    const base = (CONTROL >> 2) + table * 2 * n;
    this.#slotTable = table;
    let tomb = -1;
    for (let step = 0, i = h & mask; step < n; step++, i = (i + 1) & mask) {
      const ref = w[base + 2 * i + 1]!;
      if (ref === EMPTY) {
        this.#slotWasTomb = tomb >= 0;
        this.#slot = tomb >= 0 ? tomb : i;
        return -1;
      }
      if (ref === TOMB) {
        if (tomb < 0) tomb = i;
        continue;
      }
      if (w[base + 2 * i] !== h) continue;
      const a = ref - 8;
      if (!this.#sane(a)) return -2;
      const at = this.#arena + a;
      if ((w[(at + E_META) >> 2]! & 0xffff) !== kLen) continue;
      let same = true;
      const k0 = at + E_KEY;
      if (kAscii) {
        for (let k = 0; k < kLen; k++) if (u8[k0 + k] !== key.charCodeAt(k)) { same = false; break; }
      } else {
        for (let k = 0; k < kLen; k++) if (u8[k0 + k] !== kBytes[k]) { same = false; break; }
      }
      if (same) {
        this.#slot = i;
        return a;
      }
    }
    this.#slotWasTomb = tomb >= 0;
    this.#slot = tomb;
    return -1;
  }

  /** The payload byte offset of table `table`'s access bytes (one per slot). */
  #accessOf(table: number): number {
    return this.#access + table * this.#slots;
  }

  /** Whether arena offset `a` can hold an entry: inside what is reserved, its sizes consistent. */
  #sane(a: number): boolean {
    if (a < 0 || a % 8 !== 0) return false;
    const reserved = Math.min(Atomics.load(this.#w, RESERVED), this.#arenaBytes);
    if (a + E_KEY > reserved) return false;
    const at = this.#arena + a;
    const size = this.#w[(at + E_SIZE) >> 2]!;
    const meta = this.#w[(at + E_META) >> 2]!;
    const vlen = this.#w[(at + E_VLEN) >> 2]!;
    return isClassSize(size) && a + size <= reserved && ((meta >>> 16) & 0xff) <= T_STRUCTURED
      && vlen >= 0 && E_KEY + (meta & 0xffff) + vlen <= size;
  }

  /** Entry a's value as read now (ABSENT once expired; TORN if it cannot be decoded); `wanted` false: only whether it is there. */
  #value(a: number, wanted: boolean): unknown {
    const at = this.#arena + a;
    const expires = this.#f64[(at + E_EXPIRES) >> 3]!;
    if (expires !== 0 && Date.now() >= expires) return ABSENT;
    if (!wanted) return true;
    const meta = this.#w[(at + E_META) >> 2]!;
    const type = (meta >>> 16) & 0xff;
    switch (type) {
      case T_NUMBER: return this.#f64[(at + E_NUM) >> 3]!;
      case T_BIGINT: return Atomics.load(this.#i64, (at + E_NUM) >> 3);
      case T_BOOL: return this.#u8[at + E_NUM] !== 0;
      case T_NULL: return null;
      case T_UNDEFINED: return undefined;
      default: break;
    }
    const start = at + E_KEY + (meta & 0xffff);
    const end = start + this.#w[(at + E_VLEN) >> 2]!;
    if (type === T_BYTES) return this.#u8.slice(start, end);
    if (type === T_STRUCTURED) return new Structured(this.#u8.slice(start, end));
    try {
      return decodeUtf8(this.#u8, start, end);
    } catch {
      return TORN;
    }
  }

  /** hashKey's hash of the key of the entry at payload byte `at`, from its bytes (the call's key scratch untouched). */
  #hashAt(at: number): number {
    let h = 0x811c9dc5;
    const end = at + E_KEY + (this.#w[(at + E_META) >> 2]! & 0xffff);
    for (let k = at + E_KEY; k < end; k++) h = Math.imul(h ^ this.#u8[k]!, 0x01000193);
    return h;
  }

  /** The key of the entry at payload byte `at`. */
  #keyOf(at: number): string {
    return decodeUtf8(this.#u8, at + E_KEY, at + E_KEY + (this.#w[(at + E_META) >> 2]! & 0xffff));
  }

  /**
   * Visits every live entry of the current table in one pass that no rewrite overlapped
   * (`start` runs before each try); after a few tries it holds the writers' lock instead.
   */
  #scan(caller: Function, start: () => void, visit: (at: number) => void): void {
    this.checkOpen(caller);
    const w = this.#w, n = this.#slots;
    const pass = (): boolean => {
      start();
      const base = (CONTROL >> 2) + (w[TABLE]! & 1) * 2 * n;
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        const ref = w[base + 2 * i + 1]!;
        if (ref === EMPTY || ref === TOMB) continue;
        const a = ref - 8;
        if (!this.#sane(a)) return false;
        const at = this.#arena + a;
        const expires = this.#f64[(at + E_EXPIRES) >> 3]!;
        if (expires !== 0 && now >= expires) continue;
        visit(at);
      }
      return true;
    };
    // A few passes without the lock; then a handle that can write holds writers off, and
    // a read-only one waits for a pass that no rewrite overlaps, as #read does.
    for (let tries = 0, since = 0; this.#lock === undefined || tries < 8; tries++) {
      const e = Atomics.load(w, EPOCH);
      if ((e & 1) === 0) {
        let ok: boolean | undefined;
        try {
          ok = pass();
        } catch (error) {
          if (Atomics.load(w, EPOCH) === e) throw error;
        }
        if (ok !== undefined && Atomics.load(w, EPOCH) === e) {
          if (!ok) throw this.#corrupt('an entry that the index points to is not one', caller);
          return;
        }
      }
      if (this.#lock === undefined) since = this.#flux(tries, since, caller);
    }
    this.#exclusive(caller, () => {
      if (!pass()) throw this.#corrupt('an entry that the index points to is not one', caller);
    });
  }

  /** A snapshot of every entry, taken at the call. */
  #snapshot(caller: Function): [string, SharedMapValue][] {
    let out: [string, unknown][] = [];
    this.#scan(caller, () => { out = []; }, (at) => {
      const v = this.#value(at - this.#arena, true);
      if (v === TORN) throw this.#corrupt('an entry holds bytes that are not its type', caller);
      if (v !== ABSENT) out.push([this.#keyOf(at), v]);
    });
    for (const e of out) if (e[1] instanceof Structured) e[1] = this.#decode(e[1].bytes, caller);
    return out;
  }

  /** The entries as [key, value] pairs: a snapshot taken when called. */
  entries(): IterableIterator<[string, SharedMapValue]> {
    return this.#snapshot(this.entries)[Symbol.iterator]();
  }

  /** The keys: a snapshot taken when called. */
  keys(): IterableIterator<string> {
    const keys: string[] = [];
    this.#scan(this.keys, () => { keys.length = 0; }, (at) => { keys.push(this.#keyOf(at)); });
    return keys[Symbol.iterator]();
  }

  /** The values: a snapshot taken when called. */
  values(): IterableIterator<SharedMapValue> {
    return this.#snapshot(this.values).map((e) => e[1])[Symbol.iterator]();
  }

  [Symbol.iterator](): IterableIterator<[string, SharedMapValue]> {
    return this.#snapshot(this.entries)[Symbol.iterator]();
  }

  /** Calls `fn(value, key, map)` for each entry of a snapshot, as Map.prototype.forEach. */
  forEach(fn: (value: SharedMapValue, key: string, map: SharedMap) => void, thisArg?: unknown): void {
    if (typeof fn !== 'function') throw invalidArgType('callback', 'of type function', fn, this.forEach);
    for (const [k, v] of this.#snapshot(this.forEach)) fn.call(thisArg, v, k, this);
  }

  // ---------------------------------------------------------------- writes

  /** Stores `value` under `key` (replacing any); returns the map. `ERR_SHMKIT_FULL` if it does not fit. */
  set(key: string, value: SharedMapValue, options?: SharedMapSetOptions): this {
    // The key last: a getter that expiry() or v8.serialize runs may use a map, which
    // would overwrite the key's scratch.
    const expires = expiry(options, this.set);
    prepareValue(value, this.set);
    const h = hashKey(key, this.set);
    this.#exclusive(this.set, () => this.#store(h, key, expires, false, this.set));
    return this;
  }

  /** Stores `value` only if `key` has none; returns whether it did. */
  setIfAbsent(key: string, value: SharedMapValue, options?: SharedMapSetOptions): boolean {
    const expires = expiry(options, this.setIfAbsent);
    prepareValue(value, this.setIfAbsent);
    const h = hashKey(key, this.setIfAbsent); // last, as in set
    return this.#exclusive(this.setIfAbsent, () => this.#store(h, key, expires, true, this.setIfAbsent));
  }

  /**
   * Adds `delta` to the number (or bigint) under `key`, a missing key counting as 0;
   * returns the new value. The entry keeps its ttl. A number and a bigint do not mix
   * (`ERR_INVALID_ARG_TYPE`), nor does a value of any other type.
   */
  add(key: string, delta: number | bigint = 1): number | bigint {
    const h = hashKey(key, this.add);
    if (typeof delta !== 'number' && typeof delta !== 'bigint') throw invalidArgType('delta', 'of type number or bigint', delta, this.add);
    return this.#exclusive(this.add, () => {
      const a = this.#writerFind(h, key, this.add);
      const old = a >= 0 ? this.#value(a, true) : ABSENT;
      const base = old === ABSENT ? (typeof delta === 'bigint' ? 0n : 0) : old;
      if (typeof base !== typeof delta) {
        throw invalidArgType('delta', `of type ${typeof base} (the type of the value under '${key}')`, delta, this.add);
      }
      const next = typeof delta === 'bigint' ? BigInt.asIntN(64, (base as bigint) + delta) : (base as number) + delta;
      prepareValue(next, this.add);
      const at = this.#arena + a;
      this.#store(h, key, a >= 0 && old !== ABSENT ? this.#f64[(at + E_EXPIRES) >> 3]! : 0, false, this.add);
      return next;
    });
  }

  /**
   * Replaces the value under `key` with `fn(old)` (old is undefined if there is none),
   * under the map's exclusion: no other writer runs between the read and the write.
   * Returns the new value. `fn` must not write to the map (ERR_SHMKIT_DEADLOCK); a `close()` in
   * it takes effect when the update ends (as libuv's `uv_close` from a callback); if it throws,
   * nothing changes. The entry keeps its ttl.
   */
  update(key: string, fn: (old: SharedMapValue) => SharedMapValue): SharedMapValue {
    const h = hashKey(key, this.update);
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn, this.update);
    return this.#exclusive(this.update, () => {
      const a = this.#writerFind(h, key, this.update);
      let old = a >= 0 ? this.#value(a, true) : ABSENT;
      const expires = old !== ABSENT ? this.#f64[(this.#arena + a + E_EXPIRES) >> 3]! : 0;
      if (old instanceof Structured) old = this.#decode(old.bytes, this.update);
      const next = fn(old === ABSENT ? undefined : old);
      prepareValue(next, this.update);
      hashKey(key, this.update); // fn may have used another map: the key's scratch again
      this.#store(h, key, expires, false, this.update);
      return next;
    });
  }

  /**
   * Stores `value` if the current value equals `expected` (numbers, bigints, strings,
   * booleans, null and undefined by value, a number equal to a bigint; bytes by content;
   * other values by their structured-clone bytes). A missing key equals nothing. Returns
   * whether it stored. The entry keeps its ttl.
   */
  compareAndSet(key: string, expected: SharedMapValue, value: SharedMapValue): boolean {
    prepareValue(expected, this.compareAndSet);
    const want = { type: vType, num: vNum, big: vBig, bytes: vBytes === NO_BYTES ? vBytes : vBytes.slice() }; // the next prepareValue reuses the scratch
    prepareValue(value, this.compareAndSet);
    const h = hashKey(key, this.compareAndSet); // last, as in set
    return this.#exclusive(this.compareAndSet, () => {
      const a = this.#writerFind(h, key, this.compareAndSet);
      if (a < 0) return false;
      const old = this.#value(a, true);
      if (old === ABSENT) return false;
      let equal: boolean;
      if (old instanceof Structured) equal = want.type === T_STRUCTURED && sameBytes(old.bytes, want.bytes);
      else if (old instanceof Uint8Array) equal = want.type === T_BYTES && sameBytes(old, want.bytes);
      else if (typeof old === 'string') equal = want.type === T_STRING && sameBytes(encoder.encode(old), want.bytes);
      else {
        const w = want.type === T_NUMBER ? want.num : want.type === T_BIGINT ? want.big : want.type === T_BOOL ? want.num === 1
          : want.type === T_NULL ? null : want.type === T_UNDEFINED ? undefined : ABSENT;
        const mixed = typeof old !== typeof w && (typeof old === 'bigint' || typeof w === 'bigint');
        equal = old === w || Object.is(old, w) || (mixed && old == w); // eslint-disable-line eqeqeq
      }
      if (!equal) return false;
      this.#store(h, key, this.#f64[(this.#arena + a + E_EXPIRES) >> 3]!, false, this.compareAndSet);
      return true;
    });
  }

  /** Removes `key`; returns whether it had a value. */
  delete(key: string): boolean {
    const h = hashKey(key, this.delete);
    return this.#exclusive(this.delete, () => {
      const a = this.#writerFind(h, key, this.delete);
      if (a < 0) return false;
      const live = this.#value(a, false) !== ABSENT;
      this.#begin();
      this.#remove(this.#slot, a);
      this.#maybeRebuild();
      return live;
    });
  }

  /** Removes every entry. */
  clear(): void {
    this.#exclusive(this.clear, () => {
      this.#begin();
      const w = this.#w;
      Atomics.add(w, EPOCH, 1); // odd: every block goes back to the arena
      const base = (CONTROL >> 2) + (w[TABLE]! & 1) * 2 * this.#slots;
      w.fill(0, base, base + 2 * this.#slots);
      this.#u8.fill(0, this.#access, this.#access + 2 * this.#slots);
      w.fill(0, FREE, FREE + NCLASS);
      w[TOP] = 0;
      w[USED] = 0;
      w[COUNT] = 0;
      w[TOMBS] = 0;
      w[TTLS] = 0;
      w[HAND] = 0;
      Atomics.add(w, EPOCH, 1);
    });
  }

  /**
   * Checks the map's invariants (docs/memory-layout.md, SharedMap) and returns what is
   * wrong, an empty array for a sound map. It holds the writers' lock, so a map that a
   * writer left mid-change is first repaired, as the next writer would; and a map found
   * wrong (a peer's damage) is repaired after: entries that fail a check are dropped.
   */
  check(): string[] {
    return this.#exclusive(this.check, () => {
      const problems = this.#problems();
      if (problems.length > 0) this.#recover();
      return problems;
    });
  }

  /** The writers' lock held around `fn`, and a map left mid-change repaired first. */
  #exclusive<T>(caller: Function, fn: () => T): T {
    this.checkOpen(caller);
    const lock = this.#lock;
    if (lock === undefined) {
      throw shmkitError(`SharedMap '${this.name}' is open read-only`, 'ERR_SHMKIT_READ_ONLY', caller, TypeError);
    }
    lock.acquire();
    const w = this.#w;
    this.#busy++;
    this.#recovered = false;
    try {
      if (lock.ownerDied || w[DIRTY] !== 0 || (w[EPOCH]! & 1) !== 0) this.#recover();
      const out = fn();
      // Reached only when fn ended well. An error before fn's first change (#begin) left
      // the map clean; one after it (a bug, or memory a peer damaged) leaves it marked
      // dirty, and the next writer rebuilds it.
      w[DIRTY] = 0;
      return out;
    } finally {
      lock.release();
      if (--this.#busy === 0 && this.#closePending) {
        this.#closePending = false;
        this.close();
      }
    }
  }

  /** Marks the map mid-change: from here to the writer's last store. */
  #begin(): void {
    this.#w[DIRTY] = 1;
  }

  /** A writer's #find: an index entry that is not an entry gets the map repaired, then looked up again. */
  #writerFind(h: number, key: string, caller: Function): number {
    let a = this.#find(h, key);
    if (a === -2) {
      this.#recover();
      a = this.#find(h, key);
      if (a === -2) throw this.#corrupt('its index stays inconsistent after a repair', caller);
    }
    return a;
  }

  /**
   * The write of the prepared value (vType…) under key h/key: in place when the old one is
   * a fixed-size value of the same type, else as a new entry. With `ifAbsent`, only
   * where there is no live value. Returns whether it stored.
   */
  #store(h: number, key: string, expires: number, ifAbsent: boolean, caller: Function): boolean {
    const w = this.#w;
    let a = this.#writerFind(h, key, caller);
    if (a >= 0) {
      const live = this.#value(a, false) !== ABSENT;
      if (ifAbsent && live) return false;
      const at = this.#arena + a;
      const type = (w[(at + E_META) >> 2]! >>> 16) & 0xff;
      if (live && type === vType && fixed(type)) {
        this.#begin();
        this.#writeFixed(at);
        this.#setExpiry(at, expires);
        return true;
      }
    }
    const need = E_KEY + kLen + vBytes.length;
    if (classSize(need) > this.#arenaBytes) throw fullError(`an entry of ${need} bytes does not fit its ${this.#arenaBytes} bytes (maxBytes)`, caller);
    if (a < 0 && Atomics.load(w, COUNT) >= this.#maxEntries) {
      this.#makeRoom(() => Atomics.load(w, COUNT) < this.#maxEntries, `${this.#maxEntries} entries (maxEntries)`, caller);
      a = this.#writerFind(h, key, caller);
    }
    const fresh = this.#alloc(classSize(need), caller);
    if (fresh === undefined) throw fullError(`no room for ${classSize(need)} more bytes in its ${this.#arenaBytes} (maxBytes; ${w[USED]} in entries)`, caller);
    // Room may have been made by evicting: the key's slot is looked up again. (Not with
    // #writerFind: a repair now would count the block just taken as free.)
    a = this.#find(h, key);
    if (a === -2) {
      this.#recover();
      throw this.#corrupt('its index changed under this writer (repaired; try again)', caller);
    }
    const [b, reused] = fresh;
    this.#begin();
    if (reused) Atomics.add(w, EPOCH, 1);
    this.#writeEntry(b, expires);
    if (reused) Atomics.add(w, EPOCH, 1);
    const table = w[TABLE]! & 1;
    const base = (CONTROL >> 2) + table * 2 * this.#slots;
    const size = w[(this.#arena + b) >> 2]!;
    if (a >= 0) {
      const at = this.#arena + a;
      const hadTtl = this.#f64[(at + E_EXPIRES) >> 3]! !== 0;
      Atomics.store(w, base + 2 * this.#slot + 1, b + 8); // the swap: readers see the old entry or the new
      w[TTLS] = w[TTLS]! - (hadTtl ? 1 : 0) + (expires !== 0 ? 1 : 0);
      w[USED] = w[USED]! + size;
      this.#free(a);
    } else {
      const i = this.#slot;
      if (i < 0) throw this.#corrupt('its index has no free slot', caller);
      w[base + 2 * i] = h;
      this.#u8[this.#accessOf(table) + i] = 0; // not yet read: the first the CLOCK hand may take
      Atomics.store(w, base + 2 * i + 1, b + 8);
      if (this.#slotWasTomb) w[TOMBS] = w[TOMBS]! - 1;
      w[COUNT] = w[COUNT]! + 1;
      w[USED] = w[USED]! + size;
      if (expires !== 0) w[TTLS] = w[TTLS]! + 1;
    }
    this.#maybeRebuild();
    return true;
  }

  /** The prepared fixed-size value into the 8-byte field of the entry at `at`: one store. */
  #writeFixed(at: number): void {
    if (vType === T_NUMBER) this.#f64[(at + E_NUM) >> 3] = vNum;
    else if (vType === T_BIGINT) Atomics.store(this.#i64, (at + E_NUM) >> 3, vBig);
    else if (vType === T_BOOL) this.#u8[at + E_NUM] = vNum;
  }

  #setExpiry(at: number, expires: number): void {
    const w = this.#w;
    const had = this.#f64[(at + E_EXPIRES) >> 3]! !== 0;
    if (had !== (expires !== 0)) w[TTLS] = w[TTLS]! + (had ? -1 : 1);
    this.#f64[(at + E_EXPIRES) >> 3] = expires;
  }

  /** A whole new entry (the prepared key and value) into block b, which nobody can find yet. */
  #writeEntry(b: number, expires: number): void {
    const at = this.#arena + b, w = this.#w, u8 = this.#u8;
    w[(at + E_LINK) >> 2] = 0;
    this.#f64[(at + E_EXPIRES) >> 3] = expires;
    w[(at + E_META) >> 2] = kLen | (vType << 16);
    w[(at + E_VLEN) >> 2] = vBytes.length;
    this.#f64[(at + E_NUM) >> 3] = 0;
    this.#writeFixed(at);
    const k0 = at + E_KEY;
    if (kAscii) {
      const key = kString;
      for (let k = 0; k < kLen; k++) u8[k0 + k] = key.charCodeAt(k);
    } else u8.set(kBytes.subarray(0, kLen), k0);
    if (vBytes.length > 0) u8.set(vBytes, k0 + kLen);
  }

  /** A block of class size `size`: [arena offset, reused] (reused: a stale reader may hold it), or undefined if there is no room. */
  #alloc(size: number, caller: Function): [number, boolean] | undefined {
    for (;;) {
      const got = this.#take(size, caller);
      if (got !== undefined) return got;
      if (!this.#makeRoom(() => false, '', caller, true)) return undefined;
    }
  }

  /** From the class's free list, the bump pointer, or a larger class's free list. */
  #take(size: number, caller: Function): [number, boolean] | undefined {
    const w = this.#w;
    const k = classIndex(size);
    if (w[COUNT] === 0 && w[TOP] !== 0) {
      // Nothing lives in the arena: its free blocks, of whatever sizes, become one free
      // arena again (the only compaction there is; docs/api.md).
      this.#begin();
      Atomics.add(w, EPOCH, 1);
      w.fill(0, FREE, FREE + NCLASS);
      w[TOP] = 0;
      Atomics.add(w, EPOCH, 1);
    }
    const head = w[FREE + k]!;
    if (head !== 0) {
      const a = this.#pop(k, head, caller);
      if (a >= 0) return [a, true];
      return this.#take(size, caller); // repaired: the lists are rebuilt
    }
    let top = w[TOP]!;
    if (!(top >= 0 && top <= this.#arenaBytes && top % 8 === 0)) {
      this.#recover(); // a top a peer wrote: rebuilt from the entries
      top = w[TOP]!;
    }
    if (top + size <= this.#arenaBytes) {
      this.#reserveTo(top + size);
      this.#begin();
      w[TOP] = top + size;
      w[(this.#arena + top + E_SIZE) >> 2] = size;
      return [top, false];
    }
    for (let j = k + 1; j < NCLASS; j++) {
      const hj = w[FREE + j]!;
      if (hj === 0) continue;
      // A larger free block, split: its tail goes back as free blocks. Freed memory, so
      // written inside an odd epoch.
      const a = this.#pop(j, hj, caller);
      if (a < 0) return this.#take(size, caller);
      Atomics.add(w, EPOCH, 1);
      this.#carve(a + size, a + w[(this.#arena + a) >> 2]!);
      w[(this.#arena + a) >> 2] = size;
      Atomics.add(w, EPOCH, 1);
      return [a, true];
    }
    return undefined;
  }

  /** The head block of free list k, taken off it; -1 if the list was damaged (then the map is repaired: take again). */
  #pop(k: number, head: number, caller: Function): number {
    const w = this.#w;
    const a = head - 8;
    const top = w[TOP]!;
    const size = a >= 0 && a % 8 === 0 && a + E_KEY <= top ? w[(this.#arena + a) >> 2]! : 0;
    const link = size !== 0 ? w[(this.#arena + a + E_LINK) >> 2]! : 0;
    // A free block has an odd link (docs/memory-layout.md); a block in use has 0, so a
    // list that a peer made lead to one (a cycle, say) is caught here, not handed out twice.
    if (!isClassSize(size) || classIndex(size) !== k || a + size > top || (link & 1) !== 1 || (link - 1) % 8 !== 0) {
      if (this.#recovered) throw this.#corrupt('a free list stays damaged after a repair', caller);
      this.#recover(); // a free list a peer damaged: rebuilt from the index
      return -1;
    }
    this.#begin();
    w[FREE + k] = link - 1;
    return a;
  }

  /** Makes the arena's first `end` bytes reserved (fallocate), in steps, before they are written. */
  #reserveTo(end: number): void {
    const w = this.#w;
    const reserved = Math.max(0, Math.min(w[RESERVED]!, this.#arenaBytes));
    if (end <= reserved) return;
    const to = Math.min(this.#arenaBytes, Math.max(end, Math.min(2 * reserved, reserved + 64 * RESERVE_STEP), reserved + RESERVE_STEP));
    const at = 64 + this.#arena + reserved; // the typed header, then the payload
    this.#shm.reserve(at, to - reserved); // ENOSPC here leaves the map as it was
    Atomics.store(w, RESERVED, to);
  }

  #free(a: number): void {
    const w = this.#w, at = this.#arena + a;
    const size = w[at >> 2]!;
    this.#push(a, size);
    w[USED] = w[USED]! - size;
  }

  /** Block a (of class size `size`) onto its free list: its link odd, the list's old head + 1. */
  #push(a: number, size: number): void {
    const w = this.#w, k = classIndex(size);
    w[(this.#arena + a + E_LINK) >> 2] = w[FREE + k]! + 1;
    w[FREE + k] = a + 8;
  }

  /** Removes the entry a at slot i of the current table. */
  #remove(i: number, a: number): void {
    const w = this.#w;
    const base = (CONTROL >> 2) + (w[TABLE]! & 1) * 2 * this.#slots;
    const at = this.#arena + a;
    Atomics.store(w, base + 2 * i + 1, TOMB);
    this.#u8[this.#accessOf(w[TABLE]! & 1) + i] = 0;
    w[TOMBS] = w[TOMBS]! + 1;
    w[COUNT] = w[COUNT]! - 1;
    if (this.#f64[(at + E_EXPIRES) >> 3]! !== 0) w[TTLS] = w[TTLS]! - 1;
    this.#free(a);
  }

  /**
   * Frees entries until `enough()`: expired ones first, then (with eviction) ones not
   * read since the CLOCK hand last passed. Returns whether it freed any; without any,
   * throws ERR_SHMKIT_FULL about `what` unless `quiet`.
   */
  #makeRoom(enough: () => boolean, what: string, caller: Function, quiet = false): boolean {
    const w = this.#w, n = this.#slots;
    let freed = 0;
    if (w[TTLS]! > 0) {
      const base = (CONTROL >> 2) + (w[TABLE]! & 1) * 2 * n;
      const now = Date.now();
      this.#begin();
      for (let i = 0; i < n; i++) {
        const ref = w[base + 2 * i + 1]!;
        if (ref === EMPTY || ref === TOMB || !this.#sane(ref - 8)) continue;
        const expires = this.#f64[(this.#arena + ref - 8 + E_EXPIRES) >> 3]!;
        if (expires !== 0 && now >= expires) {
          this.#remove(i, ref - 8);
          freed++;
        }
      }
    }
    if (this.#lru) {
      const table = w[TABLE]! & 1;
      const base = (CONTROL >> 2) + table * 2 * n;
      const access = this.#accessOf(table);
      this.#begin();
      // Two turns of the hand at most: the first clears every access byte it passes.
      for (let step = 0; step < 2 * n && !enough() && (freed === 0 || !quiet); step++) {
        const i = (w[HAND]! >>> 0) % n;
        w[HAND] = (i + 1) % n;
        const ref = w[base + 2 * i + 1]!;
        if (ref === EMPTY || ref === TOMB || !this.#sane(ref - 8)) continue;
        if (this.#u8[access + i] !== 0) {
          this.#u8[access + i] = 0;
          continue;
        }
        this.#remove(i, ref - 8);
        freed++;
      }
    }
    if (freed > 0) this.#maybeRebuild();
    if (freed === 0 && !quiet) throw fullError(what, caller);
    return freed > 0;
  }

  /** When tombstones make probes long: a new index in the other table, switched to in one store. */
  #maybeRebuild(): void {
    const w = this.#w;
    if (w[TOMBS]! + w[COUNT]! <= (this.#slots * 3) >> 2) return;
    this.#reindex(this.#liveEntries(false));
  }

  /** [hash, arena offset, access byte] of every entry in the current table; with `checked`, only entries that pass every check, once per key. */
  #liveEntries(checked: boolean): Live[] {
    const w = this.#w, n = this.#slots;
    const table = w[TABLE]! & 1;
    const base = (CONTROL >> 2) + table * 2 * n;
    const access = this.#accessOf(table);
    const out: Live[] = [];
    const keys = checked ? new Set<string>() : undefined;
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const ref = w[base + 2 * i + 1]!;
      if (ref === EMPTY || ref === TOMB) continue;
      const a = ref - 8;
      if (!this.#sane(a)) continue;
      const at = this.#arena + a;
      const expires = this.#f64[(at + E_EXPIRES) >> 3]!;
      if (checked) {
        let key: string;
        try {
          key = this.#keyOf(at);
        } catch {
          continue;
        }
        if (keys!.has(key) || this.#hashAt(at) !== w[base + 2 * i] || !(expires >= 0) || this.#value(a, true) === TORN) continue;
        keys!.add(key);
      } else if (expires !== 0 && now >= expires) {
        this.#remove(i, a);
        continue;
      }
      out.push([w[base + 2 * i]!, a, this.#u8[access + i]! & 1]);
    }
    return out;
  }

  /** Writes `entries` into the other table and makes it current. */
  #reindex(entries: Live[], odd = false): void {
    const w = this.#w, n = this.#slots, mask = n - 1;
    this.#begin();
    if (!odd) Atomics.add(w, EPOCH, 1); // odd: a stale reader may still be in the other table
    const next = (w[TABLE]! & 1) ^ 1;
    const base = (CONTROL >> 2) + next * 2 * n;
    const access = this.#accessOf(next);
    w.fill(0, base, base + 2 * n);
    this.#u8.fill(0, access, access + n);
    let ttls = 0;
    for (const [h, a, read] of entries) {
      let i = h & mask;
      while (w[base + 2 * i + 1] !== EMPTY) i = (i + 1) & mask;
      w[base + 2 * i] = h;
      w[base + 2 * i + 1] = a + 8;
      this.#u8[access + i] = read;
      if (this.#f64[(this.#arena + a + E_EXPIRES) >> 3]! !== 0) ttls++;
    }
    Atomics.store(w, TABLE, next);
    w[TOMBS] = 0;
    w[COUNT] = entries.length;
    w[TTLS] = ttls;
    w[HAND] = 0;
    Atomics.add(w, EPOCH, 1);
  }

  /**
   * The repair after a writer that died mid-change (or a peer's damage): the index's
   * entries are checked one by one, those that pass are indexed anew, and the allocator
   * is rebuilt around them (the gaps between them become free blocks).
   */
  #recover(): void {
    const w = this.#w;
    this.#recovered = true;
    this.#begin();
    if ((w[EPOCH]! & 1) === 0) Atomics.add(w, EPOCH, 1);
    const entries = this.#liveEntries(true).sort((x, y) => x[1] - y[1]);
    // Overlapping blocks: the later one goes.
    const kept: Live[] = [];
    let end = 0, used = 0;
    for (const e of entries) {
      if (e[1] < end || kept.length === this.#maxEntries) continue;
      kept.push(e);
      end = e[1] + w[(this.#arena + e[1]) >> 2]!;
      used += w[(this.#arena + e[1]) >> 2]!;
    }
    w.fill(0, FREE, FREE + NCLASS);
    w[USED] = 0;
    let at = 0;
    for (const [, a] of kept) {
      this.#carve(at, a);
      at = a + w[(this.#arena + a) >> 2]!;
    }
    w[TOP] = at;
    w[USED] = used;
    this.#reindex(kept, true); // and the epoch even again at its end
    w[DIRTY] = 0; // whole again
  }

  /** The gap [from, to) of the arena as free blocks of class sizes (a remainder under 32 bytes stays unused until clear). */
  #carve(from: number, to: number): void {
    const w = this.#w;
    let at = from;
    while (to - at >= 32) {
      let size = classSize(to - at);
      if (size > to - at) {
        // the largest class size that fits
        size = to - at;
        while (!isClassSize(size)) size -= 8;
      }
      w[(this.#arena + at) >> 2] = size;
      this.#push(at, size);
      at += size;
    }
  }

  /** What is wrong with the map (under the writers' lock, after any repair). */
  #problems(): string[] {
    const w = this.#w, n = this.#slots;
    const out: string[] = [];
    if (w[DIRTY] !== 0) out.push('marked mid-change');
    if ((w[EPOCH]! & 1) !== 0) out.push('epoch odd outside a change');
    const base = (CONTROL >> 2) + (w[TABLE]! & 1) * 2 * n;
    const top = w[TOP]!;
    if (!(top >= 0 && top <= this.#arenaBytes && top <= w[RESERVED]!)) out.push(`top ${top} outside the reserved ${w[RESERVED]} of ${this.#arenaBytes}`);
    const blocks: [number, number, string][] = [];
    const keys = new Set<string>();
    let count = 0, tombs = 0, ttls = 0, used = 0;
    for (let i = 0; i < n; i++) {
      const ref = w[base + 2 * i + 1]!;
      if (ref === EMPTY) continue;
      if (ref === TOMB) { tombs++; continue; }
      const a = ref - 8;
      if (!this.#sane(a)) { out.push(`slot ${i}: ref ${ref} is not an entry`); continue; }
      const at = this.#arena + a;
      let key: string;
      try {
        key = this.#keyOf(at);
      } catch {
        out.push(`slot ${i}: key is not UTF-8`);
        continue;
      }
      if (keys.has(key)) out.push(`key '${key}' indexed twice`);
      keys.add(key);
      if (this.#hashAt(at) !== w[base + 2 * i]) out.push(`slot ${i}: hash does not match key '${key}'`);
      // Reachable by probing from its home slot without crossing an empty slot.
      for (let j = w[base + 2 * i]! & (n - 1); j !== i; j = (j + 1) & (n - 1)) {
        if (w[base + 2 * j + 1] === EMPTY) { out.push(`key '${key}' is past an empty slot from its home`); break; }
      }
      const v = this.#value(a, true);
      if (v === TORN) out.push(`key '${key}': value is not of its type`);
      if (v instanceof Structured) {
        try { deserialize(v.bytes); } catch { out.push(`key '${key}': structured value does not decode`); }
      }
      count++;
      if (this.#f64[(at + E_EXPIRES) >> 3]! !== 0) ttls++;
      const size = w[at >> 2]!;
      used += size;
      if (a + size > top) out.push(`key '${key}': block beyond the top`);
      blocks.push([a, size, `entry '${key}'`]);
    }
    if (count !== w[COUNT]) out.push(`count ${w[COUNT]}, but ${count} entries indexed`);
    if (tombs !== w[TOMBS]) out.push(`tombstones ${w[TOMBS]}, but ${tombs} in the table`);
    if (ttls !== w[TTLS]) out.push(`ttl count ${w[TTLS]}, but ${ttls} entries with a ttl`);
    if (used !== w[USED]) out.push(`bytes used ${w[USED]}, but entries take ${used}`);
    if (count > this.#maxEntries) out.push(`${count} entries, over maxEntries ${this.#maxEntries}`);
    for (let k = 0; k < NCLASS; k++) {
      let steps = 0;
      for (let head = w[FREE + k]!; head !== 0;) {
        const a = head - 8;
        if (!(a >= 0 && a % 8 === 0 && a + 32 <= top) || ++steps > this.#arenaBytes / 32) { out.push(`free list ${k}: bad link ${head}`); break; }
        const size = w[(this.#arena + a) >> 2]!;
        if (!isClassSize(size) || classIndex(size) !== k || a + size > top) { out.push(`free list ${k}: block at ${a} has size ${size}`); break; }
        const link = w[(this.#arena + a + E_LINK) >> 2]!;
        if ((link & 1) !== 1) { out.push(`free list ${k}: block at ${a} is not marked free`); break; }
        blocks.push([a, size, `free block (class ${k})`]);
        head = link - 1;
      }
    }
    blocks.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < blocks.length; i++) {
      const [a, size, what] = blocks[i - 1]!;
      if (a + size > blocks[i]![0]) out.push(`${what} at ${a} overlaps ${blocks[i]![2]} at ${blocks[i]![0]}`);
    }
    return out;
  }

  /** A structured value's bytes decoded; ERR_SHMKIT_DECODE (with the bytes) if they do not decode, as Queue's. */
  #decode(bytes: Uint8Array, caller: Function): unknown {
    try {
      return deserialize(bytes);
    } catch (error) {
      throw Object.assign(shmkitError(`SharedMap '${this.name}': a value could not be decoded (${(error as Error).message}); its bytes are error.bytes`, 'ERR_SHMKIT_DECODE', caller), { bytes, cause: error });
    }
  }

  #corrupt(what: string, caller: Function): CodedError {
    return corruptError(`SharedMap '${this.name}'`, what, caller);
  }
}

function expiry(options: SharedMapSetOptions | undefined, caller: Function): number {
  if (options === undefined) return 0;
  const opts = validateOptions(options, 'options', caller);
  if (opts.ttl === undefined) return 0;
  if (typeof opts.ttl !== 'number') throw invalidArgType('options.ttl', 'of type number', opts.ttl, caller);
  if (!(opts.ttl > 0 && opts.ttl <= 2 ** 31)) throw outOfRange('options.ttl', 'a number of milliseconds > 0 and <= 2^31', opts.ttl, caller);
  return Date.now() + opts.ttl;
}

/** How many entries `shmkit inspect` shows. */
const INSPECT_ENTRIES = 10;

const sizeGetter = Object.getOwnPropertyDescriptor(SharedMap.prototype, 'size')!.get!;
const bytesUsedGetter = Object.getOwnPropertyDescriptor(SharedMap.prototype, 'bytesUsed')!.get!;

registerKind(SharedMap, {
  code: 12,
  inspect: ({ words }) => ({
    size: words[COUNT], maxEntries: words[MAX_ENTRIES], load: words[SLOTS]! > 0 ? Number(((words[COUNT]! + words[TOMBS]!) / words[SLOTS]!).toFixed(3)) : 0,
    bytesUsed: words[USED], maxBytes: words[ARENA_BYTES], bytesReserved: words[RESERVED], eviction: words[EVICTION] === 1 ? 'lru' : 'none',
    writer: words[DIRTY] !== 0 ? 'mid-change' : 'idle',
  }),
  contents: {
    // A copy taken while the epoch is even and the same after, and no writer mid-change.
    stamp: (words) => (words[DIRTY] !== 0 || (words[EPOCH]! & 1) !== 0 ? undefined : words[EPOCH]),
    show: (name) => {
      const map = SharedMap.open(name, { readOnly: true });
      try {
        const first: Record<string, unknown> = {};
        let n = 0;
        for (const [k, v] of map.entries()) {
          if (n++ === INSPECT_ENTRIES) break;
          // What JSON shows as it is stays so; the rest (undefined, Maps, cycles, bytes) as util.inspect writes it.
          first[k] = v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint' || (typeof v === 'number' && Number.isFinite(v))
            ? v : inspect(v, { depth: 3, breakLength: Infinity, maxArrayLength: 16, maxStringLength: 200 });
        }
        return { firstEntries: first };
      } finally {
        map.close();
      }
    },
  },
});
