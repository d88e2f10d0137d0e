// Queue: a bounded multi-producer multi-consumer message queue in one segment, for
// unrelated processes. Messages are bytes, strings or structured-clone values.
//
// It is Dmitry Vyukov's bounded MPMC ring, changed so that it survives a process that
// dies in the middle of a put or a get: a slot is claimed by one 64-bit compare-and-swap
// of the slot's claim word, which holds the slot's sequence and the claimant's owner id
// (ownership.ts) together, so no claim is ever anonymous. Whoever has waited a quiet
// spell and finds a slot claimed by an owner the kernel says is dead takes the claim over
// by compare-and-swap and ends it: an unpublished message becomes a tombstone that
// consumers skip, an unfinished read frees the slot. A claimant ends its own claim by a
// compare-and-swap from the claimed value too; a failed one means it was taken over
// (ERR_SHMKIT_TAKEN_OVER). A paused claimant (SIGSTOP, a debugger) is alive: nothing is
// taken from it, and it carries on when it resumes. At most the message a dead process
// had in flight is lost; every other is delivered exactly once, in each producer's order.
// A put or get that throws between claim and publish (a detached buffer, a message that
// fails to decode) still ends its claim: the put leaves a tombstone; the get copies the
// bytes out, frees the slot, and only then decodes.
//
// Layout of the payload (after the 64-byte typed-segment header), little-endian int32s:
//   0    head: the next position to read            (own 64-byte line)
//   64   tail: the next position to write           (own 64-byte line)
//   128  ended: 1 once end() was called
//   132  consumers that may be asleep waiting for data
//   136  producers that may be asleep waiting for room
//   140  data events: bumped (and woken) after a publish while consumers wait
//   144  room events: bumped (and woken) after a release while producers wait
//   148  capacity (slots: a power of two)
//   152  slot data size (the largest message, in bytes)
//   156  codec (CODECS below)
//   192  capacity slots of (16 + data size rounded up to 8) bytes, each 8-aligned:
//          +0  claim word, 64 bits: sequence in the low 32, claimant's owner id in the
//              high 32. Sequence 4p with no claimant: free for the writer of position p;
//              4p + 1 with the writer's id: being written; 4p + 2, no claimant: holds
//              p's message; 4p + 3 with the reader's id: being read; then 4(p + capacity),
//              no claimant: free for the next lap
//          +8  reserved, 0
//          +12 message length (bits 0-29) and kind (bits 30-31: 0 bytes, 1 string,
//              2 structured clone; -1 as a whole: a tombstone)
//          +16 the message
// Positions are int32s that wrap around (the capacity, a power of two, divides 2^30, so
// slot p & (capacity - 1) and sequence 4p stay consistent); every comparison is of
// differences.
import { deserialize, serialize } from 'node:v8';
import { corruptError, invalidArgType, invalidArgValue, outOfRange, shmkitError, type CodedError } from '../core/errors.js';
import { LIVENESS_MS, ME, ownerDead, takenOverError } from '../core/ownership.js';
import { native } from '../core/native.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, type CreateTyped, payloadView } from '../core/header.js';
import { decodeUtf8, encoder } from '../core/utf8.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateInteger, validateOptions } from '../core/validate.js';
import { parkAsync, parkSync, spinUntil, type Sleep } from '../core/park.js';
import { checkConstruct, CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

export const HEAD = 0;
export const TAIL = 16;
export const ENDED = 32;
const CONSUMERS_WAITING = 33;
const PRODUCERS_WAITING = 34;
const DATA_EVENTS = 35;
const ROOM_EVENTS = 36;
export const CAPACITY = 37;
export const DATA_SIZE = 38;
const CODEC = 39;
const SLOTS = 48; // in int32s: byte 192

const SEQ = 0; // the low half of the claim word (int32 index within a slot); the claimant is the high half
const META = 3;
/** The claim word (BigInt64Array element) for `seq` with claimant `owner`. */
const claim = (seq: number, owner: bigint): bigint => owner | BigInt(seq >>> 0);
/** The sequence half of a claim word, as an unsigned 32-bit number. */
const sequenceOf = (word: bigint): number => Number(BigInt.asUintN(32, word));
const NOBODY = 0n;
const MINE = BigInt(ME) << 32n;
const TOMBSTONE = -1;
const KIND_BYTES = 0;
const KIND_STRING = 1;
const KIND_STRUCTURED = 2;
const LENGTH_MASK = 0x3fffffff;


const CODECS = ['auto', 'bytes', 'string', 'structured'] as const;
/** The largest ring: 4 GiB (creating one touches a word in every slot). */
export const MAX_RING_BYTES = 2 ** 32;

/** About how many messages a ring's words (queue.ts layout) say it holds. */
export function ringSize(w: Int32Array): number {
  return Math.max(0, Math.min(w[CAPACITY]!, (Atomics.load(w, TAIL) - Atomics.load(w, HEAD)) | 0));
}
/** Which messages a queue carries: `'auto'` (default) takes bytes, strings and any structured-clone value. */
export type QueueCodec = (typeof CODECS)[number];
/** A message: bytes come back as a Uint8Array, strings as strings, anything else as v8.deserialize returns it. */
export type QueueMessage = unknown;

/** Options of {@link Queue.create}. */
export interface QueueOptions extends CreateTyped {
  /** How many messages it holds at most (1 to 2^24), rounded up to a power of two. */
  capacity: number;
  /** The largest message, in bytes once encoded (default 65536; at most 2^30 - 1). */
  maxMessageSize?: number | undefined;
  codec?: QueueCodec | undefined;
}


function endedError(caller: Function): CodedError {
  return shmkitError('The queue has ended: no more messages will come', 'ERR_SHMKIT_QUEUE_ENDED', caller);
}

/** A message queue shared by every process that opens it. */
export class Queue extends SharedObject {
  readonly #capacity: number;
  readonly #maxMessageSize: number;
  readonly #codec: QueueCodec;
  readonly #u8: Uint8Array;
  readonly #claims: BigInt64Array; // the same memory, for the slots' 64-bit claim words
  readonly #stride: number; // int32s per slot

  /** How many messages it holds at most. */
  get capacity(): number {
    return this.#capacity;
  }

  /** The largest message in bytes. */
  get maxMessageSize(): number {
    return this.#maxMessageSize;
  }

  /** Which messages it carries (see {@link QueueCodec}). */
  get codec(): QueueCodec {
    return this.#codec;
  }

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, area: ArrayBuffer, owns = true) {
    checkConstruct(token, new.target); // before the arguments are used
    const w = new Int32Array(area, 0, area.byteLength >> 2);
    super(token, shm, owns, w);
    this.#capacity = w[CAPACITY]!;
    this.#maxMessageSize = w[DATA_SIZE]!;
    // Read once, here, from memory a peer may have written: what the ring's arithmetic
    // relies on is checked before any slot is computed from it.
    const c = this.#capacity, size = this.#maxMessageSize;
    if (!(c >= 1 && c <= 2 ** 24 && (c & (c - 1)) === 0) || !(size >= 1 && size <= LENGTH_MASK) || ringBytes(c, size) > area.byteLength) {
      throw corruptError(`Queue '${shm.name}'`, `its capacity (${c}) and message size (${size}) words do not fit its ${area.byteLength} bytes`, Queue.open);
    }
    const codec = CODECS[w[CODEC]!];
    if (codec === undefined) throw corruptError(`Queue '${shm.name}'`, `codec word ${w[CODEC]} names no codec`, Queue.open);
    this.#codec = codec;
    this.#u8 = new Uint8Array(area);
    this.#claims = new BigInt64Array(area, 0, area.byteLength >> 3);
    this.#stride = 4 + Math.ceil(this.maxMessageSize / 8) * 2;
  }

  /** Creates a named queue. `EEXIST` if the name is taken. */
  static create(options: QueueOptions): Queue {
    if (options === undefined) throw invalidArgType('options', 'of type object', options, Queue.create);
    const opts = validateOptions(options, 'options', Queue.create) as unknown as QueueOptions;
    const asked = validateInteger(opts.capacity, 'options.capacity', 1, 2 ** 24, Queue.create);
    const capacity = 2 ** Math.ceil(Math.log2(asked));
    const size = opts.maxMessageSize === undefined ? 65536 : validateInteger(opts.maxMessageSize, 'options.maxMessageSize', 1, LENGTH_MASK, Queue.create);
    const codec = opts.codec === undefined ? 0 : CODECS.indexOf(opts.codec);
    if (codec < 0) throw invalidArgValue('options.codec', opts.codec, `must be one of ${CODECS.join(', ')}`, Queue.create);
    const payload = ringBytes(capacity, size);
    if (payload > MAX_RING_BYTES) {
      throw outOfRange('options.capacity × options.maxMessageSize', `at most ${MAX_RING_BYTES} bytes in all (the ring is touched slot by slot as it is set up)`, payload, Queue.create);
    }
    const shm = createTyped(opts, { kind: 'Queue', payloadLength: payload, elementType: codec, elementCount: capacity },
      (area) => initRing(area, 0, capacity, size, codec));
    return built(shm, () => new Queue(CONSTRUCT, shm, payloadView(shm, payload)));
  }

  /** @internal A ring inside another object's segment (Pipe); the segment is not its to close. */
  static within(shm: SharedMemory, area: ArrayBuffer): Queue {
    return new Queue(CONSTRUCT, shm, area, false);
  }

  /** Opens a named queue. */
  static open(name: string): Queue {
    const { shm, header } = openTyped(name, 'Queue', Queue.open);
    try {
      return new Queue(CONSTRUCT, shm, payloadView(shm, header.payloadLength));
    } catch (error) {
      shm.close(); // its words are not a queue's: nothing of it stays open
      throw error;
    }
  }

  /** About how many messages are in the queue (exact when nobody is mid-operation). */
  get size(): number {
    return ringSize(this.openWords(sizeGetter));
  }

  /** Whether the queue is (about) empty. */
  get empty(): boolean {
    return this.size === 0;
  }

  /** Whether the queue is (about) full. */
  get full(): boolean {
    return this.size >= this.capacity;
  }

  /** Whether {@link end} has been called, by any process. */
  get ended(): boolean {
    return Atomics.load(this.openWords(endedGetter), ENDED) !== 0;
  }

  /**
   * Ends the channel for everyone: later puts throw `ERR_SHMKIT_QUEUE_ENDED`, and gets
   * drain what is left and then throw it. Every waiter, in every process, wakes.
   * (Not to be confused with {@link close}, which unmaps this process's view.)
   */
  end(): void {
    const w = this.openWords(this.end);
    Atomics.store(w, ENDED, 1);
    Atomics.add(w, DATA_EVENTS, 1);
    Atomics.add(w, ROOM_EVENTS, 1);
    native.notify(w, DATA_EVENTS, Infinity);
    native.notify(w, ROOM_EVENTS, Infinity);
  }

  /** Puts a message if there is room; never waits. */
  tryPut(message: QueueMessage): boolean {
    const w = this.openWords(this.tryPut);
    const [kind, bytes] = this.#encode(message, this.tryPut);
    if (Atomics.load(w, ENDED) !== 0) throw endedError(this.tryPut);
    return this.#put(w, kind, bytes);
  }

  /** Puts a message, waiting (blocking) up to `timeout` ms for room. Returns whether it did. */
  put(message: QueueMessage, options?: AcquireOptions): boolean {
    const w = this.openWords(this.put);
    const timeout = timeoutOption(options, this.put);
    const [kind, bytes] = this.#encode(message, this.put);
    if (Atomics.load(w, ENDED) === 0 && this.#put(w, kind, bytes)) return true;
    return parkSync(this.#putting(kind, bytes, timeout, this.put));
  }

  /** The async form of {@link put}: never blocks the event loop. */
  async putAsync(message: QueueMessage, options?: AcquireAsyncOptions): Promise<boolean> {
    const w = this.openWords(this.putAsync);
    const { timeout, signal } = validateAsyncOptions(options, this.putAsync);
    const [kind, bytes] = this.#encode(message, this.putAsync);
    if (Atomics.load(w, ENDED) === 0 && this.#put(w, kind, bytes)) return true;
    return parkAsync(this.#putting(kind, bytes, timeout, this.putAsync), signal, this);
  }

  /**
   * Takes a message if there is one; never waits. `undefined` if the queue is empty;
   * `ERR_SHMKIT_QUEUE_ENDED` if it is empty and ended.
   */
  tryGet(): QueueMessage | undefined {
    const w = this.openWords(this.tryGet);
    const got = this.#get(w);
    if (got !== NONE) return got;
    if (Atomics.load(w, ENDED) !== 0) throw endedError(this.tryGet);
    return undefined;
  }

  /**
   * Takes a message, waiting (blocking) up to `timeout` ms for one; `undefined` on
   * time-out. `ERR_SHMKIT_QUEUE_ENDED` once the queue is ended and drained.
   */
  get(options?: AcquireOptions): QueueMessage | undefined {
    const w = this.openWords(this.get);
    const timeout = timeoutOption(options, this.get);
    const got = this.#get(w);
    return got !== NONE ? got : parkSync(this.#getting(timeout, this.get));
  }

  /** The async form of {@link get}: never blocks the event loop. */
  async getAsync(options?: AcquireAsyncOptions): Promise<QueueMessage | undefined> {
    const w = this.openWords(this.getAsync);
    const { timeout, signal } = validateAsyncOptions(options, this.getAsync);
    const got = this.#get(w);
    return got !== NONE ? got : parkAsync(this.#getting(timeout, this.getAsync), signal, this);
  }

  /**
   * A put that has to wait, written once for the blocking and the async form (park.ts
   * drives it): look for room, then sleep on the room-event word, registered as a waiting
   * producer, in spells of at most LIVENESS_MS, after each of which a slot abandoned by
   * a dead reader is freed.
   */
  *#putting(kind: number, bytes: Uint8Array | string, timeout: number, caller: Function): Generator<Sleep, boolean, boolean> {
    const deadline = performance.now() + timeout;
    for (;;) {
      const w = this.openWords(caller); // closed while asleep: ERR_SHMKIT_CLOSED
      if (Atomics.load(w, ENDED) !== 0) throw endedError(caller);
      if (this.#put(w, kind, bytes)) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      if (this.#spin(w, false)) continue;
      Atomics.add(w, PRODUCERS_WAITING, 1);
      try {
        const ev = Atomics.load(w, ROOM_EVENTS);
        if (this.#noRoom(w) && (yield { words: w, index: ROOM_EVENTS, value: ev, ms: Math.min(left, LIVENESS_MS) })) {
          this.#freeDeadReader(w);
        }
      } finally {
        Atomics.sub(w, PRODUCERS_WAITING, 1);
      }
    }
  }

  /** A get that has to wait: the mirror image of #putting, burying dead writers' slots. */
  *#getting(timeout: number, caller: Function): Generator<Sleep, QueueMessage | undefined, boolean> {
    const deadline = performance.now() + timeout;
    for (;;) {
      const w = this.openWords(caller);
      const got = this.#get(w);
      if (got !== NONE) return got;
      if (Atomics.load(w, ENDED) !== 0) throw endedError(caller);
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      if (this.#spin(w, true)) continue;
      Atomics.add(w, CONSUMERS_WAITING, 1);
      try {
        const ev = Atomics.load(w, DATA_EVENTS);
        if (this.#noData(w) && (yield { words: w, index: DATA_EVENTS, value: ev, ms: Math.min(left, LIVENESS_MS) })) {
          this.#buryDeadWriter(w);
        }
      } finally {
        Atomics.sub(w, CONSUMERS_WAITING, 1);
      }
    }
  }

  /**
   * @internal One sleep until a message may be there, the queue ended, or `ms` passed
   * (Pipe's poll; the parking layer drives it, blocking or not).
   */
  *readable(ms: number, caller: Function): Generator<Sleep, void, boolean> {
    const w = this.openWords(caller);
    if (this.#spin(w, true)) return;
    Atomics.add(w, CONSUMERS_WAITING, 1);
    try {
      const ev = Atomics.load(w, DATA_EVENTS);
      if (this.#noData(w)) yield { words: w, index: DATA_EVENTS, value: ev, ms };
    } finally {
      Atomics.sub(w, CONSUMERS_WAITING, 1);
    }
  }

  /** Yields messages as they come (without blocking the event loop) until the queue ends. */
  async *[Symbol.asyncIterator](): AsyncIterator<QueueMessage> {
    for (;;) {
      let message: QueueMessage | undefined;
      try {
        message = await this.getAsync();
      } catch (error) {
        if ((error as CodedError).code === 'ERR_SHMKIT_QUEUE_ENDED') return;
        throw error;
      }
      yield message;
    }
  }

  /** Encodes a message for this queue's codec: its kind and bytes (structured values are serialized here). */
  #encode(message: unknown, caller: Function): [number, Uint8Array | string] {
    const codec = this.codec;
    let kind: number;
    let bytes: Uint8Array | string;
    if (ArrayBuffer.isView(message) && isDetached(message.buffer)) {
      throw invalidArgValue('message', message, 'is a view of a detached ArrayBuffer', caller);
    }
    if (message instanceof Uint8Array && codec !== 'string' && codec !== 'structured') {
      kind = KIND_BYTES;
      bytes = message;
    } else if (ArrayBuffer.isView(message) && codec === 'bytes') {
      kind = KIND_BYTES;
      bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    } else if (typeof message === 'string' && codec !== 'bytes' && codec !== 'structured') {
      if (!message.isWellFormed()) throw invalidArgValue('message', message, 'must be well-formed Unicode', caller);
      kind = KIND_STRING;
      bytes = message;
    } else if (codec === 'auto' || codec === 'structured') {
      if (message === undefined) throw invalidArgType('message', 'not undefined (get() returns undefined for "no message")', message, caller);
      try {
        bytes = serialize(message);
      } catch (error) {
        throw invalidArgValue('message', message, `cannot be structured-cloned (${(error as Error).message})`, caller);
      }
      kind = KIND_STRUCTURED;
    } else {
      throw invalidArgType('message', codec === 'bytes' ? 'a Uint8Array or other ArrayBufferView' : 'a string', message, caller);
    }
    // A string's UTF-8 is at most 3 bytes per UTF-16 unit: count only when that could be too long.
    const length = typeof bytes !== 'string' ? bytes.length
      : bytes.length * 3 <= this.maxMessageSize ? 0 : Buffer.byteLength(bytes);
    if (length > this.maxMessageSize) {
      throw outOfRange('message', `at most ${this.maxMessageSize} bytes (maxMessageSize)`, length, caller);
    }
    return [kind, bytes];
  }

  /**
   * A put or get that meets words no put or get leaves: a slot moved past more often than a
   * consistent ring allows (at most once per slot, plus what concurrent calls claim
   * meanwhile), or a claimant beside a free or full sequence. A coded error, not a spin.
   */
  #corrupt(what: string, caller: Function): CodedError {
    return corruptError(`Queue '${this.name}'`, what, caller);
  }

  /**
   * Why a sequence found ahead of position `pos` (by a put at the tail or a get at the
   * head) cannot be another call's progress, or undefined if it can. Every sequence
   * implies the least head and tail that its writing followed (memory-layout.md, Queue),
   * and words loaded after it cannot be older. So a ring whose words a peer crafted is
   * refused at its first odd slot instead of being walked slot by slot, O(capacity). One
   * walk remains possible: every slot mid-write at its own position, each looking like
   * a producer that has not moved the tail yet; the step bound of the callers ends it.
   */
  #unreachable(w: Int32Array, s: number, pos: number): string | undefined {
    const c = this.capacity;
    const seq = Atomics.load(w, s + SEQ);
    const headBefore = Atomics.load(w, HEAD);
    const tail = Atomics.load(w, TAIL);
    const head = Atomics.load(w, HEAD);
    // The tail never passes the head, nor runs more than a lap ahead of it (read in the
    // order that makes both hold however the calls interleave).
    if (((tail - headBefore) | 0) < 0 || ((tail - head) | 0) > c) return `its head ${head} and tail ${tail} are not 0 to ${c} apart`;
    const p = seq >>> 2, state = seq & 3; // positions are kept modulo 2^30 in a sequence
    if ((p & (c - 1)) !== (pos & (c - 1))) return `slot ${pos & (c - 1)}'s sequence ${seq >>> 0} names position ${p}, of another slot`;
    // At least: free for p, the read of p - c done; being written, p claimed; published or
    // being read, the tail past p; being read, the head at p.
    const leastTail = state === 0 ? p - c + 1 : state === 1 ? p : p + 1;
    const leastHead = state === 3 ? p : p - c + 1;
    const atLeast = (word: number, least: number): boolean => ((word - least) << 2) >= 0; // modulo 2^30
    if (!atLeast(tail, leastTail) || !atLeast(head, leastHead)) return `slot ${pos & (c - 1)}'s sequence ${seq >>> 0} is ahead of its head ${head} and tail ${tail}`;
    return undefined;
  }

  #slot(pos: number): number {
    return SLOTS + (pos & (this.capacity - 1)) * this.#stride;
  }

  /** One attempt to claim the tail slot and write the message. False if the queue is full. */
  #put(w: Int32Array, kind: number, bytes: Uint8Array | string): boolean {
    for (let steps = 0; ; ) {
      // Plain reads (an Atomics.load on this memory is a call, some 10 ns): a stale value
      // only makes the compare-and-swap below fail, and the loop look again.
      const pos = w[TAIL]!;
      const s = this.#slot(pos);
      const free = pos << 2;
      const seq = w[s + SEQ]!;
      const d = (seq - free) | 0;
      if (d < 0) return false; // it still holds the message of the previous lap: full
      if (d > 0) {
        // Position pos is taken (its writer may not have moved the tail yet), or our
        // read of the tail is stale: help the tail along (a no-op if it has moved) and
        // look again.
        const impossible = this.#unreachable(w, s, pos);
        if (impossible !== undefined || ++steps > 4 * this.capacity + 64) throw this.#corrupt(impossible ?? `slot ${pos & (this.capacity - 1)}'s sequence ${seq} stays ahead of the tail ${pos}`, this.put);
        Atomics.compareExchange(w, TAIL, pos, (pos + 1) | 0);
        continue;
      }
      const open = claim(free, NOBODY);
      const writing = claim(free + 1, MINE);
      const was = Atomics.compareExchange(this.#claims, s >> 1, open, writing);
      if (was !== open) {
        // Another producer claimed it first: look again. But a claimant beside a free
        // sequence is a state no put or get leaves (the loop would fail here for ever).
        if (sequenceOf(was) === (free >>> 0)) throw this.#corrupt(`slot ${pos & (this.capacity - 1)} is free but names a claimant`, this.put);
        continue;
      }
      Atomics.compareExchange(w, TAIL, pos, (pos + 1) | 0);
      const at = (s + 4) * 4;
      let meta = TOMBSTONE;
      try {
        // Plain stores for the slot's fields: the compare-and-swap that publishes them
        // is sequentially consistent, which orders them for readers.
        const length = typeof bytes === 'string'
          ? encoder.encodeInto(bytes, this.#u8.subarray(at, at + this.maxMessageSize)).written
          : (this.#u8.set(bytes, at), bytes.length);
        meta = length | (kind << 30);
      } finally {
        // Published even if the copy threw: as a tombstone, which readers skip.
        w[s + META] = meta;
        const published = Atomics.compareExchange(this.#claims, s >> 1, writing, claim(free + 2, NOBODY)) === writing;
        if (published) this.#announce(w, CONSUMERS_WAITING, DATA_EVENTS);
        else if (meta !== TOMBSTONE) throw takenOverError('Queue.put()', this.put); // eslint-disable-line no-unsafe-finally
      }
      return true;
    }
  }

  /** One attempt to claim the head slot and read its message. NONE if the queue is empty. */
  #get(w: Int32Array): QueueMessage | typeof NONE {
    for (let steps = 0; ; ) {
      const pos = w[HEAD]!; // plain reads, as in #put
      const s = this.#slot(pos);
      const full = (pos << 2) + 2;
      const seq = w[s + SEQ]!;
      const d = (seq - full) | 0;
      if (d < 0) return NONE; // not written yet, or being written
      if (d > 0) {
        const impossible = this.#unreachable(w, s, pos);
        if (impossible !== undefined || ++steps > 4 * this.capacity + 64) throw this.#corrupt(impossible ?? `slot ${pos & (this.capacity - 1)}'s sequence ${seq} stays ahead of the head ${pos}`, this.get);
        Atomics.compareExchange(w, HEAD, pos, (pos + 1) | 0); // as in #put
        continue;
      }
      const held = claim(full, NOBODY);
      const reading = claim(full + 1, MINE);
      const was = Atomics.compareExchange(this.#claims, s >> 1, held, reading);
      if (was !== held) {
        if (sequenceOf(was) === (full >>> 0)) throw this.#corrupt(`slot ${pos & (this.capacity - 1)} holds a message but names a claimant`, this.get);
        continue; // another consumer took it first
      }
      Atomics.compareExchange(w, HEAD, pos, (pos + 1) | 0);
      const meta = w[s + META]!;
      let copy: string | Uint8Array | undefined;
      let freed: boolean;
      try {
        // Only copying happens under the claim; a structured value is decoded after the
        // slot is free, so that a decode that throws cannot leave the slot claimed.
        if (meta !== TOMBSTONE) {
          const at = (s + 4) * 4;
          const end = at + (meta & LENGTH_MASK);
          copy = meta >>> 30 === KIND_STRING ? decodeUtf8(this.#u8, at, end) : this.#u8.slice(at, end);
        }
      } finally {
        freed = Atomics.compareExchange(this.#claims, s >> 1, reading, claim(((pos + this.capacity) | 0) << 2, NOBODY)) === reading;
        if (freed) this.#announce(w, PRODUCERS_WAITING, ROOM_EVENTS);
      }
      if (!freed) throw takenOverError('Queue.get()', this.get); // what was copied may be torn
      if (copy === undefined) continue; // a tombstone: skip it and look at the next position
      if (meta >>> 30 !== KIND_STRUCTURED) return copy;
      try {
        return deserialize(copy as Uint8Array);
      } catch (error) {
        throw Object.assign(shmkitError(`Queue.get(): a message could not be decoded (${(error as Error).message}); it was taken off the queue and its bytes are error.bytes`, 'ERR_SHMKIT_DECODE', this.get), { bytes: copy, cause: error });
      }
    }
  }

  /** After a publish (a release): bumps the event word and wakes one sleeper if any may sleep. */
  #announce(w: Int32Array, waiting: number, events: number): void {
    if (Atomics.load(w, waiting) > 0) {
      Atomics.add(w, events, 1);
      native.notify(w, events, 1);
    }
  }

  /**
   * Looks for data (or room) for a few microseconds (park.ts, spinUntil) before a get (put) sleeps: a producer
   * and a consumer running flat out on two CPUs are usually microseconds apart.
   * True as soon as there is some, or the queue ended.
   */
  #spin(w: Int32Array, forData: boolean): boolean {
    return spinUntil(forData ? () => !this.#noData(w) : () => !this.#noRoom(w));
  }

  #noData(w: Int32Array): boolean {
    const pos = Atomics.load(w, HEAD);
    return ((Atomics.load(w, this.#slot(pos) + SEQ) - ((pos << 2) + 2)) | 0) < 0 && Atomics.load(w, ENDED) === 0;
  }

  #noRoom(w: Int32Array): boolean {
    const pos = Atomics.load(w, TAIL);
    return ((Atomics.load(w, this.#slot(pos) + SEQ) - (pos << 2)) | 0) < 0 && Atomics.load(w, ENDED) === 0;
  }

  /**
   * After a quiet spell with no data: if the head slot is being written by an owner the
   * kernel says is dead, take the claim over and publish a tombstone, so that readers
   * move past it.
   */
  #buryDeadWriter(w: Int32Array): void {
    const pos = Atomics.load(w, HEAD);
    const s = this.#slot(pos);
    const writing = (pos << 2) + 1;
    const seen = Atomics.load(this.#claims, s >> 1);
    if (Number(seen & 0xffffffffn) !== writing >>> 0 || !ownerDead(Number(seen >> 32n))) return;
    const mine = claim(writing, MINE);
    if (Atomics.compareExchange(this.#claims, s >> 1, seen, mine) !== seen) return;
    Atomics.store(w, s + META, TOMBSTONE);
    Atomics.compareExchange(this.#claims, s >> 1, mine, claim(writing + 1, NOBODY));
    Atomics.compareExchange(w, TAIL, pos, (pos + 1) | 0);
    Atomics.add(w, DATA_EVENTS, 1);
    native.notify(w, DATA_EVENTS, Infinity);
  }

  /**
   * After a quiet spell with no room: if the tail slot is still being read, one lap
   * behind, by an owner the kernel says is dead, free it.
   */
  #freeDeadReader(w: Int32Array): void {
    const pos = Atomics.load(w, TAIL);
    const s = this.#slot(pos);
    const behind = (pos - this.capacity) | 0;
    const reading = (behind << 2) + 3;
    const seen = Atomics.load(this.#claims, s >> 1);
    if (Number(seen & 0xffffffffn) !== reading >>> 0 || !ownerDead(Number(seen >> 32n))) return;
    if (Atomics.compareExchange(this.#claims, s >> 1, seen, claim(pos << 2, NOBODY)) !== seen) return;
    Atomics.compareExchange(w, HEAD, behind, (behind + 1) | 0);
    Atomics.add(w, ROOM_EVENTS, 1);
    native.notify(w, ROOM_EVENTS, Infinity);
  }
}

/** Bytes of a ring of `capacity` slots (a power of two) for messages of up to `size` bytes. */
export function ringBytes(capacity: number, size: number): number {
  return SLOTS * 4 + capacity * (16 + Math.ceil(size / 8) * 8);
}

/** Initializes the zero-filled bytes of `area` from `byteOffset` as an empty ring. */
export function initRing(area: ArrayBuffer, byteOffset: number, capacity: number, size: number, codec: number): void {
  const w = new Int32Array(area, byteOffset, SLOTS);
  w[CAPACITY] = capacity;
  w[DATA_SIZE] = size;
  w[CODEC] = codec;
  const stride = 16 + Math.ceil(size / 8) * 8;
  for (let i = 0; i < capacity; i++) new Int32Array(area, byteOffset + SLOTS * 4 + i * stride, 1)[0] = i << 2;
}

const NONE = Symbol('none');

/** Whether a buffer was detached (transferred): `detached` where the runtime has it (Node 22+), else a probe. */
function isDetached(buffer: ArrayBufferLike): boolean {
  const known = (buffer as { detached?: boolean }).detached;
  if (typeof known === 'boolean') return known;
  if (buffer.byteLength !== 0 || !(buffer instanceof ArrayBuffer)) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}
const sizeGetter = Object.getOwnPropertyDescriptor(Queue.prototype, 'size')!.get!;
const endedGetter = Object.getOwnPropertyDescriptor(Queue.prototype, 'ended')!.get!;

registerKind(Queue, {
  code: 10,
  inspect: ({ words }) => ({ size: ringSize(words), capacity: words[CAPACITY], maxMessageSize: words[DATA_SIZE], ended: words[ENDED] !== 0 }),
});
