#!/usr/bin/env node
// The `shmkit` command: what is in shared memory on this host, and cleaning up after
// crashes. Human tables by default, --json for scripts. Exit codes: 0 done; 1 something
// asked for could not be done (a name that does not exist, a failed unlink); 2 usage.
//
// It reads objects through read-only attaches and their documented layouts
// (docs/memory-layout.md), so looking never changes anything. Listing needs /dev/shm
// (Linux); `inspect`, `rm` and `watch` work wherever shmkit does.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { parseArgs } from 'node:util';
import { FORMAT_VERSION, HEADER_SIZE, MAGIC, readHeader } from '../core/header.js';
import { kindOfCode } from '../core/kinds.js';
import { native } from '../core/native.js';
// The package's entry point loads every family, and each registers its kinds.
import { NamedSemaphore, ShareableList, SharedMemory } from '../index.js';

const USAGE = `usage: shmkit <command> [options]

commands:
  ls                   every shmkit object and segment on this host (Linux: /dev/shm)
  inspect NAME         the decoded header and contents of one object
  rm NAME...           unlink segments or named semaphores
  gc [--dry-run] [--prefix P]
                       unlink shmkit objects that no process has open (the kernel's locks
                       say so), and segments whose creator died before naming them
                       (only names that start with P, if given)
  watch NAME           print an object's state every --interval ms (--count times, or until Ctrl-C)

options:
  --json               machine-readable output
  --interval MS        watch: time between lines (default 1000)
  --count N            watch: stop after N lines
  -h, --help           this text

exit codes: 0 done, 1 something could not be done, 2 usage`;

class UsageError extends Error {}

/** How much of a payload `inspect` reads: a Queue's control words, a SharedArray's first elements. */
const PAYLOAD_SHOWN = 256;

/** One entry of `ls`. */
interface Entry {
  name: string;
  kind: string;
  size: number;
  creatorPid: number | null;
  creatorAlive: boolean | null;
  ageSeconds: number;
  mappedBy: number;
}

/** Whether a process exists (EPERM: it does, it is someone else's). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What `ls` and `inspect` make of a typed header. */
interface Header {
  kind: string;
  code: number;
  elementType: number;
  count: number;
  payloadLength: number;
  creatorPid: number;
}

/**
 * The typed header at the start of `bytes` (a segment's first bytes, copied), or
 * undefined for a segment without one (raw, ShareableList).
 */
function typedHeader(bytes: Uint8Array): Header | undefined {
  if (bytes.byteLength < HEADER_SIZE) return undefined;
  const h = readHeader(new DataView(aligned(bytes).buffer, 0, HEADER_SIZE));
  const kind = kindOfCode(h.kind)?.name;
  // A creator writes every field, then the magic last (core/header.ts). One killed in
  // between leaves a header without its magic: an object that never became complete,
  // which gc may collect once that creator is dead.
  const incomplete = h.magic === 0 && h.version === FORMAT_VERSION && kind !== undefined &&
    h.payloadOffset === HEADER_SIZE && h.creatorPid !== 0;
  if (h.magic !== MAGIC && !incomplete) return undefined;
  return {
    kind: incomplete ? `${kind} (incomplete)` : kind ?? `unknown kind ${h.kind}`,
    code: h.kind,
    elementType: h.elementType,
    payloadLength: h.payloadLength,
    count: h.elementCount,
    creatorPid: h.creatorPid,
  };
}

/** A copy of `bytes` in a buffer of its own, so that Int32Array and DataView views over it are aligned. */
function aligned(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * How many processes map each file of /dev/shm, by inode, from /proc/<pid>/maps (the
 * processes this user may see there: information for people only, never a reason to
 * remove anything; gc asks the kernel's locks instead). By inode, because a creator's
 * mapping shows the temporary name it was made under, and maps escapes odd names.
 */
function mapCounts(): Map<number, number> {
  const counts = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return counts; // no /proc at all
  }
  for (const pid of pids) {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'latin1');
    } catch {
      continue; // gone, or not ours to read
    }
    const seen = new Set<number>();
    for (const m of maps.matchAll(/^\S+ \S+ \S+ \S+ (\d+) +\/dev\/shm\//gm)) seen.add(Number(m[1]));
    for (const ino of seen) counts.set(ino, (counts.get(ino) ?? 0) + 1);
  }
  return counts;
}

/**
 * shmkit's own files in /dev/shm, never listed or removed: the owner registries
 * (ownership.ts), and the private copies inspect decodes a ShareableList from for a
 * moment (fromCopy; a user's own segment whose name starts so is not listed either).
 */
const isRegistry = (file: string): boolean => file.startsWith('.shmkit-owners-') || file.startsWith(INSPECT_COPY);
const INSPECT_COPY = 'shmkit-inspect-';
/** A segment made but not yet given its name (native/shmkit.h SegmentCreate). */
const isUnpublished = (file: string): boolean => file.startsWith('.shmkit-tmp-');

function list(): Entry[] {
  let files: string[];
  try {
    files = readdirSync('/dev/shm');
  } catch {
    throw new Error('ls and gc read /dev/shm, which this system does not have (Linux only)');
  }
  const mapped = mapCounts();
  const now = Date.now();
  const entries: Entry[] = [];
  for (const file of files.sort()) {
    let st;
    try {
      st = statSync(`/dev/shm/${file}`);
    } catch {
      continue; // removed meanwhile
    }
    if (!st.isFile() || isRegistry(file)) continue;
    const mappedBy = mapped.get(st.ino) ?? 0;
    const ageSeconds = Math.round((now - st.mtimeMs) / 1000);
    if (file.startsWith('sem.')) {
      entries.push({ name: file.slice(4), kind: 'NamedSemaphore', size: st.size, creatorPid: null, creatorAlive: null, ageSeconds, mappedBy });
      continue;
    }
    if (isUnpublished(file)) {
      entries.push({ name: file, kind: 'unpublished', size: st.size, creatorPid: null, creatorAlive: null, ageSeconds, mappedBy });
      continue;
    }
    let header;
    try {
      const shm = SharedMemory.open(file, { readOnly: true });
      header = typedHeader(shm.read(0, Math.min(HEADER_SIZE, shm.size)));
      shm.close();
    } catch {
      header = undefined; // not ours to read: listed as a plain segment
    }
    entries.push({
      name: file,
      kind: header?.kind ?? 'SharedMemory',
      size: st.size,
      creatorPid: header?.creatorPid ?? null,
      creatorAlive: header ? pidAlive(header.creatorPid) : null,
      ageSeconds,
      mappedBy,
    });
  }
  return entries;
}

/** What `inspect` and `watch` show of one object. */
function inspect(name: string): Record<string, unknown> {
  let shm: SharedMemory;
  try {
    shm = SharedMemory.open(name, { readOnly: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const sem = NamedSemaphore.open(name); // ENOENT if there is neither
    try {
      return { name, kind: 'NamedSemaphore', value: sem.value };
    } finally {
      sem.close();
    }
  }
  try {
    // The header and the first bytes of the payload: every field shown lies in them (a
    // Queue's control words, a SharedArray's first elements), however big the segment.
    const bytes = aligned(shm.read(0, Math.min(shm.size, HEADER_SIZE + PAYLOAD_SHOWN)));
    const header = typedHeader(bytes);
    if (header === undefined) {
      return { name, kind: 'SharedMemory', size: shm.size, ...fromCopy(shm, (copy) => {
        const list = ShareableList.open(copy);
        try {
          return { shareableList: list.toArray() };
        } finally {
          list.close();
        }
      }) };
    }
    const out = { name, kind: header.kind, size: shm.size, creatorPid: header.creatorPid, creatorAlive: pidAlive(header.creatorPid) };
    if (header.kind.endsWith('(incomplete)')) return out;
    const kind = kindOfCode(header.code);
    if (kind === undefined) return out;
    const shown = bytes.subarray(HEADER_SIZE, HEADER_SIZE + Math.min(header.payloadLength, PAYLOAD_SHOWN));
    const words = new Int32Array(shown.buffer, shown.byteOffset, shown.byteLength >> 2);
    try {
      const fields = kind.inspect({ bytes: shown, words, elementType: header.elementType, elementCount: header.count });
      const contents = kind.contents;
      return { ...out, ...fields, ...(contents === undefined ? {} : fromCopy(shm, contents.show, contents.stamp)) };
    } catch (error) {
      // Words a peer wrote that no object of this kind has (a payload too short for its
      // type, say): said as such, not as the decoder's own error.
      return { ...out, damaged: `its ${shown.byteLength} payload bytes are not a whole ${header.kind} (${(error as Error).message})` };
    }
  } finally {
    shm.close();
  }
}

/** Segments larger than this are not copied to be decoded by inspect. */
const COPY_MAX = 64 * 2 ** 20;

/**
 * `decode(name)` run on a private copy of `shm` (its bytes taken with read(), which a
 * truncation cannot turn into SIGBUS), since objects read through views and a peer may
 * cut the original while inspect reads it. The copy is reserved whole (a sparse one would
 * fault in pages as the decoder reads its holes: SIGBUS in a full /dev/shm). With `stamp`
 * (a kind's, over the payload's first words: undefined while a writer is mid-change), the
 * copy is taken again until the original's stamp is the same before and after it. {} if
 * the bytes do not decode (a raw segment that is not a ShareableList, say) or there is no
 * room for the copy.
 */
function fromCopy(shm: SharedMemory, decode: (name: string) => Record<string, unknown>,
  stamp?: (words: Int32Array) => number | undefined): Record<string, unknown> {
  if (shm.size < 16 || shm.size > COPY_MAX) return {};
  const stampNow = (): number | undefined => {
    if (stamp === undefined) return 0;
    const head = aligned(shm.read(HEADER_SIZE, Math.min(PAYLOAD_SHOWN, shm.size - HEADER_SIZE)));
    return stamp(new Int32Array(head.buffer, head.byteOffset, head.byteLength >> 2));
  };
  let copy: SharedMemory | undefined;
  try {
    let bytes: Uint8Array | undefined;
    for (let tries = 0; tries < 5 && bytes === undefined; tries++) {
      const before = stampNow();
      const taken = shm.read(0, shm.size);
      if (before !== undefined && stampNow() === before) bytes = taken;
    }
    if (bytes === undefined) return { contents: 'not shown: writers kept changing it while inspect copied it' };
    copy = SharedMemory.create({ name: `${INSPECT_COPY}${process.pid}`, size: bytes.length, unlinkOnExit: true });
    copy.write(0, bytes);
    return decode(copy.name);
  } catch {
    return {};
  } finally {
    // Unlinked before it is closed: on Windows its name goes with its last handle, and
    // unlink() of a name already gone is ENOENT.
    copy?.unlink();
    copy?.close();
  }
}

/**
 * gc: removes every shmkit object (a complete typed object, or a segment never given its
 * name) that no process uses, judged only by the kernel: each process that has a segment
 * mapped holds its usage lock shared (native/unix/segment.cc), and gc removes a name only
 * while it holds that lock exclusively, so nothing can start using it meanwhile. No PID,
 * no /proc, no creator: it works from any PID namespace and for any name. Raw segments
 * and named semaphores are never collected (other programs use them without shmkit's
 * locks). A failure (EACCES: another user's) is reported and gc carries on.
 */
function collect(prefix: string, dryRun: boolean): { removed: string[]; failed: { name: string; error: string }[]; skipped: { name: string; error: string }[] } {
  const removed: string[] = [];
  const failed: { name: string; error: string }[] = [];
  const skipped: { name: string; error: string }[] = [];
  for (const file of readdirSync('/dev/shm').sort()) {
    // A segment never given its name is collected whatever --prefix says: unused, it can
    // only be a dead creator's, and it has no name anyone chose.
    if (isRegistry(file) || file.startsWith('sem.') || !(file.startsWith(prefix) || isUnpublished(file))) continue;
    let held;
    try {
      held = native.lockUnused(file);
    } catch (error) {
      const code = (error as { errno?: number; code?: string }).code ?? errnoName((error as { errno?: number }).errno);
      // Gone meanwhile, or not a segment (a FIFO, say): nothing to do. Another user's file
      // that this user may not lock is not this user's to collect: skipped, said so.
      if (code === 'ENOENT' || code === 'EINVAL') continue;
      if (code === 'EACCES' && ownerUid(file) !== process.geteuid?.()) skipped.push({ name: file, error: `${code} (another user's)` });
      else failed.push({ name: file, error: code ?? String(error) });
      continue;
    }
    if (held === null) continue; // in use
    try {
      const head = aligned(held.head);
      const ours = isUnpublished(file) || (head.byteLength >= HEADER_SIZE && readHeader(new DataView(head.buffer, 0, HEADER_SIZE)).magic === MAGIC);
      if (!ours) continue;
      // The name must still name the file judged (its owner could have replaced it).
      if (native.identity(file) !== held.identity) continue;
      if (!dryRun) native.unlink(file);
      removed.push(file);
    } catch (error) {
      // Not this user's to remove (sticky /dev/shm): skipped; anything else failed.
      const code = errnoName((error as { errno?: number }).errno);
      if ((code === 'EACCES' || code === 'EPERM') && ownerUid(file) !== process.geteuid?.()) skipped.push({ name: file, error: `${code} (another user's)` });
      else failed.push({ name: file, error: (error as Error).message });
    } finally {
      native.unlockUnused(held.handle);
    }
  }
  return { removed, failed, skipped };
}

/** The uid that owns /dev/shm/<file> (undefined if it is gone). */
function ownerUid(file: string): number | undefined {
  try {
    return statSync(`/dev/shm/${file}`).uid;
  } catch {
    return undefined;
  }
}

/** The errno name of an addon OS error. */
function errnoName(errno: number | undefined): string | undefined {
  return Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0];
}

function remove(names: string[]): string[] {
  const failed: string[] = [];
  for (const name of names) {
    try {
      SharedMemory.unlink(name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      try {
        NamedSemaphore.unlink(name);
      } catch {
        failed.push(name);
      }
    }
  }
  return failed;
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = [columns, ...rows.map((r) => columns.map((c) => String(r[c] ?? '-')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function age(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

/** JSON, with 64-bit integers (bigints) as decimal strings. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** One value for people: JSON, except that a 64-bit integer reads as a plain number. */
function human(value: unknown): string {
  return typeof value === 'bigint' ? value.toString() : toJson(value);
}

/** An object as JSON, or as `key: value` lines. */
function show(value: Record<string, unknown>, json: boolean): string {
  if (json) return toJson(value);
  return Object.entries(value).map(([k, v]) => `${k}: ${human(v)}`).join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      prefix: { type: 'string', default: '' },
      interval: { type: 'string' },
      count: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...names] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const json = values.json;
  switch (command) {
    case 'ls': {
      const entries = list();
      if (json) console.log(toJson(entries));
      else if (entries.length === 0) console.log('(nothing in /dev/shm)');
      else {
        console.log(table(entries.map((e) => ({
          ...e,
          creator: e.creatorPid === null ? '-' : `${e.creatorPid}${e.creatorAlive ? '' : ' (dead)'}`,
          age: age(e.ageSeconds),
        })), ['name', 'kind', 'size', 'creator', 'age', 'mappedBy']));
      }
      return 0;
    }
    case 'inspect': {
      if (names.length !== 1) throw new UsageError('inspect takes one name');
      console.log(show(inspect(names[0]!), json));
      return 0;
    }
    case 'rm': {
      if (names.length === 0) throw new UsageError('rm takes at least one name');
      const failed = remove(names);
      for (const name of failed) console.error(`shmkit rm: ${name}: no such segment or named semaphore`);
      return failed.length === 0 ? 0 : 1;
    }
    case 'gc': {
      if (names.length !== 0) throw new UsageError('gc takes no names');
      const { removed, failed, skipped } = collect(values.prefix!, values['dry-run']!);
      if (json) console.log(toJson({ dryRun: values['dry-run'], removed, failed, skipped }));
      else if (removed.length === 0 && failed.length === 0) console.log('nothing to collect');
      else {
        for (const name of removed) console.log(`${values['dry-run'] ? 'would remove' : 'removed'} ${JSON.stringify(name)}`);
        for (const f of failed) console.error(`shmkit gc: ${JSON.stringify(f.name)}: ${f.error}`);
        for (const f of skipped) console.error(`shmkit gc: skipped ${JSON.stringify(f.name)}: ${f.error}`);
      }
      return failed.length === 0 ? 0 : 1;
    }
    case 'watch': {
      if (names.length !== 1) throw new UsageError('watch takes one name');
      const interval = values.interval === undefined ? 1000 : Number(values.interval);
      const count = values.count === undefined ? Infinity : Number(values.count);
      if (!(interval >= 10) || !(count >= 1) || !Number.isInteger(count === Infinity ? 1 : count)) {
        throw new UsageError('--interval is at least 10 (ms) and --count a positive integer');
      }
      for (let i = 0; i < count; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, interval));
        const state = inspect(names[0]!);
        delete state.name;
        console.log(json ? toJson({ time: new Date().toISOString(), ...state })
          : `${new Date().toISOString()}  ${Object.entries(state).map(([k, v]) => `${k}=${human(v)}`).join(' ')}`);
      }
      return 0;
    }
    case undefined:
      throw new UsageError('a command is needed');
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (error: unknown) => {
  const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  console.error(`shmkit: ${(error as Error).message}${usage ? `\n\n${USAGE}` : ''}`);
  process.exitCode = usage ? 2 : 1;
});
