// Errors shaped the way Node's own are, so callers can branch on `code` exactly as they
// do for node:fs: system errors carry `code`, `errno`, `syscall` and `path`; bad
// arguments are TypeError/RangeError with Node's ERR_INVALID_ARG_* / ERR_OUT_OF_RANGE.
import { statfsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap, inspect } from 'node:util';

/** An error with a Node-style `code` (`ERR_…` for misuse, `E…` for the OS). */
export interface CodedError extends Error {
  code: string;
}

/** A failure reported by the operating system, shaped like the errors of `node:fs`. */
export interface SystemError extends CodedError {
  /** Node's (libuv's) negative error number, as in errors from `node:fs`. */
  errno: number;
  /** The system call that failed, e.g. `shm_open`. */
  syscall: string;
  /** The name of the object as the OS knows it, e.g. `/jobs`. */
  path: string;
}

function coded<E extends Error>(error: E, code: string, caller: Function): E & CodedError {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  Error.captureStackTrace(error, caller);
  return error as E & CodedError;
}

function received(value: unknown): string {
  if (value === null || value === undefined) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor?.name;
    return ctor ? ` Received an instance of ${ctor}` : ` Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

export function invalidArgType(name: string, expected: string, value: unknown, caller: Function): TypeError {
  return coded(
    new TypeError(`The "${name}" argument must be ${expected}.${received(value)}`),
    'ERR_INVALID_ARG_TYPE',
    caller,
  );
}

export function invalidArgValue(name: string, value: unknown, reason: string, caller: Function): TypeError {
  return coded(
    new TypeError(`The argument '${name}' ${reason}. Received ${inspect(value)}`),
    'ERR_INVALID_ARG_VALUE',
    caller,
  );
}

export function outOfRange(name: string, range: string, value: unknown, caller: Function): RangeError {
  return coded(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`),
    'ERR_OUT_OF_RANGE',
    caller,
  );
}

/** An error of shmkit's own (`ERR_SHMKIT_…`): `kind` is Error, TypeError or RangeError. */
export function shmkitError(message: string, code: `ERR_SHMKIT_${string}`, caller: Function,
  kind: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor = Error): CodedError {
  return coded(new kind(message), code, caller);
}

/** Thrown by any use of an object after its `close()`. */
export function closedError(what: string, caller: Function): CodedError {
  return coded(new Error(`${what} is closed`), 'ERR_SHMKIT_CLOSED', caller);
}

/**
 * Thrown where an object's shared words hold a state no correct sequence of operations can
 * reach (a peer with write access wrote into them): `what` says which words and how.
 */
export function corruptError(object: string, what: string, caller: Function): CodedError {
  return coded(new Error(`${object} is inconsistent (${what}): a process with write access wrote into it`), 'ERR_SHMKIT_CORRUPT', caller);
}

/** Thrown by `open` of a segment that is not a complete object of the kind asked for. */
export function kindError(message: string, caller: Function): CodedError {
  return coded(new TypeError(message), 'ERR_SHMKIT_KIND', caller);
}

/** Lock misuse (release by a non-owner, self-deadlock) or a wait that had to give up. */
export function lockError(message: string, code: 'ERR_SHMKIT_NOT_OWNER' | 'ERR_SHMKIT_DEADLOCK' | 'ERR_SHMKIT_TIMEOUT', caller: Function): CodedError {
  return coded(new Error(message), code, caller);
}

let errnoNames: Map<number, string> | undefined;
let uvByName: Map<string, [number, string]> | undefined;

/**
 * Turns the plain error the addon throws for an OS failure (`errno` as in the platform's
 * <errno.h>, `syscall`) into a Node system error. Anything else is returned untouched.
 */
export function fromNative(error: unknown, osName: string, caller: Function): unknown {
  const e = error as { osError?: boolean; errno?: number; syscall?: string; message?: string };
  if (!e || e.osError !== true || typeof e.errno !== 'number') return error;
  if (!errnoNames) {
    // The first name of a number, as libuv and Node say it: EAGAIN, not its alias EWOULDBLOCK.
    errnoNames = new Map();
    for (const [name, n] of Object.entries(osConstants.errno)) if (!errnoNames.has(n as number)) errnoNames.set(n as number, name);
    uvByName = new Map([...getSystemErrorMap()].map(([uv, [name, message]]) => [name, [uv, message]]));
  }
  const code = errnoNames.get(e.errno) ?? `E${e.errno}`;
  const [errno, message] = uvByName!.get(code) ?? [-e.errno, String(e.message)];
  const syscall = String(e.syscall);
  const err = new Error(`${code}: ${message}, ${syscall} '${osName}'`) as SystemError;
  Object.assign(err, { errno, code, syscall, path: osName });
  Error.captureStackTrace(err, caller);
  return err;
}

/**
 * An ENOSPC from making or reserving a segment, told as an operator needs it: how much
 * was asked, how much room /dev/shm had, and how to give it more. Other errors pass as
 * they are.
 */
export function noSpaceHint(error: unknown, asked: number): unknown {
  const e = error as SystemError;
  if (e?.code !== 'ENOSPC' || typeof e.message !== 'string') return error;
  let room = '';
  if (process.platform === 'linux') {
    try {
      const fs = statfsSync('/dev/shm');
      room = `; /dev/shm has ${fs.bavail * fs.bsize} bytes free of ${fs.blocks * fs.bsize}`;
    } catch {
      // no /dev/shm to ask about
    }
  }
  if (process.platform === 'win32') {
    // A section is committed against the system's commit limit (memory plus page files).
    e.message += `: ${asked} bytes asked; the system's commit limit (memory plus page files) has no room for it. ` +
      'Free memory, or let the page file grow';
    return e;
  }
  e.message += `: ${asked} bytes asked${room}. Give shared memory more room: Docker's --shm-size ` +
    '(or docker compose shm_size), a Kubernetes emptyDir volume with medium: Memory mounted at /dev/shm; ' +
    'or create the segment with sparse: true and reserve() what you use';
  return e;
}
