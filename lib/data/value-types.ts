// The element types of Value and SharedArray, with Python's typecodes as aliases. The
// numeric codes are stored in segment headers (docs/memory-layout.md): never renumber.
import { invalidArgType, invalidArgValue, outOfRange } from '../core/errors.js';

export type ValueType =
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'float32' | 'float64' | 'bool';
/** Python `array`/`ctypes` typecodes accepted for the types above. */
export type TypeCode = 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'l' | 'L' | 'q' | 'Q' | 'f' | 'd' | '?';
/** What a JavaScript value of each type is. */
export type JsValueOf<T extends ValueType | TypeCode> =
  T extends 'int64' | 'uint64' | 'q' | 'Q' | 'l' | 'L' ? bigint
  : T extends 'bool' | '?' ? boolean
  : number;

type Family = 'int' | 'bigint' | 'float' | 'bool';
type ArrayCtor = Int8ArrayConstructor | Uint8ArrayConstructor | Int16ArrayConstructor | Uint16ArrayConstructor
  | Int32ArrayConstructor | Uint32ArrayConstructor | BigInt64ArrayConstructor | BigUint64ArrayConstructor
  | Float32ArrayConstructor | Float64ArrayConstructor;

export interface TypeInfo {
  readonly name: ValueType;
  /** Stored in headers. */
  readonly code: number;
  readonly bytes: 1 | 2 | 4 | 8;
  readonly family: Family;
  /** The typed array of SharedArray.array (bool: Uint8Array of 0/1). */
  readonly Array: ArrayCtor;
  readonly min: number | bigint;
  readonly max: number | bigint;
}

function info(name: ValueType, code: number, bytes: 1 | 2 | 4 | 8, family: Family, Array: ArrayCtor,
  min: number | bigint, max: number | bigint): TypeInfo {
  return Object.freeze({ name, code, bytes, family, Array, min, max });
}

export const TYPES: Readonly<Record<ValueType, TypeInfo>> = Object.freeze({
  int8: info('int8', 1, 1, 'int', Int8Array, -128, 127),
  uint8: info('uint8', 2, 1, 'int', Uint8Array, 0, 255),
  int16: info('int16', 3, 2, 'int', Int16Array, -32768, 32767),
  uint16: info('uint16', 4, 2, 'int', Uint16Array, 0, 65535),
  int32: info('int32', 5, 4, 'int', Int32Array, -(2 ** 31), 2 ** 31 - 1),
  uint32: info('uint32', 6, 4, 'int', Uint32Array, 0, 2 ** 32 - 1),
  int64: info('int64', 7, 8, 'bigint', BigInt64Array, -(2n ** 63n), 2n ** 63n - 1n),
  uint64: info('uint64', 8, 8, 'bigint', BigUint64Array, 0n, 2n ** 64n - 1n),
  float32: info('float32', 9, 4, 'float', Float32Array, -Infinity, Infinity),
  float64: info('float64', 10, 8, 'float', Float64Array, -Infinity, Infinity),
  bool: info('bool', 11, 1, 'bool', Uint8Array, 0, 1),
});

// C's long is 32 bits on Windows and 64 elsewhere, and Python's 'l'/'L' follow it.
const longIs64 = process.platform !== 'win32';
const ALIASES: Readonly<Record<TypeCode, ValueType>> = {
  b: 'int8', B: 'uint8', h: 'int16', H: 'uint16', i: 'int32', I: 'uint32',
  l: longIs64 ? 'int64' : 'int32', L: longIs64 ? 'uint64' : 'uint32',
  q: 'int64', Q: 'uint64', f: 'float32', d: 'float64', '?': 'bool',
};

export function resolveType(value: unknown, argName: string, caller: Function): TypeInfo {
  if (typeof value !== 'string') throw invalidArgType(argName, 'of type string', value, caller);
  const name = Object.hasOwn(TYPES, value) ? value as ValueType : ALIASES[value as TypeCode];
  if (name === undefined) {
    throw invalidArgValue(argName, value, `must be one of ${Object.keys(TYPES).join(', ')} or a Python typecode (${Object.keys(ALIASES).join('')})`, caller);
  }
  return TYPES[name];
}

export function typeFromCode(code: number): TypeInfo | undefined {
  return Object.values(TYPES).find((t) => t.code === code);
}

/**
 * Checks a value for a slot of this type and returns what the typed array stores:
 * a number (int, float; bool as 0/1) or a bigint (64-bit integers, which also accept
 * integer numbers within Number.MAX_SAFE_INTEGER).
 */
export function toStored(t: TypeInfo, value: unknown, argName: string, caller: Function): number | bigint {
  switch (t.family) {
    case 'int':
      if (typeof value !== 'number') throw invalidArgType(argName, 'of type number', value, caller);
      if (!Number.isInteger(value) || value < (t.min as number) || value > (t.max as number)) {
        throw outOfRange(argName, `an integer >= ${t.min} and <= ${t.max}`, value, caller);
      }
      return value;
    case 'bigint': {
      let big: bigint;
      if (typeof value === 'bigint') big = value;
      else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
      else if (typeof value === 'number') throw outOfRange(argName, 'a bigint, or an integer number within ±(2^53 - 1)', value, caller);
      else throw invalidArgType(argName, 'of type bigint', value, caller);
      if (big < (t.min as bigint) || big > (t.max as bigint)) throw outOfRange(argName, `>= ${t.min}n and <= ${t.max}n`, value, caller);
      return big;
    }
    case 'float':
      if (typeof value !== 'number') throw invalidArgType(argName, 'of type number', value, caller);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw invalidArgType(argName, 'of type boolean', value, caller);
      return value ? 1 : 0;
  }
}
