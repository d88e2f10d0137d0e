// The parking layer: how every shmkit primitive sleeps and is woken, written once. A
// primitive writes its waiting loop as a generator of the sleeps it needs (a futex sleep
// on a word while it holds a value, or a native operation such as a named semaphore's
// wait); parkSync drives it blocking, parkAsync without blocking the event loop. The
// public wait/waitAsync/notify (wait.ts) are a thin contract over the same machinery.
//
// What parkAsync guarantees, for every primitive at once:
//   - An abort is looked at before every sleep, and one that comes during a sleep ends it
//     at once: the generator is thrown the signal's reason (its `finally` blocks run, so
//     waiter counts and arrivals are undone) and the promise rejects with it.
//   - Closing the object that owns the memory (SharedMemory.close(), which every typed
//     object's close() and every object placed in it go through; NamedSemaphore.close())
//     ends every pending sleep on it before anything is unmapped: the generator is thrown
//     ERR_SHMKIT_CLOSED while the words are still there, and nothing keeps the event loop
//     alive afterwards.
//   - A sleep that completed in the native layer after JavaScript gave up on it (an abort
//     or a close racing a wake-up) hands what it got to someone else: a futex wake-up
//     is passed on with notify(1), a semaphore unit is posted back. No wake-up, no unit is
//     ever swallowed by a waiter that is no longer there.
import { availableParallelism, cpus } from 'node:os';
import { closedError, fromNative } from './errors.js';
import { native, type NativeWaitResult } from './native.js';

/** What owns the memory a sleep is on: a SharedMemory (or a NamedSemaphore for its own waits). */
export interface Owner {
  readonly name: string;
  /** A read-only attach (wait.ts refuses waits on it). */
  readonly readOnly?: boolean;
}

/** One futex sleep a waiting loop asks for: on words[index] while it is `value`, up to `ms`. */
export interface Sleep {
  words: Int32Array;
  index: number;
  value: number;
  ms: number;
  /** Set by the driver when the sleep ends: how (the generator itself is told only whether it timed out). */
  result?: SleepResult;
}

/**
 * One native asynchronous operation a waiting loop asks for (a named semaphore's wait):
 * `start(id)` begins it, reporting through the addon's completion channel; `cancel(id)`
 * asks it to stop; `undo()` gives back what it got if it succeeded after being given up.
 */
export interface NativeCall {
  owner: Owner;
  start(id: number): void;
  cancel(id: number): void;
  undo(): void;
  /**
   * Whether `undo` is harmless when the operation got nothing (a futex wake-up passed on
   * is at worst a spurious one; a semaphore unit posted is not). Such an undo runs at
   * once when the segment is closed under the operation, while the word is still mapped:
   * the operation may have taken a wake-up whose report cannot come before the unmap.
   */
  handOnAtClose?: boolean;
  /** Called once the addon has reported the operation, whether or not it was given up. */
  reported?(): void;
  /** Set by the driver when the operation ends: how. */
  result?: SleepResult;
}

/** How a sleep ended, as Atomics.wait reports it. */
export type SleepResult = 'ok' | 'not-equal' | 'timed-out';
/** The addon's wait results (native.ts NativeWaitResult) by number; 3, cancelled, reads as a time-out. */
export const RESULTS: readonly SleepResult[] = ['ok', 'not-equal', 'timed-out', 'timed-out'];

// --- Which owner a view belongs to -------------------------------------------------------

const owners = new WeakMap<ArrayBufferLike, Owner>();

/** Records that `buffer` is a view of `owner`'s memory (SharedMemory does, for every view it makes). */
export function adopt(buffer: ArrayBufferLike, owner: Owner): void {
  owners.set(buffer, owner);
}

/** The owner of the memory `array` is a view of, if shmkit made it. */
export function ownerOf(array: Int32Array): Owner | undefined {
  return owners.get(array.buffer);
}

// --- Pending operations, per owner --------------------------------------------------------

interface Parked {
  /** The object whose method started it (a Lock placed in a segment), if any. */
  by: object | undefined;
  /** Ends the operation now with `error`; `closing`: its memory is about to go (see NativeCall.handOnAtClose). */
  interrupt(error: unknown, closing?: boolean): void;
}

const parked = new WeakMap<Owner, Set<Parked>>();
const closing = new WeakSet<Owner>();

/**
 * Ends every pending operation on `owner`'s memory with ERR_SHMKIT_CLOSED, running their
 * clean-up while the memory is still mapped, and refuses new ones. The owner calls it
 * first thing in close(), before it unmaps anything. With `by`, only the operations that
 * object started end (an object placed in a segment that stays open is closing).
 */
export function settleParked(owner: Owner, what: string, caller: Function, by?: object): void {
  if (by === undefined) closing.add(owner);
  const set = parked.get(owner);
  if (set === undefined) return;
  const error = closedError(what, caller);
  for (const p of [...set]) if (by === undefined || p.by === by) p.interrupt(error, true);
}

// --- The native completion channel ---------------------------------------------------------

interface Op {
  call: NativeCall;
  done(result: SleepResult): void;
  /** Given up (aborted or closed): its completion is only looked at to undo a success. */
  abandoned: boolean;
}

const ops = new Map<number, Op>();
let nextId = 1;

native.setWaitCallback((id: number, result: NativeWaitResult) => {
  const op = ops.get(id);
  if (op === undefined) return;
  ops.delete(id);
  if (!op.abandoned) {
    op.call.reported?.();
    op.done(RESULTS[result]!); // advance() catches whatever the waiting loop throws
    return;
  }
  try {
    if (result === 0) op.call.undo(); // it got something after all: hand it on
  } catch (error) {
    // Nobody is left to tell (the operation was given up), and throwing here would stop the
    // other completions the addon is delivering: a warning, as Node does for such errors.
    process.emitWarning(`shmkit: could not hand on what an abandoned wait received: ${(error as Error)?.message ?? error}`);
  } finally {
    op.call.reported?.(); // after the undo: it may need what this lets go of
  }
});

/** Starts a native operation; returns the function that gives it up. */
function startOp(call: NativeCall, done: (result: SleepResult) => void): () => void {
  const id = nextId++;
  const op: Op = { call, done, abandoned: false };
  ops.set(id, op);
  try {
    call.start(id);
  } catch (error) {
    ops.delete(id);
    throw error;
  }
  return () => {
    if (op.abandoned || !ops.has(id)) return;
    op.abandoned = true;
    call.cancel(id);
  };
}

/** The owner of memory shmkit did not map (a SharedArrayBuffer given to waitAsync): never closed. */
const UNOWNED: Owner = { name: 'memory' };

/** The native operation behind a futex sleep; its undo passes a wake-up it took on. */
function futexCall(s: Sleep): NativeCall {
  const { words, index } = s;
  return {
    owner: ownerOf(words) ?? UNOWNED,
    handOnAtClose: true,
    start: (id) => {
      try {
        native.waitAsyncStart(words, index, s.value, s.ms, id);
      } catch (error) {
        throw fromNative(error, ownerOf(words)?.name ?? 'memory', parkAsync); // EAGAIN: no thread to be had
      }
    },
    cancel: (id) => native.waitAsyncCancel(id),
    undo: () => {
      if (words.length > index) native.notify(words, index, 1); // still mapped: pass the wake-up on
    },
  };
}

// --- The drivers ---------------------------------------------------------------------------

/**
 * Runs a waiting loop blocking. The generator is told after each sleep whether it timed out.
 * (A blocking sleep cannot be pending when its thread closes the object, nor aborted.)
 */
export function parkSync<T>(steps: Generator<Sleep, T, boolean>): T {
  let r = steps.next(false);
  while (!r.done) {
    const s = r.value;
    s.result = RESULTS[native.wait(s.words, s.index, s.value, s.ms)]!;
    r = steps.next(s.result === 'timed-out');
  }
  return r.value;
}

/**
 * Runs a waiting loop without blocking the event loop; `signal` aborts it; `by` is the
 * object whose method this is (its close() ends it). See the top of this file for what
 * it guarantees on abort and close.
 */
export function parkAsync<T>(steps: Generator<Sleep | NativeCall, T, boolean>, signal?: AbortSignal, by?: object): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let giveUp: (() => void) | undefined; // the sleep in flight
    let inFlight: NativeCall | undefined; // and what it is
    let owner: Owner | undefined; // whose set this operation is in
    let finished = false;
    // An abort is thrown into the loop once; its clean-up may then sleep (a Condition
    // takes its lock back), and those sleeps are not aborted again.
    let abortThrown = false;
    const self: Parked = { by, interrupt };
    const onAbort = (): void => {
      if (abortThrown) return;
      abortThrown = true;
      interrupt(signal!.reason);
    };

    function leave(): void {
      if (owner !== undefined) parked.get(owner)?.delete(self);
      owner = undefined;
    }

    function finish(settle: () => void): void {
      finished = true;
      leave();
      signal?.removeEventListener('abort', onAbort);
      settle();
    }

    // Advances the loop by `how` until it asks for a sleep (started here) or ends.
    function advance(how: () => IteratorResult<Sleep | NativeCall, T>): void {
      for (;;) {
        let r: IteratorResult<Sleep | NativeCall, T>;
        try {
          r = how();
        } catch (error) {
          finish(() => reject(error));
          return;
        }
        if (r.done) {
          const value = r.value;
          finish(() => resolve(value));
          return;
        }
        const sleep = r.value;
        const call = 'words' in sleep ? futexCall(sleep) : sleep;
        if (signal?.aborted && !abortThrown) {
          abortThrown = true;
          const reason = signal.reason;
          how = () => steps.throw(reason);
          continue;
        }
        if (closing.has(call.owner)) {
          const error = closedError(`'${call.owner.name}'`, parkAsync);
          how = () => steps.throw(error);
          continue;
        }
        try {
          inFlight = call;
          giveUp = startOp(call, (result) => {
            sleep.result = result;
            giveUp = undefined;
            inFlight = undefined;
            leave();
            advance(() => steps.next(result === 'timed-out'));
          });
        } catch (error) {
          how = () => steps.throw(error);
          continue;
        }
        if (owner !== call.owner) {
          leave();
          owner = call.owner;
          let set = parked.get(owner);
          if (set === undefined) parked.set(owner, (set = new Set()));
          set.add(self);
        }
        return;
      }
    }

    function interrupt(error: unknown, closing = false): void {
      if (finished || giveUp === undefined) return;
      const stop = giveUp;
      const call = inFlight;
      giveUp = undefined;
      inFlight = undefined;
      stop();
      if (closing && call?.handOnAtClose) call.undo();
      leave();
      advance(() => steps.throw(error));
    }

    signal?.addEventListener('abort', onAbort, { once: true });
    advance(() => steps.next(false));
  });
}

// --- Looking before sleeping ----------------------------------------------------------------
//
// A hand-off between processes on two CPUs often comes back within a microsecond or two,
// while a sleep costs a wake-up system call on one side and, on a VM, tens of microseconds
// of waking an idle virtual CPU on the other. So the primitives whose wake-ups are changes
// of their word look at it for a while before they sleep; the raw wait() never does, since
// a bare notify changes nothing it could see. The policy, from the machine:
//   - One CPU online: never look; it could only keep the peer from running.
//   - Looking is bounded by time (not iterations, whose cost varies tenfold between
//     machines): SPIN_MS when this thread may run on several CPUs. A thread pinned to one
//     CPU (its affinity mask, which is what os.availableParallelism() reports) cannot tell
//     whether its peer is pinned to the same one, where looking only holds it up, or to
//     another, where it pays: it looks for PINNED_SPIN_MS, enough for a round trip on two
//     CPUs and a small loss on one.
//   - A gap between two looks longer than PREEMPTED_MS means this thread was preempted:
//     the CPU is contended, and looking on would take it from whoever needs it. It stops.
const ONLINE_CPUS = cpus().length;
const SPIN_MS = 0.02;
const PINNED_SPIN_MS = 0.004;
const PREEMPTED_MS = 0.05;
const LOOK_MS = ONLINE_CPUS <= 1 ? 0 : availableParallelism() > 1 ? SPIN_MS : PINNED_SPIN_MS;

// Looking that keeps failing is given up for a while: on one CPU (both sides pinned to it)
// the peer cannot run while this thread looks, and on a loaded machine it may not either.
// After MISSES_TO_REST looks in a row that saw nothing, this thread sleeps at once for the
// next REST_SLEEPS times, then tries looking again.
const MISSES_TO_REST = 32;
const REST_SLEEPS = 256;
let misses = 0;
let resting = 0;

/** @internal Looks until `ready()` is true, within the policy above; whether it became true. */
export function spinUntil(ready: () => boolean): boolean {
  if (LOOK_MS === 0) return false;
  // Ready at the first look says nothing about whether looking pays (on one CPU the peer
  // may have run while this thread was woken): only a wait that looking ended counts.
  if (ready()) return true;
  if (resting > 0) {
    resting--;
    return false;
  }
  const start = performance.now();
  let last = start;
  for (;;) {
    for (let i = 0; i < 64; i++) {
      if (ready()) {
        misses = 0;
        return true;
      }
    }
    const now = performance.now();
    if (now - start >= LOOK_MS || now - last >= PREEMPTED_MS) break;
    last = now;
  }
  if (++misses >= MISSES_TO_REST) {
    misses = 0;
    resting = REST_SLEEPS;
  }
  return false;
}

/** @internal Looks at array[index] within the policy above; true as soon as it is not `value`. */
export function spinWhile(array: Int32Array, index: number, value: number): boolean {
  return spinUntil(() => Atomics.load(array, index) !== value);
}
