// Pipe: Python's multiprocessing.Pipe(), by name, between two unrelated processes. The
// process that creates it holds one end; the one process that opens it holds the other.
// Built on Queue rings in one segment (one per direction; one ring when not duplex), so
// it inherits their speed and their crash safety.
//
// Layout of the payload (after the 64-byte typed-segment header):
//   0    int32  owner id (lock.ts) of the creating end's thread
//   4    int32  owner id of the opening end's thread; 0 while nobody has opened it
//   8    int32  1 once the creating end has closed
//   12   int32  1 once the opening end has closed
//   16   int32  duplex (1) or one-way (0: the creating end receives, the opening end sends)
//   20   int32  the size in bytes of each ring
//   64   ring: messages from the opening end to the creating end (queue.ts layout)
//   64+r ring: messages from the creating end to the opening end (duplex only)
// A receiver that has waited a while checks the other end: closed, or its thread gone,
// with nothing left to read, is the end of the stream (`ERR_SHMKIT_PIPE_CLOSED`, Python's
// EOFError), never a hang. Sending to an end that is gone is the same error (BrokenPipe).
import { corruptError, outOfRange, shmkitError, type CodedError } from '../core/errors.js';
import { LIVENESS_MS, ME, ownerAlive, ownerDead } from '../core/ownership.js';
import { initRing, MAX_RING_BYTES, Queue, ringBytes, type QueueMessage } from './queue.js';
import { SharedMemory } from '../core/shared-memory.js';
import { SharedObject } from '../core/shared-object.js';
import { built, createTyped, openTyped, type CreateTyped, payloadView, HEADER_SIZE } from '../core/header.js';
import { type AcquireAsyncOptions, type AcquireOptions, timeoutOption, validateAsyncOptions, validateBoolean, validateInteger, validateOptions, validateSignal } from '../core/validate.js';
import { checkConstruct, CONSTRUCT } from '../core/construct.js';
import { registerKind } from '../core/kinds.js';
import { parkAsync, parkSync, type Sleep } from '../core/park.js';

export const CREATOR = 0;
export const OPENER = 1;
export const CREATOR_CLOSED = 2;
export const OPENER_CLOSED = 3;
export const DUPLEX = 4;
const RING = 5;
const CONTROL = 64;

/** Options of {@link Pipe.create}. */
export interface PipeOptions extends CreateTyped {
  /** Both ends send and receive (default). `false`: the creating end only receives. */
  duplex?: boolean | undefined;
  /** Messages in flight per direction (default 64, rounded up to a power of two). */
  capacity?: number | undefined;
  /** The largest message in bytes (default 65536). */
  maxMessageSize?: number | undefined;
}


const gone = (caller: Function): CodedError =>
  shmkitError('The other end of the pipe has closed, or its process has died', 'ERR_SHMKIT_PIPE_CLOSED', caller);

/** One end of a named pipe. */
export class Pipe extends SharedObject {
  readonly #duplex: boolean;
  readonly #creator: boolean;
  readonly #in: Queue | undefined;
  readonly #out: Queue | undefined;

  /** Whether both ends send and receive. */
  get duplex(): boolean {
    return this.#duplex;
  }

  /** @internal */
  constructor(token: symbol, shm: SharedMemory, creator: boolean) {
    checkConstruct(token, new.target); // before the arguments are used
    const control = new Int32Array(payloadView(shm, CONTROL));
    super(token, shm, true, control);
    this.#creator = creator;
    this.#duplex = control[DUPLEX] === 1;
    const ring = control[RING]!;
    // Read once, from memory a peer may have written (Pipe.open checked it fits).
    if (!(ring >= ringBytes(1, 1) && ring % 8 === 0)) throw corruptError(`Pipe '${shm.name}'`, `its ring size word is ${ring}`, Pipe.open);
    const toCreator = Queue.within(shm, shm.view(HEADER_SIZE + CONTROL, ring));
    const toOpener = this.duplex ? Queue.within(shm, shm.view(HEADER_SIZE + CONTROL + ring, ring)) : undefined;
    this.#in = creator ? toCreator : toOpener;
    this.#out = creator ? toOpener : toCreator;
  }

  /** Creates a named pipe and returns the creating end. `EEXIST` if the name is taken. */
  static create(options?: PipeOptions): Pipe {
    const opts = validateOptions(options, 'options', Pipe.create) as PipeOptions;
    const duplex = opts.duplex === undefined ? true : validateBoolean(opts.duplex, 'options.duplex', Pipe.create);
    const asked = opts.capacity === undefined ? 64 : validateInteger(opts.capacity, 'options.capacity', 1, 2 ** 20, Pipe.create);
    const capacity = 2 ** Math.ceil(Math.log2(asked));
    const size = opts.maxMessageSize === undefined ? 65536 : validateInteger(opts.maxMessageSize, 'options.maxMessageSize', 1, 2 ** 30 - 1, Pipe.create);
    const ring = ringBytes(capacity, size);
    if (ring > MAX_RING_BYTES) throw outOfRange('options.capacity × options.maxMessageSize', `at most ${MAX_RING_BYTES} bytes per direction`, ring, Pipe.create);
    const rings = duplex ? 2 : 1;
    const shm = createTyped(opts, { kind: 'Pipe', payloadLength: CONTROL + ring * rings, elementType: duplex ? 1 : 0, elementCount: capacity }, (area) => {
      const control = new Int32Array(area, 0, CONTROL / 4);
      control[CREATOR] = ME;
      control[DUPLEX] = duplex ? 1 : 0;
      control[RING] = ring;
      for (let r = 0; r < rings; r++) initRing(area, CONTROL + r * ring, capacity, size, 0);
    });
    return built(shm, () => new Pipe(CONSTRUCT, shm, true));
  }

  /**
   * Opens the other end of a named pipe. A pipe has two ends: `ERR_SHMKIT_PIPE_BUSY` if a
   * live thread already holds the opening end (one whose holder died can be taken over).
   */
  static open(name: string): Pipe {
    const { shm, header } = openTyped(name, 'Pipe', Pipe.open);
    let claimed: Int32Array | undefined;
    try {
      const control = new Int32Array(shm.keep(payloadView(shm, CONTROL)));
      const ring = control[RING]!;
      if (!(ring > 0) || CONTROL + ring * (control[DUPLEX] === 1 ? 2 : 1) > header.payloadLength) {
        throw corruptError(`Pipe '${name}'`, `its ring size word (${ring}) does not fit its ${header.payloadLength} bytes`, Pipe.open);
      }
      if (Atomics.load(control, OPENER_CLOSED) !== 0) {
        throw shmkitError(`The opening end of pipe '${name}' was closed; a pipe is not reopened`, 'ERR_SHMKIT_PIPE_CLOSED', Pipe.open);
      }
      for (;;) {
        const holder = Atomics.load(control, OPENER);
        if (ownerAlive(holder)) {
          throw shmkitError(`The other end of pipe '${name}' is already open`, 'ERR_SHMKIT_PIPE_BUSY', Pipe.open);
        }
        if (Atomics.compareExchange(control, OPENER, holder, ME) === holder) break;
      }
      claimed = control;
      return new Pipe(CONSTRUCT, shm, false);
    } catch (error) {
      // An end that could not be built (its rings' words are not a ring's) is not held.
      if (claimed !== undefined) Atomics.compareExchange(claimed, OPENER, ME, 0);
      shm.close();
      throw error;
    }
  }

  /**
   * Sends a message (bytes, a string or any structured-clone value), waiting while the
   * pipe is full. `ERR_SHMKIT_PIPE_CLOSED` if the other end has closed or died.
   */
  send(message: QueueMessage): void {
    const out = this.#sender(this.send);
    for (;;) {
      if (this.#peerClosed()) throw gone(this.send);
      if (out.put(message, { timeout: LIVENESS_MS })) return;
      if (this.#peerDead()) throw gone(this.send);
    }
  }

  /** The async form of {@link send}: never blocks the event loop. */
  async sendAsync(message: QueueMessage, options?: { signal?: AbortSignal | undefined }): Promise<void> {
    const out = this.#sender(this.sendAsync);
    const signal = validateSignal(validateOptions(options, 'options', this.sendAsync).signal, this.sendAsync);
    for (;;) {
      if (this.#peerClosed()) throw gone(this.sendAsync);
      if (await out.putAsync(message, { timeout: LIVENESS_MS, signal })) return;
      if (this.#peerDead()) throw gone(this.sendAsync);
    }
  }

  /**
   * Receives the next message, waiting (blocking) for one. `ERR_SHMKIT_PIPE_CLOSED`
   * once the other end has closed or died and every message it sent has been read.
   */
  recv(): QueueMessage {
    const inbox = this.#receiver(this.recv);
    try {
      for (;;) {
        const message = inbox.get({ timeout: LIVENESS_MS });
        if (message !== undefined) return message;
        if (this.#peerDead()) return this.#last(inbox, this.recv);
      }
    } catch (error) {
      throw this.#translate(error, this.recv);
    }
  }

  /** The async form of {@link recv}: never blocks the event loop. */
  async recvAsync(options?: { signal?: AbortSignal | undefined }): Promise<QueueMessage> {
    const inbox = this.#receiver(this.recvAsync);
    const signal = validateSignal(validateOptions(options, 'options', this.recvAsync).signal, this.recvAsync);
    try {
      for (;;) {
        const message = await inbox.getAsync({ timeout: LIVENESS_MS, signal });
        if (message !== undefined) return message;
        if (this.#peerDead()) return this.#last(inbox, this.recvAsync);
      }
    } catch (error) {
      throw this.#translate(error, this.recvAsync);
    }
  }

  /**
   * Whether a message is waiting, within `timeout` ms (default 0: look, do not wait).
   * True also when the other end is gone, as Python's poll() is: recv() then says so.
   */
  poll(options?: AcquireOptions): boolean {
    return parkSync(this.#polling(timeoutOption(options, this.poll, 0), this.poll));
  }

  /** The async form of {@link poll}: never blocks the event loop. */
  pollAsync(options?: AcquireAsyncOptions): Promise<boolean> {
    try {
      const { timeout, signal } = validateAsyncOptions(options, this.pollAsync, 0);
      return parkAsync(this.#polling(timeout, this.pollAsync), signal, this);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** @internal Whether recv() would return at once: a message waits, or the other end closed. No look at the OS (poll() makes one). */
  get ready(): boolean {
    const inbox = this.#receiver(readyGetter);
    return !inbox.empty || inbox.ended || this.#peerClosed();
  }

  /** @internal Whether the other end closed (rather than died): its flag, which close() sets before anything else. */
  get peerClosed(): boolean {
    this.openWords(peerClosedGetter);
    return this.#peerClosed();
  }

  /** poll's loop, written once for both forms. */
  *#polling(timeout: number, caller: Function): Generator<Sleep, boolean, boolean> {
    const inbox = this.#receiver(caller);
    const deadline = performance.now() + timeout;
    for (;;) {
      if (!inbox.empty || inbox.ended || this.#peerClosed()) return true;
      const left = deadline - performance.now();
      if (left <= 0) return this.#peerDead();
      yield* inbox.readable(Math.min(left, LIVENESS_MS), caller);
      if (inbox.empty && this.#peerDead()) return true;
    }
  }

  /** Yields messages until the other end has closed (or died) and everything was read. */
  async *[Symbol.asyncIterator](): AsyncIterator<QueueMessage> {
    for (;;) {
      try {
        yield await this.recvAsync();
      } catch (error) {
        if ((error as CodedError).code === 'ERR_SHMKIT_PIPE_CLOSED') return;
        throw error;
      }
    }
  }

  /** Closes this end: the other end's recv() reports the end once it has read what was sent. */
  override close(): void {
    if (this.closed) return;
    const control = this.words!;
    try {
      Atomics.store(control, this.#creator ? CREATOR_CLOSED : OPENER_CLOSED, 1);
      this.#out?.end(); // wakes the other end, and tells it nothing more will come
    } finally {
      // Closed whatever the words say: close() is final.
      this.#in?.close();
      this.#out?.close();
      super.close();
    }
  }

  #sender(caller: Function): Queue {
    this.openWords(caller);
    if (this.#out === undefined) throw shmkitError('This end of a one-way pipe only receives', 'ERR_SHMKIT_PIPE_DIRECTION', caller);
    return this.#out;
  }

  #receiver(caller: Function): Queue {
    this.openWords(caller);
    if (this.#in === undefined) throw shmkitError('This end of a one-way pipe only sends', 'ERR_SHMKIT_PIPE_DIRECTION', caller);
    return this.#in;
  }

  /** Whether the other end has closed (a flag: cheap). */
  #peerClosed(): boolean {
    return Atomics.load(this.words!, this.#creator ? OPENER_CLOSED : CREATOR_CLOSED) !== 0;
  }

  /** Whether the other end's thread no longer exists (a look at the OS: only after a quiet spell). */
  #peerDead(): boolean {
    const peer = Atomics.load(this.words!, this.#creator ? OPENER : CREATOR);
    return ownerDead(peer);
  }

  /** The other end died: whatever it sent before is still delivered, then the end. */
  #last(inbox: Queue, caller: Function): QueueMessage {
    const message = inbox.tryGet();
    if (message === undefined) throw gone(caller);
    return message;
  }

  /** A drained, ended inbox is the other end's close. */
  #translate(error: unknown, caller: Function): unknown {
    return (error as CodedError).code === 'ERR_SHMKIT_QUEUE_ENDED' ? gone(caller) : error;
  }
}

const readyGetter = Object.getOwnPropertyDescriptor(Pipe.prototype, 'ready')!.get!;
const peerClosedGetter = Object.getOwnPropertyDescriptor(Pipe.prototype, 'peerClosed')!.get!;

registerKind(Pipe, {
  code: 11,
  inspect: ({ words }) => ({
    creatorEnd: words[CREATOR], openerEnd: words[OPENER], creatorClosed: words[CREATOR_CLOSED] !== 0,
    openerClosed: words[OPENER_CLOSED] !== 0, duplex: words[DUPLEX] !== 0,
  }),
});
