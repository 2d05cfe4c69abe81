// The embedded crash-safe store (the Kea memfile model): the whole map lives in
// memory; every change is appended to a journal file and fdatasync'ed before the
// caller's promise resolves; a background compaction folds the journal into a
// snapshot. Leases use it now; the node inventory and events will use it later,
// so nothing here knows what a value is.
//
// Files, for a store called NAME in DIR:
//   NAME.snapshot      the map at some moment, one put record per key
//   NAME.journal.old   the journal being folded into a snapshot (only during compaction)
//   NAME.journal       the journal new records are appended to
//   NAME.snapshot.tmp  a snapshot being written (ignored and removed on open)
// Recovery replays snapshot, journal.old, journal in that order.
//
// Record format, one per line: `<crc32 of the JSON, 8 lower-case hex> <JSON>\n`
// with JSON `{"k":key,"v":value}` (put) or `{"k":key,"d":1}` (delete). A record
// counts only if its line is complete and its checksum matches.
//
// Every record is a whole value for its key, so replay is "last writer wins" per
// key and replaying a journal over a snapshot that already contains it changes
// nothing. That idempotence is what makes the compaction order below crash-safe.
//
// One process owns a store: `serve` holds the state directory's lock (lock.ts)
// while its stores are open; nothing here checks it.

import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { crc32 } from './crc32.js';

/**
 * Stores hold password hashes, token hashes and the inventory: readable by
 * rackboot alone (the CVE-2025-32803 pattern is a world-readable secret store).
 * Applies to files and directories rackboot creates; systemd's StateDirectoryMode
 * governs the appliance's /var/lib/rackboot.
 */
export const STATE_FILE_MODE = 0o600;
export const STATE_DIR_MODE = 0o700;

export interface JournalLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
  info?(msg: string, fields?: Record<string, unknown>): void;
}

export interface JournalOptions<V> {
  /** Compact in the background once the journal file is larger than this (default 1 MiB). */
  compactAfterBytes?: number;
  logger?: JournalLogger;
  /** Checks each loaded value; a record it rejects is skipped and counted as corrupt. */
  validate?: (value: unknown, key: string) => value is V;
}

/** What loading found, for logs and tests. */
export interface LoadReport {
  /** Records applied from the snapshot and the journals. */
  records: number;
  /** Damaged or malformed records skipped before the last good one (reported through the logger). */
  skippedCorrupt: number;
  /** Bytes dropped after the last complete record: a write torn by a crash (0 when files ended cleanly). */
  truncatedTail: number;
}

const DEFAULT_COMPACT_AFTER_BYTES = 1 << 20;
/** Store names become file names: no separators, no dots, no surprises. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** A file full of garbage must not flood the log: report this many skipped records per file, then a count. */
const MAX_LOGGED_PER_FILE = 10;
/** Snapshot writes go out in chunks of about this size: each chunk is built synchronously, so small chunks keep the event loop (and DHCP answers) moving. */
const SNAPSHOT_CHUNK_BYTES = 64 * 1024;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

interface Batch {
  lines: Buffer[];
  bytes: number;
  done: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

interface Paths {
  snapshot: string;
  snapshotTmp: string;
  oldJournal: string;
  journal: string;
}

export class Journal<V> {
  private readonly data = new Map<string, V>();
  private fh!: FileHandle;
  /** Size of the journal file up to the last whole, synced record. */
  private journalBytes = 0;
  /** NAME.journal.old exists and is not yet covered by a durable snapshot. */
  private oldJournalExists = false;
  /** Records accepted since the last write started; they go out together in one write + fdatasync. */
  private pending: Batch | null = null;
  private flushQueued = false;
  /** File I/O (batches, journal rotation, close) runs one step at a time, in order. */
  private ioTail: Promise<void> = Promise.resolve();
  private compacting: Promise<void> | null = null;
  private nextCompactAt: number;
  /** After an fsync failure the page cache no longer says what is on disk: refuse writes until reopened. */
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  private syncs = 0;
  private compactionsDone = 0;
  readonly loadReport: LoadReport = { records: 0, skippedCorrupt: 0, truncatedTail: 0 };

  private constructor(
    private readonly dir: string,
    readonly name: string,
    private readonly paths: Paths,
    private readonly compactAfterBytes: number,
    private readonly logger: JournalLogger | undefined,
  ) {
    this.nextCompactAt = compactAfterBytes;
  }

  static async open<V>(dir: string, name: string, opts: JournalOptions<V> = {}): Promise<Journal<V>> {
    if (!NAME_PATTERN.test(name)) throw new RangeError(`journal name must be letters, digits, '-' or '_': ${JSON.stringify(name)}`);
    const compactAfterBytes = opts.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
    if (!(compactAfterBytes > 0)) throw new RangeError(`compactAfterBytes must be positive, got ${compactAfterBytes}`);
    await mkdir(dir, { recursive: true, mode: STATE_DIR_MODE });
    const paths: Paths = {
      snapshot: join(dir, `${name}.snapshot`),
      snapshotTmp: join(dir, `${name}.snapshot.tmp`),
      oldJournal: join(dir, `${name}.journal.old`),
      journal: join(dir, `${name}.journal`),
    };
    const journal = new Journal<V>(dir, name, paths, compactAfterBytes, opts.logger);
    // A snapshot that never got renamed into place is not part of the state.
    await unlinkIfExists(paths.snapshotTmp);
    await journal.load(paths.snapshot, opts.validate);
    const old = await journal.load(paths.oldJournal, opts.validate);
    const current = await journal.load(paths.journal, opts.validate);
    if (journal.loadReport.skippedCorrupt > 0) {
      // One line per store with the totals, after the per-record lines (which stop after a few per file).
      journal.logger?.warn('journal: store loaded, damaged records skipped', { store: name, dir, ...journal.loadReport });
    }

    journal.fh = await open(paths.journal, 'a', STATE_FILE_MODE);
    try {
      if (current && current.goodEnd < current.size) {
        // Cut the torn tail off before appending, or the next record would be glued onto it.
        await journal.fh.truncate(current.goodEnd);
        await journal.fh.datasync();
      }
      journal.journalBytes = current?.goodEnd ?? 0;
      // Makes the journal's directory entry durable (it may have just been created).
      await fsyncDir(dir);
    } catch (error) {
      await journal.fh.close();
      throw error;
    }
    if (old) {
      // A compaction was interrupted; finish folding journal.old into a snapshot
      // now, since the next rotation would otherwise rename over it.
      journal.oldJournalExists = true;
      try {
        await journal.compact();
      } catch (error) {
        journal.logger?.warn('journal: could not finish an interrupted compaction', { store: name, error: errorMessage(error) });
      }
    }
    return journal;
  }

  /**
   * Reads a store without opening it for writing: no torn tail is cut, no
   * compaction finished. For listings (`rackboot leases`) while the server that
   * owns the directory keeps running; the result is a point-in-time copy.
   */
  static async read<V>(
    dir: string,
    name: string,
    opts: Pick<JournalOptions<V>, 'validate'> = {},
  ): Promise<{ entries: Map<string, V>; loadReport: LoadReport }> {
    if (!NAME_PATTERN.test(name)) throw new RangeError(`journal name must be letters, digits, '-' or '_': ${JSON.stringify(name)}`);
    const paths: Paths = {
      snapshot: join(dir, `${name}.snapshot`),
      snapshotTmp: join(dir, `${name}.snapshot.tmp`),
      oldJournal: join(dir, `${name}.journal.old`),
      journal: join(dir, `${name}.journal`),
    };
    const reader = new Journal<V>(dir, name, paths, DEFAULT_COMPACT_AFTER_BYTES, undefined);
    for (const path of [paths.snapshot, paths.oldJournal, paths.journal]) await reader.load(path, opts.validate);
    return { entries: new Map(reader.data), loadReport: reader.loadReport };
  }

  // ---- reading -------------------------------------------------------------

  get(key: string): V | undefined {
    return this.data.get(key);
  }

  has(key: string): boolean {
    return this.data.has(key);
  }

  entries(): IterableIterator<[string, V]> {
    return this.data.entries();
  }

  values(): IterableIterator<V> {
    return this.data.values();
  }

  get size(): number {
    return this.data.size;
  }

  /** fdatasync calls made for journal batches: with group commit, far fewer than records written. */
  get syncCount(): number {
    return this.syncs;
  }

  /** Completed compactions since open. */
  get compactionCount(): number {
    return this.compactionsDone;
  }

  // ---- writing -------------------------------------------------------------

  /**
   * Sets `key` to `value`. Readers see the new value at once; the promise resolves
   * when the record is on disk (written and fdatasync'ed). Values are stored by
   * reference and must not be mutated afterwards: treat them as immutable.
   * A put whose promise rejects may or may not survive a restart.
   */
  put(key: string, value: V): Promise<void> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    if (typeof key !== 'string') return Promise.reject(new TypeError('journal keys are strings'));
    let line: Buffer;
    try {
      const json = JSON.stringify(value);
      if (json === undefined) throw new TypeError(`value for ${JSON.stringify(key)} has no JSON form`);
      line = encodeRecord(`{"k":${JSON.stringify(key)},"v":${json}}`);
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes on what JSON.stringify (or a toJSON) threw, as thrown
      return Promise.reject(error);
    }
    this.data.set(key, value);
    return this.enqueue(line);
  }

  /** Removes `key`; resolves when the removal is durable. */
  delete(key: string): Promise<void> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    if (typeof key !== 'string') return Promise.reject(new TypeError('journal keys are strings'));
    this.data.delete(key);
    return this.enqueue(encodeRecord(`{"k":${JSON.stringify(key)},"d":1}`));
  }

  /**
   * Group commit: every record accepted while a write + fdatasync is in flight
   * joins one batch, and the batch goes out as a single write + fdatasync as soon
   * as the disk is free. Callers of one batch share its promise.
   */
  private enqueue(line: Buffer): Promise<void> {
    let batch = this.pending;
    if (!batch) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = { lines: [], bytes: 0, done, resolve, reject };
      this.pending = batch;
    }
    batch.lines.push(line);
    batch.bytes += line.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      void this.exclusive(() => this.flush());
    }
    return batch.done;
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const batch = this.pending;
    this.pending = null;
    if (!batch) return;
    if (this.failure) return batch.reject(this.failure);
    const data = batch.lines.length === 1 ? batch.lines[0] : Buffer.concat(batch.lines, batch.bytes);
    try {
      await writeAll(this.fh, data);
    } catch (error) {
      // Cut a partial append back to the last whole record so later records start on a fresh line.
      try {
        await this.fh.truncate(this.journalBytes);
      } catch (cutError) {
        this.fail(cutError);
      }
      return batch.reject(asError(error));
    }
    try {
      await this.fh.datasync();
    } catch (error) {
      this.fail(error);
      return batch.reject(asError(error));
    }
    this.syncs++;
    this.journalBytes += data.length;
    batch.resolve();
    this.compactIfDue();
  }

  // ---- compaction ----------------------------------------------------------

  /**
   * Folds the journal into a new snapshot. Writes go on while it runs: they land
   * in the fresh journal, after the snapshot's contents in replay order.
   */
  compact(): Promise<void> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    const previous = this.compacting ?? Promise.resolve();
    const run: Promise<void> = previous
      .catch(() => {})
      .then(() => this.compactOnce())
      .finally(() => {
        if (this.compacting === run) this.compacting = null;
      });
    this.compacting = run;
    return run;
  }

  private compactIfDue(): void {
    if (this.compacting || this.closing || this.failure || this.journalBytes <= this.nextCompactAt) return;
    this.compact().catch((error: unknown) => {
      this.logger?.warn('journal: background compaction failed; will retry later', { store: this.name, error: errorMessage(error) });
    });
  }

  /*
   * Crash-safe order. At every point, replaying snapshot + journal.old + journal
   * gives the acknowledged state, because each step either leaves the previous
   * files intact or only adds a file whose contents are already covered:
   *  1. (I/O lock held, so every earlier batch is synced in NAME.journal and no
   *     later one is written yet) rename NAME.journal -> NAME.journal.old, create
   *     an empty NAME.journal, fsync the directory, switch appends to it, and take
   *     a copy of the map. Crash here: old snapshot + journal.old (+ empty journal).
   *  2. Write the copy to NAME.snapshot.tmp and fdatasync. Crash: the tmp file is
   *     ignored; old snapshot + journal.old + journal still hold everything.
   *  3. Rename NAME.snapshot.tmp over NAME.snapshot, fsync the directory. Crash
   *     before the directory is durable: either snapshot, both valid. After: the
   *     new snapshot + journal.old (replays to no effect, see the top of the file)
   *     + journal.
   *  4. Unlink NAME.journal.old. Crash before or after: as in 3.
   * A journal.old that survives (a crash, or a failed step 2/3) must not be
   * renamed over: open() finishes the compaction, and compactOnce() skips step 1
   * while one exists, snapshotting the full map instead.
   */
  private async compactOnce(): Promise<void> {
    if (this.failure) throw this.failure;
    const entries = this.oldJournalExists ? [...this.data] : await this.exclusive(() => this.rotate());
    try {
      await writeSnapshot(this.paths.snapshotTmp, entries);
      await rename(this.paths.snapshotTmp, this.paths.snapshot);
      await fsyncDir(this.dir);
      // No directory fsync after the unlink: a journal.old that comes back after
      // power loss replays to no effect and is folded in on the next open.
      await unlinkIfExists(this.paths.oldJournal);
    } catch (error) {
      // Do not retry after every batch while the disk is full: wait for the journal to grow again.
      this.nextCompactAt = this.journalBytes + this.compactAfterBytes;
      throw error;
    }
    this.oldJournalExists = false;
    this.nextCompactAt = this.compactAfterBytes;
    this.compactionsDone++;
  }

  /** Step 1 of compaction; runs under the I/O lock. Returns the map as of the switch. */
  private async rotate(): Promise<[string, V][]> {
    await rename(this.paths.journal, this.paths.oldJournal);
    this.oldJournalExists = true;
    let fresh: FileHandle | undefined;
    try {
      fresh = await open(this.paths.journal, 'ax', STATE_FILE_MODE);
      await fsyncDir(this.dir);
    } catch (error) {
      // Put the journal back where recovery reads it last; appends still go to its handle.
      try {
        await fresh?.close();
        await rename(this.paths.oldJournal, this.paths.journal);
        this.oldJournalExists = false;
        await fsyncDir(this.dir);
      } catch (restoreError) {
        this.fail(restoreError);
      }
      throw error;
    }
    const retired = this.fh;
    this.fh = fresh;
    this.journalBytes = 0;
    const entries = [...this.data];
    await retired.close().catch((error: unknown) => {
      this.logger?.warn('journal: closing the retired journal failed', { store: this.name, error: errorMessage(error) });
    });
    return entries;
  }

  // ---- lifecycle -----------------------------------------------------------

  /** Waits for accepted writes (and a running compaction), then closes the file. Later writes are refused. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        await this.exclusive(async () => {});
        while (this.compacting) await this.compacting.catch(() => {});
        await this.exclusive(() => this.fh.close());
      })();
    }
    return this.closing;
  }

  private refusal(): Error | null {
    if (this.closing) return new Error(`journal ${this.name} is closed`);
    return this.failure;
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = asError(error);
    this.logger?.warn('journal: disk write failed; refusing writes until the store is reopened', {
      store: this.name,
      error: errorMessage(error),
    });
  }

  /** Runs `task` after every earlier I/O task has finished; never breaks the chain. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.ioTail.then(task);
    this.ioTail = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  // ---- loading -------------------------------------------------------------

  /** Applies one file's records to the map. Undefined when the file does not exist. */
  private async load(path: string, validate: JournalOptions<V>['validate']): Promise<{ size: number; goodEnd: number } | undefined> {
    const buf = await readIfExists(path);
    if (!buf) return undefined;
    const file = basename(path);
    let logged = 0;
    const skip = (offset: number, reason: string) => {
      this.loadReport.skippedCorrupt++;
      if (++logged <= MAX_LOGGED_PER_FILE) this.logger?.warn('journal: skipped a damaged record', { store: this.name, file, offset, reason });
    };
    // Frames that failed since the last good one: damage in the middle if a good frame follows, a torn tail if not.
    let badFrames: { offset: number; reason: string }[] = [];
    let goodEnd = 0;
    let start = 0;
    while (start < buf.length) {
      const newline = buf.indexOf(0x0a, start);
      if (newline < 0) break;
      const body = frameBody(buf, start, newline);
      if (typeof body === 'string') {
        badFrames.push({ offset: start, reason: body });
      } else {
        for (const bad of badFrames) skip(bad.offset, bad.reason);
        badFrames = [];
        goodEnd = newline + 1;
        const record = decodeRecord(body, validate);
        if (typeof record === 'string') {
          skip(start, record);
        } else {
          if (record.deleted) this.data.delete(record.key);
          else this.data.set(record.key, record.value as V);
          this.loadReport.records++;
        }
      }
      start = newline + 1;
    }
    if (logged > MAX_LOGGED_PER_FILE) {
      this.logger?.warn('journal: more damaged records skipped', { store: this.name, file, count: logged - MAX_LOGGED_PER_FILE });
    }
    const tail = buf.length - goodEnd;
    if (tail > 0) {
      this.loadReport.truncatedTail += tail;
      // Expected after a crash mid-write; only a journal is appended to, so a torn snapshot means damage.
      const fields = { store: this.name, file, bytes: tail, lines: badFrames.length + (start < buf.length ? 1 : 0) };
      if (path === this.paths.snapshot) this.logger?.warn('journal: snapshot ends in a damaged record', fields);
      else this.logger?.info?.('journal: dropped a record torn by a crash', fields);
    }
    return { size: buf.length, goodEnd };
  }
}

// ---- record codec ----------------------------------------------------------

function encodeRecord(json: string): Buffer {
  const bodyLength = Buffer.byteLength(json, 'utf8');
  const line = Buffer.allocUnsafe(bodyLength + 10);
  line.write(json, 9, 'utf8');
  const crc = crc32(line.subarray(9, 9 + bodyLength));
  line.write(crc.toString(16).padStart(8, '0'), 0, 'latin1');
  line[8] = 0x20;
  line[9 + bodyLength] = 0x0a;
  return line;
}

/** The JSON bytes of the line buf[start, end) if its checksum matches, else why not. */
function frameBody(buf: Buffer, start: number, end: number): Buffer | string {
  if (end - start < 10) return 'line too short';
  if (buf[start + 8] !== 0x20) return 'no checksum field';
  let expected = 0;
  for (let i = 0; i < 8; i++) {
    const digit = hexDigit(buf[start + i]);
    if (digit < 0) return 'no checksum field';
    expected = expected * 16 + digit;
  }
  const body = buf.subarray(start + 9, end);
  return crc32(body) === expected ? body : 'checksum mismatch';
}

type DecodedRecord = { key: string; deleted: true } | { key: string; deleted: false; value: unknown };

/** A checksummed body can still be malformed (a bug, or an older format): check its shape. */
function decodeRecord<V>(body: Buffer, validate: JournalOptions<V>['validate']): DecodedRecord | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(UTF8.decode(body));
  } catch {
    return 'not UTF-8 JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'not a record object';
  const record = parsed as Record<string, unknown>;
  if (typeof record.k !== 'string') return 'record without a string key';
  if (record.d === 1) return { key: record.k, deleted: true };
  if (!Object.hasOwn(record, 'v')) return 'record without value or delete mark';
  if (validate) {
    let ok: boolean;
    try {
      ok = validate(record.v, record.k);
    } catch {
      ok = false;
    }
    if (!ok) return 'value rejected by the store';
  }
  return { key: record.k, deleted: false, value: record.v };
}

function hexDigit(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

// ---- file helpers ----------------------------------------------------------

async function writeSnapshot<V>(path: string, entries: [string, V][]): Promise<void> {
  const fh = await open(path, 'w', STATE_FILE_MODE);
  try {
    let chunk: Buffer[] = [];
    let bytes = 0;
    for (const [key, value] of entries) {
      const line = encodeRecord(`{"k":${JSON.stringify(key)},"v":${JSON.stringify(value)}}`);
      chunk.push(line);
      bytes += line.length;
      if (bytes >= SNAPSHOT_CHUNK_BYTES) {
        await writeAll(fh, Buffer.concat(chunk, bytes));
        chunk = [];
        bytes = 0;
      }
    }
    if (bytes > 0) await writeAll(fh, Buffer.concat(chunk, bytes));
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** Appends all of `data` (write(2) may write less than asked). */
async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await fh.write(data, offset, data.length - offset, null);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    offset += bytesWritten;
  }
}

/** Makes renames, creations and removals in `dir` durable. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (error) {
    // Some file systems cannot fsync a directory; their metadata is then as durable as it gets.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
  } finally {
    await fh.close();
  }
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function errorMessage(error: unknown): string {
  const e = asError(error);
  const code = (e as NodeJS.ErrnoException).code;
  return code ? `${e.message} (${code})` : e.message;
}
