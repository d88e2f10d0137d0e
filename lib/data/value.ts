// Value: one number, bigint or boolean in shared memory, the counterpart of Python's
// multiprocessing.Value. Every operation is a single Atomics call on the mapped memory;
// nothing here calls into C++.
//
// Layout (16 bytes, 8-aligned; all zero is the value 0/false, unlocked):
//   0   8 bytes  the value, in the type's native little-endian form, low bytes first
//   8   8 bytes  its Lock (lock.ts)
import { invalidArgType, outOfRange, shmkitError, type CodedError } from '../core/errors.js';
import { Lock, lockState } from '../sync/lock.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, validatePlacement, type CreateTyped, payloadView } from '../core/header.js';
import { validateOptions } from '../core/validate.js';
import { resolveType, toStored, typeFromCode, type JsValueOf, type TypeCode, type TypeInfo, type ValueType } from './value-types.js';
import { CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';

/** Options of {@link Value.create}. */
export interface ValueOptions<T extends ValueType | TypeCode> extends CreateTyped {
  /** The type: `int8` … `uint64`, `float32`, `float64`, `bool`, or a Python typecode. */
  type: T;
  /** The initial value (default 0, 0n or false). */
  value?: JsValueOf<T> | undefined;
}

/** Where the Value's Lock starts in its 16 bytes (the value is at 0). */
export const LOCK_BYTE = 8;

type IntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
type BigArray = BigInt64Array | BigUint64Array;

type Slot = IntArray | BigArray;
type Scalar = number | bigint;
/** Atomics, typed for a slot whose element type is only known at run time. */
const atomics = Atomics as unknown as {
  load(a: Slot, i: number): Scalar;
  store(a: Slot, i: number, v: Scalar): Scalar;
  add(a: Slot, i: number, v: Scalar): Scalar;
  sub(a: Slot, i: number, v: Scalar): Scalar;
  and(a: Slot, i: number, v: Scalar): Scalar;
  or(a: Slot, i: number, v: Scalar): Scalar;
  xor(a: Slot, i: number, v: Scalar): Scalar;
  exchange(a: Slot, i: number, v: Scalar): Scalar;
  compareExchange(a: Slot, i: number, e: Scalar, r: Scalar): Scalar;
};


function unsupported(op: string, type: string, caller: Function): CodedError {
  return shmkitError(`Value.${op}() is for integer types; this Value is ${type}`, 'ERR_SHMKIT_UNSUPPORTED_OPERATION', caller, TypeError);
}

/**
 * A typed value shared between processes. `value` reads and writes atomically; integer
 * Values also have atomic `add`, `sub`, `and`, `or`, `xor`; every Value has `exchange`
 * and `compareExchange`. Each returns the previous value, as `Atomics` does. 64-bit
 * integers are bigints.
 */
export class Value<V extends number | bigint | boolean = number | bigint | boolean> extends SharedObject {
  /** Bytes a Value occupies when placed with {@link Value.at} (any type). */
  static readonly byteLength = 16;

  readonly #type: ValueType;
  readonly #lock: Lock;
  readonly #t: TypeInfo;
  /** The value slot as its own type (floats: as the integer of their bits). */
  readonly #slot: Slot;
  readonly #bits: Float32Array | Float64Array | undefined;
  /** The slot of an integer Value of up to 32 bits while open: the fast path's key. */
  #ints: IntArray | undefined;
  readonly #min: number;
  readonly #max: number;
  readonly #scratch: Int32Array | BigInt64Array | undefined;

  /** The canonical type name (a typecode given at creation is resolved). */
  get type(): ValueType {
    return this.#type;
  }

  /** The Value's own Lock, as Python's `get_lock()`: for updates that span several operations. */
  get lock(): Lock {
    return this.#lock;
  }

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, owns: boolean, area: ArrayBuffer, t: TypeInfo) {
    super(token, shm, owns);
    this.#type = t.name;
    this.#t = t;
    this.#lock = Lock.within(shm, new Int32Array(area, LOCK_BYTE, 2));
    if (t.family === 'float') {
      // Atomics has no float arrays: move the bits through an integer slot of equal size.
      const scratch = new ArrayBuffer(8);
      this.#slot = t.bytes === 4 ? new Int32Array(area, 0, 1) : new BigInt64Array(area, 0, 1);
      this.#scratch = t.bytes === 4 ? new Int32Array(scratch, 0, 1) : new BigInt64Array(scratch, 0, 1);
      this.#bits = t.bytes === 4 ? new Float32Array(scratch, 0, 1) : new Float64Array(scratch, 0, 1);
    } else {
      this.#slot = new t.Array(area, 0, 1) as Slot;
    }
    this.#ints = t.family === 'int' ? this.#slot as IntArray : undefined;
    this.#min = t.family === 'int' ? t.min as number : 0;
    this.#max = t.family === 'int' ? t.max as number : -1;
  }

  override close(): void {
    this.#ints = undefined;
    this.lock.close();
    super.close();
  }

  /** Creates a named Value. `EEXIST` if the name is taken. */
  static create<T extends ValueType | TypeCode>(options: ValueOptions<T>): Value<JsValueOf<T>> {
    if (options === undefined) throw invalidArgType('options', 'of type object', options, Value.create);
    const opts = validateOptions(options, 'options', Value.create) as unknown as ValueOptions<T>;
    const t = resolveType(opts.type, 'options.type', Value.create);
    const initial = opts.value === undefined ? undefined : toStored(t, opts.value, 'options.value', Value.create);
    const shm = createTyped(opts, { kind: 'Value', payloadLength: Value.byteLength, elementType: t.code, elementCount: 1 },
      (payload) => {
        // Not yet published, so a plain store will do.
        if (initial !== undefined) (new t.Array(payload, 0, 1) as Float64Array)[0] = initial as number;
      });
    return built(shm, () => new Value(CONSTRUCT, shm, true, payloadView(shm, Value.byteLength), t) as Value<JsValueOf<T>>);
  }

  /** Opens a named Value; its type comes from the segment. */
  static open(name: string): Value {
    const { shm, header } = openTyped(name, 'Value', Value.open);
    const t = typeFromCode(header.elementType);
    if (t === undefined) {
      shm.close();
      throw outOfRange('element type', 'a known type code', header.elementType, Value.open);
    }
    return new Value(CONSTRUCT, shm, true, payloadView(shm, Value.byteLength), t);
  }

  /**
   * A Value at `byteOffset` (a multiple of 8) in memory the caller owns, occupying
   * {@link Value.byteLength} bytes. Zero bytes are the value 0 (or false).
   */
  static at<T extends ValueType | TypeCode>(sharedMemory: SharedMemory, byteOffset: number, options: { type: T }): Value<JsValueOf<T>> {
    validatePlacement(sharedMemory, byteOffset, Value.byteLength, Value.at);
    const t = resolveType(validateOptions(options, 'options', Value.at).type, 'options.type', Value.at);
    return new Value(CONSTRUCT, sharedMemory, false, sharedMemory.view(byteOffset, Value.byteLength), t) as Value<JsValueOf<T>>;
  }

  /** The current value, read atomically. */
  get value(): V {
    const ints = this.#ints;
    if (ints !== undefined) return Atomics.load(ints, 0) as V;
    this.checkOpen(valueGetter);
    const t = this.#t;
    if (t.family === 'float') {
      this.#scratch![0] = atomics.load(this.#slot, 0) as never;
      return this.#bits![0] as V;
    }
    const raw = atomics.load(this.#slot, 0);
    return (t.family === 'bool' ? raw !== 0 : raw) as V;
  }

  /** Stores a new value atomically. Out-of-range values are refused (`ERR_OUT_OF_RANGE`). */
  set value(v: V) {
    this.checkOpen(valueSetter);
    this.#store(toStored(this.#t, v, 'value', valueSetter));
  }

  // The arithmetic methods are written out one by one so that each is a straight line for
  // the common case (an integer Value of up to 32 bits, a number in range): one check and
  // one Atomics call. Everything else (bigint Values, errors, closed) takes #slow.

  /** Adds `v` and returns the previous value (integers wrap around, as in C). */
  add(v: V): V {
    const ints = this.#ints;
    if (ints !== undefined && typeof v === 'number' && v >= this.#min && v <= this.#max && Number.isInteger(v)) {
      return Atomics.add(ints, 0, v) as V;
    }
    return this.#slow(this.add, v, atomics.add);
  }

  /** Subtracts `v`; returns the previous value. */
  sub(v: V): V {
    const ints = this.#ints;
    if (ints !== undefined && typeof v === 'number' && v >= this.#min && v <= this.#max && Number.isInteger(v)) {
      return Atomics.sub(ints, 0, v) as V;
    }
    return this.#slow(this.sub, v, atomics.sub);
  }

  /** Bitwise and; returns the previous value. */
  and(v: V): V {
    const ints = this.#ints;
    if (ints !== undefined && typeof v === 'number' && v >= this.#min && v <= this.#max && Number.isInteger(v)) {
      return Atomics.and(ints, 0, v) as V;
    }
    return this.#slow(this.and, v, atomics.and);
  }

  /** Bitwise or; returns the previous value. */
  or(v: V): V {
    const ints = this.#ints;
    if (ints !== undefined && typeof v === 'number' && v >= this.#min && v <= this.#max && Number.isInteger(v)) {
      return Atomics.or(ints, 0, v) as V;
    }
    return this.#slow(this.or, v, atomics.or);
  }

  /** Bitwise xor; returns the previous value. */
  xor(v: V): V {
    const ints = this.#ints;
    if (ints !== undefined && typeof v === 'number' && v >= this.#min && v <= this.#max && Number.isInteger(v)) {
      return Atomics.xor(ints, 0, v) as V;
    }
    return this.#slow(this.xor, v, atomics.xor);
  }

  /** Stores `v` and returns the previous value, in one atomic step. */
  exchange(v: V): V {
    this.checkOpen(this.exchange);
    const stored = toStored(this.#t, v, 'value', this.exchange);
    return this.#fromRaw(atomics.exchange(this.#slot, 0, this.#raw(stored)));
  }

  /**
   * Stores `replacement` if the value is `expected`, in one atomic step; returns the
   * previous value either way. Floats compare by bit pattern (so -0 is not 0, and a NaN
   * matches the same NaN).
   */
  compareExchange(expected: V, replacement: V): V {
    this.checkOpen(this.compareExchange);
    const e = this.#raw(toStored(this.#t, expected, 'expected', this.compareExchange));
    const r = this.#raw(toStored(this.#t, replacement, 'replacement', this.compareExchange));
    return this.#fromRaw(atomics.compareExchange(this.#slot, 0, e, r));
  }

  /** An arithmetic operation off the fast path: checks everything, then does it. */
  #slow(caller: Function, v: unknown, op: (a: Slot, i: number, v: Scalar) => Scalar): V {
    this.checkOpen(caller);
    const family = this.#t.family;
    if (family !== 'int' && family !== 'bigint') throw unsupported(caller.name, this.#t.name, caller);
    return op(this.#slot, 0, toStored(this.#t, v, 'value', caller)) as V;
  }

  /** A stored value as the slot holds it (floats: their bits). */
  #raw(stored: number | bigint): number | bigint {
    if (this.#t.family !== 'float') return stored;
    this.#bits![0] = stored as number;
    return this.#scratch![0]!;
  }

  #fromRaw(raw: number | bigint): V {
    const family = this.#t.family;
    if (family === 'bool') return (raw !== 0) as V;
    if (family !== 'float') return raw as V;
    this.#scratch![0] = raw as never;
    return this.#bits![0] as V;
  }

  #store(stored: number | bigint): void {
    atomics.store(this.#slot, 0, this.#raw(stored));
  }
}

const valueGetter = Object.getOwnPropertyDescriptor(Value.prototype, 'value')!.get!;
const valueSetter = Object.getOwnPropertyDescriptor(Value.prototype, 'value')!.set!;

registerKind(Value, {
  code: 2,
  inspect: ({ bytes, words, elementType }) => {
    const t = typeFromCode(elementType);
    if (t === undefined) return { elementType };
    const value = new t.Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, 1)[0];
    return { type: t.name, value: t.name === 'bool' ? value !== 0 : value, ...lockState(words[LOCK_BYTE >> 2]!, 'lock') };
  },
});
