// Boot files served from memory.
//
// A boot storm asks for the same few files (undionly.kpxe, snponly.efi,
// pxelinux.0, configs) from hundreds of nodes at once: files up to
// maxFileBytes (16 MiB) are kept in memory, least recently used first out when
// the total passes maxTotalBytes (128 MiB). Concurrent requests for a file
// that is not loaded yet share one read.
//
// Freshness: a cached file is re-stat()ed at most once per revalidateMs (1 s)
// and reloaded when its device, inode, size, mtime or ctime changed (ctime
// catches a copy that restores the old mtime, like rsync -t or cp -p; an inode
// change catches a file replaced by rename). Polling stat was chosen over
// fs.watch: inotify watches are a limited resource, a watch on a file misses a
// replacement by rename unless its directory is watched too, and watches do not
// work on every filesystem (NFS, some overlays); one stat a second per hot file
// costs nothing. The price is that an edit can take up to a second to show.
//
// Larger files are not cached: get() opens them and returns a file-backed
// source that reads with fs.readSync on its fd (page cache, with a small
// read-ahead window so a 512-byte-block transfer does not make a system call
// per block) until close(). Sizes are fixed when the file is opened; a source
// whose file shrinks underneath returns short reads, which the reader must
// treat as an error.
//
// Sources are snapshots: a reload never changes the bytes of a source already
// handed out. Buffers returned by read() may be views into cached memory and
// must not be modified. Nothing here knows about TFTP; the HTTP server uses the
// same cache.

import { constants, readSync, type BigIntStats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

/** The shape transfer.ts's FileSource needs (structurally the same). */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Buffer;
}

export interface CachedFile extends ByteSource {
  mtimeMs: number;
  /** Quoted strong validator for HTTP (RFC 9110 8.8.3): changes whenever the cache would reload. */
  etag: string;
  /** True when the bytes come from memory. */
  inMemory: boolean;
  /** Closes the fd of a file-backed source; nothing for memory. Idempotent. */
  close(): void;
}

export interface FileCacheOptions {
  /** Largest file kept in memory. Default 16 MiB. */
  maxFileBytes?: number;
  /** Memory budget for all cached files. Default 128 MiB. */
  maxTotalBytes?: number;
  /** Minimum interval between stat()s of a cached file. Default 1000 ms. */
  revalidateMs?: number;
  /** Read-ahead of file-backed sources. Default 64 KiB. */
  readAheadBytes?: number;
  /** Monotonic milliseconds, for the revalidation interval. Default performance.now(). */
  now?: () => number;
}

export interface FileCacheStats {
  files: number;
  bytes: number;
  hits: number;
  misses: number;
  reloads: number;
  /** Opens of files too large to cache. */
  fileBacked: number;
}

interface Identity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

interface Entry {
  data: Buffer;
  identity: Identity;
  mtimeMs: number;
  etag: string;
  checkedAt: number;
}

const MiB = 1024 * 1024;

export class FileCache {
  private readonly maxFileBytes: number;
  private readonly maxTotalBytes: number;
  private readonly revalidateMs: number;
  private readonly readAheadBytes: number;
  private readonly now: () => number;
  /** Insertion order is recency: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry | undefined>>();
  private totalBytes = 0;
  private counts = { hits: 0, misses: 0, reloads: 0, fileBacked: 0 };

  constructor(opts: FileCacheOptions = {}) {
    this.maxFileBytes = opts.maxFileBytes ?? 16 * MiB;
    this.maxTotalBytes = opts.maxTotalBytes ?? 128 * MiB;
    this.revalidateMs = opts.revalidateMs ?? 1000;
    this.readAheadBytes = Math.max(1, opts.readAheadBytes ?? 64 * 1024);
    this.now = opts.now ?? (() => performance.now());
  }

  /** The file at `path` (already confined to the boot root by the caller). Rejects with the fs error. */
  async get(path: string): Promise<CachedFile> {
    const cached = this.entries.get(path);
    if (cached) {
      if (this.now() - cached.checkedAt < this.revalidateMs) return this.hit(path, cached);
      let current: BigIntStats;
      try {
        current = await stat(path, { bigint: true });
      } catch (error) {
        this.evict(path);
        throw error;
      }
      // The entry may have been replaced or evicted while we waited for stat.
      if (this.entries.get(path) === cached && sameIdentity(cached.identity, identityOf(current))) {
        cached.checkedAt = this.now();
        return this.hit(path, cached);
      }
      if (this.entries.get(path) === cached) {
        this.evict(path);
        this.counts.reloads++;
      }
    }
    const pending = this.loading.get(path);
    if (pending) {
      const entry = await pending;
      return entry ? memorySource(entry) : this.openFileBacked(path);
    }
    this.counts.misses++;
    let large: { handle: FileHandle; stats: BigIntStats } | undefined;
    const load = (async () => {
      const handle = await openRegular(path);
      try {
        const stats = await handle.stat({ bigint: true });
        if (stats.size > BigInt(this.maxFileBytes)) {
          large = { handle, stats };
          return undefined;
        }
        const data = await handle.readFile();
        await handle.close();
        return this.insert(path, data, stats);
      } catch (error) {
        if (!large) await handle.close().catch(() => {});
        throw error;
      }
    })();
    this.loading.set(path, load);
    try {
      const entry = await load;
      if (entry) return memorySource(entry);
      return this.fileBacked(large!.handle, large!.stats);
    } finally {
      this.loading.delete(path);
    }
  }

  /** Forgets `path` (the next get() reads it again). */
  invalidate(path: string): void {
    this.evict(path);
  }

  /** Forgets everything. Sources already handed out keep working. */
  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
  }

  stats(): FileCacheStats {
    return { files: this.entries.size, bytes: this.totalBytes, ...this.counts };
  }

  private hit(path: string, entry: Entry): CachedFile {
    this.counts.hits++;
    this.entries.delete(path); // move to the most recently used end
    this.entries.set(path, entry);
    return memorySource(entry);
  }

  private insert(path: string, data: Buffer, stats: BigIntStats): Entry {
    const identity = { ...identityOf(stats), size: BigInt(data.length) };
    const entry: Entry = { data, identity, mtimeMs: Number(stats.mtimeMs), etag: etagOf(identity), checkedAt: this.now() };
    this.evict(path);
    if (data.length > this.maxTotalBytes) return entry; // served once, never kept
    while (this.totalBytes + data.length > this.maxTotalBytes) {
      const oldest = this.entries.keys().next().value as string;
      this.evict(oldest);
    }
    this.entries.set(path, entry);
    this.totalBytes += data.length;
    return entry;
  }

  private evict(path: string): void {
    const entry = this.entries.get(path);
    if (!entry) return;
    this.entries.delete(path);
    this.totalBytes -= entry.data.length;
  }

  private async openFileBacked(path: string): Promise<CachedFile> {
    const handle = await openRegular(path);
    try {
      return this.fileBacked(handle, await handle.stat({ bigint: true }));
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
  }

  private fileBacked(handle: FileHandle, stats: BigIntStats): CachedFile {
    this.counts.fileBacked++;
    const size = Number(stats.size);
    const readAhead = this.readAheadBytes;
    let closed = false;
    let windowStart = 0;
    let window: Buffer = Buffer.alloc(0);
    const readAt = (offset: number, length: number): Buffer => {
      const buf = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const n = readSync(handle.fd, buf, filled, length - filled, offset + filled);
        if (n === 0) break;
        filled += n;
      }
      return buf.subarray(0, filled);
    };
    return {
      size,
      mtimeMs: Number(stats.mtimeMs),
      etag: etagOf(identityOf(stats)),
      inMemory: false,
      read(offset, length) {
        if (closed) throw new Error('read from a closed file source');
        const want = Math.max(0, Math.min(length, size - offset));
        if (want === 0) return Buffer.alloc(0);
        if (offset >= windowStart && offset + want <= windowStart + window.length) {
          return window.subarray(offset - windowStart, offset - windowStart + want);
        }
        if (want >= readAhead) return readAt(offset, want);
        // A fresh buffer each time: earlier views handed out stay valid.
        window = readAt(offset, Math.min(readAhead, size - offset));
        windowStart = offset;
        return window.subarray(0, Math.min(want, window.length));
      },
      close() {
        if (closed) return;
        closed = true;
        void handle.close().catch(() => {});
      },
    };
  }
}

/** O_NONBLOCK: opening a FIFO put in the root must not hang the process. */
async function openRegular(path: string): Promise<FileHandle> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EINVAL' });
    return handle;
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}

function memorySource(entry: Entry): CachedFile {
  const data = entry.data;
  return {
    size: data.length,
    mtimeMs: entry.mtimeMs,
    etag: entry.etag,
    inMemory: true,
    read: (offset, length) => data.subarray(offset, Math.min(data.length, offset + Math.max(0, length))),
    close() {},
  };
}

function identityOf(stats: BigIntStats): Identity {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs };
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

function etagOf(identity: Identity): string {
  return `"${identity.ino.toString(16)}-${identity.size.toString(16)}-${identity.mtimeNs.toString(16)}-${identity.ctimeNs.toString(16)}"`;
}
