// The header of a segment that holds one typed object (Lock, Value, SharedArray, …).
// Byte by byte in docs/memory-layout.md; in short, little-endian:
//
//   0   u32  magic 0x4B4D4853 ("SHMK"), stored last: the object is complete once it reads so
//   4   u16  format version (FORMAT_VERSION)
//   6   u16  kind (the registry's number: kinds.ts)
//   8   u32  payload offset (64)
//   12  u32  element type (value-types.ts; 0 if the kind has none)
//   16  u64  payload length in bytes
//   24  u64  element count (SharedArray; 0 otherwise)
//   32  u32  creator's process id
//   36  28 bytes reserved, 0
//   64  payload
//
// Every payload is valid when all zeros except for what its creator writes before the
// magic, so `open` racing `create` waits for the magic and then sees a whole object.
import { invalidArgType, kindError, outOfRange, shmkitError } from './errors.js';
import { kindNamed, kindOfCode } from './kinds.js';
import { createSegment, SharedMemory } from './shared-memory.js';

export const MAGIC = 0x4b4d4853;
export const FORMAT_VERSION = 3;
export const HEADER_SIZE = 64;

/** A registered kind's name (kinds.ts): the name of its class. */
export type KindName = string;

/** How long `open` waits for a segment that exists but is not yet complete. */
const COMPLETE_WITHIN_MS = 500;

export interface Header {
  kind: KindName;
  payloadLength: number;
  elementType: number;
  elementCount: number;
}

export interface CreateTyped {
  name?: string | undefined;
  mode?: number | undefined;
  unlinkOnExit?: boolean | undefined;
}

/**
 * Creates the segment, lets `init` write the payload (zero-filled), then writes the
 * header, magic last, and only then gives the segment its name (shared-memory.ts
 * createSegment): nobody can open the object before it is whole, and a creator killed
 * half-way leaves nothing under the name. (Where names cannot be given late, macOS and
 * Windows, the magic stored last still tells `open` when the object is complete.)
 */
export function createTyped(options: CreateTyped, header: Header, init: (payload: ArrayBuffer) => void, reservedPayload?: number): SharedMemory {
  // reservedPayload: a kind that grows inside its segment (SharedMap) reserves its first
  // bytes now, the rest as it grows; the others reserve everything at create.
  return createSegment({
    name: options.name,
    size: HEADER_SIZE + header.payloadLength,
    mode: options.mode,
    unlinkOnExit: options.unlinkOnExit,
    sparse: reservedPayload !== undefined,
  }, (view, reserve) => {
    if (reservedPayload !== undefined) reserve(0, HEADER_SIZE + reservedPayload);
    const h = new DataView(view(0, HEADER_SIZE));
    h.setUint16(4, FORMAT_VERSION, true);
    h.setUint16(6, kindNamed(header.kind).code, true);
    h.setUint32(8, HEADER_SIZE, true);
    h.setUint32(12, header.elementType, true);
    h.setBigUint64(16, BigInt(header.payloadLength), true);
    h.setBigUint64(24, BigInt(header.elementCount), true);
    h.setUint32(32, process.pid, true);
    init(view(HEADER_SIZE, header.payloadLength));
    Atomics.store(new Int32Array(h.buffer, 0, 1), 0, MAGIC); // publish: a sequentially consistent store
  }, createTyped);
}

/** The payload of a typed segment (everything after the header), `byteLength` bytes of it. */
export function payloadView(shm: SharedMemory, byteLength: number): ArrayBuffer {
  return shm.view(HEADER_SIZE, byteLength);
}

/**
 * Runs `make` (the object's construction over a segment just created); if it throws,
 * the segment goes too, so a failed create never leaves a name behind.
 */
export function built<T>(shm: SharedMemory, make: () => T): T {
  try {
    return make();
  } catch (error) {
    shm.close();
    shm.unlink();
    throw error;
  }
}

const nap = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms: number): void {
  Atomics.wait(nap, 0, 0, ms);
}

/** The fields of a header as they are, unchecked (for openTyped, and for `shmkit` to list and inspect). */
export function readHeader(view: DataView): {
  magic: number; version: number; kind: number; payloadOffset: number; elementType: number;
  payloadLength: number; elementCount: number; creatorPid: number;
} {
  return {
    magic: Atomics.load(new Int32Array(view.buffer, view.byteOffset, 1), 0),
    version: view.getUint16(4, true),
    kind: view.getUint16(6, true),
    payloadOffset: view.getUint32(8, true),
    elementType: view.getUint32(12, true),
    payloadLength: Number(view.getBigUint64(16, true)),
    elementCount: Number(view.getBigUint64(24, true)),
    creatorPid: view.getUint32(32, true),
  };
}

/**
 * Opens a typed segment and checks its header: `ERR_SHMKIT_KIND` if it is another kind
 * of object, not a shmkit object, a format this version does not read, or still
 * incomplete after a grace period (its creator is slow or died half-way).
 */
export function openTyped(name: string, kind: KindName, caller: Function, readOnly = false): { shm: SharedMemory; header: Header } {
  const deadline = Date.now() + COMPLETE_WITHIN_MS;
  for (;;) {
    const shm = SharedMemory.open(name, { readOnly });
    try {
      if (shm.size >= HEADER_SIZE) {
        const h = readHeader(new DataView(shm.keep(shm.view(0, HEADER_SIZE))));
        const { magic } = h;
        if (magic !== 0 && magic !== MAGIC) {
          throw kindError(`'${shm.name}' is not a shmkit ${kind} (no shmkit header)`, caller);
        }
        if (magic === MAGIC) {
          const { version, kind: found, payloadOffset: offset, payloadLength } = h;
          if (version !== FORMAT_VERSION) {
            throw kindError(`'${shm.name}' has shmkit format version ${version}; this shmkit reads version ${FORMAT_VERSION}`, caller);
          }
          if (found !== kindNamed(kind).code) {
            const foundName = kindOfCode(found)?.name ?? `kind ${found}`;
            throw kindError(`'${shm.name}' is a shmkit ${foundName}, not a ${kind}`, caller);
          }
          if (offset !== HEADER_SIZE || HEADER_SIZE + payloadLength > shm.size) {
            throw kindError(`'${shm.name}' has a damaged header (payload ${offset}+${payloadLength} in ${shm.size} bytes)`, caller);
          }
          return { shm, header: { kind, payloadLength, elementType: h.elementType, elementCount: h.elementCount } };
        }
      }
    } catch (error) {
      shm.close();
      throw error;
    }
    shm.close();
    if (Date.now() >= deadline) {
      throw kindError(`'${name}' is not a complete shmkit ${kind}: still being created after ${COMPLETE_WITHIN_MS} ms, or not a shmkit object`, caller);
    }
    sleep(1);
  }
}

/**
 * Checks `X.at(shm, byteOffset)` arguments: a writable SharedMemory and an 8-aligned range
 * in it. A read-only attach is refused: its stores land in private copy-on-write pages, so
 * a lock taken there would exclude nobody and a counter would count for nobody.
 */
export function validatePlacement(shm: unknown, byteOffset: unknown, byteLength: number, caller: Function): asserts shm is SharedMemory {
  if (!(shm instanceof SharedMemory)) throw invalidArgType('sharedMemory', 'an instance of SharedMemory', shm, caller);
  if (shm.readOnly) {
    throw shmkitError(`'${shm.name}' is attached read-only: objects placed in it could not change it (open it read-write to place objects)`, 'ERR_SHMKIT_READ_ONLY', caller, TypeError);
  }
  if (typeof byteOffset !== 'number') throw invalidArgType('byteOffset', 'of type number', byteOffset, caller);
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0 || byteOffset + byteLength > shm.size) {
    throw outOfRange('byteOffset', `a multiple of 8 from 0 to ${shm.size - byteLength}`, byteOffset, caller);
  }
}
