// Manager: Python's BaseManager.register and proxies, carried on shmkit's own channels.
// A server publishes an object under a name; a client connects by that name and calls the
// object's methods through a proxy whose methods return promises.
//
// The name is a segment of its own (docs/memory-layout.md, "Manager"): a magic word, the
// server's Lock (held by the serving thread for as long as it serves: the ownership core
// then tells a client, or the next server, whether it lives) and a Queue ring where
// clients knock. It is written whole before the name appears (createSegment's fill), so a
// client never meets half a server. A client makes a duplex Pipe under a random name, sends that name through
// the ring, and the server opens the other end; both unlink the pipe's name as soon as the
// server has it, so nothing stays in /dev/shm after either dies. Calls and replies travel
// on the pipe, matched by number; a Pipe tells each side when the other end's thread is
// gone (within about 200 ms), which is how a server's death reaches every pending call,
// and its close flag tells a close from a death.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { invalidArgType, invalidArgValue, outOfRange, shmkitError, type CodedError } from '../core/errors.js';
import { ownerAlive } from '../core/ownership.js';
import { createSegment, removeAtExit, SharedMemory } from '../core/shared-memory.js';
import { validateInteger, validateOptions } from '../core/validate.js';
import { Lock } from '../sync/lock.js';
import { Pipe } from './pipe.js';
import { initRing, Queue, ringBytes, type QueueMessage } from './queue.js';

const MAGIC = 0x52474d53; // "SMGR"
const VERSION = 1;
const LOCK_AT = 8;
const RING_AT = 64;
const KNOCKS = 64; // clients knocking at once
const KNOCK_SIZE = 512; // a pipe's name, encoded
const SEGMENT = RING_AT + ringBytes(KNOCKS, KNOCK_SIZE);
/** Per direction of a connection: messages in flight, and the largest (a call or a result, encoded). */
const PIPE_CAPACITY = 16;
export const MAX_CALL_BYTES = 65536;

/**
 * How long a client with a call in flight, and a server that has just answered, look for
 * the next message before they sleep. Waking from an async wait costs one to three thread
 * hand-offs (on these VMs, 50-150 µs each): a round trip where both sides sleep costs
 * hundreds of microseconds, one where both look costs a few. Not on one CPU, where the
 * peer cannot run while this thread looks.
 */
const LOOK_MS = availableParallelism() > 1 ? 0.25 : 0;
function look(pipe: Pipe): boolean {
  if (LOOK_MS === 0) return false;
  const end = performance.now() + LOOK_MS;
  do {
    if (pipe.ready) return true;
  } while (performance.now() < end);
  return false;
}

type Reply = [number, 0, unknown] | [number, 1, RemoteError];

/**
 * A call or a reply on the pipe: JSON text when JSON keeps the value exactly (numbers that
 * are finite and not -0, strings, booleans, null, dense plain arrays and plain objects of
 * those, each object met once, no accessors) and its UTF-8 fits, structured clone
 * otherwise. v8.serialize and deserialize cost some 5 µs per message here against well
 * under 1 µs for JSON, and most calls carry plain values. A string message is always
 * JSON: structured values travel as the array they are. Nothing here runs a getter (the
 * structured clone that may follow runs each once, as it would anyway); what cannot be
 * encoded at all throws from the pipe's send, as before.
 */
function encode(message: unknown[]): QueueMessage {
  seen.clear();
  if (!jsonExact(message, 0)) return message;
  const text = JSON.stringify(message);
  // Structured clone counts a string's one-byte characters once, JSON's UTF-8 maybe
  // three times: the limit is the pipe's, so JSON must not make a message too large.
  return text.length * 3 <= MAX_CALL_BYTES || Buffer.byteLength(text) <= MAX_CALL_BYTES ? text : message;
}
function decode(message: unknown): unknown {
  return typeof message === 'string' ? JSON.parse(message) : message;
}
/** Objects met by the jsonExact in progress: one met twice is a shared reference, which JSON would copy. */
const seen = new Set<object>();
function jsonExact(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0);
    case 'object': {
      if (v === null) return true;
      if (depth > 32 || seen.has(v)) return false;
      seen.add(v);
      const proto = Object.getPrototypeOf(v);
      if (proto !== Array.prototype && proto !== Object.prototype) return false;
      const isArray = proto === Array.prototype && Array.isArray(v);
      // Holes and extra properties are kept by structured clone, lost by JSON.
      if (isArray && Object.keys(v).length !== (v as unknown[]).length) return false;
      if (!isArray && proto === Array.prototype) return false;
      for (const k of Object.keys(v)) {
        const d = Object.getOwnPropertyDescriptor(v, k);
        if (d === undefined || !('value' in d) || !jsonExact(d.value, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false; // undefined, bigint, functions, symbols
  }
}
interface RemoteError { name: string; message: string; code?: unknown }

function peerDied(name: string, caller: Function): CodedError {
  return shmkitError(`The server of '${name}' has died`, 'ERR_SHMKIT_PEER_DIED', caller);
}
function closedCall(name: string, caller: Function): CodedError {
  return shmkitError(`The connection to '${name}' is closed`, 'ERR_SHMKIT_CLOSED', caller);
}

/** The methods `object` offers: its own and inherited functions, not Object.prototype's nor the constructor. */
function methodsOf(object: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = object; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const k of Object.getOwnPropertyNames(o)) {
      if (k !== 'constructor' && typeof (object as Record<string, unknown>)[k] === 'function') names.add(k);
    }
  }
  return [...names];
}

function toRemote(error: unknown): RemoteError {
  if (error instanceof Error) {
    const code = (error as CodedError).code;
    return { name: error.name, message: error.message, ...(code === undefined ? {} : { code }) };
  }
  return { name: 'Error', message: `a non-Error was thrown: ${String(error)}` };
}

function fromRemote(e: RemoteError, caller: Function): Error {
  const error = new Error(e.message);
  Error.captureStackTrace(error, caller);
  Object.defineProperty(error, 'name', { value: e.name, writable: true, configurable: true });
  if (e.code !== undefined) Object.defineProperty(error, 'code', { value: e.code, enumerable: true, writable: true, configurable: true });
  return error;
}

/** A served object: {@link Manager.serve}'s handle. */
export interface ManagerServer {
  /** The name clients connect by. */
  readonly name: string;
  /** Whether {@link close} has been called. */
  readonly closed: boolean;
  /** Stops serving: every connection closes (their pending calls reject with `ERR_SHMKIT_CLOSED`) and the name goes. */
  close(): void;
}

/** Options of {@link Manager.serve}. */
export interface ManagerServeOptions {
  /** Permission bits of the name's segment (default `0o600`, reduced by the umask): clients of other users need `0o666`. */
  mode?: number | undefined;
}

/** Options of {@link Manager.connect}. */
export interface ManagerConnectOptions {
  /** How long to wait for a server to appear under the name and answer, in ms (default 0: it must be there; at most 2^31 − 1). */
  timeout?: number | undefined;
  /** Permission bits of the connection's pipe (default `0o600`, reduced by the umask): a server of another user needs `0o666`. */
  mode?: number | undefined;
}

/** A connected proxy: every method of the served object, returning a promise; and `close()`. */
export type ManagerProxy<T = Record<string, (...args: unknown[]) => unknown>> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
} & {
  /** Ends the connection: pending calls reject with `ERR_SHMKIT_CLOSED`. Idempotent. */
  close(): void;
};

class Server implements ManagerServer {
  readonly name: string;
  #closed = false;
  readonly #shm: SharedMemory;
  readonly #lock: Lock;
  readonly #knocks: Queue;
  readonly #object: object;
  readonly #methods: string[];
  readonly #stop = new AbortController();
  readonly #pipes = new Set<Pipe>();

  constructor(name: string, shm: SharedMemory, lock: Lock, object: object) {
    this.name = name;
    this.#shm = shm;
    this.#lock = lock;
    this.#object = object;
    this.#methods = methodsOf(object);
    this.#knocks = Queue.within(shm, shm.view(RING_AT, ringBytes(KNOCKS, KNOCK_SIZE)));
    void this.#accept();
  }

  get closed(): boolean {
    return this.#closed;
  }

  async #accept(): Promise<void> {
    const signal = this.#stop.signal;
    while (!this.#closed) {
      let knock: unknown;
      try {
        knock = await this.#knocks.getAsync({ signal });
      } catch {
        return; // closed
      }
      if (typeof knock !== 'string') continue;
      let pipe: Pipe;
      try {
        pipe = Pipe.open(knock);
      } catch {
        continue; // the client died before we came, or the name was not a pipe
      }
      try {
        Pipe.unlink(knock);
      } catch {
        // the client unlinked it first
      }
      if (this.#closed) {
        pipe.close(); // close() ran while this knock was being taken
        return;
      }
      this.#pipes.add(pipe);
      void this.#serve(pipe);
    }
  }

  async #serve(pipe: Pipe): Promise<void> {
    const send = async (message: unknown): Promise<void> => {
      try {
        await pipe.sendAsync(encode(message as unknown[]));
      } catch (error) {
        // A result that cannot travel (too large, not cloneable, a getter that throws) is
        // an error to the caller; only the pipe's end is not worth a reply.
        if ((error as CodedError).code === 'ERR_SHMKIT_PIPE_CLOSED') return;
        const id = (message as Reply)[0];
        await pipe.sendAsync(encode([id, 1, toRemote(error)])).catch(() => {});
      }
    };
    try {
      await pipe.sendAsync(['hello', this.#methods]);
      for (;;) {
        const call = decode(await pipe.recvAsync());
        if (!Array.isArray(call) || typeof call[0] !== 'number' || typeof call[1] !== 'string' || !Array.isArray(call[2])) continue;
        const [id, method, args] = call as [number, string, unknown[]];
        // A sync method runs and answers here, before this loop looks for the next call
        // (that look spins for a few microseconds: the reply must already be out). An
        // async one answers when it settles, and the next calls run meanwhile.
        let value: unknown;
        let thenable = false;
        try {
          if (!this.#methods.includes(method)) {
            throw Object.assign(new TypeError(`'${this.name}' serves no method '${method}'`), { code: 'ERR_SHMKIT_NO_SUCH_METHOD' });
          }
          value = (this.#object as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
          thenable = typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'; // a getter that throws is the call's error
        } catch (error) {
          void send([id, 1, toRemote(error)]);
          continue;
        }
        if (thenable) {
          Promise.resolve(value).then((v) => send([id, 0, v]), (error: unknown) => send([id, 1, toRemote(error)]));
        } else {
          void send([id, 0, value]);
          look(pipe); // a caller making calls one after another sends the next within microseconds
        }
      }
    } catch {
      // The client closed or died, or this server closed: the connection ends.
    } finally {
      this.#pipes.delete(pipe);
      pipe.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    // Never a send here: a client that stopped reading would hold close() up. The pipe's
    // close flag tells the client this was a close, not a death.
    for (const pipe of this.#pipes) pipe.close();
    this.#pipes.clear();
    try {
      SharedMemory.unlink(this.name);
    } catch {
      // already gone
    }
    this.#lock.release();
    this.#knocks.close();
    this.#shm.close();
  }
}

/** The listening segment of `name`, checked: the shm and the server's Lock in it. */
function attach(name: string, caller: Function): { shm: SharedMemory; lock: Lock } {
  const shm = SharedMemory.open(name);
  try {
    const w = new Int32Array(shm.view(0, 8));
    if (shm.size >= SEGMENT && Atomics.load(w, 0) === 0 && w[1] === 0) {
      // Being set up (on Windows a section has its name while it is written; elsewhere
      // the name appears whole): as if not there yet.
      throw Object.assign(shmkitError(`No server serves '${name}' yet (its segment is being set up)`, 'ERR_SHMKIT_KIND', caller), { code: 'ENOENT' });
    }
    if (shm.size < SEGMENT || w[0] !== MAGIC || w[1] !== VERSION) {
      throw shmkitError(`'${name}' is not a shmkit Manager (or one of another version)`, 'ERR_SHMKIT_KIND', caller, TypeError);
    }
    return { shm, lock: Lock.at(shm, LOCK_AT) };
  } catch (error) {
    shm.close();
    throw error;
  }
}

/** Python's BaseManager: serve an object's methods to other processes by name, and call them. */
export const Manager = Object.freeze({
  /**
   * Serves the methods of `object` (own and inherited functions, sync or async) under
   * `name` until the handle's `close()`. Clients of another user need `mode: 0o666` here
   * and in their `connect`. A name whose server died is taken over; one whose
   * server lives is `EADDRINUSE`.
   */
  serve(name: string, object: object, options?: ManagerServeOptions): ManagerServer {
    if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name, Manager.serve);
    if (typeof object !== 'object' && typeof object !== 'function' || object === null) throw invalidArgType('object', 'an object', object, Manager.serve);
    const opts = validateOptions(options ?? {}, 'options', Manager.serve);
    const mode = opts.mode === undefined ? undefined : validateInteger(opts.mode, 'options.mode', 0, 0o777, Manager.serve);
    const busy = (): CodedError => Object.assign(shmkitError(`A live server already serves '${name}'`, 'ERR_SHMKIT_PIPE_BUSY', Manager.serve), { code: 'EADDRINUSE' });
    let shm: SharedMemory | undefined;
    try {
      shm = createSegment({ name, size: SEGMENT, mode }, (view) => {
        const area = view(0, SEGMENT);
        initRing(area, RING_AT, KNOCKS, KNOCK_SIZE, 0);
        const w = new Int32Array(area, 0, 2);
        w[1] = VERSION;
        Atomics.store(w, 0, MAGIC); // last: on Windows the name is there while this runs
      }, Manager.serve);
    } catch (error) {
      if ((error as CodedError).code !== 'EEXIST') throw error;
    }
    if (shm !== undefined) {
      // The name is there, whole, with its Lock free for a moment: a server that took it
      // over in that moment (it found no owner) serves, and this one does not.
      const lock = Lock.at(shm, LOCK_AT);
      if (!lock.tryAcquire()) {
        shm.close(); // the name is the winner's now: not removed at this process's exit
        throw busy();
      }
      removeAtExit(shm);
      return new Server(shm.name, shm, lock, object);
    }
    // Taken: by a live server (refused) or a dead one (its Lock is taken over, the ring made
    // anew, and the name removed at this process's exit as its maker's would have been).
    let taken: { shm: SharedMemory; lock: Lock };
    try {
      taken = attach(name, Manager.serve);
    } catch (error) {
      // A name with no magic yet: its maker is setting it up (Windows shows a section
      // while it is written), so it lives.
      if ((error as CodedError).code === 'ENOENT' && SharedMemory.exists(name)) throw busy();
      throw error;
    }
    const { shm: old, lock } = taken;
    try {
      if (!lock.tryAcquire()) throw busy();
      initRing(old.view(0, SEGMENT), RING_AT, KNOCKS, KNOCK_SIZE, 0);
      removeAtExit(old);
      return new Server(old.name, old, lock, object);
    } catch (error) {
      old.close();
      throw error;
    }
  },

  /**
   * Connects to the object served under `name`: a proxy whose methods return promises
   * (`await maths.add(4, 3)`). Arguments and results travel by structured clone, up to
   * 64 KiB each once encoded. If the server dies, every pending and later call rejects
   * with `ERR_SHMKIT_PEER_DIED` (within about a second); after either side's close,
   * with `ERR_SHMKIT_CLOSED`.
   */
  async connect<T = Record<string, (...args: unknown[]) => unknown>>(name: string, options?: ManagerConnectOptions): Promise<ManagerProxy<T>> {
    if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name, Manager.connect);
    const opts = validateOptions(options ?? {}, 'options', Manager.connect);
    const timeout = opts.timeout === undefined ? 0 : validateInteger(opts.timeout, 'options.timeout', 0, 2 ** 31 - 1, Manager.connect);
    const mode = opts.mode === undefined ? undefined : validateInteger(opts.mode, 'options.mode', 0, 0o777, Manager.connect);
    const deadline = Date.now() + timeout;
    let listening: { shm: SharedMemory; lock: Lock };
    for (;;) {
      try {
        listening = attach(name, Manager.connect);
        const words = new Int32Array(listening.shm.view(LOCK_AT, 8));
        if (ownerAlive(Atomics.load(words, 0))) break;
        listening.shm.close();
        if (Date.now() >= deadline) throw peerDied(name, Manager.connect);
      } catch (error) {
        const code = (error as CodedError).code;
        if ((code !== 'ENOENT' && code !== 'ERR_SHMKIT_PEER_DIED') || Date.now() >= deadline) throw error;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const knocks = Queue.within(listening.shm, listening.shm.view(RING_AT, ringBytes(KNOCKS, KNOCK_SIZE)));
    const pipe = Pipe.create({ name: `shmkit-mgr-${randomBytes(8).toString('hex')}`, capacity: PIPE_CAPACITY, maxMessageSize: MAX_CALL_BYTES, mode, unlinkOnExit: true });
    const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now(), 1000));
    try {
      if (!(await knocks.putAsync(pipe.name, { signal }))) throw new Error('unreachable');
      const hello = await pipe.recvAsync({ signal });
      if (!Array.isArray(hello) || hello[0] !== 'hello' || !Array.isArray(hello[1])) throw shmkitError(`'${name}' answered with something that is not a Manager's hello`, 'ERR_SHMKIT_KIND', Manager.connect);
    } catch (error) {
      pipe.close();
      const code = (error as Error).name === 'TimeoutError' ? 'ERR_SHMKIT_TIMEOUT' : undefined;
      if (code !== undefined) throw shmkitError(`The server of '${name}' did not answer in time`, code, Manager.connect);
      throw error;
    } finally {
      try {
        Pipe.unlink(pipe.name);
      } catch {
        // the server unlinked it first
      }
      knocks.close();
      listening.shm.close();
    }
    return new Connection(name, pipe).proxy as ManagerProxy<T>;
  },
});

class Connection {
  readonly proxy: object;
  readonly #name: string;
  readonly #pipe: Pipe;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; caller: Function }>();
  #next = 1;
  #ended: CodedError | undefined;
  /** The receiving loop's stop, while it runs (only while calls are pending and a look found no reply). */
  #receiving: AbortController | undefined;

  constructor(name: string, pipe: Pipe) {
    this.#name = name;
    this.#pipe = pipe;
    const call = (method: string) => {
      const f = (...args: unknown[]): Promise<unknown> => this.#call(method, args, f);
      return f;
    };
    const close = (): void => this.#close(closedCall(this.#name, close));
    const cache = new Map<string, Function>();
    this.proxy = new Proxy(Object.freeze({}), {
      get: (_, key) => {
        if (typeof key !== 'string' || key === 'then') return undefined; // not a thenable: `await connect()` gives the proxy
        if (key === 'close') return close;
        let f = cache.get(key);
        if (f === undefined) cache.set(key, (f = call(key)));
        return f;
      },
    });
  }

  #call(method: string, args: unknown[], caller: Function): Promise<unknown> {
    if (this.#ended !== undefined) return Promise.reject(this.#ended.code === 'ERR_SHMKIT_PEER_DIED' ? peerDied(this.#name, caller) : closedCall(this.#name, caller));
    const id = this.#next++;
    let message: QueueMessage;
    try {
      message = encode([id, method, args]);
    } catch (error) {
      return Promise.reject(Object.assign(invalidArgValue('arguments', args, `must be structured-clone values (${(error as Error).message})`, caller), { cause: error }));
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, caller });
      const sent = this.#pipe.sendAsync(message);
      // A quick method's reply comes back within microseconds: take it here. Only when it
      // does not does a receiving loop sleep on the pipe: a sleeper there would make every
      // reply wake a thread (a system call for the server, a wake-up here) for nothing.
      if (look(this.#pipe)) this.#drain();
      if (this.#pending.size > 0 && this.#receiving === undefined && this.#ended === undefined) void this.#receive();
      sent.catch((error: unknown) => {
        if (!this.#pending.delete(id)) return;
        const code = (error as CodedError).code;
        if (code === 'ERR_SHMKIT_PIPE_CLOSED') this.#end();
        reject(code === 'ERR_OUT_OF_RANGE' ? outOfRange('arguments', `at most ${MAX_CALL_BYTES} bytes once encoded`, 'more', caller)
          : code === 'ERR_INVALID_ARG_VALUE' ? invalidArgValue('arguments', args, 'must be structured-clone values', caller)
            : this.#ended ?? error);
      });
    });
  }

  /** Receives replies while calls are pending; #drain stops it once none is. */
  async #receive(): Promise<void> {
    const stop = new AbortController();
    this.#receiving = stop;
    try {
      while (this.#pending.size > 0) {
        this.#settle(decode(await this.#pipe.recvAsync({ signal: stop.signal })));
        // Let the caller's continuation run (it usually makes the next call, which looks
        // for its own reply) before this loop's next look.
        if (!this.#pipe.poll()) await new Promise((r) => setImmediate(r));
      }
    } catch {
      if (!stop.signal.aborted && this.#ended === undefined) this.#end();
    } finally {
      if (this.#receiving === stop) this.#receiving = undefined;
    }
  }

  #settle(reply: unknown): void {
    if (!Array.isArray(reply)) return;
    const [id, failed, value] = reply as Reply;
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    if (failed === 1) p.reject(fromRemote(value as RemoteError, p.caller));
    else p.resolve(value);
  }

  /** Every reply already there, taken now; a receiving loop with nothing left to wait for is stopped. */
  #drain(): void {
    try {
      while (this.#ended === undefined && this.#pipe.ready) this.#settle(decode(this.#pipe.recv()));
    } catch {
      this.#end();
    }
    if (this.#pending.size === 0 && this.#receiving !== undefined) {
      this.#receiving.abort();
      this.#receiving = undefined;
    }
  }

  /** The pipe ended under us: the server closed (its end's flag says so) or died. */
  #end(): void {
    let closed = false;
    try {
      closed = this.#pipe.peerClosed;
    } catch {
      // this end is closed already
    }
    this.#close(closed ? closedCall(this.#name, this.#call) : peerDied(this.#name, this.#call));
  }

  #close(reason: CodedError): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    for (const p of this.#pending.values()) p.reject(reason.code === 'ERR_SHMKIT_PEER_DIED' ? peerDied(this.#name, p.caller) : closedCall(this.#name, p.caller));
    this.#pending.clear();
    this.#pipe.close();
  }
}
