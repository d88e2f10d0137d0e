// Segment names. The name `jobs` is the POSIX object `/jobs`, the one CPython's
// SharedMemory("jobs") opens too. A leading slash is accepted and ignored; every other
// rule is checked here, before any system call, and again in the addon.
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { invalidArgType, invalidArgValue } from './errors.js';
import { native } from './native.js';

/** The longest name this platform accepts, in bytes of UTF-8, leading slash not counted. */
export const MAX_NAME_BYTES: number = native.maxNameBytes;

/**
 * Validates a user-supplied name and returns it in canonical form (no leading slash).
 * `caller` is the public function to blame in the stack trace.
 */
export function canonicalName(name: unknown, caller: Function, argName = 'name', maxBytes = MAX_NAME_BYTES): string {
  if (typeof name !== 'string') throw invalidArgType(argName, 'of type string', name, caller);
  const bare = name.startsWith('/') ? name.slice(1) : name;
  const problem =
    bare.length === 0 ? 'must not be empty'
    : bare.includes('/') ? "must not contain '/' (other than one leading slash)"
    : bare.includes('\0') ? 'must not contain NUL characters'
    : process.platform === 'win32' && bare.includes('\\') ? "must not contain '\\' (Windows' namespace separator)"
    : bare === '.' || bare === '..' ? "must not be '.' or '..'"
    : bare.startsWith('.shmkit-') ? "must not start with '.shmkit-' (shmkit's own files: owner registries, segments not yet named)"
    : !bare.isWellFormed() ? 'must be well-formed Unicode (no lone surrogates)'
    : Buffer.byteLength(bare) > maxBytes ? `must be at most ${maxBytes} bytes of UTF-8 on ${process.platform}`
    : undefined;
  if (problem) throw invalidArgValue(argName, name, problem, caller);
  return bare;
}

/** The name as the operating system sees it, for error messages. */
export function osName(name: string): string {
  return process.platform === 'win32' ? name : `/${name}`;
}

/**
 * A fresh random name: "shmkit_" and 16 hex digits, 23 bytes, which fits every
 * platform's limit (macOS: 30).
 */
export function randomName(): string {
  return `shmkit_${randomBytes(8).toString('hex')}`;
}

/**
 * Which file `name` names now ("device:inode"): '' where the platform cannot tell
 * (Windows, where a name cannot outlive its holders anyway), undefined if nothing has the
 * name. A semaphore's is its file's (Linux keeps `sem.NAME` beside the segments).
 */
export function identityOf(name: string, semaphore = false): string | undefined {
  if (semaphore && process.platform !== 'linux') return '';
  try {
    return native.identity(semaphore ? `sem.${name}` : name);
  } catch (error) {
    return (error as { errno?: number }).errno === osConstants.errno.ENOENT ? undefined : '';
  }
}

/**
 * Whether `name` still names the object made with identity `identity` (so that removing
 * the name removes that object and not a successor someone made after unlinking it).
 * Where identities are unknown (''), only the name can be gone.
 */
export function stillNames(name: string, identity: string, semaphore = false): boolean {
  const now = identityOf(name, semaphore);
  return now !== undefined && (identity === '' || now === '' || now === identity);
}
