// SharedArray: a fixed-length typed array in shared memory, the counterpart of Python's
// multiprocessing.Array. `array` is a plain typed array over the mapping: element reads
// and writes, and Atomics on integer arrays, cost what they cost on any typed array.
//
// Layout (8 + length × element size bytes, rounded up to 8; all zero is an array of 0/false):
//   0   8 bytes  its Lock (lock.ts)
//   8   length elements of the type, native little-endian
import { constants as bufferConstants } from 'node:buffer';
import { invalidArgType, outOfRange } from '../core/errors.js';
import { Lock } from '../sync/lock.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, validatePlacement, type CreateTyped, payloadView } from '../core/header.js';
import { validateInteger, validateOptions } from '../core/validate.js';
import { resolveType, toStored, typeFromCode, type TypeCode, type TypeInfo, type ValueType } from './value-types.js';
import { CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

/** Where the elements start: after the array's 8-byte Lock. */
export const ELEMENTS_BYTE = 8;

/** The typed array a SharedArray of each type exposes. */
export type ArrayOf<T extends ValueType | TypeCode> =
  T extends 'int8' | 'b' ? Int8Array
  : T extends 'uint8' | 'B' | 'bool' | '?' ? Uint8Array
  : T extends 'int16' | 'h' ? Int16Array
  : T extends 'uint16' | 'H' ? Uint16Array
  : T extends 'int32' | 'i' ? Int32Array
  : T extends 'uint32' | 'I' ? Uint32Array
  : T extends 'int64' | 'q' | 'l' ? BigInt64Array
  : T extends 'uint64' | 'Q' | 'L' ? BigUint64Array
  : T extends 'float32' | 'f' ? Float32Array
  : T extends 'float64' | 'd' ? Float64Array
  : never;

type AnyTypedArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

/** Options of {@link SharedArray.create}: a length (zero-filled), or the initial elements. */
export type SharedArrayOptions<T extends ValueType | TypeCode> = CreateTyped & { type: T } & (
  | { length: number; from?: undefined }
  | { from: Iterable<unknown> | ArrayLike<unknown>; length?: undefined });


function maxLength(t: TypeInfo): number {
  return Math.floor(bufferConstants.MAX_LENGTH / t.bytes);
}

/** A typed array that every process opening it by name shares. */
export class SharedArray<A extends AnyTypedArray = AnyTypedArray> extends SharedObject {
  readonly #type: ValueType;
  readonly #length: number;
  readonly #lock: Lock;
  readonly #array: A;

  /** The canonical element type. */
  get type(): ValueType {
    return this.#type;
  }

  /** The number of elements. */
  get length(): number {
    return this.#length;
  }

  /** A lock to guard updates that span several elements (Python's `get_lock()`). */
  get lock(): Lock {
    return this.#lock;
  }

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, owns: boolean, area: ArrayBuffer, t: TypeInfo, length: number) {
    super(token, shm, owns);
    this.#type = t.name;
    this.#length = length;
    this.#lock = Lock.within(shm, new Int32Array(area, 0, 2));
    this.#array = new t.Array(area, ELEMENTS_BYTE, length) as A;
  }

  /** Bytes a SharedArray of `length` elements of `type` occupies when placed with {@link SharedArray.at}. */
  static byteLength(type: ValueType | TypeCode, length: number): number {
    const t = resolveType(type, 'type', SharedArray.byteLength);
    validateInteger(length, 'length', 0, maxLength(t), SharedArray.byteLength);
    return ELEMENTS_BYTE + Math.ceil((length * t.bytes) / 8) * 8;
  }

  /** Creates a named SharedArray, zero-filled or from `from`. `EEXIST` if the name is taken. */
  static create<T extends ValueType | TypeCode>(options: SharedArrayOptions<T>): SharedArray<ArrayOf<T>> {
    if (options === undefined) throw invalidArgType('options', 'of type object', options, SharedArray.create);
    const opts = validateOptions(options, 'options', SharedArray.create);
    const t = resolveType(opts.type, 'options.type', SharedArray.create);
    let items: unknown[] | undefined;
    let length: number;
    if (opts.from !== undefined) {
      if (opts.length !== undefined) throw invalidArgType('options', 'either length or from, not both', options, SharedArray.create);
      const from = opts.from as Iterable<unknown> | ArrayLike<unknown>;
      if (from === null || typeof from !== 'object') throw invalidArgType('options.from', 'an iterable or array-like', from, SharedArray.create);
      items = Array.from(from);
      length = items.length;
      if (length > maxLength(t)) throw outOfRange('options.from.length', `<= ${maxLength(t)}`, length, SharedArray.create);
    } else {
      length = validateInteger(opts.length, 'options.length', 0, maxLength(t), SharedArray.create);
    }
    const stored = items?.map((v, i) => toStored(t, v, `options.from[${i}]`, SharedArray.create));
    const byteLength = SharedArray.byteLength(t.name, length);
    const shm = createTyped(opts as CreateTyped, { kind: 'SharedArray', payloadLength: byteLength, elementType: t.code, elementCount: length },
      (payload) => {
        if (stored) (new t.Array(payload, 8, length) as Float64Array).set(stored as number[]);
      });
    return built(shm, () => new SharedArray(CONSTRUCT, shm, true, payloadView(shm, byteLength), t, length) as SharedArray<ArrayOf<T>>);
  }

  /** Opens a named SharedArray; its type and length come from the segment. */
  static open(name: string): SharedArray {
    const { shm, header } = openTyped(name, 'SharedArray', SharedArray.open);
    const t = typeFromCode(header.elementType);
    if (t === undefined || header.payloadLength < 8 + header.elementCount * t.bytes) {
      shm.close();
      throw outOfRange('header', 'a known element type and a payload that holds the elements', header, SharedArray.open);
    }
    return new SharedArray(CONSTRUCT, shm, true, payloadView(shm, header.payloadLength), t, header.elementCount);
  }

  /** A SharedArray at `byteOffset` (a multiple of 8) in memory the caller owns. */
  static at<T extends ValueType | TypeCode>(sharedMemory: SharedMemory, byteOffset: number,
    options: { type: T; length: number }): SharedArray<ArrayOf<T>> {
    const opts = validateOptions(options, 'options', SharedArray.at);
    const t = resolveType(opts.type, 'options.type', SharedArray.at);
    const length = validateInteger(opts.length, 'options.length', 0, maxLength(t), SharedArray.at);
    const byteLength = SharedArray.byteLength(t.name, length);
    validatePlacement(sharedMemory, byteOffset, byteLength, SharedArray.at);
    return new SharedArray(CONSTRUCT, sharedMemory, false, sharedMemory.view(byteOffset, byteLength), t, length) as SharedArray<ArrayOf<T>>;
  }

  override close(): void {
    this.lock.close();
    super.close();
  }

  /**
   * The elements, as a typed array over the shared memory (bool: a Uint8Array of 0/1).
   * It is detached (length 0) when the memory is closed.
   */
  get array(): A {
    this.checkOpen(arrayGetter);
    return this.#array;
  }
}

const arrayGetter = Object.getOwnPropertyDescriptor(SharedArray.prototype, 'array')!.get!;

/** How many elements `shmkit inspect` shows. */
const SHOWN_ELEMENTS = 16;

registerKind(SharedArray, {
  code: 3,
  inspect: ({ bytes, elementType, elementCount }) => {
    const t = typeFromCode(elementType);
    if (t === undefined) return { elementType };
    const n = Math.min(elementCount, SHOWN_ELEMENTS, (bytes.byteLength - ELEMENTS_BYTE) / t.Array.BYTES_PER_ELEMENT);
    const first = [...new t.Array(bytes.buffer as ArrayBuffer, bytes.byteOffset + ELEMENTS_BYTE, Math.max(0, Math.floor(n)))];
    return { type: t.name, length: elementCount, first: t.name === 'bool' ? first.map((x) => x !== 0) : first };
  },
});
