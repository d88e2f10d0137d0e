// The ownership core: who an owner is, whether it lives, and the one recovery policy every
// primitive with claims follows (Lock, RLock, Condition, Barrier, Queue, Pipe, the CLI).
//
// An owner is a thread (a worker_thread is one of its own). Its id is a positive 30-bit
// number the addon hands out once per thread (native/shmkit.h, CurrentOwnerId); whether
// the owner behind an id lives is asked of the kernel (Linux: an open-file-description
// lock the owner holds for as long as its thread runs; docs/design.md, "Ownership"). The
// answer never comes from a PID, from /proc or from a clock, so a live owner is never
// declared dead; an id the kernel cannot vouch for is treated as alive (recovery waits).
//
// The policy, written once here and nowhere else:
//   - A claim is a shared word that holds the claimant's id (a lock word; a Queue slot's
//     claim word; a Barrier arrival; a Pipe end), taken by compare-and-swap.
//   - The fast paths never ask about liveness. A waiter asks only after a quiet spell of
//     LIVENESS_MS with the same claim in the word, or an operation that finds a claim in
//     its way after such a spell.
//   - A claim is taken over only from an owner the kernel says is dead, by a
//     compare-and-swap from the very value that was judged, so a claim that changed
//     meanwhile is left alone.
//   - Every publish or release that ends a claim is a compare-and-swap from the claimed
//     value; one that fails means the claim was taken over, and the caller gets
//     ERR_SHMKIT_TAKEN_OVER instead of writing over someone else's state.
import { shmkitError, type CodedError } from './errors.js';
import { native } from './native.js';

/** The bits of a word that hold an owner id (lock words keep flags in the top two). */
export const OWNER_MASK = 0x3fffffff;

/** How long a waiter sleeps with the same claim in the way before it asks whether the claimant lives. */
export const LIVENESS_MS = 200;

/**
 * This thread's owner id (each thread loads its own copy of this module); 0 if the
 * thread could register nowhere (every owner registry name in /dev/shm is another
 * user's, or someone locked every free byte of this user's): objects then refuse this
 * thread (ERR_SHMKIT_NO_OWNER) rather than let it share an id with another.
 */
export const ME: number = native.ownerId();

/** Throws ERR_SHMKIT_NO_OWNER if this thread has no owner id (see {@link ME}). */
export function mustBeOwner(caller: Function): void {
  if (ME === 0) {
    throw shmkitError('This thread could not register as an owner: every owner registry in /dev/shm (.shmkit-owners-XX) is another user\'s, or every free byte of this user\'s is locked by someone else', 'ERR_SHMKIT_NO_OWNER', caller);
  }
}

/**
 * Whether the owner `id` (flag bits ignored) is dead, as the kernel says. Never true for
 * 0 (no owner), for this thread, or for an owner the kernel cannot vouch for either way.
 * A system call (about a microsecond): only after a quiet spell, never on a fast path.
 */
export function ownerDead(id: number): boolean {
  const owner = id & OWNER_MASK;
  return owner !== 0 && owner !== ME && !native.ownerAlive(owner);
}

/** Whether the owner `id` lives (the CLI's report; 0 is nobody, so not alive). */
export function ownerAlive(id: number): boolean {
  const owner = id & OWNER_MASK;
  return owner !== 0 && (owner === ME || native.ownerAlive(owner));
}

/**
 * Takes over the claim in `words[index]` if it still holds `seen` and the owner of `seen`
 * (its OWNER_MASK bits) is dead: compare-and-swap to `mine`. Whether it did.
 */
export function takeOver(words: Int32Array, index: number, seen: number, mine: number): boolean {
  return ownerDead(seen) && Atomics.compareExchange(words, index, seen, mine) === seen;
}

/** The error of an operation whose claim was taken over before it could publish or release it. */
export function takenOverError(what: string, caller: Function): CodedError {
  return shmkitError(`${what}: this thread's claim was taken over (its owner was judged dead) before it finished; nothing was written`, 'ERR_SHMKIT_TAKEN_OVER', caller);
}
