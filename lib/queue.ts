// Queue: a bounded multi-producer multi-consumer message queue in one segment, for
// unrelated processes. Messages are bytes, strings or structured-clone values.
//
// It is Dmitry Vyukov's bounded MPMC ring, changed so that it survives a process that
// dies in the middle of a put or a get: a slot is claimed by a compare-and-swap on the
// slot's own sequence word (not by advancing the shared position), and the claimer then
// writes its owner id (lock.ts) beside it. Whoever finds a slot claimed by a dead owner
// releases it: an unpublished message becomes a tombstone that consumers skip, an
// unfinished read frees the slot. At most the message the dead process had in flight is
// lost; every other message is delivered exactly once, in each producer's order.
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
//   192  capacity slots of (16 + data size rounded up to 8) bytes:
//          +0  sequence: 4p when free for the writer of position p, 4p + 1 while that
//              writer writes, 4p + 2 when it holds p's message, 4p + 3 while a reader
//              reads it, then 4(p + capacity): free for the next lap
//          +4  the writer's owner id while it writes, else 0
//          +8  the reader's owner id while it reads, else 0
//          +12 message length (bits 0-29) and kind (bits 30-31: 0 bytes, 1 string,
//              2 structured clone; -1 as a whole: a tombstone)
//          +16 the message
// Positions are int32s that wrap around (the capacity, a power of two, divides 2^30, so
// slot p & (capacity - 1) and sequence 4p stay consistent); every comparison is of
// differences.
import { deserialize, serialize } from 'node:v8';
import { invalidArgType, invalidArgValue, outOfRange, shmkitError, type CodedError } from './errors.js';
import { LIVENESS_MS, ME, type AcquireAsyncOptions, type AcquireOptions } from './lock.js';
import { native } from './native.js';
import { SharedMemory } from './shared-memory.js';
import { SharedObject } from './shared-object.js';
import { built, createTyped, openTyped, type CreateTyped } from './typed-segment.js';
import { decodeUtf8, encoder } from './utf8.js';
import { validateAsyncOptions, validateInteger, validateOptions, validateTimeout } from './validate.js';
import { SPINS, sleepAsync, sleepSync, startWait, type Sleep } from './wait.js';

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

const SEQ = 0;
const WRITER = 1;
const READER = 2;
const META = 3;
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

const construct = Symbol('Queue.construct');

function endedError(caller: Function): CodedError {
  return shmkitError('The queue has ended: no more messages will come', 'ERR_SHMKIT_QUEUE_ENDED', caller);
}

/** A message queue shared by every process that opens it. */
export class Queue extends SharedObject {
  /** How many messages it holds at most. */
  readonly capacity: number;
  /** The largest message in bytes. */
  readonly maxMessageSize: number;
  readonly codec: QueueCodec;
  readonly #u8: Uint8Array;
  readonly #stride: number; // int32s per slot

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, area: ArrayBuffer, owns = true) {
    if (token !== construct) throw new TypeError('Queue cannot be constructed directly: use Queue.create() or Queue.open()');
    const w = new Int32Array(area, 0, area.byteLength >> 2);
    super(shm, owns, w);
    this.capacity = w[CAPACITY]!;
    this.maxMessageSize = w[DATA_SIZE]!;
    this.codec = CODECS[w[CODEC]!] ?? 'auto';
    this.#u8 = new Uint8Array(area);
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
    return built(shm, () => new Queue(construct, shm, shm.view(64, payload)));
  }

  /** @internal A ring inside another object's segment (Pipe); the segment is not its to close. */
  static within(shm: SharedMemory, area: ArrayBuffer): Queue {
    return new Queue(construct, shm, area, false);
  }

  /** Opens a named queue. */
  static open(name: string): Queue {
    const { shm, header } = openTyped(name, 'Queue', Queue.open);
    return new Queue(construct, shm, shm.view(64, header.payloadLength));
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
    return Atomics.load(this.openWords(endedGetter), ENDED) === 1;
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
    if (Atomics.load(w, ENDED) === 1) throw endedError(this.tryPut);
    return this.#put(w, kind, bytes);
  }

  /** Puts a message, waiting (blocking) up to `timeout` ms for room. Returns whether it did. */
  put(message: QueueMessage, options?: AcquireOptions): boolean {
    const w = this.openWords(this.put);
    const timeout = options === undefined ? Infinity : validateTimeout(validateOptions(options, 'options', this.put).timeout, this.put);
    const [kind, bytes] = this.#encode(message, this.put);
    if (Atomics.load(w, ENDED) === 0 && this.#put(w, kind, bytes)) return true;
    return sleepSync(this.#putting(kind, bytes, timeout, this.put));
  }

  /** The async form of {@link put}: never blocks the event loop. */
  async putAsync(message: QueueMessage, options?: AcquireAsyncOptions): Promise<boolean> {
    const w = this.openWords(this.putAsync);
    const { timeout, signal } = validateAsyncOptions(options, this.putAsync);
    const [kind, bytes] = this.#encode(message, this.putAsync);
    if (Atomics.load(w, ENDED) === 0 && this.#put(w, kind, bytes)) return true;
    return sleepAsync(this.#putting(kind, bytes, timeout, this.putAsync), signal);
  }

  /**
   * Takes a message if there is one; never waits. `undefined` if the queue is empty;
   * `ERR_SHMKIT_QUEUE_ENDED` if it is empty and ended.
   */
  tryGet(): QueueMessage | undefined {
    const w = this.openWords(this.tryGet);
    const got = this.#get(w);
    if (got !== NONE) return got;
    if (Atomics.load(w, ENDED) === 1) throw endedError(this.tryGet);
    return undefined;
  }

  /**
   * Takes a message, waiting (blocking) up to `timeout` ms for one; `undefined` on
   * time-out. `ERR_SHMKIT_QUEUE_ENDED` once the queue is ended and drained.
   */
  get(options?: AcquireOptions): QueueMessage | undefined {
    const w = this.openWords(this.get);
    const timeout = options === undefined ? Infinity : validateTimeout(validateOptions(options, 'options', this.get).timeout, this.get);
    const got = this.#get(w);
    return got !== NONE ? got : sleepSync(this.#getting(timeout, this.get));
  }

  /** The async form of {@link get}: never blocks the event loop. */
  async getAsync(options?: AcquireAsyncOptions): Promise<QueueMessage | undefined> {
    const w = this.openWords(this.getAsync);
    const { timeout, signal } = validateAsyncOptions(options, this.getAsync);
    const got = this.#get(w);
    return got !== NONE ? got : sleepAsync(this.#getting(timeout, this.getAsync), signal);
  }

  /**
   * A put that has to wait, written once for the blocking and the async form (wait.ts
   * drives it): look for room, then sleep on the room-event word, registered as a waiting
   * producer, in spells of at most LIVENESS_MS, after each of which a slot abandoned by
   * a dead reader is freed.
   */
  *#putting(kind: number, bytes: Uint8Array | string, timeout: number, caller: Function): Generator<Sleep, boolean, boolean> {
    const deadline = performance.now() + timeout;
    for (;;) {
      const w = this.openWords(caller); // closed while asleep: ERR_SHMKIT_CLOSED
      if (Atomics.load(w, ENDED) === 1) throw endedError(caller);
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
      if (Atomics.load(w, ENDED) === 1) throw endedError(caller);
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

  /** @internal Sleeps (blocking) until a message may be there, the queue ended, or `ms` passed. */
  waitReadable(ms: number): void {
    const w = this.openWords(this.get);
    if (this.#spin(w, true)) return;
    Atomics.add(w, CONSUMERS_WAITING, 1);
    const ev = Atomics.load(w, DATA_EVENTS);
    try {
      if (this.#noData(w)) native.wait(w, DATA_EVENTS, ev, ms);
    } finally {
      Atomics.sub(w, CONSUMERS_WAITING, 1);
    }
  }

  /** @internal The async form of waitReadable. */
  async waitReadableAsync(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const w = this.openWords(this.getAsync);
    Atomics.add(w, CONSUMERS_WAITING, 1);
    const ev = Atomics.load(w, DATA_EVENTS);
    try {
      if (this.#noData(w)) await startWait(w, DATA_EVENTS, ev, ms, signal);
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

  #slot(pos: number): number {
    return SLOTS + (pos & (this.capacity - 1)) * this.#stride;
  }

  /** One attempt to claim the tail slot and write the message. False if the queue is full. */
  #put(w: Int32Array, kind: number, bytes: Uint8Array | string): boolean {
    for (;;) {
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
        Atomics.compareExchange(w, TAIL, pos, (pos + 1) | 0);
        continue;
      }
      if (Atomics.compareExchange(w, s + SEQ, free, free + 1) !== free) continue;
      // Plain stores for the slot's fields: the sequence store that publishes them (and
      // every compare-and-swap) is sequentially consistent, which orders them for readers.
      w[s + WRITER] = ME;
      Atomics.compareExchange(w, TAIL, pos, (pos + 1) | 0);
      const at = (s + 4) * 4;
      let length: number;
      if (typeof bytes === 'string') {
        length = encoder.encodeInto(bytes, this.#u8.subarray(at, at + this.maxMessageSize)).written;
      } else {
        this.#u8.set(bytes, at);
        length = bytes.length;
      }
      w[s + META] = length | (kind << 30);
      w[s + WRITER] = 0;
      Atomics.store(w, s + SEQ, free + 2); // publish
      if (Atomics.load(w, CONSUMERS_WAITING) > 0) {
        Atomics.add(w, DATA_EVENTS, 1);
        native.notify(w, DATA_EVENTS, 1);
      }
      return true;
    }
  }

  /** One attempt to claim the head slot and read its message. NONE if the queue is empty. */
  #get(w: Int32Array): QueueMessage | typeof NONE {
    for (;;) {
      const pos = w[HEAD]!; // plain reads, as in #put
      const s = this.#slot(pos);
      const full = (pos << 2) + 2;
      const seq = w[s + SEQ]!;
      const d = (seq - full) | 0;
      if (d < 0) return NONE; // not written yet, or being written
      if (d > 0) {
        Atomics.compareExchange(w, HEAD, pos, (pos + 1) | 0); // as in #put
        continue;
      }
      if (Atomics.compareExchange(w, s + SEQ, full, full + 1) !== full) continue;
      w[s + READER] = ME;
      Atomics.compareExchange(w, HEAD, pos, (pos + 1) | 0);
      const meta = w[s + META]!;
      let message: QueueMessage | typeof NONE = NONE;
      if (meta !== TOMBSTONE) {
        const at = (s + 4) * 4;
        const length = meta & LENGTH_MASK;
        const kind = meta >>> 30;
        message = kind === KIND_STRING ? decodeUtf8(this.#u8, at, at + length)
          : kind === KIND_BYTES ? this.#u8.slice(at, at + length)
          : deserialize(this.#u8.subarray(at, at + length));
      }
      w[s + READER] = 0;
      Atomics.store(w, s + SEQ, ((pos + this.capacity) | 0) << 2); // free for the writer one lap on
      if (Atomics.load(w, PRODUCERS_WAITING) > 0) {
        Atomics.add(w, ROOM_EVENTS, 1);
        native.notify(w, ROOM_EVENTS, 1);
      }
      if (message !== NONE) return message;
      // A tombstone: skip it and look at the next position.
    }
  }

  /**
   * Looks for data (or room) SPINS times (wait.ts) before a get (put) sleeps: a producer
   * and a consumer running flat out on two CPUs are usually microseconds apart.
   * True as soon as there is some, or the queue ended.
   */
  #spin(w: Int32Array, forData: boolean): boolean {
    for (let i = 0; i < SPINS; i++) {
      if (forData ? !this.#noData(w) : !this.#noRoom(w)) return true;
    }
    return false;
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
   * After a quiet spell with no data: if the head slot is claimed by a writer that has
   * died, turn it into a tombstone so that readers move past it.
   */
  #buryDeadWriter(w: Int32Array): void {
    const pos = Atomics.load(w, HEAD);
    const s = this.#slot(pos);
    const writing = (pos << 2) + 1;
    if (Atomics.load(w, s + SEQ) !== writing || !this.#abandoned(w, s + WRITER, pos)) return;
    Atomics.store(w, s + META, TOMBSTONE);
    if (Atomics.compareExchange(w, s + SEQ, writing, writing + 1) !== writing) return;
    Atomics.store(w, s + WRITER, 0);
    Atomics.compareExchange(w, TAIL, pos, (pos + 1) | 0);
    Atomics.add(w, DATA_EVENTS, 1);
    native.notify(w, DATA_EVENTS, Infinity);
  }

  /**
   * After a quiet spell with no room: if the tail slot is still being read, one lap
   * behind, by a reader that has died, free it.
   */
  #freeDeadReader(w: Int32Array): void {
    const pos = Atomics.load(w, TAIL);
    const s = this.#slot(pos);
    const behind = (pos - this.capacity) | 0;
    const reading = (behind << 2) + 3;
    if (Atomics.load(w, s + SEQ) !== reading || !this.#abandoned(w, s + READER, behind)) return;
    if (Atomics.compareExchange(w, s + SEQ, reading, pos << 2) !== reading) return;
    Atomics.store(w, s + READER, 0);
    Atomics.compareExchange(w, HEAD, behind, (behind + 1) | 0);
    Atomics.add(w, ROOM_EVENTS, 1);
    native.notify(w, ROOM_EVENTS, Infinity);
  }

  /**
   * Whether the claim on a slot (at position `pos`) was abandoned: its owner is dead, or
   * no owner id appeared beside the claim for two quiet spells in a row (the claimer died
   * between its compare-and-swap and writing its id, a window of a few instructions).
   */
  #abandoned(w: Int32Array, ownerIndex: number, pos: number): boolean {
    const owner = Atomics.load(w, ownerIndex);
    if (owner !== 0) return owner !== ME && !native.ownerAlive(owner);
    const seen = this.#anonymous === ownerIndex * 2 ** 21 + (pos & 0xfffff);
    this.#anonymous = ownerIndex * 2 ** 21 + (pos & 0xfffff);
    return seen;
  }

  #anonymous = -1;
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
const sizeGetter = Object.getOwnPropertyDescriptor(Queue.prototype, 'size')!.get!;
const endedGetter = Object.getOwnPropertyDescriptor(Queue.prototype, 'ended')!.get!;
