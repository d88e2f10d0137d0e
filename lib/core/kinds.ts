// The registry of kinds: every object shmkit keeps in a typed segment of its own (Lock,
// Value, Queue, …), with the number its header records (docs/memory-layout.md), the
// class that creates, opens and places it, and what `shmkit inspect` shows of it. Each
// family registers its kinds when its module loads (index.ts loads them all); the typed
// header (header.ts), the CLI and the test of the exports read this table, so a kind is
// added in one place: its own file.

/** The first bytes of a payload, copied, as `shmkit inspect` hands them to a kind. */
export interface PayloadSnapshot {
  /** The payload's first bytes (at most a few hundred: a Queue's control words, an array's first elements). */
  readonly bytes: Uint8Array;
  /** The same bytes as int32 words. */
  readonly words: Int32Array;
  /** The header's element type (value-types.ts), 0 if the kind has none. */
  readonly elementType: number;
  /** The header's element count (SharedArray's length, a Queue's capacity). */
  readonly elementCount: number;
}

/** A kind as its family describes it. */
export interface KindSpec {
  /** The number in the header. Part of the on-memory format: never reuse one. */
  readonly code: number;
  /** The payload's fields worth showing, read with the kind's own layout constants. */
  readonly inspect: (payload: PayloadSnapshot) => Record<string, unknown>;
  /**
   * What the object holds beyond its first bytes (a SharedMap's first entries). `show`
   * reads it by opening `name` read-only: `shmkit inspect` calls it on a private copy of
   * the segment, so that a peer cutting the original cannot turn the read into SIGBUS.
   * `stamp`, over the payload's first words, is undefined while a writer is mid-change and
   * changes with any change a copy could tear: the copy is taken until it holds still.
   */
  readonly contents?: {
    readonly show: (name: string) => Record<string, unknown>;
    readonly stamp: (words: Int32Array) => number | undefined;
  } | undefined;
}

/** A registered kind. */
export interface Kind extends KindSpec {
  /** The class's name, which is the kind's name (`'Lock'`). */
  readonly name: string;
  /** The class: `create`, `open` and, for most kinds, `at`. */
  readonly type: Function;
}

const byName = new Map<string, Kind>();
const byCode = new Map<number, Kind>();

/** Registers the class `type` as a kind. Throws if its name or number is taken (a programming error). */
export function registerKind(type: Function, spec: KindSpec): void {
  const kind: Kind = Object.freeze({ name: type.name, type, ...spec });
  const clash = byName.get(kind.name) ?? byCode.get(kind.code);
  if (clash !== undefined) throw new Error(`shmkit: kind ${kind.name} (${kind.code}) clashes with ${clash.name} (${clash.code})`);
  byName.set(kind.name, kind);
  byCode.set(kind.code, kind);
}

/** The kind called `name`; it must be registered (its class's module registers it). */
export function kindNamed(name: string): Kind {
  const kind = byName.get(name);
  if (kind === undefined) throw new Error(`shmkit: kind ${name} is not registered`);
  return kind;
}

/** The kind whose header number is `code`, if any. */
export function kindOfCode(code: number): Kind | undefined {
  return byCode.get(code);
}

/** Every registered kind, by number. */
export function allKinds(): Kind[] {
  return [...byCode.values()].sort((a, b) => a.code - b.code);
}
