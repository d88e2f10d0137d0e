// Loads the addon and declares its shape. The addon is deliberately small (native/addon.cc
// is its implementation): it maps, unmaps and copies; everything else is TypeScript.
import { join } from 'node:path';
// node-gyp-build ships no types: it takes the package root and returns the loaded addon.
const nodeGypBuild = require('node-gyp-build') as (root: string) => unknown;

/** A mapped segment, as the addon hands it out. */
export interface NativeSegment {
  readonly size: number;
  readonly readOnly: boolean;
  /** "device:inode" of the segment's file ('' where the platform has none). */
  readonly identity: string;
  /** An external ArrayBuffer over [byteOffset, byteOffset + byteLength), detached by close(). */
  view(byteOffset: number, byteLength: number): ArrayBuffer;
  read(byteOffset: number, byteLength: number): Buffer;
  reserve(byteOffset: number, byteLength: number): void;
  write(byteOffset: number, byteLength: number, bytes: Uint8Array): void;
  /** Detaches every view handed out, then unmaps. Idempotent. */
  close(): void;
}

/** What the addon's wait functions return: index into RESULTS (core/park.ts). */
export type NativeWaitResult = 0 | 1 | 2 | 3;

/** A named OS semaphore, as the addon hands it out. */
export interface NativeSemaphore {
  /** 0 acquired, 2 timed out. */
  wait(timeout: number): NativeWaitResult;
  tryWait(): boolean;
  /** Reports through the wait callback with `id`. */
  waitAsync(timeout: number, id: number): void;
  post(): void;
  value(): number;
  close(): void;
}

export interface Native {
  /**
   * Creates a segment and, unless `publish` is false, gives it `name`. Unpublished, it
   * lives under `made` (Linux: a temporary name; elsewhere `name` itself) until
   * publish(made, name), after which the caller unlinks `made` if it differs.
   */
  create(name: string, size: number, mode: number, publish?: boolean, sparse?: boolean): NativeSegment & { made?: string };
  publish(made: string, name: string): void;
  open(name: string, readOnly: boolean): NativeSegment;
  unlink(name: string): void;
  exists(name: string): boolean;
  /** "device:inode" of what the name names now ('' where unknown); throws ENOENT if nothing. */
  identity(name: string): string;
  /**
   * Linux: takes the segment's usage lock exclusively, so it can be judged and removed
   * while nobody can start using it; null if some process has it mapped (in use).
   * Elsewhere it throws ENOTSUP. Let go with unlockUnused(handle).
   */
  lockUnused(name: string): { handle: number; size: number; identity: string; head: Buffer } | null;
  unlockUnused(handle: number): void;
  /** Longest segment name this platform takes, in UTF-8 bytes, leading slash not counted. */
  readonly maxNameBytes: number;
  /** False in builds for runtimes that forbid external ArrayBuffers (Electron). */
  readonly externalBuffers: boolean;

  /** Blocking futex-style wait; timeout in ms (Infinity/NaN: none). */
  wait(array: Int32Array, index: number, expected: number, timeout: number): NativeWaitResult;
  /** Wakes up to `count` waiters in any process; returns how many. */
  notify(array: Int32Array, index: number, count: number): number;
  /** Starts a wait that reports to the callback set by setWaitCallback. */
  waitAsyncStart(array: Int32Array, index: number, expected: number, timeout: number, id: number): void;
  waitAsyncCancel(id: number): void;
  setWaitCallback(callback: (id: number, result: NativeWaitResult) => void): void;
  /** 'io_uring' or 'threads'. */
  waitBackend(): string;
  /** This thread's owner id for lock words (30 bits). */
  ownerId(): number;
  ownerAlive(ownerId: number): boolean;

  openSemaphore(name: string, create: boolean, mode: number, value: number): NativeSemaphore;
  unlinkSemaphore(name: string): void;
  cancelSemaphoreWait(id: number): void;
  readonly maxSemaphoreNameBytes: number;
}

function load(): Native {
  // SHMKIT_NATIVE names a specific build of the addon to load instead of the one
  // node-gyp-build finds (the tests use it for the no-external-buffers build).
  const explicit = process.env.SHMKIT_NATIVE;
  if (explicit) return require(explicit) as Native;
  return nodeGypBuild(join(__dirname, '..', '..')) as Native;
}

export const native: Native = load();
